import {stat} from "node:fs/promises"
import path from "node:path"
import {writeTestModel, type PresetName, type WeightType} from "../model-publisher/index.ts"

/** A generated test model in the bench folder, written once and reused by every suite and run. */
export async function benchModel(workDir: string, log: (line: string) => void, {preset = "125m", type = "q8_0", seed = 1}: {
    preset?: PresetName, type?: WeightType, seed?: number
} = {}): Promise<string> {
    const file = path.join(workDir, `${preset}-${type}-seed${seed}.gguf`)
    if (await stat(file).catch(() => null) == null) {
        log(`writing the ${preset} ${type} test model`)
        await writeTestModel({preset, seed, type, path: file})
    }
    return file
}
