import type {TagValues} from "../../../sdk/ao/index.ts"
import {quoteOf} from "../referenceModel/index.ts"
import {fakeId, hex, toyModels} from "./cast.ts"
import {someone, type Action, type Stage} from "./stage.ts"

/** The cheapest quote among workers that could take the task now (any serving worker if none can). */
function cheapestQuote({model}: Stage, modelId: string, maxTokens: number) {
    const {book} = model.escrow
    const bps = book.models.get(modelId)?.ownerFee ?? 0
    const serving = [...book.workers.values()].filter((w) => w.models.includes(modelId))
    const able = serving.filter((w) => w.eligible && Date.now() - w.lastHeartbeat < w.heartbeatTimeout)
    const quotes = (able.length > 0 ? able : serving).map((w) => quoteOf(w.priceOutput, maxTokens, bps))
    return quotes.length === 0 ? 1000n : quotes.reduce((a, b) => (a < b ? a : b))
}

/** Infer parameters shared by direct and per-call requests; `refused` when the inputs alone make it fail. */
function inferParams(stage: Stage, step: number) {
    const {rng} = stage
    const {m1, m2} = toyModels
    const roll = rng.next()
    const model = roll < 0.88 ? m1.name : roll < 0.92 ? m2.id : roll < 0.96 ? m2.name : "no-such-model"
    let refused = model === "no-such-model"
    let maxTokens: string = String(rng.pick([16, 32, 64, 128]))
    if (rng.chance(0.03)) {
        maxTokens = rng.pick(["0", "40000", "many"])
        refused = true
    }
    const modelId = model === m1.name ? m1.id : m2.id
    const q = cheapestQuote(stage, modelId, Number(maxTokens) || 256)
    const fee = rng.chance(0.1) ? (q * BigInt(rng.int(30, 95))) / 100n : (q * BigInt(rng.int(100, 300))) / 100n
    let prompt = `prompt ${step}: what is ${step} times seven?`
    let format: string | undefined
    if (rng.chance(0.03)) {
        prompt = ""
        refused = true
    } else if (rng.chance(0.06)) {
        format = "chat"
        if (rng.chance(0.5)) prompt = JSON.stringify([{role: "user", content: prompt}])
        else refused = true
    }
    return {model, maxTokens, fee: fee > 0n ? fee : 1n, prompt, format, refused}
}

const assignedTasks = ({model}: Stage) => model.escrow.book.openTasks().filter((t) => t.state === "Assigned")

export function infer(stage: Stage, step: number): Action {
    const {rng, model, ids} = stage
    const who = rng.pick(stage.requesters)
    const p = inferParams(stage, step)
    let maxFee = String(p.fee)
    let refused = p.refused
    if (rng.chance(0.03)) {
        maxFee = rng.pick(["0", "-10", "ten"])
        refused = true
    } else if (rng.chance(0.04)) maxFee = String(model.escrow.book.balanceOf(who.address) + 1n)
    return {
        kind: "infer",
        actor: who,
        target: ids.escrow,
        data: p.prompt,
        refused: refused ? "Infer" : undefined,
        tags: {
            Action: "Infer",
            Model: p.model,
            "Max-Tokens": p.maxTokens,
            "Max-Fee": maxFee,
            Format: p.format,
            "X-Reference": `ref-${step}`,
            Temperature: rng.chance(0.3) ? "0.7" : undefined,
            Seed: rng.chance(0.3) ? String(rng.int(0, 99999)) : undefined
        }
    }
}

export function perCallInfer(stage: Stage, step: number): Action {
    const {rng, ids} = stage
    const who = rng.pick(stage.requesters)
    const p = inferParams(stage, step)
    const quantity = p.fee + BigInt(rng.int(0, 200))
    const tags: TagValues = {
        Action: "Transfer",
        Recipient: ids.escrow,
        Quantity: String(quantity),
        "X-Action": "Infer",
        "X-Model": p.model,
        "X-Max-Tokens": p.maxTokens,
        "X-Reference": `call-${step}`,
        "X-Prompt": p.prompt,
        "X-Format": p.format
    }
    let refused = p.refused
    if (rng.chance(0.3)) tags["X-Max-Fee"] = String(p.fee)
    else if (rng.chance(0.08)) {
        tags["X-Max-Fee"] = String(quantity + 1n)
        refused = true
    }
    return {kind: "per-call-infer", actor: who, target: ids.token, tags, refused: refused ? "Infer" : undefined}
}

export function taskResult(stage: Stage): Action | undefined {
    const {rng} = stage
    const assigned = assignedTasks(stage)
    if (assigned.length === 0) return undefined
    const task = rng.pick(assigned)
    let outputTokens = rng.int(0, task.maxTokens)
    let hash = hex(`receipt-${task.id}`)
    let refused = false
    if (rng.chance(0.04)) {
        outputTokens = task.maxTokens + 1
        refused = true
    } else if (rng.chance(0.03)) {
        hash = "NOT-HEX"
        refused = true
    }
    return {
        kind: "task-result",
        actor: stage.workersByAddress.get(task.worker)!,
        target: stage.ids.escrow,
        data: `output of ${task.id.slice(0, 6)}`,
        refused: refused ? "Task-Result" : undefined,
        tags: {
            Action: "Task-Result",
            "Task-Id": task.id,
            "Input-Tokens": String(rng.int(0, 400)),
            "Output-Tokens": String(outputTokens),
            "Receipt-Tx": fakeId(`receipt-${task.id}`),
            "Receipt-Hash": hash
        }
    }
}

export function taskFailed(stage: Stage): Action | undefined {
    const assigned = assignedTasks(stage)
    if (assigned.length === 0) return undefined
    const task = stage.rng.pick(assigned)
    return {
        kind: "task-failed",
        actor: stage.workersByAddress.get(task.worker)!,
        target: stage.ids.escrow,
        tags: {Action: "Task-Failed", "Task-Id": task.id, Error: stage.rng.chance(0.5) ? "out of memory" : undefined}
    }
}

/** A result nobody may send now: from a worker that is not the current one, or for a task that is no longer awaiting one. */
export function badResult(stage: Stage): Action | undefined {
    const {rng, workersByAddress, ids} = stage
    const tasks = [...stage.model.escrow.book.tasks.values()]
    if (tasks.length === 0) return undefined
    const task = rng.pick(tasks)
    if (task.state === "Assigned") {
        const previous = task.held.filter((w) => w !== task.worker)
        const wrong = previous.length > 0 ? workersByAddress.get(rng.pick(previous))! : stage.cast.carol
        return {
            kind: "wrong-worker-result",
            actor: wrong,
            target: ids.escrow,
            refused: "Task-Result",
            data: "forged",
            tags: {
                Action: "Task-Result",
                "Task-Id": task.id,
                "Input-Tokens": "1",
                "Output-Tokens": "1",
                "Receipt-Tx": fakeId("forged"),
                "Receipt-Hash": hex("forged")
            }
        }
    }
    return {
        kind: "duplicate-result",
        actor: workersByAddress.get(task.worker)!,
        target: ids.escrow,
        refused: "Task-Result",
        data: "again",
        tags: {
            Action: "Task-Result",
            "Task-Id": task.id,
            "Input-Tokens": "5",
            "Output-Tokens": "5",
            "Receipt-Tx": fakeId(`receipt-${task.id}`),
            "Receipt-Hash": hex(`receipt-${task.id}`)
        }
    }
}

export function settle(stage: Stage, step: number): Action {
    const {rng} = stage
    const tasks = [...stage.model.escrow.book.tasks.values()]
    const known = tasks.length > 0 && rng.chance(0.7)
    const id = known ? rng.pick(tasks).id : rng.chance(0.5) ? fakeId(`no-task-${step}`) : undefined
    return {
        kind: "settle",
        actor: someone(stage),
        target: stage.ids.escrow,
        tags: {Action: "Settle", "Task-Id": id},
        refused: id !== undefined && !known ? "Settle" : undefined
    }
}
