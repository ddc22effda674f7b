export {RegistryClient} from "./RegistryClient.ts"
export type {ModelRegistration, RegistryParameters, WorkerTerms} from "./RegistryClient.ts"
export {ModelRecordSchema, ReputationSchema, StakerRecordSchema, WorkerRecordSchema} from "./schemas.ts"
export type {ModelRecord, StakerRecord, WorkerRecord} from "./schemas.ts"
