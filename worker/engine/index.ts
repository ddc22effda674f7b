export {InferenceEngine} from "./InferenceEngine.ts"
export type {EngineInfo, InferenceEngineOptions} from "./InferenceEngine.ts"
export {InvalidPromptError, LoadedModel, PromptTooLongError} from "./LoadedModel.ts"
export type {ChatMessage, GenerateRequest, Generation, LoadedModelOptions, ScoreMode, ScoreRequest} from "./LoadedModel.ts"
