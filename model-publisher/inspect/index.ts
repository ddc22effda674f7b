export {inspectModel, type ModelSummary} from "./inspectModel.ts"
export {measureModelMargins, type GreedyStep, type MeasureMarginsOptions, type ModelMargins} from "./measureModelMargins.ts"
