import {defineConfig} from "vitest/config"

// The fast tier: pure rules, the Lua rules in aos, the SDK, and the verifier and engine on small
// fixtures. The devnet tier is everything that starts a network, a CLI, a worker fleet or a
// corpus of generations. `npm test` runs both; `npm run test:fast` the first.
const FAST = [
    "test/harness/**/*.test.ts",
    "test/model-publisher/**/*.test.ts",
    "test/processes/*Rules.test.ts",
    "test/processes/{protocolDoc,token}.test.ts",
    "test/sdk/**/*.test.ts",
    "test/storage/bundler*.test.ts",
    "test/verifier/{samplerChain,verifierModels,verifyReceipt}.test.ts",
    "test/worker/{workerState,workerNode,engine}.test.ts",
    "test/direct/proxyRouting.test.ts"
]

// aos wasm64 modules need this flag on Node 20; vitest 4 takes it per worker
// (NODE_OPTIONS refuses it). Forks, not threads: each test file gets its own
// process and its own multi-hundred-MB wasm heaps.
export default defineConfig({
    test: {
        pool: "forks",
        execArgv: ["--experimental-wasm-memory64"],
        testTimeout: 120_000,
        hookTimeout: 180_000,
        maxWorkers: 2,
        env: {DOTENV_CONFIG_QUIET: "true"},
        projects: [
            {extends: true, test: {name: "fast", include: FAST}},
            {extends: true, test: {name: "devnet", include: ["test/**/*.test.ts"], exclude: FAST}}
        ]
    }
})
