import {Command} from "commander"
import {stat} from "node:fs/promises"
import {printJson} from "../../context.ts"
import {UserError} from "../../errors.ts"
import {parseInteger} from "../../parse.ts"

export function inspectCommand() {
    return new Command("inspect")
        .description("print a GGUF file's metadata (read with node-llama-cpp's GGUF reader)")
        .argument("<file>", "GGUF file")
        .option("--margins", "also generate greedily and report top-1 probability and top-1/top-2 margins")
        .option("--tokens <n>", "tokens to generate for --margins", parseInteger(1, 4096), 64)
        .option("--threads <n>", "CPU threads for --margins", parseInteger(1, 256), 1)
        .option("--json", "print machine-readable JSON")
        .action(async (file: string, options: {margins?: boolean; tokens: number; threads: number; json?: boolean}) => {
            const {inspectModel, measureModelMargins, quantizationOf} = await import("../../../model-publisher/index.ts")
            await stat(file).catch(() => {
                throw new UserError(`No such file: ${file}`)
            })
            const summary = await inspectModel(file).catch((error: unknown) => {
                throw new UserError(`${file} is not a readable GGUF model: ${error instanceof Error ? error.message : String(error)}`)
            })
            const margins = options.margins
                ? await measureModelMargins(file, {tokens: options.tokens, threads: options.threads})
                : undefined
            const quantization = quantizationOf(summary)
            if (options.json) {
                const {steps: _steps, ...marginSummary} = (margins ?? {}) as Record<string, unknown>
                return printJson({...summary, quantization, ...(margins ? {margins: marginSummary} : {})})
            }
            const rows: Array<[string, string | number | undefined]> = [
                ["architecture", summary.architecture],
                ["name", summary.name],
                ["parameters", summary.parameterCount],
                ["quantization", quantization],
                ["context length", summary.contextLength],
                ["embedding", summary.embeddingLength],
                ["layers", summary.blockCount],
                ["vocabulary", summary.vocabularySize],
                ["tokenizer", summary.tokenizerModel],
                ["size", `${summary.sizeBytes} bytes`]
            ]
            if (margins != null)
                rows.push(
                    ["median top-1 p", margins.medianTop1Probability.toFixed(4)],
                    ["median margin", `${margins.medianMargin.toFixed(4)} nats`],
                    ["min margin", `${margins.minMargin.toFixed(6)} nats`],
                    ["exact ties", margins.exactTies]
                )
            for (const [key, value] of rows) process.stdout.write(`${key.padEnd(15)} ${value ?? "-"}\n`)
        })
}
