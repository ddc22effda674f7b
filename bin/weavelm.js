#!/usr/bin/env node
// The weavelm binary: runs the TypeScript CLI through tsx, with the V8 flag
// that aos's wasm64 modules need on Node 20 set before any wasm is compiled.
import v8 from "node:v8"
import {register} from "tsx/esm/api"

v8.setFlagsFromString("--experimental-wasm-memory64")
process.env.DOTENV_CONFIG_QUIET ??= "true"
register()
const {main} = await import("../cli/main.ts")
await main(process.argv)
