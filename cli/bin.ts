#!/usr/bin/env node
// The weavelm binary. aos's wasm64 modules need this V8 flag on Node 20; it is set here, before any
// module that compiles wasm is loaded, so that users never pass it themselves.
import v8 from "node:v8"

v8.setFlagsFromString("--experimental-wasm-memory64")
process.env.DOTENV_CONFIG_QUIET ??= "true"
const {main} = await import("./main.ts")
await main(process.argv)
