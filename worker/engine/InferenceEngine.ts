import {getLlama, getModuleVersion, LlamaLogLevel, type Llama} from "node-llama-cpp"
import type {EngineInfo} from "./EngineInfo.ts"
import {LoadedModel, type LoadedModelOptions} from "./LoadedModel.ts"

export interface InferenceEngineOptions {
    /** Compute backend. `auto` takes CUDA or Vulkan where their binaries and a device are present, else the CPU. */
    gpu: "auto" | "cuda" | "vulkan" | "cpu"
    /**
     * CPU threads each loaded model's context decodes with, unless its own options say otherwise.
     * Defaults to 1 on the CPU (see `LoadedModelOptions.threads`) and to the CPU's math cores with a GPU.
     */
    threads?: number
}

/** The worker's llama.cpp runtime: one per process. `dispose()` disposes every model loaded through it. */
export class InferenceEngine {
    readonly #llama: Llama
    readonly #info: EngineInfo
    readonly #threads: number
    readonly #models = new Set<LoadedModel>()

    private constructor(llama: Llama, info: EngineInfo, threads: number) {
        this.#llama = llama
        this.#info = info
        this.#threads = threads
    }

    /** Loads the prebuilt llama.cpp binding; never builds or downloads one. */
    public static async create({gpu, threads}: InferenceEngineOptions): Promise<InferenceEngine> {
        // maxThreads 0: contexts use exactly their `threads` instead of a share that varies with load,
        // since a receipt records the thread count its numbers were computed with.
        const llama = await getLlama({gpu: gpu === "cpu" ? false : gpu, build: "never", logLevel: LlamaLogLevel.warn, maxThreads: 0})
        const [version, gpuNames] = await Promise.all([getModuleVersion(), llama.gpu === false ? [] : llama.getGpuDeviceNames()])
        const info: EngineInfo = {
            name: "node-llama-cpp",
            version,
            llamaCpp: llama.llamaCppRelease.release,
            backend: llama.gpu === false ? "cpu" : llama.gpu,
            gpu: gpuNames[0] ?? null
        }
        return new InferenceEngine(llama, info, threads ?? (llama.gpu === false ? 1 : llama.cpuMathCores))
    }

    public engineInfo(): EngineInfo {
        return {...this.#info}
    }

    public async loadModel(path: string, options: LoadedModelOptions = {}): Promise<LoadedModel> {
        const model = await this.#llama.loadModel({modelPath: path})
        try {
            const threads = options.threads ?? this.#threads
            const context = await model.createContext({
                contextSize: options.contextSize ?? model.trainContextSize,
                sequences: options.sequences ?? 1,
                batchSize: options.batchSize,
                flashAttention: options.flashAttention ?? false,
                threads: {ideal: threads, min: threads}
            })
            const loaded = new LoadedModel(this.#llama, model, context, this.#info)
            this.#models.add(loaded)
            model.onDispose.createListener(() => this.#models.delete(loaded))
            return loaded
        } catch (error) {
            await model.dispose()
            throw error
        }
    }

    public async dispose(): Promise<void> {
        for (const model of this.#models) await model.dispose()
        await this.#llama.dispose()
    }
}
