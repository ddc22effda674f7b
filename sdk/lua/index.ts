export {bundleLua, processesDir} from "./bundleLua.ts"
export type {BundleLuaOptions, LuaBundle} from "./bundleLua.ts"
