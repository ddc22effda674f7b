import {mkdtemp, readdir, rm} from "node:fs/promises"
import {tmpdir} from "node:os"
import {join} from "node:path"
import {afterAll, beforeAll, describe, expect, it} from "vitest"
import {WorkerState} from "../../worker/service/WorkerState.ts"

/*
 * The worker's inbox follower advances the cursor while a task that just finished marks itself: both
 * save the one state file, and neither may lose the other's write or fail (a failed advance stops the
 * follower, and the worker reads no more tasks or referee requests).
 */
describe("WorkerState", () => {
    let dir: string

    beforeAll(async () => {
        dir = await mkdtemp(join(tmpdir(), "weavelm-worker-state-"))
    })
    afterAll(async () => {
        await rm(dir, {recursive: true, force: true})
    })

    it("keeps every write of concurrent saves and comes back with the last", async () => {
        const state = await WorkerState.load(dir, "worker")
        expect(state.isNew).toBe(true)
        const saves: Array<Promise<void>> = []
        for (let i = 1; i <= 20; i++) saves.push(state.advance(i), state.markFinished(`task-${i}`))
        await Promise.all(saves)

        const reloaded = await WorkerState.load(dir, "worker")
        expect(reloaded.isNew).toBe(false)
        expect(reloaded.cursor).toBe(20)
        for (let i = 1; i <= 20; i++) expect(reloaded.hasFinished(`task-${i}`)).toBe(true)
        expect(await readdir(dir)).toEqual(["worker.json"])
    })
})
