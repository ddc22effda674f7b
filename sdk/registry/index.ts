export {RegistryClient} from "./RegistryClient.ts"
export type {ModelRegistration} from "./RegistryClient.ts"
export {ModelRecordSchema, ReputationSchema, WorkerRecordSchema} from "./schemas.ts"
export type {ModelRecord, WorkerRecord} from "./schemas.ts"
