/** Actions on tokens, stakes and registrations: everything a run does besides requesting and serving tasks. */

import type {TagValues} from "../../../sdk/ao/index.ts"
import {modelTags, toyModels} from "./cast.ts"
import {amount, someone, type Action, type Stage} from "./stage.ts"

const tokenBalance = ({model}: Stage, address: string) => model.token.balanceOf(address)

export function transfer(stage: Stage): Action {
    const {
        rng,
        ids: {escrow, registry, token}
    } = stage
    const from = someone(stage)
    const to = rng.pick([...stage.actors.slice(1).filter((a) => a !== from), {address: escrow}, {address: registry}])
    const {value, invalid} = amount(rng, tokenBalance(stage, from.address))
    const toProcess = to.address === escrow || to.address === registry
    const tags: TagValues = {Action: "Transfer", Recipient: to.address, Quantity: value}
    // Tokens sent to a process without a usable X-Action come back.
    if (toProcess && rng.chance(0.5)) tags["X-Action"] = "Donate"
    return {
        kind: toProcess ? "transfer-to-process" : "transfer",
        actor: from,
        target: token,
        tags,
        refused: invalid ? "Transfer" : undefined
    }
}

export function deposit(stage: Stage): Action {
    const who = stage.rng.pick(stage.requesters)
    const {value, invalid} = amount(stage.rng, tokenBalance(stage, who.address))
    return {
        kind: "deposit",
        actor: who,
        target: stage.ids.token,
        tags: {Action: "Transfer", Recipient: stage.ids.escrow, Quantity: value, "X-Action": "Deposit"},
        refused: invalid ? "Transfer" : undefined
    }
}

export function escrowWithdraw(stage: Stage): Action {
    const who = someone(stage)
    const {value, invalid} = amount(stage.rng, stage.model.escrow.book.balanceOf(who.address))
    return {
        kind: "escrow-withdraw",
        actor: who,
        target: stage.ids.escrow,
        tags: {Action: "Withdraw", Quantity: value},
        refused: invalid ? "Withdraw" : undefined
    }
}

export function stake(stage: Stage): Action {
    const {rng, ids} = stage
    const who = rng.pick(stage.stakers)
    const {value, invalid} = amount(rng, BigInt(rng.int(200, 2500)), 0.05)
    return {
        kind: "stake",
        actor: who,
        target: ids.token,
        tags: {Action: "Transfer", Recipient: ids.registry, Quantity: value, "X-Action": "Stake"},
        refused: invalid ? "Transfer" : undefined
    }
}

export function unstake(stage: Stage): Action {
    const {rng} = stage
    const who = rng.pick(stage.stakers)
    const staked = stage.model.registry.stakeOf(who.address).staked
    const roll = rng.next()
    const quantity = roll < 0.1 ? undefined : roll < 0.2 ? rng.pick(["-1", "x", "0"]) : String(rng.int(1, 1500))
    const malformed = quantity !== undefined && (!/^\d+$/.test(quantity) || quantity === "0")
    return {
        kind: "unstake",
        actor: who,
        target: stage.ids.registry,
        tags: {Action: "Unstake", Quantity: quantity},
        refused: malformed || staked === 0n ? "Unstake" : undefined
    }
}

export function stakeWithdraw(stage: Stage): Action {
    const who = stage.rng.pick(stage.stakers)
    return {
        kind: "stake-withdraw",
        actor: who,
        target: stage.ids.registry,
        tags: {Action: "Withdraw"},
        refused: stage.model.registry.stakeOf(who.address).unstaking === 0n ? "Withdraw" : undefined
    }
}

export function registerWorker(stage: Stage): Action {
    const {
        rng,
        cast: {bob, w1, carol},
        model: {registry}
    } = stage
    const who = rng.pick([bob, bob, w1, carol])
    const refused = registry.workers.has(who.address) || registry.stakeOf(who.address).staked < registry.params.minStake
    return {
        kind: "register-worker",
        actor: who,
        target: stage.ids.registry,
        refused: refused ? "Register-Worker" : undefined,
        tags: {
            Action: "Register-Worker",
            Models: toyModels.m1.id,
            "Price-Input": "500",
            "Price-Output": String(rng.int(1500, 4000)),
            "Max-Concurrency": "1",
            Hardware: "laptop"
        }
    }
}

export function updateWorker(stage: Stage): Action {
    const {rng} = stage
    const {m1, m2} = toyModels
    const who = rng.pick(stage.stakers.filter((w) => stage.model.registry.workers.has(w.address)))
    const tags: TagValues = {Action: "Update-Worker"}
    let refused = false
    const roll = rng.next()
    if (roll < 0.35) tags["Price-Output"] = String(rng.int(1000, 6000))
    else if (roll < 0.6) tags["Max-Concurrency"] = String(rng.int(1, 3))
    else if (roll < 0.8) tags.Models = rng.chance(0.5) ? m1.id : `${m1.id},${m2.id}`
    else if (roll < 0.9) tags["Price-Input"] = String(rng.int(0, 2000))
    else {
        tags["Max-Concurrency"] = rng.pick(["0", "65", "lots"])
        refused = true
    }
    return {kind: "update-worker", actor: who, target: stage.ids.registry, tags, refused: refused ? "Update-Worker" : undefined}
}

export function heartbeat(stage: Stage): Action {
    const {
        rng,
        ids,
        model: {
            registry: {workers}
        }
    } = stage
    if (rng.chance(0.1))
        return {kind: "heartbeat", actor: stage.cast.alice, target: ids.registry, tags: {Action: "Heartbeat"}, refused: "Heartbeat"}
    const registered = stage.stakers
        .filter((w) => workers.has(w.address))
        .sort((a, b) => workers.get(a.address)!.lastHeartbeat - workers.get(b.address)!.lastHeartbeat)
    // Mostly the stalest worker, so that some go stale for a while but not all.
    return {
        kind: "heartbeat",
        actor: rng.chance(0.6) ? registered[0]! : rng.pick(registered),
        target: ids.registry,
        tags: {Action: "Heartbeat"}
    }
}

export function wrongToken(stage: Stage): Action {
    const {
        rng,
        ids: {escrow, registry, token2}
    } = stage
    const who = rng.pick([stage.cast.alice, stage.cast.bob])
    const roll = rng.next()
    const [target, xAction] = roll < 0.4 ? [escrow, "Deposit"] : roll < 0.7 ? [registry, "Stake"] : [escrow, "Infer"]
    const tags: TagValues = {Action: "Transfer", Recipient: target, Quantity: String(rng.int(1, 900)), "X-Action": xAction}
    if (xAction === "Infer") Object.assign(tags, {"X-Model": toyModels.m1.name, "X-Prompt": "wrong token"})
    return {kind: "wrong-token", actor: who, target: token2, tags, refused: xAction}
}

export function mint(stage: Stage): Action {
    const {
        rng,
        ids: {token}
    } = stage
    return rng.chance(0.5)
        ? {
              kind: "mint",
              actor: stage.cast.owner,
              target: token,
              tags: {Action: "Mint", Recipient: rng.pick(stage.requesters).address, Quantity: String(rng.int(1, 20000))}
          }
        : {kind: "mint", actor: someone(stage), target: token, tags: {Action: "Mint", Quantity: "1000000"}, refused: "Mint"}
}

/** Messages only a process or the owner may send, sent by an actor. */
export function forged(stage: Stage): Action {
    const {
        rng,
        ids: {escrow, registry}
    } = stage
    const who = someone(stage)
    const roll = rng.next()
    if (roll < 0.3)
        return {
            kind: "forged",
            actor: who,
            target: escrow,
            refused: "Deposit",
            tags: {Action: "Credit-Notice", Sender: who.address, Quantity: "5000", "X-Action": "Deposit"}
        }
    if (roll < 0.55)
        return {
            kind: "forged",
            actor: who,
            target: escrow,
            refused: "Sync-Worker",
            tags: {Action: "Sync-Worker"},
            data: JSON.stringify({
                address: who.address,
                models: [toyModels.m1.id],
                priceInput: "0",
                priceOutput: "0",
                stake: "99999999",
                maxConcurrency: 64,
                eligible: true,
                lastHeartbeat: Date.now(),
                heartbeatTimeout: 600000
            })
        }
    if (roll < 0.8)
        return {
            kind: "forged",
            actor: who,
            target: registry,
            refused: "Record-Outcome",
            tags: {Action: "Record-Outcome", Worker: stage.cast.w1.address, Outcome: "Completed"}
        }
    return {
        kind: "forged",
        actor: who,
        target: rng.chance(0.5) ? escrow : registry,
        refused: "Configure",
        tags: {Action: "Configure", "Task-Timeout": "1", "Min-Stake": "0"}
    }
}

export function registerModel(stage: Stage): Action {
    const {rng, cast, ids} = stage
    const m = rng.chance(0.5) ? toyModels.m1 : toyModels.m2
    if (rng.chance(0.7)) {
        return {
            kind: "register-model",
            actor: cast.carol,
            target: ids.registry,
            tags: modelTags(m, String(rng.pick([0, 100, 250, 1000, 2500])))
        }
    }
    return {kind: "register-model", actor: cast.alice, target: ids.registry, tags: modelTags(m, "0"), refused: "Register-Model"}
}
