import {afterEach, beforeEach, describe, expect, it, vi} from "vitest"
import {DirectRequestError, type DirectEvent} from "../../sdk/direct/index.ts"
import {WorkerRoster} from "../../sdk/direct/WorkerRoster.ts"
import type {RegistryClient, WorkerRecord} from "../../sdk/registry/index.ts"
import {testModel, workerRecord} from "../harness/registryRecords.ts"

const model = testModel
const worker = workerRecord

/** A registry that answers from `workers`, which a test may change between reads. */
function registryOf(workers: WorkerRecord[]) {
    const registry = {
        listed: workers,
        reads: 0,
        async workers() {
            registry.reads++
            return registry.listed
        },
        async worker(address: string) {
            return registry.listed.find((w) => w.address === address) ?? null
        }
    }
    return registry
}

const addresses = (roster: WorkerRoster) => roster.order().map((c) => c.record.address)

describe("the workers a direct client tries, in order", () => {
    beforeEach(() => vi.useFakeTimers({toFake: ["Date"]}))
    afterEach(() => vi.useRealTimers())

    it("moves a worker that failed to the back for the cooldown, and tells", async () => {
        const events: DirectEvent[] = []
        const registry = registryOf([worker("a"), worker("b", {priceInput: "2000"})])
        const roster = await WorkerRoster.read({
            registry: registry as unknown as RegistryClient,
            model,
            failureCooldownMs: 1000,
            onEvent: (event) => events.push(event)
        })
        expect(addresses(roster)).toEqual(["a", "b"])
        roster.markFailed("a", "HTTP 500")
        expect(events).toEqual([{type: "worker.failed", worker: "a", reason: "HTTP 500"}])
        vi.advanceTimersByTime(999)
        expect(addresses(roster)).toEqual(["b", "a"])
        vi.advanceTimersByTime(1)
        expect(addresses(roster)).toEqual(["a", "b"])
    })

    it("reads the registry again in the background once the list is older than the refresh period, keeping it when none serve", async () => {
        const registry = registryOf([worker("a")])
        const roster = await WorkerRoster.read({registry: registry as unknown as RegistryClient, model, registryRefreshMs: 1000})
        registry.listed = [worker("a"), worker("c", {priceInput: "1"})]
        expect(addresses(roster)).toEqual(["a"])
        vi.advanceTimersByTime(1000)
        expect(addresses(roster)).toEqual(["a"])
        await vi.waitFor(() => expect(addresses(roster)).toEqual(["c", "a"]))
        registry.listed = []
        vi.advanceTimersByTime(1000)
        roster.order()
        await vi.waitFor(() => expect(registry.reads).toBe(3))
        expect(addresses(roster)).toEqual(["c", "a"])
    })

    it("takes a named worker only when it serves the model at an HTTP endpoint", async () => {
        const registry = registryOf([worker("a"), worker("other", {models: []}), worker("silent", {endpoint: undefined})])
        const read = (named: string, endpoint?: string) =>
            WorkerRoster.read({registry: registry as unknown as RegistryClient, model, worker: named, endpoint})
        expect((await read("a")).order().map((c) => c.baseUrl)).toEqual(["http://a.example:8080/v1"])
        expect((await read("silent", "http://10.0.0.1:4886")).order().map((c) => c.baseUrl)).toEqual(["http://10.0.0.1:4886/v1"])
        for (const [named, code] of [
            ["nobody", "worker_not_found"],
            ["other", "model_not_served"],
            ["silent", "no_endpoint"]
        ]) {
            const error = await read(named!).catch((e: unknown) => e)
            expect(error).toBeInstanceOf(DirectRequestError)
            expect((error as DirectRequestError).code).toBe(code)
        }
    })
})
