import {mkdtemp} from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import {afterAll, beforeAll, describe, expect, it} from "vitest"
import {WeaveLM} from "../../sdk/client/index.ts"
import {decodeReceipt, hashPrompt, hashReceiptBytes} from "../../sdk/receipt/index.ts"
import {RegistryClient} from "../../sdk/registry/index.ts"
import {TaskRefundedError} from "../../sdk/escrow/index.ts"
import {PullError, writeTestModel, sha256File} from "../../model-publisher/index.ts"
import type {DevnetMode} from "../../devnet/index.ts"
import {Worker} from "../../worker/service/index.ts"
import {spawnLuaProcess} from "../../sdk/deploy/index.ts"
import {bundleLua} from "../../sdk/lua/index.ts"
import {startTestDevnet, type TestDevnet} from "../harness/devnet.ts"
import {fundedActor, publishTestModel} from "../harness/actors.ts"

const PORT = 4680
const LEGACY_PORT = 4690
// Long enough that a loaded machine reads the task before upkeep settles it.
const CHALLENGE_WINDOW = 20_000

interface TaskPath {
    net: TestDevnet
    worker: Worker
    requester: WeaveLM
    model: {modelId: string; sha256: string}
    workerAddress: string
}

/** A devnet with the tiny model published, one worker serving it and a requester with a deposit. */
async function startTaskPath(port: number, mode: DevnetMode): Promise<TaskPath> {
    const net = await startTestDevnet(port, {
        mode,
        parameters: {escrow: {"Challenge-Window": String(CHALLENGE_WINDOW), "Task-Timeout": "30000"}}
    })
    const model = await publishTestModel(net, {name: "tiny", ownerFee: 1000})
    const [workerWallet, requesterWallet] = await Promise.all([
        fundedActor(net, "worker", "5000"),
        fundedActor(net, "requester", "100000000")
    ])
    const worker = await Worker.start({
        connection: workerWallet,
        processes: net.devnet.processes,
        models: ["tiny"],
        priceInput: "1000",
        priceOutput: "2000",
        stake: "1000",
        concurrency: 2,
        gpu: "cpu",
        threads: 1,
        cacheDir: await mkdtemp(path.join(os.tmpdir(), "weavelm-worker-")),
        heartbeatMs: 5000,
        pollMs: 200
    })
    const requester = new WeaveLM(requesterWallet, net.devnet.processes)
    await requester.deposit("50000000")
    return {net, worker, requester, model, workerAddress: workerWallet.address}
}

/** One task from Infer to settlement: the answer, its receipt on Arweave, and the fee split. */
async function answersAndSettles({net, requester, model, workerAddress}: TaskPath) {
    const prompt = "The quick brown fox"
    const before = await requester.balance()
    const ownerBefore = await requester.escrow.balance(net.connection.address)
    const result = await requester.infer({model: "tiny", prompt, maxTokens: 12})
    expect(result.worker).toBe(workerAddress)
    expect(result.output.trim().length).toBeGreaterThan(0)

    const task = (await requester.task(result.taskId))!
    expect(task.state).toBe("Completed")
    expect(task.output).toBe(result.output)
    const bytes = new Uint8Array(await (await fetch(`${net.devnet.network.gateway}/${result.receiptTx}`)).arrayBuffer())
    expect(hashReceiptBytes(bytes)).toBe(task.receiptHash)
    const receipt = decodeReceipt(bytes)
    expect(receipt).toMatchObject({
        taskId: result.taskId,
        worker: workerAddress,
        output: result.output,
        model: {id: model.modelId, sha256: model.sha256},
        prompt: {format: "text", sha256: hashPrompt(prompt)},
        sampling: {maxTokens: 12, temperature: "0"}
    })
    expect(receipt.outputTokens).toHaveLength(task.outputTokens!)
    expect(receipt.inputTokens).toHaveLength(task.inputTokens!)
    expect(receipt.tokens.every((t, i) => t.token === receipt.outputTokens[i] && t.top.length >= 5)).toBe(true)

    // Worker fee: ceil((1000·in + 2000·out)/1000); owner gets 10% on top.
    const workerFee = BigInt(Math.ceil((1000 * task.inputTokens! + 2000 * task.outputTokens!) / 1000))
    expect(BigInt(task.workerFee!)).toBe(workerFee)
    expect(BigInt(task.ownerFee!)).toBe(workerFee / 10n)

    await new Promise((resolve) => setTimeout(resolve, CHALLENGE_WINDOW + 200))
    // Any message to the escrow settles what is due (a heartbeat's sync may have done it already).
    await requester.escrow.settle()
    expect((await requester.task(result.taskId))!.state).toBe("Settled")
    expect(BigInt((await requester.escrow.balance(workerAddress)).available)).toBe(workerFee)
    expect(BigInt((await requester.escrow.balance(net.connection.address)).available) - BigInt(ownerBefore.available)).toBe(workerFee / 10n)
    const after = await requester.balance()
    expect(BigInt(before.available) - BigInt(after.available)).toBe(BigInt(task.fee!))
    expect(after.locked).toBe("0")
}

describe("a task on the devnet in legacy mode (MU and CU through aoconnect's legacy client)", {timeout: 300_000}, () => {
    let legacy: TaskPath | undefined
    beforeAll(async () => {
        legacy = await startTaskPath(LEGACY_PORT, "legacy")
        expect(legacy.net.devnet.network.mode).toBe("legacy")
    })
    afterAll(async () => {
        await legacy?.worker.stop({graceMs: 1000})
        await legacy?.net.dispose()
    })

    it("answers, stores a receipt that matches, and settles to worker and model owner", async () => await answersAndSettles(legacy!))
})

describe("a task through the whole protocol on the devnet (mainnet mode)", {timeout: 300_000}, () => {
    let net: TestDevnet
    let worker: Worker
    let requester: WeaveLM
    let taskPath: TaskPath

    beforeAll(async () => {
        taskPath = await startTaskPath(PORT, "mainnet")
        ;({net, worker, requester} = taskPath)
        expect(net.devnet.network.mode).toBe("mainnet")
    })
    afterAll(async () => {
        await worker?.stop({graceMs: 1000})
        await net?.dispose()
    })

    it("answers, stores a receipt that matches, and settles to worker and model owner", async () => await answersAndSettles(taskPath))

    it("gives the same output for the same seed, greedy or sampled", async () => {
        const ask = (seed: number, temperature: number) =>
            requester.infer({model: "tiny", prompt: "A story about", maxTokens: 10, temperature, seed})
        const [greedyA, greedyB] = [await ask(0, 0), await ask(0, 0)]
        expect(greedyA.output).toBe(greedyB.output)
        const [sampledA, sampledB] = [await ask(42, 1), await ask(42, 1)]
        expect(sampledA.output).toBe(sampledB.output)
        expect(sampledA.taskId).not.toBe(sampledB.taskId)
    })

    it("refuses an unknown model and a Max-Fee below the price", async () => {
        await expect(requester.infer({model: "no-such-model", prompt: "hi", maxTokens: 4, maxFee: "100000"})).rejects.toThrow(/model/i)
        await expect(requester.infer({model: "tiny", prompt: "hi", maxTokens: 64, maxFee: "1"})).rejects.toThrow(/Max-Fee/)
    })

    it("refunds a prompt longer than the model's context", async () => {
        const prompt = Array.from({length: 700}, (_, i) => `word${i}`).join(" ")
        let taskId = ""
        const refused = requester.infer({model: "tiny", prompt, maxTokens: 8, onAccepted: (accepted) => (taskId = accepted.taskId)})
        await expect(refused).rejects.toBeInstanceOf(TaskRefundedError)
        await expect(refused).rejects.toThrow(/context|too long/i)
        // Judged on the task itself: earlier tasks settling meanwhile also move the balance.
        const task = (await requester.task(taskId))!
        expect(task.state).toBe("Refunded")
        expect(task.fee ?? "0").toBe("0")
    })

    it("answers a dApp process that pays per call through the Lua client", async () => {
        const dev = net.connection
        const {network, processes} = net.devnet
        const bot = await spawnLuaProcess({
            client: dev.ao,
            module: network.module,
            scheduler: network.scheduler,
            authority: network.authority,
            name: "qa-bot",
            bundle: await bundleLua(path.resolve("examples/qa-bot/qa-bot.lua"))
        })
        await dev.ao.send(bot, {
            Action: "Configure",
            Escrow: processes.escrow,
            Token: processes.token,
            Model: "tiny",
            "Max-Fee": "100000",
            "Max-Tokens": "8"
        })
        await dev.ao.send(processes.token, {Action: "Transfer", Recipient: bot, Quantity: "1000000"})

        const asked = await dev.ao.send(bot, {Action: "Ask"}, "What is the quick brown fox?")
        const questionId = asked.emitted.find((m) => m.tags.Action === "Ask-Accepted")!.tags["Question-Id"]!
        let answer: {status: string; answer?: string; receiptTx?: string} = {status: "pending"}
        for (const deadline = Date.now() + 180_000; answer.status === "pending" && Date.now() < deadline; ) {
            await new Promise((resolve) => setTimeout(resolve, 1000))
            answer = await dev.ao.readJson(bot, {Action: "Get-Answer", "Question-Id": questionId})
        }
        expect(answer.status).toBe("answered")
        expect(answer.answer!.trim().length).toBeGreaterThan(0)
        const receipt = decodeReceipt(new Uint8Array(await (await fetch(`${network.gateway}/${answer.receiptTx}`)).arrayBuffer()))
        expect(receipt.output).toBe(answer.answer)
        expect(receipt.prompt.sha256).toBe(hashPrompt("Question: What is the quick brown fox?\nAnswer:"))
    }, 300_000)

    it("will not serve a model whose bytes fail their registered hash", async () => {
        const dev = net.connection
        const file = path.join(net.dataDir, "models", "mismatch.gguf")
        await writeTestModel({preset: "tiny", seed: 99, path: file})
        const storage = dev.storage(path.join(net.dataDir, "uploads"))
        const {id} = await storage.uploadFile({file, tags: []})
        const wrong = (await sha256File(file)).replace(/^./, (c) => (c === "0" ? "1" : "0"))
        await new RegistryClient(dev.ao, net.devnet.processes.registry).registerModel({
            modelId: id,
            sha256: wrong,
            name: "mismatch",
            format: "GGUF",
            architecture: "llama",
            quantization: "F32",
            parameters: 1,
            contextLength: 512,
            license: "none",
            ownerFee: 0
        })
        const other = await fundedActor(net, "worker-mismatch", "2000")
        await expect(
            Worker.start({
                connection: other,
                processes: net.devnet.processes,
                models: ["mismatch"],
                priceInput: "1",
                priceOutput: "1",
                stake: "1000",
                gpu: "cpu",
                threads: 1,
                cacheDir: await mkdtemp(path.join(os.tmpdir(), "weavelm-worker-"))
            })
        ).rejects.toBeInstanceOf(PullError)
    })
})
