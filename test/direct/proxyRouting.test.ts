import {describe, expect, it} from "vitest"
import {openAiBaseUrl, rankWorkers, SseSettlementReader} from "../../sdk/direct/index.ts"
import type {WorkerRecord} from "../../sdk/registry/index.ts"
import {testModel, workerRecord} from "../harness/registryRecords.ts"

const NOW = 1_700_000_000_000
const model = testModel

// Padded to the 43 characters of a real address; `order` strips the padding again.
function worker(address: string, fields: Partial<WorkerRecord> = {}): WorkerRecord {
    return workerRecord(address.padEnd(43, "x"), {
        lastHeartbeat: NOW - 1000,
        heartbeatTimeout: 60_000,
        endpoint: `http://${address}.example:8080/v1`,
        ...fields
    })
}

const order = (workers: WorkerRecord[]) => rankWorkers(workers, model, NOW).map((c) => c.record.address.replace(/x+$/, ""))

describe("auto's worker ranking", () => {
    it("ranks by the price of a typical request, then by stake, then by address", () => {
        expect(
            order([
                worker("dear", {priceOutput: "3000"}),
                worker("cheap", {priceInput: "500"}),
                worker("b-staked", {stake: "5000"}),
                worker("a-plain")
            ])
        ).toEqual(["cheap", "b-staked", "a-plain", "dear"])
    })

    it("makes a worker with strikes or slashes be that much cheaper to come first", () => {
        // One strike in ten tasks: reliability 11/15, so a fee of 538 scores 734, under the clean worker's 768.
        const struck = worker("struck", {priceInput: "700", priceOutput: "700", reputation: {completed: 10, strikes: 1, slashed: 0}})
        expect(order([struck, worker("clean")])).toEqual(["struck", "clean"])
        const slashed = worker("slashed", {priceInput: "700", priceOutput: "700", reputation: {completed: 10, strikes: 0, slashed: 1}})
        expect(order([slashed, worker("clean")])).toEqual(["clean", "slashed"])
    })

    it("leaves out workers that cannot be reached or cannot serve", () => {
        expect(
            order([
                worker("ok"),
                worker("ineligible", {eligible: false}),
                worker("other-model", {models: ["n".repeat(43)]}),
                worker("no-endpoint", {endpoint: undefined}),
                worker("ftp", {endpoint: "ftp://ftp.example/v1"}),
                worker("silent", {lastHeartbeat: NOW - 61_000})
            ])
        ).toEqual(["ok"])
    })

    it("reads a registered endpoint as an OpenAI base URL", () => {
        expect(openAiBaseUrl("http://127.0.0.1:4886/v1")).toBe("http://127.0.0.1:4886/v1")
        expect(openAiBaseUrl("https://worker.example/")).toBe("https://worker.example/v1")
        expect(openAiBaseUrl("https://worker.example/openai/v1/")).toBe("https://worker.example/openai/v1")
        expect(openAiBaseUrl("not a url")).toBeNull()
    })
})

describe("reading the settlement from a passing stream", () => {
    const settlement = {channel: "c".repeat(43), nonce: 7, fee: "12", cumulativeOwed: "40", receiptHash: "a".repeat(64)}
    const stream = [
        `data: ${JSON.stringify({choices: [{index: 0, text: "Hello"}]})}\n\n`,
        `data: ${JSON.stringify({choices: [], usage: {prompt_tokens: 3, completion_tokens: 2, total_tokens: 5}, weavelm: settlement})}\n\n`,
        "data: [DONE]\n\n"
    ].join("")

    it("finds the final chunk's settlement and [DONE] however the bytes are cut", () => {
        const bytes = Buffer.from(stream)
        for (const size of [1, 7, 64, bytes.length]) {
            const reader = new SseSettlementReader()
            for (let at = 0; at < bytes.length; at += size) reader.push(bytes.subarray(at, at + size))
            expect(reader.settlement).toEqual(settlement)
            expect(reader.done).toBe(true)
        }
    })

    it("reports no settlement for a stream that broke off before its final chunk", () => {
        const reader = new SseSettlementReader()
        reader.push(Buffer.from(stream.slice(0, stream.indexOf('"usage"') + 10)))
        expect(reader.settlement).toBeNull()
        expect(reader.done).toBe(false)
    })
})
