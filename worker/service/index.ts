export {Worker} from "./Worker.ts"
export type {WorkerLogEvent, WorkerOptions} from "./Worker.ts"
export {parseAssignment} from "./assignment.ts"
export type {Assignment} from "./assignment.ts"
