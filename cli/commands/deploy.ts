import {Command} from "commander"
import {UserError} from "../errors.ts"
import {openConnection, printJson, withNetworkOptions, type NetworkOptions} from "../context.ts"
import path from "node:path"

export function deployCommand() {
    return withNetworkOptions(new Command("deploy"))
        .description("spawn or upgrade the token, registry and escrow processes and write weavelm.deploy.<network>.json")
        .option("--token <id>", "use this token process (e.g. wrapped AR) instead of deploying ours")
        .action(async (options: NetworkOptions & {token?: string}) => {
            if (options.token != null && !/^[A-Za-z0-9_-]{43}$/.test(options.token))
                throw new UserError(`--token must be a 43-character process id, got "${options.token}"`)
            const {deployProcesses, readManifest, writeManifest} = await import("../../sdk/deploy/index.ts")
            const connection = await openConnection(options)
            const {config} = connection
            const previous =
                (await readManifest(process.cwd(), config.name)) ??
                (config.wallet != null ? await readManifest(path.dirname(path.dirname(config.wallet)), config.name) : null)
            const say = options.json ? () => {} : (line: string) => process.stderr.write(`  ${line}\n`)
            const {manifest, actions} = await deployProcesses({
                client: connection.ao,
                network: config,
                previous,
                token: options.token,
                onStep: say
            })
            const file = await writeManifest(process.cwd(), manifest)
            if (options.json) {
                printJson({network: config.name, processes: manifest.processes, actions, manifest: file})
                return
            }
            for (const [name, id] of Object.entries(manifest.processes))
                process.stdout.write(`${name.padEnd(9)} ${id}  ${actions[name as keyof typeof actions]}\n`)
            process.stdout.write(`manifest  ${path.relative(process.cwd(), file)}\n`)
        })
}
