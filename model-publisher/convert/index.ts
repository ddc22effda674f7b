export {convertModel, ConvertError, type ConvertModelOptions, type ConvertedModel} from "./convertModel.ts"
