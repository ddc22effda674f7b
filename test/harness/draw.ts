/**
 * The escrow's seeded draws (docs/protocol.md, escrow "Tasks" and "Disputes"),
 * recomputed in TypeScript so that tests can predict which worker takes a task
 * and which referees judge a challenge.
 */

/** What a draw reads of a worker record. */
export interface DrawRecord {
    address: string
    stake: string
    reputation: {completed: number; strikes: number; slashed: number}
}

const fnv1a = (text: string) => {
    let h = 2166136261
    for (const byte of Buffer.from(text)) h = Math.imul(h ^ byte, 16777619) >>> 0
    return h
}

/** The 224-bit seed: seven FNV-1a hashes of `<text>#1` ... `<text>#7`, most significant first. */
export function drawSeed(text: string) {
    let seed = 0n
    for (let i = 1; i <= 7; i++) seed = seed * 2n ** 32n + BigInt(fnv1a(`${text}#${i}`))
    return seed
}

/** `floor(stake * (completed + 1) * 10^6 / (completed + 1 + 4 * strikes + 16 * slashed))`. */
export function drawWeight({stake, reputation: {completed, strikes, slashed}}: DrawRecord) {
    return (BigInt(stake) * BigInt(completed + 1) * 1_000_000n) / BigInt(completed + 1 + 4 * strikes + 16 * slashed)
}

/** One weighted draw among `records` (taken in address order) with `seedText`. */
export function expectedDraw<T extends DrawRecord>(records: T[], seedText: string): T {
    const sorted = [...records].sort((a, b) => (a.address < b.address ? -1 : 1))
    const weights = sorted.map(drawWeight)
    const total = weights.reduce((a, b) => a + b, 0n)
    const seed = drawSeed(seedText)
    if (total === 0n) return sorted[Number(seed % BigInt(sorted.length))]!
    let r = seed % total
    for (const [i, w] of weights.entries()) {
        if (r < w) return sorted[i]!
        r -= w
    }
    throw new Error("unreachable")
}

/** A referee committee: `k` draws without replacement, referee `i` with seed text `<seedText>:<i>`. */
export function expectedCommittee(records: DrawRecord[], k: number, seedText: string): string[] {
    const pool = [...records]
    const committee: string[] = []
    for (let i = 1; i <= k; i++) {
        const pick = expectedDraw(pool, `${seedText}:${i}`)
        committee.push(pick.address)
        pool.splice(pool.indexOf(pick), 1)
    }
    return committee
}
