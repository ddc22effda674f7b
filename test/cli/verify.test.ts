import {mkdtemp, writeFile} from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import {afterAll, beforeAll, describe, expect, it} from "vitest"
import {WeaveLM} from "../../sdk/client/index.ts"
import {decodeReceipt, encodeReceipt, type Receipt} from "../../sdk/receipt/index.ts"
import {Worker} from "../../worker/service/index.ts"
import {runCli} from "../harness/cli.ts"
import {startTestDevnet, type TestDevnet} from "../harness/devnet.ts"
import {fundedActor, publishTestModel} from "../harness/actors.ts"

const PORT = 4840

/** `weavelm verify` as a user runs it: a task by id, a receipt file, the exit codes scripts branch on. */
describe("weavelm verify", {timeout: 300_000}, () => {
    let net: TestDevnet
    let worker: Worker
    let taskId: string
    let receiptBytes: Uint8Array
    let dir: string
    const verify = (...args: string[]) =>
        runCli(["verify", "--network", net.devnet.networkFile, "--cache-dir", path.join(dir, "verifier"), ...args])

    beforeAll(async () => {
        net = await startTestDevnet(PORT)
        dir = await mkdtemp(path.join(os.tmpdir(), "weavelm-verify-"))
        await publishTestModel(net, {name: "tiny"})
        const [workerWallet, requesterWallet] = await Promise.all([
            fundedActor(net, "worker", "5000"),
            fundedActor(net, "requester", "10000000")
        ])
        worker = await Worker.start({
            connection: workerWallet,
            processes: net.devnet.processes,
            models: ["tiny"],
            priceInput: "1",
            priceOutput: "1",
            stake: "1000",
            gpu: "cpu",
            threads: 1,
            cacheDir: path.join(dir, "worker"),
            pollMs: 200
        })
        const requester = new WeaveLM(requesterWallet, net.devnet.processes)
        await requester.deposit("1000000")
        const result = await requester.infer({model: "tiny", prompt: "The old river ran past the mill", maxTokens: 12})
        taskId = result.taskId
        receiptBytes = new Uint8Array(await (await fetch(`${net.devnet.network.gateway}/${result.receiptTx}`)).arrayBuffer())
    })
    afterAll(async () => {
        await worker?.stop({graceMs: 1000})
        await net?.dispose()
    })

    it("passes an honest task with exit 0, prints the JSON verdict and publishes the report", async () => {
        const run = await verify("--json", "--publish", "--", taskId)
        expect(run.stderr).toBe("")
        expect(run.code).toBe(0)
        const report = JSON.parse(run.stdout)
        expect(Object.keys(report).slice(0, 3)).toEqual(["verdict", "firstBadPosition", "checked"])
        expect(report).toMatchObject({
            verdict: "valid",
            firstBadPosition: null,
            checked: 12,
            taskId,
            reasons: [],
            promptSource: "prompt-message"
        })
        expect(report.positions).toHaveLength(12)

        const stored = await (await fetch(`${net.devnet.network.gateway}/${report.reportTx}`)).json()
        expect(stored).toMatchObject({taskId, verdict: "valid", checked: 12, verifier: net.connection.address})
        const tags = await uploadTags(report.reportTx)
        expect(tags).toMatchObject({"App-Name": "weavelm", Type: "Verification", "Task-Id": taskId, Verdict: "Valid", Checked: "12"})
    })

    it("passes the same receipt held in a file, reading the prompt by the receipt's reference", async () => {
        const file = path.join(dir, "honest.json")
        await writeFile(file, receiptBytes)
        const run = await verify("--receipt", file)
        expect(run.code, run.stderr).toBe(0)
        expect(run.stdout).toMatch(/^verdict +valid$/m)
        // The per-token table: one row per output token, all ok.
        expect(run.stdout.split("\n").filter((line) => /^ +\d+ +".*" +-?\d/.test(line) && / ok$/.test(line))).toHaveLength(12)
    })

    it("finds a swapped token in a tampered receipt: exit 4 and its position", async () => {
        const receipt = decodeReceipt(receiptBytes)
        const position = swappablePosition(receipt)
        const [alternative, logprob] = receipt.tokens[position]!.top[1]!
        receipt.outputTokens[position] = alternative
        receipt.tokens[position] = {...receipt.tokens[position]!, token: alternative, logprob}
        const file = path.join(dir, "tampered.json")
        await writeFile(file, encodeReceipt(receipt).bytes)

        const run = await verify("--receipt", file, "--json")
        expect(run.code, run.stderr).toBe(4)
        const report = JSON.parse(run.stdout)
        expect(report).toMatchObject({verdict: "invalid", firstBadPosition: position, checked: 12})
        expect(report.positions[position].ok).toBe(false)
        expect(report.positions.slice(0, position).every((p: {ok: boolean}) => p.ok)).toBe(true)
    })

    it("answers misuse with one line and the usage or user exit code", async () => {
        const none = await verify()
        expect(none.code).toBe(2)
        expect(none.stderr.trim().split("\n")).toHaveLength(1)
        const both = await verify(taskId, "--watch")
        expect(both.code).toBe(2)
        const watchOption = await verify(taskId, "--sample-rate", "0.5")
        expect(watchOption.code).toBe(2)
        expect(watchOption.stderr.trim()).toBe("error: --sample-rate applies only with --watch")
        const missing = await verify("--receipt", path.join(dir, "no-such-file.json"))
        expect(missing.code).toBe(1)
        expect(missing.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^error: cannot read the receipt file/)])

        const challengeNothing = await runCli(["challenge", "--network", net.devnet.networkFile])
        expect(challengeNothing.code).toBe(2)
        expect(challengeNothing.stderr.trim()).toBe("error: name the task to challenge, or a direct request's receipt with --receipt")
        const challengeHalfDirect = await runCli([
            "challenge",
            "--receipt",
            path.join(dir, "no-such-file.json"),
            "--network",
            net.devnet.networkFile
        ])
        expect(challengeHalfDirect.code).toBe(2)
        expect(challengeHalfDirect.stderr.trim().split("\n")).toEqual([
            expect.stringMatching(/^error: --receipt needs --channel, --batch-tx and --fee/)
        ])
    })

    async function uploadTags(id: string): Promise<Record<string, string>> {
        const query = `query { transactions(ids: ["${id}"]) { edges { node { tags { name value } } } } }`
        const response = await fetch(`${net.devnet.network.gateway}/graphql`, {
            method: "POST",
            headers: {"content-type": "application/json"},
            body: JSON.stringify({query})
        })
        const body = (await response.json()) as {data: {transactions: {edges: {node: {tags: {name: string; value: string}[]}}[]}}}
        return Object.fromEntries(body.data.transactions.edges[0]!.node.tags.map(({name, value}) => [name, value]))
    }
})

/** A middle position whose runner-up is a plain token clearly behind the chosen one: swapping them is a cheat no kernel noise explains. */
function swappablePosition(receipt: Receipt): number {
    const position = receipt.tokens.findIndex(
        (record, i) => i >= 2 && i < receipt.tokens.length - 1 && record.top[0]![1] - record.top[1]![1] > 1 && record.top[1]![0] > 2
    )
    expect(position).toBeGreaterThan(0)
    return position
}
