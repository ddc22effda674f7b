/**
 * `weavelm proxy`: a local OpenAI-compatible endpoint that pays workers
 * directly (sdk/direct), so any OpenAI client works with
 * `OPENAI_BASE_URL=http://localhost:11434/v1`.
 */
export {DirectRoutes} from "./DirectRoutes.ts"
export type {DirectRoutesOptions} from "./DirectRoutes.ts"
export {ProxyServer} from "./ProxyServer.ts"
export type {ProxyRequestEvent, ProxyRoute, ProxyServerOptions} from "./ProxyServer.ts"
