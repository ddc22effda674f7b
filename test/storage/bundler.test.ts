import {readdir, readFile} from "node:fs/promises"
import http from "node:http"
import type {AddressInfo} from "node:net"
import path from "node:path"
import {DataItem} from "@dha-team/arbundles"
import {afterAll, beforeAll, describe, expect, it} from "vitest"
import {BundlerStorage, downloadFile, GatewayError, signDataItem, type BundlerStorageOptions} from "../../sdk/storage/index.ts"
import {generateWallet, walletAddress, type ArweaveJwk} from "../../sdk/wallet/index.ts"
import {graphql, graphqlNodes, postBytes, sha256OfFile, sha256Stream, startBundlerRig, writeRandomFile} from "./bundlerHarness.ts"
import type {BundlerRig} from "./bundlerHarness.ts"

const MiB = 1024 * 1024
const CHUNK = 5 * MiB
const CHUNK_POST = /\/v1\/chunks\/arweave\/[\w-]+\/(\d+)$/

/** A fetch that records the offsets of chunk posts and, past `failAfter` of them, fails as a crash would. */
function countingFetch(failAfter = Infinity) {
    const offsets: number[] = []
    const wrapped: typeof fetch = async (input, init) => {
        const offset = CHUNK_POST.exec(String(input))?.[1]
        if (offset != null && init?.method === "POST") {
            if (offsets.length >= failAfter) throw new Error("simulated crash")
            offsets.push(Number(offset))
        }
        return await fetch(input, init)
    }
    return {offsets, fetch: wrapped}
}

describe("uploads through the devnet bundler", () => {
    let rig: BundlerRig
    let wallet: ArweaveJwk
    const storage = (options: Partial<BundlerStorageOptions> = {}) =>
        new BundlerStorage({
            bundler: rig.bundler.url,
            gateway: rig.gateway.url,
            wallet,
            stateDir: path.join(rig.dir, "uploads"),
            retry: {attempts: 2, initialDelayMs: 10},
            ...options
        })
    const itemFiles = () => readdir(path.join(rig.store.dir, "items"))

    beforeAll(async () => {
        rig = await startBundlerRig()
        wallet = await generateWallet()
    })
    afterAll(async () => await rig?.close())

    it("round-trips a data item and finds it by id and by tags", async () => {
        const tags = [
            {name: "Content-Type", value: "application/json"},
            {name: "App-Name", value: "weavelm"},
            {name: "Type", value: "Receipt"}
        ]
        const {id} = await storage().uploadData(JSON.stringify({hello: "world"}), tags)
        expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/)

        const served = await fetch(`${rig.gateway.url}/${id}`)
        expect(served.status).toBe(200)
        expect(served.headers.get("content-type")).toBe("application/json")
        expect(await served.json()).toEqual({hello: "world"})

        const owner = {address: walletAddress(wallet)}
        const fields = "id owner { address } tags { name value } data { size } block { height }"
        expect(await graphqlNodes(rig.gateway.url, `query { transactions(ids: ["${id}"]) { edges { node { ${fields} } } } }`)).toEqual([
            {id, owner, tags, data: {size: "17"}, block: null}
        ])
        expect(
            await graphqlNodes(
                rig.gateway.url,
                `{ transactions(first: 100, tags: [{name: "Type", values: ["Receipt", "Other"]},
            {name: "App-Name", values: ["weavelm"]}]) { edges { cursor node { id } } } }`
            )
        ).toEqual([{id}])
        expect(await graphqlNodes(rig.gateway.url, `{ transactions(owners: ["${owner.address}"]) { edges { node { id } } } }`)).toEqual([
            {id}
        ])
        expect(
            await graphqlNodes(rig.gateway.url, `{ transactions(tags: [{name: "Type", values: ["Model"]}]) { edges { node { id } } } }`)
        ).toEqual([])
        // What verifier/evidence/gatewayReads.ts asks, here with variables as other clients send it.
        const query = "query($ids: [ID!]) { transactions(ids: $ids) { edges { node { id owner { address } tags { name value } } } } }"
        expect(await graphql(rig.gateway.url, query, {ids: [id]})).toEqual({data: {transactions: {edges: [{node: {id, owner, tags}}]}}})
        expect(await graphql(rig.gateway.url, `{ receipt: transaction(id: "${id}") { id recipient } }`)).toEqual({
            data: {receipt: {id, recipient: ""}}
        })
    })

    it("signs items arbundles verifies, with the id the bundler acknowledges", async () => {
        const {id, raw} = await signDataItem(wallet, new Uint8Array([1, 2, 3]), [{name: "A", value: "b"}])
        expect(await DataItem.verify(raw)).toBe(true)
        expect(new DataItem(raw).id).toBe(id)
        // up.arweave.net's path, then Turbo's: an item already stored is acknowledged with a 202.
        const posted = await postBytes(`${rig.bundler.url}/tx`, raw)
        expect(posted.status).toBe(200)
        expect(JSON.parse(posted.text)).toMatchObject({id, owner: walletAddress(wallet)})
        expect((await postBytes(`${rig.bundler.url}/v1/tx/arweave`, raw)).status).toBe(202)
    })

    it("uploads a file as a data item that arbundles verifies", async () => {
        const file = path.join(rig.dir, "streamed.bin")
        await writeRandomFile(file, 7 * MiB, 8)
        const tags = [
            {name: "Content-Type", value: "application/octet-stream"},
            {name: "Name", value: "streamed"}
        ]
        const {id, chunksSent, chunksTotal} = await storage({stateDir: path.join(rig.dir, "streamed")}).uploadFile({file, tags})
        expect([chunksSent, chunksTotal]).toEqual([2, 2])
        // The signature was made over a streamed SHA-384; arbundles checks it over the bytes in memory.
        const raw = await readFile(rig.store.itemFile(id))
        expect(await DataItem.verify(raw)).toBe(true)
        const item = new DataItem(raw)
        expect([item.id, item.owner, item.tags]).toEqual([id, wallet.n, tags])
        expect(Buffer.from(item.rawData).equals(await readFile(file))).toBe(true)
    })

    it("speaks a HyperBEAM node's ~bundler@1.0 item endpoint when the bundler URL names it", async () => {
        const items = storage({bundler: `${rig.bundler.url}/~bundler@1.0`, stateDir: path.join(rig.dir, "item-endpoint")})
        const {id: small} = await items.uploadData("a receipt", [{name: "Type", value: "Receipt"}])
        expect(await (await fetch(`${rig.gateway.url}/${small}`)).text()).toBe("a receipt")

        const file = path.join(rig.dir, "one-request.bin")
        await writeRandomFile(file, 3 * MiB, 9)
        const {id} = await items.uploadFile({file, tags: [{name: "Name", value: "one request"}]})
        const raw = await readFile(rig.store.itemFile(id))
        expect(await DataItem.verify(raw)).toBe(true)
        expect(Buffer.from(new DataItem(raw).rawData).equals(await readFile(file))).toBe(true)
    })

    it("refuses an item whose signature does not verify and stores nothing", async () => {
        const {id, raw} = await signDataItem(wallet, "genuine data", [{name: "Type", value: "Forged"}])
        raw[raw.length - 1]! ^= 1
        const before = await itemFiles()
        const posted = await postBytes(`${rig.bundler.url}/v1/tx/arweave`, raw)
        expect([posted.status, posted.text]).toEqual([400, `The signature of data item ${id} does not verify`])
        expect((await fetch(`${rig.gateway.url}/${id}`)).status).toBe(404)
        expect(await graphqlNodes(rig.gateway.url, `{ transactions(ids: ["${id}"]) { edges { node { id } } } }`)).toEqual([])
        const forged = `{ transactions(tags: [{name: "Type", values: ["Forged"]}]) { edges { node { id } } } }`
        expect(await graphqlNodes(rig.gateway.url, forged)).toEqual([])
        expect(await itemFiles()).toEqual(before)
        expect(await readdir(path.join(rig.store.dir, "incoming"))).toEqual([])
        expect((await postBytes(`${rig.bundler.url}/tx`, new Uint8Array(100))).status).toBe(400)
    })

    it("refuses a chunked upload whose bytes were altered in transit", async () => {
        const file = path.join(rig.dir, "tampered.bin")
        await writeRandomFile(file, 6 * MiB, 3)
        const tampering: typeof fetch = async (input, init) => {
            if (CHUNK_POST.exec(String(input))?.[1] === "0" && init?.body instanceof Uint8Array) {
                const body = Buffer.from(init.body)
                body[body.length - 1]! ^= 1
                return await fetch(input, {...init, body})
            }
            return await fetch(input, init)
        }
        const before = await itemFiles()
        const upload = storage({fetch: tampering, stateDir: path.join(rig.dir, "tampered-uploads")}).uploadFile({file, tags: []})
        await expect(upload).rejects.toThrow(/did not finalize .*: INVALID/)
        expect(await itemFiles()).toEqual(before)
    })

    it("does not report an upload done before the gateway serves it", async () => {
        const upload = storage({gateway: `${rig.bundler.url}/nowhere`, stateDir: path.join(rig.dir, "unread")}).uploadData("x", [])
        await expect(upload).resolves.toMatchObject({id: expect.any(String)})
        const file = path.join(rig.dir, "unread.bin")
        await writeRandomFile(file, 1000, 4)
        const unread = storage({gateway: `${rig.bundler.url}/nowhere`, stateDir: path.join(rig.dir, "unread")}).uploadFile({file, tags: []})
        await expect(unread).rejects.toThrow(/Reading .* back from .* failed after 2 attempts: HTTP 404/)
    })

    describe("a 64 MiB file", () => {
        const SIZE = 64 * MiB
        const CONFIRMED = 6
        let file: string
        let id: string

        beforeAll(async () => {
            file = path.join(rig.dir, "weights.bin")
            await writeRandomFile(file, SIZE, 7)
        })

        it("resumes an upload killed halfway without re-sending confirmed chunks", async () => {
            const stateDir = path.join(rig.dir, "resumed-uploads")
            const tags = [
                {name: "Content-Type", value: "application/octet-stream"},
                {name: "Type", value: "Model"}
            ]
            const crashing = countingFetch(CONFIRMED)
            await expect(storage({fetch: crashing.fetch, stateDir}).uploadFile({file, tags})).rejects.toThrow(/simulated crash/)
            expect(crashing.offsets).toHaveLength(CONFIRMED)
            const states = await readdir(stateDir)
            expect(states).toHaveLength(1)
            const state = JSON.parse(await readFile(path.join(stateDir, states[0]!), "utf8")) as {confirmed: number[]; header: string}
            expect([...state.confirmed].sort((a, b) => a - b)).toEqual([...crashing.offsets].sort((a, b) => a - b))
            const headerLength = Buffer.from(state.header, "base64url").length

            const resuming = countingFetch()
            const resumedFrom = new Set<number>()
            const onProgress = ({resumedFrom: from}: {resumedFrom: number}) => resumedFrom.add(from)
            const result = await storage({fetch: resuming.fetch, stateDir}).uploadFile({file, tags, onProgress})
            const chunksTotal = Math.ceil((SIZE + headerLength) / CHUNK)
            expect([result.chunksSent, result.chunksTotal]).toEqual([chunksTotal - CONFIRMED, chunksTotal])
            expect(resuming.offsets).toHaveLength(chunksTotal - CONFIRMED)
            expect(resuming.offsets.filter((offset) => state.confirmed.includes(offset))).toEqual([])
            expect([...resumedFrom]).toEqual([CONFIRMED * CHUNK - headerLength])
            expect(JSON.parse(await readFile(path.join(stateDir, states[0]!), "utf8"))).toMatchObject({id: result.id, phase: "done"})
            id = result.id

            const copy = path.join(rig.dir, "weights.copy")
            await downloadFile({gateway: rig.gateway.url, id, destination: copy})
            expect(await sha256OfFile(copy)).toBe(await sha256OfFile(file))
            const models = `{ transactions(tags: [{name: "Type", values: ["Model"]}]) { edges { node { id data { size } } } } }`
            expect(await graphqlNodes(rig.gateway.url, models)).toEqual([{id, data: {size: String(SIZE)}}])
        })

        it("serves HTTP Range reads streamed from disk", async () => {
            const original = await readFile(file)
            const read = async (range?: string, method = "GET") => {
                const response = await fetch(`${rig.gateway.url}/${id}`, {method, headers: range == null ? {} : {range}})
                const body = Buffer.from(await response.arrayBuffer())
                const header = (name: string) => response.headers.get(name)
                return {
                    status: response.status,
                    body,
                    length: header("content-length"),
                    range: header("content-range"),
                    accepts: header("accept-ranges")
                }
            }
            expect(await read(undefined, "HEAD")).toMatchObject({
                status: 200,
                length: String(SIZE),
                accepts: "bytes",
                body: Buffer.alloc(0)
            })
            const middle = await read("bytes=1000-1999")
            expect(middle).toMatchObject({status: 206, range: `bytes 1000-1999/${SIZE}`, length: "1000", accepts: "bytes"})
            expect(middle.body.equals(original.subarray(1000, 2000))).toBe(true)
            const tail = await read(`bytes=${SIZE - 10}-`)
            expect(tail).toMatchObject({status: 206, range: `bytes ${SIZE - 10}-${SIZE - 1}/${SIZE}`})
            expect(tail.body.equals(original.subarray(SIZE - 10))).toBe(true)
            expect((await read("bytes=-5")).body.equals(original.subarray(SIZE - 5))).toBe(true)
            expect(await read(`bytes=${SIZE}-`)).toMatchObject({status: 416, range: `bytes */${SIZE}`})
            expect(await read(`bytes=${SIZE - 3}-${SIZE + 100}`)).toMatchObject({status: 206, length: "3"})
        })

        it("does not send a finished file again", async () => {
            const stateDir = path.join(rig.dir, "resumed-uploads")
            const tags = [
                {name: "Content-Type", value: "application/octet-stream"},
                {name: "Type", value: "Model"}
            ]
            const again = countingFetch()
            expect(await storage({fetch: again.fetch, stateDir}).uploadFile({file, tags})).toMatchObject({id, chunksSent: 0})
            expect(again.offsets).toEqual([])
        })

        it("keeps items, their tags and unfinished uploads across a restart", async () => {
            const other = path.join(rig.dir, "other.bin")
            await writeRandomFile(other, 12 * MiB, 9)
            const crashing = countingFetch(1)
            const upload = storage({fetch: crashing.fetch, concurrency: 1}).uploadFile({file: other, tags: []})
            await expect(upload).rejects.toThrow(/simulated crash/)
            await rig.restart()

            expect((await fetch(`${rig.gateway.url}/${id}`, {method: "HEAD"})).headers.get("content-length")).toBe(String(SIZE))
            expect(await graphqlNodes(rig.gateway.url, `{ transactions(ids: ["${id}"]) { edges { node { id } } } }`)).toEqual([{id}])
            const resumed = await storage().uploadFile({file: other, tags: []})
            expect([resumed.chunksSent, resumed.chunksTotal]).toEqual([2, 3])
            const served = await fetch(`${rig.gateway.url}/${resumed.id}`)
            expect(await sha256Stream(served.body as unknown as AsyncIterable<Uint8Array>)).toBe(await sha256OfFile(other))
        })

        it("sends a finished file again after a devnet reset", async () => {
            await rig.reset()
            const stateDir = path.join(rig.dir, "resumed-uploads")
            const tags = [
                {name: "Content-Type", value: "application/octet-stream"},
                {name: "Type", value: "Model"}
            ]
            const again = countingFetch()
            const result = await storage({fetch: again.fetch, stateDir}).uploadFile({file, tags})
            expect(result.id).not.toBe(id)
            expect(again.offsets).toHaveLength(result.chunksTotal)
            expect((await fetch(`${rig.gateway.url}/${result.id}`, {method: "HEAD"})).headers.get("content-length")).toBe(String(SIZE))
        })
    })

    it("reports a bundler that is not there", async () => {
        const file = path.join(rig.dir, "small.bin")
        await writeRandomFile(file, 5, 2)
        const closed = http.createServer()
        await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve))
        const port = (closed.address() as AddressInfo).port
        await new Promise<void>((resolve) => closed.close(() => resolve()))
        const down = storage({bundler: `http://127.0.0.1:${port}`, stateDir: path.join(rig.dir, "down")})
        await expect(down.uploadFile({file, tags: []})).rejects.toBeInstanceOf(GatewayError)
        await expect(down.uploadData("x", [])).rejects.toThrow(/Uploading a data item failed after 2 attempts: .*ECONNREFUSED/)
    })
})
