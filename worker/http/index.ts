export {WorkerHttpServer} from "./WorkerHttpServer.ts"
export type {WorkerHttpServerOptions} from "./WorkerHttpServer.ts"
