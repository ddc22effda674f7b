import {Command, InvalidArgumentError, Option} from "commander"
import {readFile, writeFile} from "node:fs/promises"
import {printJson} from "../context.ts"
import {EXIT_USAGE, UserError} from "../errors.ts"
import {parseInteger} from "../parse.ts"

export interface ReceiptCreateOptions {
    model: string
    prompt?: string
    promptFile?: string
    format: "text" | "chat"
    maxTokens: number
    temperature: string
    topK: number
    topP: string
    seed: number
    threads: number
    batchSize?: number
    output: string
    taskId: string
    worker: string
    modelId: string
    json?: boolean
}

export function receiptCommand() {
    return new Command("receipt").description("make and inspect receipts without a network").addCommand(receiptCreateCommand())
}

function receiptCreateCommand() {
    return new Command("create")
        .description("generate with a local GGUF file on the worker's engine and write the receipt a worker would store; no network")
        .requiredOption("--model <file>", "the GGUF model file")
        .option("--prompt <text>", "the prompt")
        .option("--prompt-file <file>", "read the prompt from a file instead")
        .addOption(
            new Option("--format <format>", "text, or chat: a JSON array of {role, content}").choices(["text", "chat"]).default("text")
        )
        .option("--max-tokens <n>", "most tokens to generate", parseInteger(1, 32768), 64)
        .option("--temperature <t>", "0 is greedy; a decimal, recorded as written", parseDecimal(2), "0")
        .option("--top-k <n>", "sample among the k most likely tokens (0: off)", parseInteger(0, 1000), 40)
        .option("--top-p <p>", "nucleus sampling threshold; a decimal, recorded as written", parseDecimal(1), "1")
        .option("--seed <n>", "sampling seed when temperature > 0", parseInteger(0, 2 ** 32 - 1), 0)
        .option("--threads <n>", "CPU threads generation decodes with", parseInteger(1, 256), 1)
        .option(
            "--batch-size <n>",
            "prompt tokens decoded per batch (default: node-llama-cpp's, 512 or the context size)",
            parseInteger(1, 65536)
        )
        .requiredOption("-o, --output <file>", "where to write the receipt (JSON)")
        .option("--task-id <id>", "the receipt's taskId", "")
        .option("--worker <address>", "the receipt's worker", "")
        .option("--model-id <id>", "the receipt's model id (the model's SHA-256 is always the file's)", "")
        .option("--json", 'print {"receipt", "receiptHash", "outputTokens", "inputTokens", "output"}')
        .addHelpText(
            "after",
            `
The receipt is what a worker stores for a task: the same engine, records and hash, on the CPU. Check it
offline with: weavelm verify --receipt FILE --model MODEL.gguf [--prompt-file F]`
        )
        .action(async (options: ReceiptCreateOptions, command: Command) => {
            if ((options.prompt == null) === (options.promptFile == null))
                command.error("error: give the prompt with --prompt TEXT or --prompt-file FILE (exactly one)", {exitCode: EXIT_USAGE})
            await createReceipt(options)
        })
}

async function createReceipt(options: ReceiptCreateOptions) {
    const prompt =
        options.prompt ??
        (await readFile(options.promptFile!, "utf8").catch((error: Error) => {
            throw new UserError(`cannot read the prompt file ${options.promptFile}: ${error.message}`)
        }))
    const [{sha256File}, {InferenceEngine}, {buildReceipt}, {encodeReceipt}] = await Promise.all([
        import("../../model-publisher/sha256File.ts"),
        import("../../worker/engine/index.ts"),
        import("../../worker/service/buildReceipt.ts"),
        import("../../sdk/receipt/index.ts")
    ])
    const sha256 = await sha256File(options.model).catch((error: Error) => {
        throw new UserError(`cannot read the model file ${options.model}: ${error.message}`)
    })
    const engine = await InferenceEngine.create({gpu: "cpu", threads: options.threads})
    try {
        const model = await engine.loadModel(options.model, {batchSize: options.batchSize}).catch((error: Error) => {
            throw new UserError(`cannot load the model file ${options.model}: ${error.message}`)
        })
        const sampling = {
            maxTokens: options.maxTokens,
            temperature: options.temperature,
            topK: options.topK,
            topP: options.topP,
            seed: options.seed
        }
        const startedAt = Date.now()
        const generation = await model.generate({prompt, format: options.format, sampling})
        const receipt = buildReceipt({
            taskId: options.taskId,
            worker: options.worker,
            model: {id: options.modelId, sha256},
            prompt,
            format: options.format,
            sampling,
            generation,
            startedAt,
            log: []
        })
        const {bytes, hash} = encodeReceipt(receipt)
        await writeFile(options.output, bytes).catch((error: Error) => {
            throw new UserError(`cannot write the receipt ${options.output}: ${error.message}`)
        })
        const counts = {inputTokens: receipt.inputTokens.length, outputTokens: receipt.outputTokens.length}
        if (options.json) return printJson({receipt: options.output, receiptHash: hash, ...counts, output: receipt.output})
        process.stdout.write(
            [
                `wrote ${options.output}`,
                `output   ${JSON.stringify(receipt.output)}`,
                `tokens   ${counts.inputTokens} input, ${counts.outputTokens} output (stopped: ${receipt.stopReason})`,
                `hash     ${hash}`
            ].join("\n") + "\n"
        )
    } finally {
        await engine.dispose()
    }
}

/**
 * A decimal from 0 to `max`, kept as the text written: receipts and tasks carry temperature and
 * top-p as strings, so nothing is lost to float formatting.
 */
function parseDecimal(max: number) {
    return (value: string) => {
        if (!/^\d+(\.\d+)?$/.test(value) || Number(value) > max)
            throw new InvalidArgumentError(`must be a decimal from 0 to ${max}, like 0.8`)
        return value
    }
}
