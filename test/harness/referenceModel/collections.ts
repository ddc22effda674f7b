/** A map's keys in the byte order the Lua processes iterate them in. */
export const sortedKeys = <T>(m: Map<string, T>) => [...m.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))

export const sum = (values: Iterable<bigint>) => {
    let total = 0n
    for (const v of values) total += v
    return total
}
