import {readdir, writeFile} from "node:fs/promises"
import path from "node:path"
import {afterAll, beforeAll, describe, expect, it} from "vitest"
import {PublishError, publishModel, sha256File, type PublishModelOptions} from "../../model-publisher/index.ts"
import type {ModelRegistration, RegistryClient} from "../../sdk/registry/index.ts"
import {BundlerStorage, type TransferProgress} from "../../sdk/storage/index.ts"
import {generateWallet, walletAddress, type ArweaveJwk} from "../../sdk/wallet/index.ts"
import {graphqlNodes, sha256OfFile, sha256Stream, startBundlerRig, writePaddedModel, type BundlerRig} from "./bundlerHarness.ts"

const MiB = 1024 * 1024

/** A registry that keeps registrations in memory: publishModel's part of the contract is what it sends. */
function memoryRegistry(owner: string) {
    const registered: ModelRegistration[] = []
    const registry = {
        model: async (name: string) => {
            const found = registered.find((record) => record.name === name)
            return found == null ? null : {...found, id: found.modelId, owner}
        },
        registerModel: async (registration: ModelRegistration) => void registered.push(registration)
    }
    return {registered, registry: registry as unknown as RegistryClient}
}

describe("model publish through a bundler", () => {
    let rig: BundlerRig
    let wallet: ArweaveJwk
    const requests: string[] = []
    let failChunksAfter = Infinity
    const recording: typeof fetch = async (input, init) => {
        const url = String(input)
        if (/\/chunks\/arweave\/[\w-]+\/\d+$/.test(url) && requests.filter((r) => r.endsWith("chunk")).length >= failChunksAfter)
            throw new Error("simulated crash")
        requests.push(`${init?.method ?? "GET"} ${/\/\d+$/.test(url) ? "chunk" : url}`)
        return await fetch(input, init)
    }
    const publish = (options: Partial<PublishModelOptions> & Pick<PublishModelOptions, "file" | "name" | "registry">) =>
        publishModel({
            storage: new BundlerStorage({
                bundler: rig.bundler.url,
                gateway: rig.gateway.url,
                wallet,
                stateDir: path.join(rig.dir, "uploads"),
                fetch: recording,
                retry: {attempts: 2, initialDelayMs: 10}
            }),
            owner: walletAddress(wallet),
            ...options
        })

    beforeAll(async () => {
        rig = await startBundlerRig()
        wallet = await generateWallet()
    })
    afterAll(async () => await rig?.close())

    it("refuses a file that is not GGUF before anything is sent", async () => {
        const notes = path.join(rig.dir, "notes.gguf")
        await writeFile(notes, "these are not weights\n".repeat(1000))
        const {registry, registered} = memoryRegistry(walletAddress(wallet))
        await expect(publish({file: notes, name: "notes", registry})).rejects.toBeInstanceOf(PublishError)
        await expect(publish({file: path.join(rig.dir, "nowhere.gguf"), name: "nowhere", registry})).rejects.toThrow(/No such file/)
        expect(requests).toEqual([])
        expect(registered).toEqual([])
        expect(await readdir(path.join(rig.dir, "uploads")).catch(() => [])).toEqual([])
    })

    it("publishes, resumes after an interruption without re-sending confirmed chunks, and registers the served bytes", async () => {
        const file = path.join(rig.dir, "padded.gguf")
        await writePaddedModel(file, 24 * MiB, 5)
        const {registry, registered} = memoryRegistry(walletAddress(wallet))

        failChunksAfter = 2
        await expect(publish({file, name: "padded", license: "MIT", registry})).rejects.toThrow(/simulated crash/)
        expect(registered).toEqual([])
        failChunksAfter = Infinity
        requests.length = 0

        const progress: TransferProgress[] = []
        const published = await publish({file, name: "padded", license: "MIT", registry, onProgress: (p) => progress.push(p)})
        expect(published.sha256).toBe(await sha256File(file))
        // Five 5 MiB chunks in all: the two confirmed before are not sent again.
        expect(requests.filter((r) => r.endsWith("chunk"))).toHaveLength(3)
        expect(progress[0]).toEqual({bytes: progress[0]!.resumedFrom, total: 24 * MiB, resumedFrom: progress[0]!.resumedFrom})
        expect(progress[0]!.resumedFrom).toBeGreaterThanOrEqual(2 * 5 * MiB - 2048)
        expect(progress.at(-1)!.bytes).toBe(24 * MiB)
        expect(registered).toMatchObject([{modelId: published.modelId, sha256: published.sha256, name: "padded", license: "MIT"}])

        const response = await fetch(`${rig.gateway.url}/${published.modelId}`)
        expect(await sha256Stream(response.body as unknown as AsyncIterable<Uint8Array>)).toBe(await sha256OfFile(file))
        const [node] = await graphqlNodes(
            rig.gateway.url,
            `{ transactions(tags: [{name: "Model-Name", values: ["padded"]},
            {name: "SHA-256", values: ["${published.sha256}"]}]) { edges { node { id owner { address } } } } }`
        )
        expect(node).toEqual({id: published.modelId, owner: {address: walletAddress(wallet)}})

        requests.length = 0
        const again = await publish({file, name: "padded", license: "MIT", registry})
        expect(again).toMatchObject({modelId: published.modelId, alreadyPublished: true})
        expect(requests).toEqual([])
    })

    it("does not upload again when registering failed after the upload", async () => {
        const file = path.join(rig.dir, "unregistered.gguf")
        await writePaddedModel(file, 11 * MiB, 6)
        const {registry, registered} = memoryRegistry(walletAddress(wallet))
        const failing = {
            model: registry.model.bind(registry),
            registerModel: async () => {
                throw new Error("the registry process did not answer")
            }
        } as unknown as RegistryClient
        requests.length = 0
        await expect(publish({file, name: "unregistered", registry: failing})).rejects.toThrow(/did not answer/)
        expect(requests.filter((r) => r.endsWith("chunk"))).toHaveLength(3)

        requests.length = 0
        const published = await publish({file, name: "unregistered", registry})
        expect(requests.filter((r) => !r.startsWith("HEAD"))).toEqual([])
        expect(registered).toMatchObject([{modelId: published.modelId, name: "unregistered"}])
    })
})
