#!/usr/bin/env node
// weavelm from the TypeScript sources, for development and the tests: the installed binary is the
// compiled dist/cli/bin.js, which needs a build after every change; this one runs what is checked out.
import {register} from "tsx/esm/api"

register()
await import("../cli/bin.ts")
