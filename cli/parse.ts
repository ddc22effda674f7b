import {InvalidArgumentError} from "commander"

/** A commander parser for an integer option within [min, max]. */
export function parseInteger(min: number, max: number) {
    return (value: string) => {
        const n = Number(value)
        if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max)
            throw new InvalidArgumentError(`must be an integer from ${min} to ${max}`)
        return n
    }
}

/** A commander parser for a number option within [min, max]. */
export function parseNumber(min: number, max: number) {
    return (value: string) => {
        const n = Number(value)
        if (value.trim() === "" || !Number.isFinite(n) || n < min || n > max)
            throw new InvalidArgumentError(`must be a number from ${min} to ${max}`)
        return n
    }
}

/** A commander parser for a token amount: a positive integer of base units, kept as a string. */
export function parseAmount(value: string) {
    if (!/^\d{1,38}$/.test(value) || /^0+$/.test(value))
        throw new InvalidArgumentError("must be a positive whole number of token base units")
    return value.replace(/^0+/, "")
}
