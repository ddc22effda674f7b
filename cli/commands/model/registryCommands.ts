import {Command, Option} from "commander"
import path from "node:path"
import {ARIO_MAINNET_CU} from "../../../sdk/arns/defaults.ts"
import {DEFAULT_CACHE_DIR} from "../../../sdk/network/index.ts"
import type {ModelRecord} from "../../../sdk/registry/index.ts"
import {openConnection, printJson, requireProcesses, withNetworkOptions, type NetworkOptions} from "../../context.ts"
import {UserError} from "../../errors.ts"
import {parseInteger} from "../../parse.ts"
import {ProgressBar} from "../../progress.ts"

interface TransferOptions {
    cacheDir: string
    retries: number
}

/** Options of the commands that move weights: where they are kept and how patiently the gateway is asked. */
function withTransferOptions(command: Command) {
    return command
        .option("--cache-dir <dir>", "models and unfinished uploads are kept here", DEFAULT_CACHE_DIR)
        .addOption(
            new Option("--retries <n>", "attempts per gateway request before giving up; the wait doubles from 0.5 s")
                .env("WEAVELM_RETRIES")
                .argParser(parseInteger(1, 20))
                .default(5)
        )
}

async function openRegistry(options: NetworkOptions) {
    const connection = await openConnection(options)
    const {RegistryClient} = await import("../../../sdk/registry/index.ts")
    return {connection, registry: new RegistryClient(connection.ao, requireProcesses(connection.config).registry)}
}

export function publishCommand() {
    return withTransferOptions(withNetworkOptions(new Command("publish")))
        .description("upload GGUF weights to Arweave (resumable) and register them")
        .argument("<file>", "GGUF file")
        .requiredOption("--name <name>", "registry name for the model")
        .option("--license <license>", "license of the weights", "unspecified")
        .option("--owner-fee <bps>", "basis points of each task fee paid to you", parseInteger(0, 10_000), 0)
        .action(async (file: string, options: NetworkOptions & TransferOptions & {name: string; license: string; ownerFee: number}) => {
            const [{connection, registry}, {publishModel}] = await Promise.all([
                openRegistry(options),
                import("../../../model-publisher/index.ts")
            ])
            const storage = connection.storage(path.join(options.cacheDir, "uploads"), {retry: {attempts: options.retries}})
            const bar = new ProgressBar("uploading", {enabled: !options.json && process.stderr.isTTY === true})
            const published = await publishModel({
                file,
                name: options.name,
                license: options.license,
                ownerFee: options.ownerFee,
                storage,
                registry,
                owner: connection.address,
                onStage: (stage) => (options.json || stage === "uploading" ? undefined : process.stderr.write(`${stage}...\n`)),
                onProgress: (p) => bar.update(p)
            })
            bar.done()
            if (options.json) return printJson({modelId: published.modelId, sha256: published.sha256, name: published.name})
            process.stdout.write(
                `${published.alreadyPublished ? "already published" : "published"} ${published.name}\n` +
                    `  model id  ${published.modelId}\n  sha256    ${published.sha256}\n` +
                    `  weights   ${connection.config.gateway}/${published.modelId}\n`
            )
        })
}

export function pullCommand() {
    return withTransferOptions(withNetworkOptions(new Command("pull")))
        .description("download a registered model into the verified cache (<cache-dir>/models/<sha256>.gguf)")
        .argument("<model>", "Model-Id, registered name, or ar://<ArNS name> pointing at a registered Model-Id")
        .addOption(
            new Option("--arns-cu <url>", "compute unit that reads ar:// names from AR.IO's ARIO process")
                .env("WEAVELM_ARNS_CU")
                .default(ARIO_MAINNET_CU)
        )
        .action(async (ref: string, options: NetworkOptions & TransferOptions & {arnsCu: string}) => {
            const [{connection, registry}, {pullModel}, {arioReader}] = await Promise.all([
                openRegistry(options),
                import("../../../model-publisher/index.ts"),
                import("../../../sdk/arns/index.ts")
            ])
            const bar = new ProgressBar("downloading", {enabled: !options.json && process.stderr.isTTY === true})
            const pulled = await pullModel({
                ref,
                registry,
                gateway: connection.config.gateway,
                cacheDir: options.cacheDir,
                onProgress: (p) => bar.update(p),
                retry: {attempts: options.retries},
                arns: arioReader({cuUrl: options.arnsCu})
            })
            bar.done()
            if (options.json) return printJson({path: path.resolve(pulled.path), sha256: pulled.sha256})
            process.stdout.write(`${pulled.cached ? "cached" : "pulled"} ${pulled.model.name} → ${pulled.path} (sha256 verified)\n`)
        })
}

export function listCommand() {
    return withNetworkOptions(new Command("list"))
        .description("list the models in the registry")
        .action(async (options: NetworkOptions) => {
            const {registry} = await openRegistry(options)
            const models = await registry.models()
            if (options.json) return printJson(models)
            if (models.length === 0) return void process.stdout.write("no models registered\n")
            for (const model of models)
                process.stdout.write(
                    `${model.name.padEnd(24)} ${model.id}  ${model.architecture} ${model.quantization} ${model.parameters} params\n`
                )
        })
}

export function infoCommand() {
    return withNetworkOptions(new Command("info"))
        .description("show one registered model")
        .argument("<model>", "Model-Id or registered name")
        .action(async (ref: string, options: NetworkOptions) => {
            const {registry} = await openRegistry(options)
            const model = await registry.model(ref)
            if (model == null) throw new UserError(`No model "${ref}" in the registry`, "see `weavelm model list`")
            if (options.json) return printJson(model)
            for (const [key, value] of Object.entries(model satisfies ModelRecord)) process.stdout.write(`${key.padEnd(14)} ${value}\n`)
        })
}
