import type {Tags} from "./evaluation.ts"
import {check, fail} from "./guard.ts"

/** input.tag: exact name first, then case-insensitively. */
function tagOf(tags: Tags, name: string): string | undefined {
    if (tags[name] !== undefined) return tags[name]
    const lower = name.toLowerCase()
    for (const [k, v] of Object.entries(tags)) if (k.toLowerCase() === lower) return v
    return undefined
}

/** The input.* rules, over a tag getter. */
export class Input {
    public constructor(private readonly get: (name: string) => string | undefined) {}

    public static of(tags: Tags) {
        return new Input((n) => tagOf(tags, n))
    }

    public required(name: string) {
        const v = this.get(name)
        check(v !== undefined && v !== "", `${name} is required`)
        return v!
    }

    public optional(name: string) {
        const v = this.get(name)
        return v === undefined || v === "" ? undefined : v
    }

    public text(name: string, max: number) {
        const v = this.required(name)
        check(v.length <= max && !/[\x00-\x1f\x7f]/.test(v), `${name} must be at most ${max} characters, without control characters`)
        return v
    }

    public integer(name: string, opts: {def?: number; min?: number; max?: number} = {}) {
        const raw = this.get(name)
        if (raw === undefined || raw === "") {
            check(opts.def !== undefined, `${name} is required`)
            return opts.def!
        }
        check(/^-?\d+$/.test(raw) && raw.length <= 15, `${name} must be an integer`)
        const n = Number(raw)
        if (opts.min !== undefined) check(n >= opts.min, `${name} must be at least ${opts.min}`)
        if (opts.max !== undefined) check(n <= opts.max, `${name} must be at most ${opts.max}`)
        return n
    }

    public decimal(name: string, opts: {def: string; min: number; max: number}) {
        const raw = this.get(name)
        if (raw === undefined || raw === "") return opts.def
        check(/^\d+\.?\d*$/.test(raw) && raw.length <= 12, `${name} must be a non-negative decimal`)
        const n = Number(raw)
        check(n >= opts.min && n <= opts.max, `${name} must be between ${opts.min} and ${opts.max}`)
        return raw
    }

    public oneOf(name: string, allowed: string[], def?: string) {
        const v = this.optional(name) ?? def
        if (v !== undefined && allowed.includes(v)) return v
        return fail(`${name} must be one of ${allowed.join(", ")}`)
    }

    public id(name: string) {
        const v = this.required(name)
        check(isId(v), `${name} must be a 43-character id`)
        return v
    }
}

export const isId = (v: unknown): v is string => typeof v === "string" && v.length === 43 && /^[A-Za-z0-9_-]+$/.test(v)

/** amount.parse */
export function parseAmount(value: string | undefined, field: string): bigint {
    check(value !== undefined && value !== "", `${field} is required`)
    check(/^\d+$/.test(value!), `${field} must be a non-negative integer string`)
    check(value!.length <= 38, `${field} is too large`)
    return BigInt(value!)
}

/** amount.positive */
export function positive(value: string | undefined, field: string): bigint {
    const n = parseAmount(value, field)
    check(n > 0n, `${field} must be greater than 0`)
    return n
}
