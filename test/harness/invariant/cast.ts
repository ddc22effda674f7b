import {createHash} from "node:crypto"
import type {TagValues} from "../../../sdk/ao/index.ts"
import type {Actor, MemoryAo} from "../memoryAo.ts"

/** A 43-character id derived from a label. */
export const fakeId = (label: string) => createHash("sha256").update(label).digest("base64url")
export const hex = (label: string) => createHash("sha256").update(label).digest("hex")

/** The processes' owner, three requesters (bob also stakes and may register as a worker), and three workers (w3 the flaky one). */
export interface Cast {
    owner: Actor
    alice: Actor
    bob: Actor
    carol: Actor
    w1: Actor
    w2: Actor
    w3: Actor
}

/** The cast, and all of it in one list, the owner first. */
export async function createCast(ao: MemoryAo): Promise<{cast: Cast; actors: Actor[]}> {
    const actors = await Promise.all(["owner", "alice", "bob", "carol", "w1", "w2", "w3"].map((name) => ao.actor(name)))
    const [owner, alice, bob, carol, w1, w2, w3] = actors as [Actor, Actor, Actor, Actor, Actor, Actor, Actor]
    return {cast: {owner, alice, bob, carol, w1, w2, w3}, actors}
}

export interface ToyModel {
    id: string
    name: string
    ownerFee: string
}

/** The two models carol registers: m1 is served by every worker, m2 by w1 alone. */
export const toyModels: {m1: ToyModel; m2: ToyModel} = {
    m1: {id: fakeId("invariant-m1"), name: "toy-m1", ownerFee: "250"},
    m2: {id: fakeId("invariant-m2"), name: "toy-m2", ownerFee: "1000"}
}

export const modelTags = (m: ToyModel, ownerFee: string): TagValues => ({
    Action: "Register-Model",
    "Model-Id": m.id,
    "SHA-256": hex(m.name),
    Name: m.name,
    Format: "GGUF",
    Architecture: "llama",
    Quantization: "Q4_K_M",
    Parameters: "1100000000",
    "Context-Length": "2048",
    License: "Apache-2.0",
    "Owner-Fee": ownerFee
})
