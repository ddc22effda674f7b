import {fakeId} from "../invariant/cast.ts"
import type {Tags} from "./evaluation.ts"
import {ReferenceModel} from "./ReferenceModel.ts"

/** Fixed addresses for the model's own tests: no aos, no keys, just 43-character ids. */
export const ids = {token: fakeId("token"), token2: fakeId("token2"), registry: fakeId("registry"), escrow: fakeId("escrow")}
export const [owner, alice, carol, w1, w2] = ["owner", "alice", "carol", "w1", "w2"].map(fakeId) as [string, string, string, string, string]
export const m1 = fakeId("m1")
export const T0 = 1_700_000_000_000

/**
 * A reference model fed messages by hand: `send` predicts one evaluation at `pid` (the cascade it would start is
 * not delivered; a test sends what it needs), each with a fresh message id, at `at` or T0.
 */
export function modelBench() {
    const actors = [owner, alice, carol, w1, w2]
    const model = new ReferenceModel(ids, owner, {isActor: (address) => actors.includes(address)})
    let sent = 0
    const send = (pid: string, from: string, tags: Tags, {data = "", at = T0}: {data?: string; at?: number} = {}) =>
        model.predict({pid, id: fakeId(`message-${sent++}`), from, tags, data, timestamp: at, outputs: []})
    return {model, send}
}

/** What the registry's Sync-Worker says of a worker serving m1, with these terms. */
export function workerRecord(address: string) {
    return JSON.stringify({
        address,
        models: [m1],
        priceInput: "1000",
        priceOutput: "3000",
        stake: "4000",
        maxConcurrency: 1,
        eligible: true,
        lastHeartbeat: T0,
        heartbeatTimeout: 120000,
        reputation: {completed: 0, strikes: 0, slashed: 0}
    })
}

/**
 * An escrow wired to the token and registry (Challenge-Window 1500, Task-Timeout 7000), knowing m1 (owned by
 * carol, Owner-Fee 250 bps) and `workers`, with 30000 deposited by alice.
 */
export function escrowBench({workers = [w1], maxAttempts = "3"}: {workers?: string[]; maxAttempts?: string} = {}) {
    const bench = modelBench()
    const {send} = bench
    send(ids.escrow, owner, {
        Action: "Configure",
        Token: ids.token,
        Registry: ids.registry,
        "Challenge-Window": "1500",
        "Task-Timeout": "7000",
        "Max-Attempts": maxAttempts
    })
    const record = {id: m1, sha256: "ab".repeat(32), name: "toy-m1", owner: carol, ownerFee: 250}
    send(ids.escrow, ids.registry, {Action: "Sync-Model"}, {data: JSON.stringify(record)})
    for (const w of workers) send(ids.escrow, ids.registry, {Action: "Sync-Worker"}, {data: workerRecord(w)})
    send(ids.escrow, ids.token, {Action: "Credit-Notice", Sender: alice, Quantity: "30000", "X-Action": "Deposit"})
    const infer = (maxFee: string, at = T0) =>
        send(ids.escrow, alice, {Action: "Infer", Model: "toy-m1", "Max-Tokens": "64", "Max-Fee": maxFee}, {data: "what is 6 times 7?", at})
    return {...bench, infer}
}
