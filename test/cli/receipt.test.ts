import {mkdtemp, readFile, rm, writeFile} from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import {afterAll, beforeAll, describe, expect, it} from "vitest"
import {sha256File, writeTestModel} from "../../model-publisher/index.ts"
import {decodeReceipt, hashReceiptBytes} from "../../sdk/receipt/index.ts"
import {runCli} from "../harness/cli.ts"

const PROMPT = "The old river ran past the mill"

/** `weavelm receipt create` and `weavelm verify --receipt --model`: receipts made and judged with no network at all. */
describe("offline receipts", {timeout: 300_000}, () => {
    let dir: string
    let model: string
    let otherModel: string
    let promptFile: string
    let receiptFile: string
    const file = (name: string) => path.join(dir, name)
    // No devnet runs here: a network read would fail loudly.
    const cli = (...args: string[]) => runCli(args, {cwd: dir, env: {WEAVELM_NETWORK: file("no-network.json")}})

    beforeAll(async () => {
        dir = await mkdtemp(path.join(os.tmpdir(), "weavelm-offline-"))
        model = (await writeTestModel({preset: "tiny", seed: 1, path: file("tiny.gguf")})).path
        otherModel = (await writeTestModel({preset: "tiny", seed: 2, path: file("tiny-other.gguf")})).path
        promptFile = file("prompt.txt")
        await writeFile(promptFile, PROMPT)
        receiptFile = file("receipt.json")
    })
    afterAll(async () => {
        await rm(dir, {recursive: true, force: true})
    })

    it("creates a receipt from a local model: the worker's receipt, its hash and counts printed", async () => {
        const run = await cli(
            "receipt",
            "create",
            "--model",
            model,
            "--prompt-file",
            promptFile,
            "--max-tokens",
            "12",
            "--task-id",
            "task-1",
            "--worker",
            "me",
            "--model-id",
            "tiny-1",
            "-o",
            receiptFile,
            "--json"
        )
        expect(run.stderr).toBe("")
        expect(run.code).toBe(0)
        const printed = JSON.parse(run.stdout)
        const bytes = await readFile(receiptFile)
        const receipt = decodeReceipt(bytes)
        expect(printed).toEqual({
            receipt: receiptFile,
            receiptHash: hashReceiptBytes(bytes),
            inputTokens: receipt.inputTokens.length,
            outputTokens: 12,
            output: receipt.output
        })
        expect(receipt).toMatchObject({
            taskId: "task-1",
            worker: "me",
            model: {id: "tiny-1", sha256: await sha256File(model)},
            prompt: {format: "text"},
            sampling: {maxTokens: 12, temperature: "0", topK: 40, topP: "1", seed: 0},
            engine: {backend: "cpu", threads: 1},
            stopReason: "maxTokens"
        })
        expect(receipt.tokens).toHaveLength(12)

        const sampled = await cli(
            "receipt",
            "create",
            "--model",
            model,
            "--prompt",
            PROMPT,
            "--max-tokens",
            "8",
            "--temperature",
            "0.80",
            "--top-p",
            "0.95",
            "--seed",
            "7",
            "-o",
            file("sampled.json")
        )
        expect(sampled.code, sampled.stderr).toBe(0)
        expect(sampled.stdout).toMatch(
            new RegExp(
                `^wrote ${file("sampled.json")}\noutput +".*"\ntokens +\\d+ input, 8 output \\(stopped: maxTokens\\)\nhash +[0-9a-f]{64}\n$`
            )
        )
        expect(decodeReceipt(await readFile(file("sampled.json"))).sampling).toEqual({
            maxTokens: 8,
            temperature: "0.80",
            topK: 40,
            topP: "0.95",
            seed: 7
        })
    })

    it("verifies it against the model file, offline: exit 0, the prompt checked when given", async () => {
        const run = await cli("verify", "--receipt", receiptFile, "--model", model, "--prompt-file", promptFile, "--json")
        expect(run.stderr).toBe("")
        expect(run.code).toBe(0)
        const report = JSON.parse(run.stdout)
        expect(Object.keys(report).slice(0, 3)).toEqual(["verdict", "firstBadPosition", "checked"])
        expect(report).toMatchObject({
            verdict: "valid",
            firstBadPosition: null,
            checked: 12,
            taskId: "task-1",
            reasons: [],
            promptSource: "input",
            notes: []
        })
        const statusOf = (name: string) => report.structural.find((check: {name: string}) => check.name === name)?.status
        expect([statusOf("prompt.sha256"), statusOf("prompt.tokens"), statusOf("model.sha256")]).toEqual(["pass", "pass", "pass"])

        expect(report.decidedBy).toBe("rescore")

        // As referees judge: the worker's kernels replayed, every number equal.
        const replayed = JSON.parse(
            (await cli("verify", "--receipt", receiptFile, "--model", model, "--prompt-file", promptFile, "--replay", "always", "--json"))
                .stdout
        )
        expect(replayed).toMatchObject({
            verdict: "valid",
            decidedBy: "replay",
            thresholds: {profile: `${report.thresholds.profile}/decode-replay`}
        })
        expect(replayed.aggregate).toMatchObject({meanTopDelta: 0, maxTokenDelta: 0, maxTopDelta: 0})

        const withoutPrompt = await cli("verify", "--receipt", receiptFile, "--model", model)
        expect(withoutPrompt.code, withoutPrompt.stderr).toBe(0)
        expect(withoutPrompt.stdout).toMatch(/^verdict +valid$/m)
        expect(withoutPrompt.stdout).toMatch(/^note +no prompt given/m)
    })

    it("finds one edited output token: exit 4 and its position", async () => {
        const receipt = JSON.parse(await readFile(receiptFile, "utf8"))
        const position = (receipt.tokens as {top: [number, number][]}[]).findIndex(
            (record, i) => i >= 2 && record.top[0]![1] - record.top[1]![1] > 1
        )
        expect(position).toBeGreaterThan(0)
        const [alternative, logprob] = receipt.tokens[position].top[1]
        receipt.outputTokens[position] = alternative
        receipt.tokens[position] = {...receipt.tokens[position], token: alternative, logprob}
        await writeFile(file("edited.json"), JSON.stringify(receipt))

        const run = await cli("verify", "--receipt", file("edited.json"), "--model", model, "--prompt-file", promptFile, "--json")
        expect(run.code, run.stderr).toBe(4)
        const report = JSON.parse(run.stdout)
        expect(report).toMatchObject({verdict: "invalid", firstBadPosition: position, checked: 12})
        expect(report.positions.slice(0, position).every((p: {ok: boolean}) => p.ok)).toBe(true)
    })

    it("refuses another model file with one line and exit 1", async () => {
        const run = await cli("verify", "--receipt", receiptFile, "--model", otherModel)
        expect(run.code).toBe(1)
        expect(run.stdout).toBe("")
        expect(run.stderr.trim().split("\n")).toEqual([
            expect.stringMatching(
                /^error: the model file .*tiny-other\.gguf has SHA-256 [0-9a-f]{64}, the receipt names [0-9a-f]{64}: not the receipt's model$/
            )
        ])
    })

    it("answers misuse with one line: exit 2 for flags, 1 for files", async () => {
        const usage = async (args: string[], message: RegExp) => {
            const run = await cli(...args)
            expect(run.code, args.join(" ")).toBe(2)
            expect(run.stderr.trim().split("\n"), args.join(" ")).toEqual([expect.stringMatching(message)])
        }
        const create = ["receipt", "create", "--model", model, "-o", file("x.json")]
        await usage(create, /^error: give the prompt with --prompt TEXT or --prompt-file FILE \(exactly one\)$/)
        await usage([...create, "--prompt", "a", "--prompt-file", promptFile], /exactly one/)
        await usage(["receipt", "create", "--model", model, "--prompt", "a"], /required option '-o, --output <file>'/)
        await usage([...create, "--prompt", "a", "--temperature", "hot"], /must be a decimal from 0 to 2/)
        await usage([...create, "--prompt", "a", "--format", "xml"], /argument 'xml' is invalid/)
        await usage(["verify", "--model", model], /^error: --model goes with --receipt FILE$/)
        await usage(["verify", "--receipt", receiptFile, "--model", model, "--replay", "sometimes"], /argument 'sometimes' is invalid/)
        await usage(
            ["verify", "--receipt", receiptFile, "--model", model, "--publish"],
            /^error: --publish needs the network; --model verifies offline$/
        )

        const noModel = await cli("verify", "--receipt", receiptFile, "--model", file("missing.gguf"))
        expect(noModel.code).toBe(1)
        expect(noModel.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^error: cannot read the model file .*missing\.gguf/)])
        const createNoModel = await cli("receipt", "create", "--model", file("missing.gguf"), "--prompt", "a", "-o", file("x.json"))
        expect(createNoModel.code).toBe(1)
        expect(createNoModel.stderr.trim().split("\n")).toEqual([
            expect.stringMatching(/^error: cannot read the model file .*missing\.gguf/)
        ])
        const badChat = await cli(...create, "--prompt", "not json", "--format", "chat")
        expect(badChat.code).toBe(1)
        expect(badChat.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^error: a chat prompt must be JSON/)])

        const help = await cli("receipt", "create", "--help")
        expect(help.code).toBe(0)
        expect(help.stdout).toMatch(/--prompt-file <file>/)
    })
})
