export {WorkerNode} from "./WorkerNode.ts"
export type {WorkerNodeHttpOptions, WorkerNodeOptions, WorkerNodeParts} from "./WorkerNode.ts"
export type {WorkerLogEvent} from "./service/index.ts"
