import {pullModel as defaultPullModel, type PulledModel, type PullModelOptions} from "../../model-publisher/index.ts"
import type {EscrowClient} from "../../sdk/escrow/index.ts"
import {decodeReceipt, type Receipt} from "../../sdk/receipt/index.ts"
import type {RegistryClient} from "../../sdk/registry/index.ts"
import type {RetryOptions} from "../../sdk/storage/index.ts"
import type {ExpectedTask} from "../types.ts"
import {fetchDirectEvidence} from "./fetchDirectEvidence.ts"
import {gatewayReader, readPromptText} from "./gatewayReads.ts"
import {TaskEvidenceError, type TaskEvidence} from "./TaskEvidence.ts"

/** Where the evidence of a task comes from. Every side effect is one of these, so tests pass fakes. */
export interface TaskEvidenceSources {
    escrow: Pick<EscrowClient, "task">
    registry: RegistryClient
    /** Arweave gateway URL: receipts, prompts by Prompt-Tx or message id, GraphQL for tags, models. */
    gateway: string
    /** Model cache root, as for `pullModel`. */
    cacheDir: string
    /** Defaults to the global `fetch`. */
    fetch?: typeof fetch
    /** Defaults to `pullModel` (model-publisher), which checks the download against the registry's SHA-256. */
    pullModel?: (options: PullModelOptions) => Promise<PulledModel>
    /** Defaults to 5 attempts, backing off from 500 ms. */
    retry?: RetryOptions
}

export interface FetchTaskEvidenceOptions extends TaskEvidenceSources {
    taskId: string
    /**
     * The prompt, when the caller has it (a requester checking its own task). Otherwise it is read
     * from Prompt-Tx, or from the message that carried it. Either way the verifier re-hashes it
     * against the receipt's prompt hash.
     */
    prompt?: string
}

/**
 * Gathers what `verifyReceipt` needs for a task: the escrow's record (sampling, counts, Receipt-Tx,
 * Receipt-Hash, output), the receipt's stored bytes, the prompt, and the task's model (pulled into
 * the verified cache). Judges nothing: verification stays pure and separate.
 *
 * The prompt: the caller's, else Prompt-Tx from the gateway, else the task record's (the escrow
 * returns it only while the task is Assigned), else the message that opened the task, read from the
 * gateway (its Data, or its X-Prompt tag for a per-call Infer paid by token transfer).
 */
export async function fetchTaskEvidence(options: FetchTaskEvidenceOptions): Promise<TaskEvidence> {
    const {taskId, escrow, registry, cacheDir, retry} = options
    const gateway = options.gateway.replace(/\/$/, "")
    const pull = options.pullModel ?? defaultPullModel
    const reader = gatewayReader({gateway, fetch: options.fetch, retry})
    const notes: string[] = []

    const task = await escrow.task(taskId)
    if (task == null) throw new TaskEvidenceError("task-not-found", `the escrow has no task ${taskId}`)
    if (task.receiptTx == null || task.receiptHash == null)
        throw new TaskEvidenceError("no-result", `task ${taskId} has no result to verify (state ${task.state})`)
    if (task.direct === true) {
        return await fetchDirectEvidence(task, {
            reader,
            ...(options.prompt == null ? {} : {prompt: options.prompt}),
            pull: () => pull({ref: task.model, registry, gateway, cacheDir, retry})
        })
    }

    let receiptBytes: Uint8Array
    try {
        receiptBytes = await reader.data(task.receiptTx)
    } catch (error) {
        throw new TaskEvidenceError(
            "receipt-unavailable",
            `the receipt ${task.receiptTx} of task ${taskId} cannot be read: ${(error as Error).message}`
        )
    }
    let receipt: Receipt | null = null
    let receiptError: string | undefined
    try {
        receipt = decodeReceipt(receiptBytes)
    } catch (error) {
        receiptError = `the stored receipt is not a receipt: ${(error as Error).message.slice(0, 300)}`
    }

    const receiptTags = await reader.tags(task.receiptTx)
    if (receiptTags == null) notes.push("the gateway did not report the receipt upload's tags")
    else {
        const wanted: Record<string, string> = {
            "App-Name": "weavelm",
            Type: "Receipt",
            "Task-Id": taskId,
            "Model-Id": task.model,
            "Receipt-Hash": task.receiptHash
        }
        for (const [name, value] of Object.entries(wanted))
            if (receiptTags[name] !== value)
                notes.push(
                    `the receipt upload's ${name} tag is ${JSON.stringify(receiptTags[name] ?? null)}, expected ${JSON.stringify(value)}`
                )
    }

    const inRecord = (task as {prompt?: unknown}).prompt
    const prompt =
        options.prompt != null
            ? {text: options.prompt, source: "input" as const}
            : await readPromptText(
                  reader,
                  {
                      promptTx: task.promptTx,
                      promptMessage: task.promptMessage,
                      perCall: (task as {perCall?: unknown}).perCall === true,
                      ...(typeof inRecord === "string" ? {inRecord} : {})
                  },
                  notes
              )

    const model = await pull({ref: task.model, registry, gateway, cacheDir, retry})
    if (task.modelSha256 != null && model.sha256 !== task.modelSha256)
        throw new TaskEvidenceError(
            "model-mismatch",
            `the task names model ${task.model} with SHA-256 ${task.modelSha256}, the registry now ${model.sha256}`
        )

    const {maxTokens, temperature, topK, topP, seed} = task
    const sampling =
        maxTokens == null || temperature == null || topK == null || topP == null || seed == null
            ? null
            : {maxTokens, temperature, topK, topP, seed}
    const expected: ExpectedTask = {
        taskId: task.id,
        modelId: task.model,
        ...(task.modelSha256 == null ? {} : {modelSha256: task.modelSha256}),
        ...(prompt == null ? {} : {prompt: prompt.text}),
        ...(task.format === "text" || task.format === "chat" ? {format: task.format} : {}),
        ...(sampling == null ? {} : {sampling}),
        ...(task.inputTokens == null ? {} : {inputTokenCount: task.inputTokens}),
        ...(task.outputTokens == null ? {} : {outputTokenCount: task.outputTokens}),
        receiptHash: task.receiptHash,
        ...(task.output == null ? {} : {output: task.output})
    }
    return {
        task,
        receiptTx: task.receiptTx,
        receiptBytes,
        receipt,
        ...(receiptError == null ? {} : {receiptError}),
        receiptTags,
        prompt,
        model,
        expected,
        notes
    }
}
