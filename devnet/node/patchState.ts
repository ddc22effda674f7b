import type {WaoOutboxMessage, WaoResult} from "./WaoEngine.ts"

/** What a process has published with `patch@1.0`, as `/now/...` serves it. */
export type PatchState = Record<string, unknown>

/** The message's envelope, not state: HyperBEAM merges these too, but no process publishes through them. */
const ENVELOPE = ["device", "method", "data-protocol", "variant", "type", "reference"]

/**
 * Applies one evaluation's `patch@1.0` messages to `state`, in outbox order,
 * as HyperBEAM's genesis-wasm stack does after each slot (`dev_patch`,
 * `patch-from = /results/outbox`, `patch-to = /`): a message is a patch when
 * its `device` is `patch@1.0` or its `method` is `PATCH`; its keys are
 * deep-merged into the state (`dev_message:set`), so nested tables merge and a
 * later value replaces an earlier one. An evaluation that failed has no outbox.
 */
export function applyPatches(state: PatchState, result: WaoResult | undefined) {
    if (result == null || result.Error != null) return
    for (const message of result.Messages ?? []) {
        const fields = patchFields(message)
        if (fields != null) deepMerge(state, fields)
    }
}

/** The value at `path` (keys matched as HyperBEAM matches them), or `undefined`. */
export function lookup(state: PatchState, path: readonly string[]): unknown {
    let node: unknown = state
    for (const key of path) {
        if (!isRecord(node)) return undefined
        const found = Object.keys(node).find((candidate) => keyMatches(candidate, key))
        if (found == null) return undefined
        node = node[found]
    }
    return node
}

function patchFields(message: WaoOutboxMessage): PatchState | undefined {
    const fields: PatchState = {}
    let isPatch = false
    for (const {name, value} of message.Tags ?? []) {
        const key = normalizeKey(name)
        if ((key === "device" && value === "patch@1.0") || (key === "method" && value === "PATCH")) isPatch = true
        if (!ENVELOPE.includes(key)) fields[key] = value
    }
    return isPatch ? fields : undefined
}

function deepMerge(target: PatchState, source: PatchState) {
    for (const [key, value] of Object.entries(source)) {
        const existing = target[key]
        if (isRecord(existing) && isRecord(value)) deepMerge(existing, value)
        else target[key] = isRecord(value) ? structuredClone(value) : value
    }
}

/**
 * HyperBEAM lowercases keys (`hb_ao:normalize_key`) except 43-character ids,
 * and looks a key up exactly, then case-insensitively (`dev_message:get`).
 */
function keyMatches(candidate: string, key: string) {
    return candidate === key || normalizeKey(candidate) === key.toLowerCase()
}

function normalizeKey(key: string) {
    return /^[A-Za-z0-9_-]{43}$/.test(key) ? key : key.toLowerCase()
}

function isRecord(value: unknown): value is PatchState {
    return typeof value === "object" && value != null && !Array.isArray(value)
}
