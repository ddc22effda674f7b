export {DEV_WALLET_TOKENS, DEVNET_PARAMETERS, Devnet, DevnetError} from "./Devnet.ts"
export type {DevnetOptions} from "./Devnet.ts"
