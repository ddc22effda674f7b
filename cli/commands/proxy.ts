import {Command, InvalidArgumentError} from "commander"
import {openConnection, printJson, requireProcesses, withNetworkOptions, type NetworkOptions} from "../context.ts"
import {UserError} from "../errors.ts"
import {parseAmount, parseInteger} from "../parse.ts"
import {stopOnSignal} from "../stopOnSignal.ts"

interface ProxyCommandOptions extends NetworkOptions {
    port: number
    host: string
    worker: string
    model?: string
    budget?: string
    endpoint?: string
}

export function proxyCommand() {
    return withNetworkOptions(new Command("proxy"))
        .description("serve a local OpenAI-compatible endpoint that pays workers directly through payment channels")
        .option("--port <port>", "port to listen on (0: any free port)", parseInteger(0, 65535), 11434)
        .option("--host <host>", "interface to listen on; anyone who reaches it spends your tokens", "127.0.0.1")
        .option(
            "--worker <address>",
            "a worker's address, or auto: the best-ranked worker serving the model, failing over to the next",
            parseWorker,
            "auto"
        )
        .option(
            "--model <name>",
            "send every request to this model (name or Model-Id), whatever it asks for (default: the model each request names)"
        )
        .option(
            "--budget <n>",
            "base units each channel is opened or topped up with (default: 100 requests' worth of fee bounds)",
            parseAmount
        )
        .option("--endpoint <url>", "the named worker's OpenAI base URL, when its registry record has none")
        .addHelpText(
            "after",
            "\nThen point any OpenAI client at it:\n  OPENAI_BASE_URL=http://127.0.0.1:11434/v1 OPENAI_API_KEY=unused your-app\n" +
                "Channels stay open when the proxy stops: list them with `weavelm channel list`, close them with `weavelm channel close ID`."
        )
        .action(async (options: ProxyCommandOptions) => {
            const [{DirectRoutes, ProxyServer}, {DirectRequestError}, connection] = await Promise.all([
                import("../../proxy/index.ts"),
                import("../../sdk/direct/index.ts"),
                openConnection(options)
            ])
            const processes = requireProcesses(connection.config)
            const say = options.json
                ? (event: Record<string, unknown>) => printJson({time: new Date().toISOString(), ...event})
                : (event: Record<string, unknown>) => process.stderr.write(`${new Date().toISOString()} ${describeEvent(event)}\n`)
            const routes = new DirectRoutes({
                connection,
                processes,
                model: options.model,
                worker: options.worker,
                budget: options.budget,
                endpoint: options.endpoint,
                onEvent: ({type, ...fields}) => say({event: type, ...fields})
            })
            // A fixed model is checked now, so that a typo fails at start rather than on the first request.
            if (options.model != null)
                await routes.route(options.model).catch((error: Error) => {
                    throw error instanceof DirectRequestError ? new UserError(error.message) : error
                })
            const proxy = await ProxyServer.start({
                host: options.host,
                port: options.port,
                route: (model) => routes.route(model),
                models: () => routes.models(),
                onRequest: (request) => say({event: "request", ...request})
            }).catch((error: NodeJS.ErrnoException) => {
                if (error.code === "EADDRINUSE") throw new UserError(`Port ${options.port} on ${options.host} is in use`, "pass --port")
                throw error
            })
            if (options.json) {
                printJson({
                    listening: true,
                    url: proxy.baseUrl,
                    host: options.host,
                    port: proxy.port,
                    worker: options.worker,
                    model: options.model ?? null
                })
            } else {
                process.stdout.write(
                    `weavelm proxy listening on ${proxy.baseUrl}\n` +
                        `  worker  ${options.worker}\n  model   ${options.model ?? "as each request names it"}\n` +
                        `Use it from any OpenAI client: OPENAI_BASE_URL=${proxy.baseUrl}\nPress Ctrl-C to stop.\n`
                )
            }
            await stopOnSignal(() => proxy.close())
        })
}

function parseWorker(value: string) {
    if (value !== "auto" && !/^[A-Za-z0-9_-]{43}$/.test(value))
        throw new InvalidArgumentError("must be a worker's 43-character address or auto")
    return value
}

function describeEvent(event: Record<string, unknown>): string {
    switch (event.event) {
        case "request":
            return (
                `${event.endpoint} ${event.model} -> ${event.status}${event.worker ? ` from ${event.worker}` : ""}` +
                `${event.fee != null ? `, fee ${event.fee}` : ""}${event.error ? `: ${event.error}` : ""} (${event.ms} ms)`
            )
        case "channel.opened":
            return `opened channel ${event.channel} with worker ${event.worker}, deposited ${event.deposited}`
        case "channel.topped-up":
            return `topped up channel ${event.channel} with worker ${event.worker} to ${event.deposited}`
        case "worker.failed":
            return `worker ${event.worker} failed: ${event.reason}`
        default:
            return JSON.stringify(event)
    }
}
