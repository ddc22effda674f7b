import {Command, Option} from "commander"
import path from "node:path"
import {WEIGHT_TYPES, type WeightType} from "../../../model-publisher/testModel/encodings.ts"
import {PRESET_NAMES, type PresetName} from "../../../model-publisher/testModel/presets.ts"
import {printJson} from "../../context.ts"
import {parseInteger} from "../../parse.ts"
import {ProgressBar} from "../../progress.ts"

export function makeTestCommand() {
    return new Command("make-test")
        .description("write a deterministic llama GGUF with seeded random weights and a word vocabulary")
        .addOption(new Option("--preset <preset>", "model shape").choices(PRESET_NAMES).default("tiny"))
        .option("--seed <n>", "weights seed; the same seed gives the same weights in every precision", parseInteger(0, 2 ** 32 - 1), 1)
        .addOption(new Option("--type <type>", "matrix precision (default: the preset's)").choices([...WEIGHT_TYPES]))
        .requiredOption("-o, --output <file>", "GGUF file to write")
        .option("--json", "print machine-readable JSON")
        .action(async (options: {preset: PresetName; seed: number; type?: WeightType; output: string; json?: boolean}) => {
            const {writeTestModel, sha256File} = await import("../../../model-publisher/index.ts")
            const bar = new ProgressBar("writing", {enabled: !options.json && process.stderr.isTTY === true})
            const written = await writeTestModel({
                preset: options.preset,
                seed: options.seed,
                type: options.type,
                path: options.output,
                onProgress: (p) => bar.update({bytes: p.bytesWritten, total: p.totalBytes})
            })
            bar.done()
            const sha256 = await sha256File(options.output)
            const result = {
                path: path.resolve(options.output),
                preset: options.preset,
                seed: options.seed,
                type: written.type,
                sizeBytes: written.sizeBytes,
                sha256
            }
            if (options.json) return printJson(result)
            process.stdout.write(
                `wrote ${options.output}: ${options.preset} preset, seed ${options.seed}, ${written.type}, ${written.sizeBytes} bytes, sha256 ${sha256}\n`
            )
        })
}
