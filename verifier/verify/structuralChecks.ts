import type {Token} from "node-llama-cpp"
import {decodeReceipt, encodeReceipt, hashPrompt, hashReceiptBytes, type Receipt, type Sampling} from "../../sdk/receipt/index.ts"
import type {ExpectedTask, StructuralCheck, VerifierModel} from "../types.ts"

export interface StructuralInput {
    receipt: Receipt
    receiptBytes?: Uint8Array
    expected: ExpectedTask
    model: Pick<VerifierModel, "tokenizePrompt" | "detokenize" | "isEogToken" | "vocabularySize">
}

/**
 * Everything about a receipt that can be decided without re-scoring: does it hash to the committed
 * Receipt-Hash, is it about this task, model, prompt and sampling, do its counts and output match
 * what the worker reported, are its records consistent with themselves, and does the model turn
 * the task's prompt into the claimed input tokens? Pure apart from tokenizing with the model.
 */
export function structuralChecks({receipt, receiptBytes, expected, model}: StructuralInput): StructuralCheck[] {
    const checks: StructuralCheck[] = []
    const check = (name: string, status: StructuralCheck["status"], detail: string) => checks.push({name, status, detail})
    const equal = (name: string, what: string, claimed: unknown, wanted: unknown) => {
        if (wanted === undefined) check(name, "skipped", `no ${what} to compare with`)
        else if (claimed === wanted) check(name, "pass", `${what} matches`)
        else check(name, "fail", `the receipt says ${JSON.stringify(claimed)}, the task ${JSON.stringify(wanted)}`)
    }

    // The bytes: what was stored is what was committed to, and what is being judged.
    if (receiptBytes != null) {
        let decoded: Receipt | null = null
        try {
            decoded = decodeReceipt(receiptBytes)
        } catch (error) {
            check("receipt.bytes", "fail", `the stored bytes are not a receipt: ${(error as Error).message.slice(0, 200)}`)
        }
        if (decoded != null) {
            // Both parsed by the schema, so keys come in one order and absent optionals serialise alike.
            if (JSON.stringify(decoded) === JSON.stringify(receipt))
                check("receipt.bytes", "pass", "the stored bytes decode to the receipt judged")
            else check("receipt.bytes", "fail", "the stored bytes decode to another receipt than the one judged")
        }
    } else check("receipt.bytes", "skipped", "no stored bytes given")
    if (expected.receiptHash === undefined) check("receipt.hash", "skipped", "no Receipt-Hash to compare with")
    else {
        const [hash, source] =
            receiptBytes != null
                ? [hashReceiptBytes(receiptBytes), "the stored bytes"]
                : [encodeReceipt(receipt).hash, "the receipt re-encoded"]
        if (hash === expected.receiptHash) check("receipt.hash", "pass", `${source} hash to Receipt-Hash`)
        else check("receipt.hash", "fail", `${source} hash to ${hash}, Receipt-Hash is ${expected.receiptHash}`)
    }

    equal("task.id", "the task id", receipt.taskId, expected.taskId)
    equal("model.id", "the Model-Id", receipt.model.id, expected.modelId)
    equal("model.sha256", "the model's SHA-256", receipt.model.sha256, expected.modelSha256)
    equal("prompt.format", "the prompt format", receipt.prompt.format, expected.format)

    // The prompt: its hash, and the tokens the model makes of it.
    const promptHashes = [expected.prompt === undefined ? undefined : hashPrompt(expected.prompt), expected.promptSha256].filter(
        (h) => h !== undefined
    )
    if (promptHashes.length === 0) check("prompt.sha256", "skipped", "neither the prompt nor its hash is at hand")
    else if (new Set(promptHashes).size > 1) check("prompt.sha256", "fail", "the prompt at hand does not hash to the task's prompt hash")
    else if (receipt.prompt.sha256 === promptHashes[0])
        check("prompt.sha256", "pass", expected.prompt === undefined ? "matches the given hash" : "matches the task's prompt, re-hashed")
    else check("prompt.sha256", "fail", `the receipt's prompt hash ${receipt.prompt.sha256} is not the task prompt's ${promptHashes[0]}`)
    if (expected.prompt === undefined) check("prompt.tokens", "skipped", "no prompt text to tokenize")
    else {
        const format = expected.format ?? receipt.prompt.format
        let tokens: Token[] | null = null
        try {
            tokens = model.tokenizePrompt(expected.prompt, format)
        } catch (error) {
            check("prompt.tokens", "fail", `the task's prompt cannot be fed as ${format}: ${(error as Error).message}`)
        }
        if (tokens != null) {
            const first = firstDifference(tokens, receipt.inputTokens)
            if (first === null) check("prompt.tokens", "pass", `${tokens.length} input tokens are the ${format} prompt's`)
            else
                check(
                    "prompt.tokens",
                    "fail",
                    `the receipt's ${receipt.inputTokens.length} input tokens are not the ${tokens.length} the prompt makes (first difference at ${first})`
                )
        }
    }

    if (expected.sampling === undefined) check("sampling", "skipped", "no task sampling parameters to compare with")
    else {
        const differing = samplingDifferences(receipt.sampling, expected.sampling)
        if (differing.length === 0) check("sampling", "pass", "the task's sampling parameters")
        else check("sampling", "fail", `differs from the task's: ${differing.join(", ")}`)
    }

    const counts: string[] = []
    if (expected.inputTokenCount !== undefined && expected.inputTokenCount !== receipt.inputTokens.length)
        counts.push(`${receipt.inputTokens.length} input tokens, Input-Tokens ${expected.inputTokenCount}`)
    if (expected.outputTokenCount !== undefined && expected.outputTokenCount !== receipt.outputTokens.length)
        counts.push(`${receipt.outputTokens.length} output tokens, Output-Tokens ${expected.outputTokenCount}`)
    if (expected.inputTokenCount === undefined && expected.outputTokenCount === undefined)
        check("tokens.counts", "skipped", "no reported token counts")
    else
        check("tokens.counts", counts.length === 0 ? "pass" : "fail", counts.length === 0 ? "the reported token counts" : counts.join("; "))

    const records = recordProblems(receipt)
    check(
        "tokens.records",
        records.length === 0 ? "pass" : "fail",
        records.length === 0 ? "one consistent record per output token" : records.slice(0, 3).join("; ")
    )

    // Ids outside the vocabulary: another model's tokens. llama.cpp aborts the process on them, so no native call may see them.
    const foreign = foreignToken(receipt, model.vocabularySize)
    if (foreign != null) {
        check("tokens.vocabulary", "fail", `${foreign} is not a token of the model's vocabulary of ${model.vocabularySize}`)
        check("stop", "skipped", "token ids outside the vocabulary")
        check("output.detokenized", "skipped", "token ids outside the vocabulary")
    } else {
        check("tokens.vocabulary", "pass", `every token id is in the model's vocabulary of ${model.vocabularySize}`)
        const stop = stopProblems(receipt, model)
        check("stop", stop.length === 0 ? "pass" : "fail", stop.length === 0 ? `stopped for ${receipt.stopReason}` : stop.join("; "))
        const text = receipt.stopReason === "eos" ? receipt.outputTokens.slice(0, -1) : receipt.outputTokens
        const detokenized = model.detokenize(text as Token[])
        if (detokenized === receipt.output) check("output.detokenized", "pass", "the output is the output tokens' text")
        else
            check(
                "output.detokenized",
                "fail",
                `the output is not the output tokens' text (${describeTextDifference(receipt.output, detokenized)})`
            )
    }
    if (expected.output === undefined) check("output.task", "skipped", "no Task-Result output to compare with")
    else if (expected.output === receipt.output) check("output.task", "pass", "the output sent in Task-Result")
    else
        check(
            "output.task",
            "fail",
            `the receipt's output is not the one sent in Task-Result (${describeTextDifference(receipt.output, expected.output)})`
        )
    return checks
}

function foreignToken(receipt: Receipt, vocabularySize: number): string | null {
    const outside = (token: number) => !Number.isInteger(token) || token < 0 || token >= vocabularySize
    const input = receipt.inputTokens.find(outside)
    if (input !== undefined) return `input token ${input}`
    const output = receipt.outputTokens.find(outside)
    if (output !== undefined) return `output token ${output}`
    for (const record of receipt.tokens) {
        const listed = record.top.find(([token]) => outside(token))
        if (outside(record.token) || listed !== undefined) return `record token ${outside(record.token) ? record.token : listed![0]}`
    }
    return null
}

function samplingDifferences(claimed: Sampling, task: Sampling): string[] {
    const keys = ["maxTokens", "temperature", "topK", "topP", "seed"] as const
    return keys
        .filter((key) => claimed[key] !== task[key])
        .map((key) => `${key} ${JSON.stringify(claimed[key])} (task ${JSON.stringify(task[key])})`)
}

/** The records must be the worker's own view of the output tokens, in a shape generate() produces. */
function recordProblems(receipt: Receipt): string[] {
    const problems: string[] = []
    if (receipt.tokens.length !== receipt.outputTokens.length)
        problems.push(`${receipt.tokens.length} records for ${receipt.outputTokens.length} output tokens`)
    for (const [i, record] of receipt.tokens.entries()) {
        if (problems.length >= 3) break
        if (record.token !== receipt.outputTokens[i])
            problems.push(`record ${i} is for token ${record.token}, the output has ${receipt.outputTokens[i]}`)
        else if (record.logprob > 1e-6) problems.push(`record ${i} has a log-probability above 0`)
        else if (new Set(record.top.map(([token]) => token)).size !== record.top.length) problems.push(`record ${i} lists a token twice`)
        else if (record.top.some(([, logprob], j) => logprob > 1e-6 || (j > 0 && logprob > record.top[j - 1]![1])))
            problems.push(`record ${i} has a top list out of order`)
        else {
            const listed = record.top.find(([token]) => token === record.token)
            if (listed != null && Math.abs(listed[1] - record.logprob) > 1e-6)
                problems.push(`record ${i} gives its token two log-probabilities`)
            else if (listed == null && record.logprob > record.top.at(-1)![1] + 1e-6)
                problems.push(`record ${i}'s token is stronger than its top list's last but not listed`)
        }
    }
    return problems
}

/** generate() stops at the first end-of-generation token, at maxTokens, or when the context is full: nowhere else. */
function stopProblems(receipt: Receipt, model: Pick<VerifierModel, "isEogToken">): string[] {
    const {outputTokens, inputTokens, sampling, stopReason, engine} = receipt
    const problems: string[] = []
    if (outputTokens.length === 0) return ["no output tokens"]
    const eog = outputTokens.findIndex((token) => model.isEogToken(token))
    const last = outputTokens.length - 1
    if (eog !== -1 && eog < last) problems.push(`output continues after an end-of-generation token at ${eog}`)
    if (outputTokens.length > sampling.maxTokens)
        problems.push(`${outputTokens.length} output tokens, above maxTokens ${sampling.maxTokens}`)
    if (inputTokens.length + outputTokens.length > engine.contextSize)
        problems.push(`${inputTokens.length + outputTokens.length} tokens do not fit the claimed context of ${engine.contextSize}`)
    const expected =
        eog === last
            ? "eos"
            : outputTokens.length === sampling.maxTokens
              ? "maxTokens"
              : inputTokens.length + outputTokens.length >= engine.contextSize
                ? "contextFull"
                : null
    if (expected == null)
        problems.push(`stopped after ${outputTokens.length} tokens with no reason to (not eos, maxTokens or a full context)`)
    else if (expected !== stopReason) problems.push(`says ${stopReason}, the tokens say ${expected}`)
    return problems
}

function firstDifference(a: readonly number[], b: readonly number[]): number | null {
    const length = Math.min(a.length, b.length)
    for (let i = 0; i < length; i++) if (a[i] !== b[i]) return i
    return a.length === b.length ? null : length
}

function describeTextDifference(a: string, b: string): string {
    const at =
        firstDifference(
            [...a].map((c) => c.codePointAt(0)!),
            [...b].map((c) => c.codePointAt(0)!)
        ) ?? 0
    return `${a.length} vs ${b.length} characters, first difference at ${at}`
}
