import type {ProcessReply} from "../../../sdk/ao/index.ts"

export type Tags = Record<string, string>

/** One message a process evaluated, with what it emitted. */
export interface Evaluation {
    pid: string
    id: string
    from: string
    tags: Tags
    data: string
    timestamp: number
    outputs: ProcessReply[]
}

/** What the model expects one output to be: target, these tags, optionally a check of the rest. */
export interface Expected {
    target: string
    tags: Record<string, string | undefined>
    error?: RegExp | string
    data?: string
    json?: (value: unknown) => void
}

/** aos title-cases incoming tag names (utils.normalize). */
const normalizeName = (name: string) =>
    name
        .replace(/_/g, "-")
        .toLowerCase()
        .replace(/^[a-z]/, (c) => c.toUpperCase())
        .replace(/-([a-z])/g, (_m, c: string) => `-${c.toUpperCase()}`)

/** The evaluation with its tag names as the process's handlers see them. */
export function withNormalizedTags(ev: Evaluation): Evaluation {
    const tags: Tags = {}
    for (const [k, v] of Object.entries(ev.tags)) tags[normalizeName(k)] = v
    return {...ev, tags}
}

/** Throws, showing both sides, unless the evaluation emitted exactly the expected outputs in order. */
export function compareOutputs(ev: Evaluation, expected: Expected[], label: (address: string) => string) {
    const describeMsg = () => {
        const show = (o: {target: string; tags: Record<string, unknown>}) => ({to: label(o.target), ...o.tags})
        return (
            `\nevaluation at ${label(ev.pid)} of ${JSON.stringify({from: label(ev.from), ...ev.tags})} at ${ev.timestamp}` +
            `\nexpected: ${JSON.stringify(
                expected.map((e) => show(e)),
                null,
                1
            )}` +
            `\nactual: ${JSON.stringify(
                ev.outputs.map((o) => show({target: o.target, tags: o.tags})),
                null,
                1
            )}`
        )
    }
    if (ev.outputs.length !== expected.length) throw new Error(`output count ${ev.outputs.length} != ${expected.length}${describeMsg()}`)
    expected.forEach((exp, i) => {
        const out = ev.outputs[i]!
        const problems: string[] = []
        if (out.target !== exp.target) problems.push(`target ${label(out.target)} != ${label(exp.target)}`)
        for (const [k, v] of Object.entries(exp.tags)) if (out.tags[k] !== v) problems.push(`${k}: ${out.tags[k]} != ${v}`)
        if (exp.error !== undefined) {
            const ok = typeof exp.error === "string" ? out.tags.Error === exp.error : exp.error.test(out.tags.Error ?? "")
            if (!ok) problems.push(`Error: ${out.tags.Error} !~ ${String(exp.error)}`)
        }
        if (exp.data !== undefined && out.data !== exp.data) problems.push(`Data: ${out.data} != ${exp.data}`)
        if (problems.length > 0) throw new Error(`output ${i}: ${problems.join("; ")}${describeMsg()}`)
        if (exp.json) {
            try {
                exp.json(JSON.parse(out.data))
            } catch (e) {
                throw new Error(`output ${i} data: ${(e as Error).message}${describeMsg()}\ndata: ${out.data.slice(0, 3000)}`)
            }
        }
    })
}
