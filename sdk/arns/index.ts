export {ArnsError, arioReader, resolveArnsName, resolveArUrl} from "./resolveArnsName.ts"
export type {ArioReaderOptions, ArnsDryrun, ArnsReader, ArnsResolution} from "./resolveArnsName.ts"
export {ARIO_MAINNET_CU} from "./defaults.ts"
