export {connectWeaveLM, WeaveLM} from "./WeaveLM.ts"
export type {ConnectWeaveLMOptions, InferOptions, InferOutput} from "./WeaveLM.ts"
