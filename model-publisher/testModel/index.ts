export {writeTestModel, type WriteTestModelOptions, type WrittenTestModel} from "./writeTestModel.ts"
export {PRESETS, PRESET_NAMES, type ModelShape, type Preset, type PresetName} from "./presets.ts"
export {WEIGHT_TYPES, type WeightType} from "./encodings.ts"
export type {WriteProgress} from "./ggufWriter.ts"
