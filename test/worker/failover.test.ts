import {mkdtemp} from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import {afterAll, beforeAll, describe, expect, it} from "vitest"
import {WeaveLM} from "../../sdk/client/index.ts"
import type {InferAccepted, TaskRecord} from "../../sdk/escrow/index.ts"
import {startTestDevnet, type TestDevnet} from "../harness/devnet.ts"
import {fundedActor, publishTestModel} from "../harness/actors.ts"
import {startWorkerCli, type WorkerProcess} from "../harness/workerCli.ts"

const PORT = 4700
// Long enough for a worker restarted on a loaded machine to come back before its tasks time out.
const TASK_TIMEOUT = 25_000
const CHALLENGE_WINDOW = 2000

describe("workers that die", {timeout: 300_000}, () => {
    let net: TestDevnet
    let requester: WeaveLM
    let networkFile: string
    const workers: WorkerProcess[] = []
    const byName: Record<string, WorkerProcess> = {}
    const wallets: Record<string, string> = {}
    const cacheDirs: Record<string, string> = {}

    const startWorker = async (name: string) => {
        const worker = await startWorkerCli([
            "--network",
            networkFile,
            "--wallet",
            wallets[name]!,
            "--models",
            "tiny",
            "--concurrency",
            "4",
            "--gpu",
            "cpu",
            "--threads",
            "1",
            "--cache-dir",
            cacheDirs[name]!,
            "--stake",
            "1000"
        ])
        workers.push(worker)
        byName[name] = worker
        return worker
    }

    /** Waits until every task is final or completed, nudging the escrow so its lazy upkeep runs. */
    const waitForTasks = async (ids: string[], timeoutMs = 180_000) => {
        const deadline = Date.now() + timeoutMs
        for (;;) {
            const tasks = await Promise.all(ids.map(async (id) => (await requester.task(id))!))
            if (tasks.every((t) => t.state !== "Assigned")) return tasks
            if (Date.now() > deadline)
                throw new Error(`tasks still assigned: ${JSON.stringify(tasks.map((t) => [t.id, t.state, t.worker]))}`)
            await requester.escrow.settle()
            await new Promise((resolve) => setTimeout(resolve, 1000))
        }
    }

    beforeAll(async () => {
        net = await startTestDevnet(PORT, {
            parameters: {
                escrow: {"Task-Timeout": String(TASK_TIMEOUT), "Challenge-Window": String(CHALLENGE_WINDOW), "Max-Attempts": "5"},
                registry: {"Heartbeat-Timeout": "30000"}
            }
        })
        networkFile = net.devnet.networkFile
        await publishTestModel(net, {name: "tiny"})
        for (const name of ["a", "b"]) {
            wallets[name] = (await fundedActor(net, `worker-${name}`, "3000")).walletFile
            cacheDirs[name] = await mkdtemp(path.join(os.tmpdir(), `weavelm-worker-${name}-`))
        }
        const wallet = await fundedActor(net, "requester", "100000000")
        requester = new WeaveLM(wallet, net.devnet.processes)
        await requester.deposit("50000000")
        await Promise.all([startWorker("a"), startWorker("b")])
    })
    afterAll(async () => {
        await Promise.all(workers.map((w) => w.kill("SIGKILL")))
        await net?.dispose()
    })

    it("reassigns a killed worker's tasks, answers them, and pays each once", async () => {
        const [a, b] = [byName.a!, byName.b!]
        await a.kill("SIGKILL")
        const accepted: InferAccepted[] = []
        while (!accepted.some((t) => t.worker === a.address) || accepted.length < 4) {
            accepted.push(
                await requester.escrow.submit({model: "tiny", prompt: `Question ${accepted.length}`, maxTokens: 8, maxFee: "100000"})
            )
            if (accepted.length > 12) throw new Error("the escrow never chose the killed worker")
        }
        const tasks = await waitForTasks(accepted.map((t) => t.taskId))
        for (const task of tasks) {
            expect(["Completed", "Settled"]).toContain(task.state)
            expect(task.worker).toBe(b.address)
        }
        const reassigned = tasks.filter((t) => (t.held as string[]).includes(a.address))
        expect(reassigned.length).toBeGreaterThan(0)
        expect(reassigned.every((t) => t.attempt >= 2)).toBe(true)

        await new Promise((resolve) => setTimeout(resolve, CHALLENGE_WINDOW + 200))
        await requester.escrow.settle()
        const settled = await Promise.all(tasks.map(async (t) => (await requester.task(t.id))!))
        expect(settled.every((t) => t.state === "Settled")).toBe(true)
        const paid = settled.reduce((sum, t) => sum + BigInt(t.workerFee!), 0n)
        expect(BigInt((await requester.escrow.balance(b.address)).available)).toBe(paid)
        expect((await requester.escrow.balance(a.address)).available).toBe("0")
        const strikes = (await requester.registry.worker(a.address)) as {reputation?: {strikes: number}}
        expect(strikes.reputation?.strikes).toBeGreaterThanOrEqual(reassigned.length)
    })

    it("loses and duplicates nothing when a worker crashes mid-queue and restarts", async () => {
        const b = byName.b!
        const ids: string[] = []
        for (let i = 0; i < 4; i++)
            ids.push(
                (await requester.escrow.submit({model: "tiny", prompt: `Queued question ${i}`, maxTokens: 48, maxFee: "200000"})).taskId
            )
        // Crash as soon as the first answer is in: the rest are queued or running.
        for (let done = false; !done; ) {
            done = b.events.some((e) => e.event === "task.completed" && ids.includes(e.taskId!))
            await new Promise((resolve) => setTimeout(resolve, 100))
        }
        await b.kill("SIGKILL")
        const restarted = await startWorker("b")
        expect(restarted.address).toBe(b.address)

        const tasks: TaskRecord[] = await waitForTasks(ids)
        for (const task of tasks) {
            expect(["Completed", "Settled"]).toContain(task.state)
            expect(task.worker).toBe(b.address)
        }
        // Nothing duplicated: no task was answered twice, and the restarted worker never
        // re-ran one the crashed process had answered (a SIGKILL can land between the
        // escrow accepting a result and the log line, so the lines prove at-most-once).
        const events = [...b.events, ...restarted.events].filter((e) => ids.includes(e.taskId!))
        const completed = events.filter((e) => e.event === "task.completed").map((e) => e.taskId)
        expect(new Set(completed).size).toBe(completed.length)
        expect(restarted.events.filter((e) => e.event === "task.failed" && ids.includes(e.taskId!))).toEqual([])
    })
})
