import {Command, Option} from "commander"
import {stat} from "node:fs/promises"
import path from "node:path"
import {WEIGHT_TYPES, type WeightType} from "../../../model-publisher/testModel/encodings.ts"
import {printJson} from "../../context.ts"
import {UserError} from "../../errors.ts"
import {ProgressBar} from "../../progress.ts"

export function convertCommand() {
    return new Command("convert")
        .description(
            "re-encode a GGUF model's weight matrices at another precision, bit for bit as llama-quantize would " +
                "(no importance matrix); metadata, tokenizer and norms are kept"
        )
        .argument("<input>", "GGUF file whose matrices are f32, f16, q8_0, q5_0, q4_0 or q4_K")
        .addOption(
            new Option("--type <type>", "matrix precision; q4_K stores rows that are not a multiple of 256 in q5_0, " + "as llama.cpp does")
                .choices([...WEIGHT_TYPES])
                .makeOptionMandatory()
        )
        .requiredOption("-o, --output <file>", "GGUF file to write")
        .option("--json", "print machine-readable JSON")
        .action(async (input: string, options: {type: WeightType; output: string; json?: boolean}) => {
            const [{convertModel}, {sha256File}] = await Promise.all([
                import("../../../model-publisher/convert/index.ts"),
                import("../../../model-publisher/sha256File.ts")
            ])
            await stat(input).catch(() => {
                throw new UserError(`No such file: ${input}`)
            })
            const bar = new ProgressBar("converting", {enabled: !options.json && process.stderr.isTTY === true})
            const converted = await convertModel({
                input,
                output: options.output,
                type: options.type,
                onProgress: (p) => bar.update({bytes: p.bytesWritten, total: p.totalBytes})
            })
                .catch((error: unknown) => {
                    // A system error (EACCES, ENOSPC, EISDIR) is about the output path or the disk (an unreadable
                    // input has already failed as a ConvertError, a user error itself): the user's to fix, so one line and exit 1.
                    if (error instanceof Error && typeof (error as NodeJS.ErrnoException).syscall === "string")
                        throw new UserError(`cannot write ${options.output}: ${error.message}`)
                    throw error
                })
                .finally(() => bar.done())
            const sha256 = await sha256File(options.output)
            const {type, sizeBytes} = converted
            if (options.json) return printJson({path: path.resolve(options.output), type, sizeBytes, sha256})
            process.stdout.write(`wrote ${options.output}: ${converted.type}, ${converted.sizeBytes} bytes, sha256 ${sha256}\n`)
            const fallbackTypes = [...new Set(converted.fallbacks.map((fallback) => fallback.type))]
            if (fallbackTypes.length > 0)
                process.stdout.write(
                    `${converted.fallbacks.length} matrices stored as ${fallbackTypes.join(" and ")}: ` +
                        `their rows do not fit ${converted.type}'s blocks (llama.cpp falls back the same way)\n`
                )
        })
}
