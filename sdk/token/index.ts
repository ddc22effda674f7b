export {TokenClient} from "./TokenClient.ts"
