import { defineConfig } from "vitest/config"

// aos wasm64 modules need this flag on Node 20; vitest 4 takes it per worker
// (NODE_OPTIONS refuses it). Forks, not threads: each test file gets its own
// process and its own multi-hundred-MB wasm heaps.
export default defineConfig({
  test: {
    pool: "forks",
    execArgv: ["--experimental-wasm-memory64"],
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    maxWorkers: 2,
    env: { DOTENV_CONFIG_QUIET: "true" },
  },
})
