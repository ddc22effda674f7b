import {createCipheriv, createHash} from "node:crypto"
import {createReadStream, createWriteStream} from "node:fs"
import {mkdtemp, readFile, rm} from "node:fs/promises"
import http from "node:http"
import type {AddressInfo} from "node:net"
import os from "node:os"
import path from "node:path"
import {pipeline} from "node:stream/promises"
import {BundlerService, ItemStore} from "../../devnet/bundler/index.ts"
import {writeTestModel} from "../../model-publisher/index.ts"
import {GatewayFront} from "../../devnet/GatewayFront.ts"

/** A bundler, its store and a gateway front on free ports, over an upstream that knows nothing (404, empty GraphQL). */
export interface BundlerRig {
    dir: string
    store: ItemStore
    bundler: BundlerService
    gateway: GatewayFront
    /** Stops the servers and reopens the store from disk, as a devnet restart would. */
    restart(): Promise<void>
    /** Stops the servers and starts them on an empty store, as `devnet --reset` would. */
    reset(): Promise<void>
    close(): Promise<void>
}

export async function startBundlerRig(): Promise<BundlerRig> {
    const dir = await mkdtemp(path.join(os.tmpdir(), "weavelm-bundler-"))
    const upstream = http.createServer((request, response) => {
        request.resume()
        if (request.method === "POST" && request.url === "/graphql") {
            response.writeHead(200, {"content-type": "application/json"})
            return response.end(JSON.stringify({data: {transactions: {pageInfo: {hasNextPage: false}, edges: []}}}))
        }
        response.writeHead(404)
        response.end()
    })
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve))
    const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
    const open = async () => {
        const store = await ItemStore.open({dir: path.join(dir, "bundler")})
        const bundler = await BundlerService.start({port: 0, store})
        return {store, bundler, gateway: await GatewayFront.start({port: 0, upstream: upstreamUrl, store})}
    }
    const rig = {dir, ...(await open())} as BundlerRig
    const stop = async () => {
        await rig.gateway.close()
        await rig.bundler.close()
    }
    rig.restart = async () => {
        await stop()
        Object.assign(rig, await open())
    }
    rig.reset = async () => {
        await stop()
        await rm(path.join(dir, "bundler"), {recursive: true, force: true})
        Object.assign(rig, await open())
    }
    rig.close = async () => {
        await stop()
        upstream.closeAllConnections()
        await new Promise<void>((resolve) => upstream.close(() => resolve()))
        await rm(dir, {recursive: true, force: true})
    }
    return rig
}

/** Deterministic incompressible bytes (an AES-CTR keystream) after `head`, written a MiB at a time. */
export async function writeRandomFile(file: string, size: number, seed = 1, head = Buffer.alloc(0)) {
    const keystream = createCipheriv("aes-128-ctr", Buffer.alloc(16, seed), Buffer.alloc(16))
    async function* bytes() {
        yield head
        for (let written = head.length; written < size; written += 1 << 20)
            yield keystream.update(Buffer.alloc(Math.min(1 << 20, size - written)))
    }
    await pipeline(bytes(), createWriteStream(file))
}

/** The tiny preset's GGUF padded with random bytes to `size`: still a readable GGUF, as large as asked. */
export async function writePaddedModel(file: string, size: number, seed = 1) {
    await writeTestModel({preset: "tiny", seed, path: `${file}.head`})
    const head = await readFile(`${file}.head`)
    await rm(`${file}.head`)
    await writeRandomFile(file, size, seed, head)
}

export async function sha256Stream(stream: AsyncIterable<Uint8Array>): Promise<string> {
    const hash = createHash("sha256")
    for await (const piece of stream) hash.update(piece)
    return hash.digest("hex")
}

export const sha256OfFile = (file: string) => sha256Stream(createReadStream(file))

/** GraphQL against the gateway: the whole answer. */
export async function graphql(gateway: string, query: string, variables?: Record<string, unknown>): Promise<unknown> {
    const response = await fetch(`${gateway}/graphql`, {
        method: "POST",
        headers: {"content-type": "application/json"},
        body: JSON.stringify({query, variables})
    })
    if (!response.ok) throw new Error(`GraphQL answered HTTP ${response.status}`)
    return await response.json()
}

/** The nodes of a `transactions` query's edges. */
export async function graphqlNodes(gateway: string, query: string): Promise<Array<Record<string, unknown>>> {
    const body = (await graphql(gateway, query)) as {data: {transactions: {edges: Array<{node: Record<string, unknown>}>}}}
    return body.data.transactions.edges.map((edge) => edge.node)
}

/** Posts raw bytes, as a client posts a signed data item. */
export async function postBytes(url: string, bytes: Uint8Array): Promise<{status: number; text: string}> {
    const response = await fetch(url, {method: "POST", headers: {"content-type": "application/octet-stream"}, body: new Uint8Array(bytes)})
    return {status: response.status, text: await response.text()}
}
