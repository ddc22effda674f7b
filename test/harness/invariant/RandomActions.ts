import type {Actor} from "../memoryAo.ts"
import type {ProcessIds, ReferenceModel} from "../referenceModel/index.ts"
import {
    deposit,
    escrowWithdraw,
    forged,
    heartbeat,
    mint,
    registerModel,
    registerWorker,
    stake,
    stakeWithdraw,
    transfer,
    unstake,
    updateWorker,
    wrongToken
} from "./accountActions.ts"
import type {Cast} from "./cast.ts"
import {prng, type Action, type Generator, type Stage} from "./stage.ts"
import {badResult, infer, perCallInfer, settle, taskFailed, taskResult} from "./taskActions.ts"

const pause = ({rng, cast}: Stage): Action => ({kind: "pause", actor: cast.owner, target: "", tags: {}, sleep: rng.int(500, 4000)})

/** How often each kind of action is drawn, relatively. */
const mix: Array<[number, Generator]> = [
    [4, transfer],
    [6, deposit],
    [3, escrowWithdraw],
    [17, infer],
    [9, perCallInfer],
    [22, taskResult],
    [5, taskFailed],
    [3, badResult],
    [3, settle],
    [4, stake],
    [1.5, registerWorker],
    [3, updateWorker],
    [4, heartbeat],
    [2.5, unstake],
    [2.5, stakeWithdraw],
    [2, wrongToken],
    [1, mint],
    [1.5, forged],
    [1.5, registerModel],
    [4, pause]
]
const totalWeight = mix.reduce((a, [w]) => a + w, 0)

/**
 * Seeded random actions over the cast, drawn from the state as the model has it: mostly valid, with malformed,
 * unaffordable, forged and wrong-token ones mixed in, each marked `refused` where its inputs alone make it fail.
 */
export class RandomActions {
    private readonly stage: Stage

    public constructor(seed: number, model: ReferenceModel, cast: Cast, ids: ProcessIds) {
        const {owner, alice, bob, carol, w1, w2, w3} = cast
        const stakers = [w1, w2, w3, bob]
        this.stage = {
            rng: prng(seed),
            model,
            cast,
            ids,
            actors: [owner, alice, bob, carol, w1, w2, w3],
            stakers,
            requesters: [alice, bob, carol],
            workersByAddress: new Map<string, Actor>(stakers.map((w) => [w.address, w]))
        }
    }

    public next(step: number): Action {
        return this.dutifulHeartbeat() ?? this.drawn(step)
    }

    /**
     * Workers heartbeat on their own once half a Heartbeat-Timeout has passed, as the worker
     * service does; w3 is flaky and only heartbeats at random, so it goes stale now and then.
     */
    private dutifulHeartbeat(): Action | undefined {
        const {
            cast: {w1, w2, bob},
            model: {registry}
        } = this.stage
        const due = [w1, w2, bob].filter(
            (w) =>
                registry.workers.has(w.address) &&
                Date.now() - registry.workers.get(w.address)!.lastHeartbeat > registry.params.heartbeatTimeout / 2
        )
        if (due.length === 0) return undefined
        return {kind: "heartbeat", actor: due[0]!, target: this.stage.ids.registry, tags: {Action: "Heartbeat"}}
    }

    /** A weighted draw from the mix; a kind with nothing to act on gives way to a request. */
    private drawn(step: number): Action {
        const {rng} = this.stage
        let r = rng.next() * totalWeight
        for (const [weight, generate] of mix) {
            r -= weight
            if (r < 0) return generate(this.stage, step) ?? (rng.chance(0.6) ? infer(this.stage, step) : perCallInfer(this.stage, step))
        }
        return pause(this.stage)
    }
}
