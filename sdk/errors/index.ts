export {exitCodeFor, WeaveLMError} from "./WeaveLMError.ts"
export type {ErrorKind, WeaveLMErrorOptions} from "./WeaveLMError.ts"
