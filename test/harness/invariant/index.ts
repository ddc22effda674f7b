export {CascadeReader} from "./CascadeReader.ts"
export {createCast, modelTags, toyModels, type Cast} from "./cast.ts"
export {RandomActions} from "./RandomActions.ts"
