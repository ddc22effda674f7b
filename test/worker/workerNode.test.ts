import path from "node:path"
import {describe, expect, it} from "vitest"
import type {ProcessReply} from "../../sdk/ao/index.ts"
import type {NetworkConnection} from "../../sdk/network/index.ts"
import type {WorkerHttpServerOptions} from "../../worker/http/index.ts"
import type {WorkerOptions} from "../../worker/service/index.ts"
import {WorkerNode, type WorkerLogEvent, type WorkerNodeOptions, type WorkerNodeParts} from "../../worker/index.ts"

const OPTIONS: WorkerNodeOptions = {
    connection: {address: "worker-address"} as NetworkConnection,
    processes: {token: "token", registry: "registry", escrow: "escrow"},
    models: ["tiny"],
    priceInput: "1000",
    priceOutput: "2000",
    stake: "1000",
    concurrency: 3,
    cacheDir: "/cache"
}

/** Fake parts that record what the node asked of them, in order. */
function fakeParts({httpFails = false} = {}) {
    const calls: string[] = []
    const started: {worker?: WorkerOptions; http?: WorkerHttpServerOptions} = {}
    const notices: ProcessReply[] = []
    const parts: WorkerNodeParts = {
        async startWorker(options) {
            calls.push("worker.start")
            started.worker = options
            const stop = async ({graceMs}: {graceMs?: number} = {}) => void calls.push(`worker.stop ${graceMs}`)
            return {address: options.connection.address, servedModels: [], stop}
        },
        async startHttp(options) {
            calls.push("http.start")
            started.http = options
            if (httpFails) throw new Error("EADDRINUSE")
            return {receiveNotice: (message) => void notices.push(message), close: async () => void calls.push("http.close")}
        }
    }
    return {parts, calls, started, notices}
}

describe("WorkerNode", () => {
    it("runs the worker alone when not asked for HTTP, registering no endpoint", async () => {
        const {parts, calls, started} = fakeParts()
        const node = await WorkerNode.start(OPTIONS, parts)
        expect(node.address).toBe("worker-address")
        expect(started.worker).toMatchObject({models: ["tiny"], cacheDir: "/cache", endpoint: undefined})
        await node.stop()
        expect(calls).toEqual(["worker.start", "worker.stop undefined"])
    })

    it("starts the endpoint on the worker's models and prices, with defaults taken from the worker", async () => {
        const {parts, started, notices} = fakeParts()
        await WorkerNode.start({...OPTIONS, http: {port: 8080, settleIntervalMs: 5000}}, parts)
        expect(started.worker!.endpoint).toBe("http://127.0.0.1:8080/v1")
        expect(started.http).toMatchObject({
            port: 8080,
            host: "127.0.0.1",
            capacity: 3,
            priceInput: "1000",
            priceOutput: "2000",
            settleIntervalMs: 5000,
            stateDir: path.join("/cache", "direct", "worker-address")
        })
        const notice = {tags: {Action: "Channel-Closing"}} as unknown as ProcessReply
        started.worker!.onChannelNotice!(notice)
        expect(notices).toEqual([notice])
    })

    it("registers no endpoint for a free port, and an explicit one as given", async () => {
        const free = fakeParts()
        await WorkerNode.start({...OPTIONS, http: {port: 0}}, free.parts)
        expect(free.started.worker!.endpoint).toBeUndefined()
        const explicit = fakeParts()
        await WorkerNode.start({...OPTIONS, endpoint: "https://worker.example/v1", http: {port: 8080}}, explicit.parts)
        expect(explicit.started.worker!.endpoint).toBe("https://worker.example/v1")
    })

    it("stops the worker at once when the endpoint cannot start", async () => {
        const {parts, calls} = fakeParts({httpFails: true})
        await expect(WorkerNode.start({...OPTIONS, http: {port: 8080}}, parts)).rejects.toThrow("EADDRINUSE")
        expect(calls).toEqual(["worker.start", "http.start", "worker.stop 0"])
    })

    it("closes the endpoint before the worker disposes the models it generates with, once however often it is stopped", async () => {
        const {parts, calls} = fakeParts()
        const events: WorkerLogEvent[] = []
        const log = (event: WorkerLogEvent) => void events.push(event)
        const node = await WorkerNode.start({...OPTIONS, http: {port: 8080}, stopGraceMs: 10_000, log}, parts)
        await Promise.all([node.stop(), node.stop()])
        expect(calls).toEqual(["worker.start", "http.start", "http.close", "worker.stop 10000"])
        expect(events.map((e) => e.event)).toEqual(["worker.stopping"])
    })
})
