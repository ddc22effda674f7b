export {DEV_WALLET_TOKENS, DEVNET_PARAMETERS, Devnet, DevnetError} from "./Devnet.ts"
export type {DevnetMode, DevnetOptions} from "./Devnet.ts"
export {DEVNET_MODEL_NAME, startDevnetWorker} from "./startDevnetWorker.ts"
export type {DevnetWorker, DevnetWorkerOptions} from "./startDevnetWorker.ts"
