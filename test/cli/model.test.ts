import {spawn} from "node:child_process"
import {randomBytes} from "node:crypto"
import {mkdtemp, readdir, readFile, rm, stat, writeFile} from "node:fs/promises"
import http from "node:http"
import type {AddressInfo} from "node:net"
import os from "node:os"
import path from "node:path"
import {afterAll, beforeAll, describe, expect, it} from "vitest"
import {inspectModel, sha256File, writeTestModel} from "../../model-publisher/index.ts"
import {RegistryClient} from "../../sdk/registry/index.ts"
import {chunkBoundaries} from "../../sdk/storage/index.ts"
import {generateWallet, writeWallet} from "../../sdk/wallet/index.ts"
import {findRecording, loadRecordings, pointingAt} from "../fixtures/arns/recorded.ts"
import {runCli, weavelmBin, type CliResult} from "../harness/cli.ts"
import {startTestDevnet, type TestDevnet} from "../harness/devnet.ts"

// Each test file gets its own ports so files can run in parallel.
const PORT = 4640
const MAINNET_PORT = 5290
const MiB = 1024 * 1024
const TX_PATH = /^\/[A-Za-z0-9_-]{43}$/

/** One request the proxy saw. */
interface ProxiedRequest {
    method: string
    url: string
    range?: string
    status?: number
    /** Response body bytes passed on to the client. */
    bytesOut: number
    /** End offset (`offset`) of a posted chunk. */
    chunkOffset?: number
}

/**
 * A recording HTTP proxy in front of the devnet's gateway: counts what the
 * CLI sends, and can stop answering at a chosen point (chunk posts after the
 * first N, a download after N bytes) so that a kill lands mid-transfer every
 * time, however fast or slow the machine is.
 */
class GatewayProxy {
    public readonly log: ProxiedRequest[] = []
    /** Chunk posts after this many forwarded ones are held unanswered, never forwarded. */
    public holdChunksAfter: number | null = null
    /** Data downloads stall (the response never ends) after this many body bytes. */
    public stallDownloadsAfter: number | null = null
    private _chunksForwarded = 0
    private readonly _server: http.Server
    private readonly _upstream: URL

    private constructor(server: http.Server, upstream: URL) {
        this._server = server
        this._upstream = upstream
    }

    public static async start(upstream: string): Promise<GatewayProxy> {
        let proxy: GatewayProxy | undefined
        const server = http.createServer((request, response) => void proxy!._handle(request, response))
        proxy = new GatewayProxy(server, new URL(upstream))
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
        return proxy
    }

    public get url() {
        return `http://127.0.0.1:${(this._server.address() as AddressInfo).port}`
    }

    public requests(method: string, url: string | RegExp) {
        return this.log.filter((r) => r.method === method && (typeof url === "string" ? r.url === url : url.test(r.url)))
    }

    public reset() {
        this.log.length = 0
        this._chunksForwarded = 0
        this.holdChunksAfter = null
        this.stallDownloadsAfter = null
    }

    public async close() {
        this._server.closeAllConnections()
        await new Promise<void>((resolve) => this._server.close(() => resolve()))
    }

    private async _handle(request: http.IncomingMessage, response: http.ServerResponse) {
        const body = await readBody(request)
        const entry: ProxiedRequest = {method: request.method ?? "GET", url: request.url ?? "/", range: request.headers.range, bytesOut: 0}
        this.log.push(entry)
        if (entry.method === "POST" && entry.url === "/chunk") {
            entry.chunkOffset = Number((JSON.parse(body.toString("utf8")) as {offset: string}).offset)
            if (this.holdChunksAfter != null && this._chunksForwarded >= this.holdChunksAfter) return
            this._chunksForwarded++
        }
        const stallAfter = entry.method === "GET" && TX_PATH.test(entry.url) ? this.stallDownloadsAfter : null
        const forwarded = http.request(
            new URL(entry.url, this._upstream),
            {
                method: entry.method,
                headers: {...request.headers, host: this._upstream.host}
            },
            (upstream) => {
                entry.status = upstream.statusCode
                response.writeHead(upstream.statusCode ?? 502, upstream.headers)
                upstream.on("data", (piece: Buffer) => {
                    if (stallAfter != null && entry.bytesOut + piece.length >= stallAfter) {
                        response.write(piece.subarray(0, stallAfter - entry.bytesOut))
                        entry.bytesOut = stallAfter
                        upstream.destroy()
                        return
                    }
                    entry.bytesOut += piece.length
                    response.write(piece)
                })
                upstream.on("end", () => response.end())
            }
        )
        forwarded.on("error", () => response.destroy())
        forwarded.end(body)
    }
}

function readBody(request: http.IncomingMessage): Promise<Buffer> {
    return new Promise((resolve, reject) => {
        const parts: Buffer[] = []
        request.on("data", (part: Buffer) => parts.push(part))
        request.on("end", () => resolve(Buffer.concat(parts)))
        request.on("error", reject)
    })
}

/** Runs `weavelm ...args` until `midway` holds, then SIGKILLs it, as a crash or a pulled plug would. */
async function killMidway(args: string[], cwd: string, what: string, midway: () => Promise<boolean>) {
    const child = spawn(process.execPath, [weavelmBin, ...args], {cwd, stdio: ["ignore", "ignore", "pipe"]})
    let stderr = ""
    child.stderr.on("data", (chunk) => (stderr += chunk))
    let exited = false
    const exit = new Promise<NodeJS.Signals | null>((resolve) =>
        child.on("exit", (_code, signal) => {
            exited = true
            resolve(signal)
        })
    )
    const deadline = Date.now() + 60_000
    while (!(await midway().catch(() => false))) {
        if (exited) throw new Error(`weavelm ${args.join(" ")} ended before ${what}:\n${stderr}`)
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
    }
    child.kill("SIGKILL")
    expect(await exit).toBe("SIGKILL")
}

async function listDir(dir: string) {
    return await readdir(dir).catch(() => [] as string[])
}

/** A user error as the CLI must print it: one line, no stack trace, nothing on stdout. */
function expectOneLineError(result: CliResult, pattern: RegExp) {
    expect(result.code, result.stderr).not.toBe(0)
    expect(result.stdout).toBe("")
    const lines = result.stderr.trimEnd().split("\n")
    expect(lines, result.stderr).toHaveLength(1)
    expect(lines[0]).toMatch(/^error: /)
    expect(lines[0]).toMatch(pattern)
    expect(result.stderr).not.toMatch(/\bat .*\.(ts|js):\d+/)
}

describe("weavelm model on a legacy devnet: L1 transactions through the gateway", () => {
    let net: TestDevnet
    let dir: string
    let proxy: GatewayProxy
    /** The devnet's network file with the gateway behind the proxy. */
    let networkFile: string
    let tiny: {file: string; sha256: string; modelId: string}

    const weavelm = (args: string[], env?: NodeJS.ProcessEnv) => runCli([...args, "--network", networkFile], {cwd: dir, env})
    const cacheDir = (name: string) => path.join(dir, name)

    beforeAll(async () => {
        net = await startTestDevnet(PORT, {mode: "legacy"})
        dir = await mkdtemp(path.join(os.tmpdir(), "weavelm-model-cli-"))
        proxy = await GatewayProxy.start(net.devnet.network.gateway)
        networkFile = path.join(dir, "network.json")
        await writeFile(
            networkFile,
            JSON.stringify({
                ...net.devnet.network,
                gateway: proxy.url,
                wallet: path.join(net.dataDir, "wallets", "dev.json")
            })
        )
    })
    afterAll(async () => {
        await proxy?.close()
        await net?.dispose()
        if (dir) await rm(dir, {recursive: true, force: true})
    })

    it("publishes a generated model with its metadata as tags and pulls back the same bytes", async () => {
        const file = path.join(dir, "tiny.gguf")
        const made = await runCli(["model", "make-test", "--preset", "tiny", "-o", file, "--json"])
        expect(made.code, made.stderr).toBe(0)
        const {sha256} = JSON.parse(made.stdout) as {sha256: string}

        const published = await weavelm([
            "model",
            "publish",
            file,
            "--name",
            "tiny-model",
            "--license",
            "MIT",
            "--cache-dir",
            cacheDir("a"),
            "--json"
        ])
        expect(published.code, published.stderr).toBe(0)
        const modelId = (JSON.parse(published.stdout) as {modelId: string}).modelId
        expect(modelId).toMatch(/^[A-Za-z0-9_-]{43}$/)
        expect(published.stdout).toBe(JSON.stringify({modelId, sha256, name: "tiny-model"}) + "\n")
        tiny = {file, sha256, modelId}

        const pulled = await weavelm(["model", "pull", "tiny-model", "--cache-dir", cacheDir("b"), "--json"])
        expect(pulled.code, pulled.stderr).toBe(0)
        const cached = path.join(cacheDir("b"), "models", `${sha256}.gguf`)
        expect(pulled.stdout).toBe(JSON.stringify({path: cached, sha256}) + "\n")
        expect((await readFile(cached)).equals(await readFile(file))).toBe(true)

        const summary = await inspectModel(file)
        const graphql = await fetch(`${net.devnet.network.gateway}/graphql`, {
            method: "POST",
            headers: {"content-type": "application/json"},
            body: JSON.stringify({query: `query { transactions(ids: ["${modelId}"]) { edges { node { id tags { name value } } } } }`})
        })
        const {data} = (await graphql.json()) as {
            data: {transactions: {edges: Array<{node: {id: string; tags: Array<{name: string; value: string}>}}>}}
        }
        expect(data.transactions.edges.map((e) => e.node.id)).toEqual([modelId])
        expect(data.transactions.edges[0]!.node.tags).toEqual([
            {name: "Content-Type", value: "application/octet-stream"},
            {name: "App-Name", value: "weavelm"},
            {name: "Type", value: "Model"},
            {name: "Model-Name", value: "tiny-model"},
            {name: "Model-Format", value: "GGUF"},
            {name: "Architecture", value: "llama"},
            {name: "Quantization", value: "F32"},
            {name: "Parameter-Count", value: String(summary.parameterCount)},
            {name: "Context-Length", value: "512"},
            {name: "SHA-256", value: sha256},
            {name: "License", value: "MIT"}
        ])
    })

    it("publishes the same file and name again without uploading, and lists it", async () => {
        proxy.reset()
        const again = await weavelm([
            "model",
            "publish",
            tiny.file,
            "--name",
            "tiny-model",
            "--license",
            "MIT",
            "--cache-dir",
            cacheDir("a"),
            "--json"
        ])
        expect(again.code, again.stderr).toBe(0)
        expect(again.stdout).toBe(JSON.stringify({modelId: tiny.modelId, sha256: tiny.sha256, name: "tiny-model"}) + "\n")
        expect(proxy.requests("POST", /^\/(tx|chunk)$/)).toEqual([])
        expect(await listDir(path.join(cacheDir("a"), "uploads"))).toEqual([])

        const summary = await inspectModel(tiny.file)
        const record = {
            id: tiny.modelId,
            sha256: tiny.sha256,
            name: "tiny-model",
            format: "GGUF",
            architecture: "llama",
            quantization: "F32",
            parameters: summary.parameterCount,
            contextLength: 512,
            license: "MIT",
            ownerFee: 0,
            owner: net.devnet.walletAddress
        }
        const [list, byName, byId] = await Promise.all([
            weavelm(["model", "list", "--json"]),
            weavelm(["model", "info", "tiny-model", "--json"]),
            // Ids can start with "-": after "--" they are never read as options.
            runCli(["model", "info", "--json", "--network", networkFile, "--", tiny.modelId], {cwd: dir})
        ])
        expect(list.code, list.stderr).toBe(0)
        expect(JSON.parse(list.stdout)).toContainEqual(record)
        expect(JSON.parse(byName.stdout)).toEqual(record)
        expect(JSON.parse(byId.stdout)).toEqual(record)
    })

    it("round-trips the small preset", async () => {
        const file = path.join(dir, "small.gguf")
        await writeTestModel({preset: "small", seed: 7, path: file})
        const published = await weavelm(["model", "publish", file, "--name", "small-model", "--cache-dir", cacheDir("a"), "--json"])
        expect(published.code, published.stderr).toBe(0)
        const sha256 = await sha256File(file)
        expect(JSON.parse(published.stdout)).toMatchObject({sha256, name: "small-model"})

        const pulled = await weavelm(["model", "pull", "small-model", "--cache-dir", cacheDir("b"), "--json"])
        expect(pulled.code, pulled.stderr).toBe(0)
        expect(JSON.parse(pulled.stdout)).toEqual({path: path.join(cacheDir("b"), "models", `${sha256}.gguf`), sha256})
        expect((await readFile(path.join(cacheDir("b"), "models", `${sha256}.gguf`))).equals(await readFile(file))).toBe(true)
    })

    describe("interrupted transfers", () => {
        let big: {file: string; sha256: string; size: number}
        const CONFIRMED = 8

        beforeAll(async () => {
            const file = path.join(dir, "small-f32.gguf")
            const {sizeBytes} = await writeTestModel({preset: "small", seed: 11, type: "f32", path: file})
            big = {file, sha256: await sha256File(file), size: sizeBytes}
        })

        it("resumes a killed upload without re-sending confirmed chunks", async () => {
            const bounds = chunkBoundaries(big.size)
            expect(bounds.length).toBeGreaterThan(2 * CONFIRMED)
            const uploads = path.join(cacheDir("resume"), "uploads")
            const args = [
                "model",
                "publish",
                big.file,
                "--name",
                "resumed-model",
                "--cache-dir",
                cacheDir("resume"),
                "--json",
                "--network",
                networkFile
            ]

            const state = async () => {
                const names = (await listDir(uploads)).filter((f) => f.endsWith(".json"))
                if (names.length !== 1) throw new Error(`expected one upload state file, found ${names.join(", ") || "none"}`)
                return JSON.parse(await readFile(path.join(uploads, names[0]!), "utf8")) as {headerPosted: boolean; confirmedChunks: number}
            }
            proxy.reset()
            proxy.holdChunksAfter = CONFIRMED
            await killMidway(args, dir, `${CONFIRMED} confirmed chunks`, async () => (await state()).confirmedChunks === CONFIRMED)
            expect(await state()).toMatchObject({headerPosted: true, confirmedChunks: CONFIRMED})

            proxy.reset()
            const resumed = await runCli(args, {cwd: dir})
            expect(resumed.code, resumed.stderr).toBe(0)
            expect(JSON.parse(resumed.stdout)).toMatchObject({sha256: big.sha256, name: "resumed-model"})
            // Only the chunks after the confirmed ones, each once; the header was not posted again.
            expect(proxy.requests("POST", "/tx")).toEqual([])
            expect(
                proxy
                    .requests("POST", "/chunk")
                    .map((r) => r.chunkOffset)
                    .sort((a, b) => a! - b!)
            ).toEqual(bounds.slice(CONFIRMED).map(([, end]) => end - 1))
            expect(await listDir(uploads)).toEqual([])
        })

        it("resumes a killed download with an HTTP Range request and verifies it", async () => {
            const cache = cacheDir("download")
            const partial = path.join(cache, "models", `${big.sha256}.gguf.partial`)
            const args = ["model", "pull", "resumed-model", "--cache-dir", cache, "--json", "--network", networkFile]

            proxy.reset()
            proxy.stallDownloadsAfter = MiB
            await killMidway(args, dir, "1 MiB downloaded", async () => (await stat(partial)).size === MiB)

            proxy.reset()
            const resumed = await runCli(args, {cwd: dir})
            expect(resumed.code, resumed.stderr).toBe(0)
            expect(JSON.parse(resumed.stdout)).toEqual({path: path.join(cache, "models", `${big.sha256}.gguf`), sha256: big.sha256})
            const downloads = proxy.requests("GET", TX_PATH)
            expect(downloads.map((r) => [r.range, r.status, r.bytesOut])).toEqual([[`bytes=${MiB}-`, 206, big.size - MiB]])
            expect(await listDir(path.join(cache, "models"))).toEqual([`${big.sha256}.gguf`])
            expect((await readFile(path.join(cache, "models", `${big.sha256}.gguf`))).equals(await readFile(big.file))).toBe(true)
        })
    })

    it("answers bad input with one readable line and uploads nothing", async () => {
        const notGguf = path.join(dir, "notes.txt")
        await writeFile(notGguf, "these are not weights\n".repeat(1000))
        const stranger = path.join(dir, "stranger.json")
        await writeWallet(stranger, await generateWallet())
        const cache = cacheDir("bad")

        proxy.reset()
        const [notModel, missing, pullUnknown, infoUnknown, taken, fee] = await Promise.all([
            weavelm(["model", "publish", notGguf, "--name", "notes", "--cache-dir", cache, "--json"]),
            weavelm(["model", "publish", path.join(dir, "nowhere.gguf"), "--name", "nowhere", "--cache-dir", cache, "--json"]),
            weavelm(["model", "pull", "no-such-model", "--cache-dir", cache, "--json"]),
            weavelm(["model", "info", "no-such-model", "--json"]),
            weavelm(["model", "publish", tiny.file, "--name", "tiny-model", "--wallet", stranger, "--cache-dir", cache, "--json"]),
            weavelm(["model", "publish", tiny.file, "--name", "fee-model", "--owner-fee", "20000", "--cache-dir", cache, "--json"])
        ])
        expectOneLineError(notModel, /notes\.txt is not a readable GGUF model/)
        expect(notModel.code).toBe(1)
        expectOneLineError(missing, /No such file: .*nowhere\.gguf/)
        expect(missing.code).toBe(1)
        expectOneLineError(pullUnknown, /No model "no-such-model" in the registry/)
        expect(pullUnknown.code).toBe(1)
        expectOneLineError(infoUnknown, /No model "no-such-model" in the registry \(see `weavelm model list`\)/)
        expect(infoUnknown.code).toBe(1)
        expectOneLineError(taken, new RegExp(`The name "tiny-model" is registered to ${net.devnet.walletAddress}; choose another`))
        expect(taken.code).toBe(1)
        expectOneLineError(fee, /--owner-fee.*'20000' is invalid.*0 to 10000/)

        expect(proxy.requests("POST", /^\/(tx|chunk)$/)).toEqual([])
        expect(await listDir(path.join(cache, "uploads"))).toEqual([])
        expect(await listDir(path.join(cache, "models"))).toEqual([])
    })

    it("retries an unreachable gateway with backoff, then says so in one line", async () => {
        const closed = http.createServer()
        await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve))
        const deadPort = (closed.address() as AddressInfo).port
        await new Promise<void>((resolve) => closed.close(() => resolve()))
        const downFile = path.join(dir, "down.json")
        await writeFile(
            downFile,
            JSON.stringify({...JSON.parse(await readFile(networkFile, "utf8")), gateway: `http://127.0.0.1:${deadPort}`})
        )

        const [publish, pull] = await Promise.all([
            runCli(
                [
                    "model",
                    "publish",
                    tiny.file,
                    "--name",
                    "down-model",
                    "--retries",
                    "3",
                    "--cache-dir",
                    cacheDir("down"),
                    "--json",
                    "--network",
                    downFile
                ],
                {cwd: dir}
            ),
            runCli(["model", "pull", "tiny-model", "--cache-dir", cacheDir("down"), "--json", "--network", downFile], {
                cwd: dir,
                env: {WEAVELM_RETRIES: "2"}
            })
        ])
        expectOneLineError(publish, /Asking the gateway for an anchor and a price failed after 3 attempts: .*ECONNREFUSED/)
        expect(publish.code).toBe(3)
        expectOneLineError(pull, new RegExp(`Downloading ${tiny.modelId} failed after 2 attempts: .*ECONNREFUSED`))
        expect(pull.code).toBe(3)
        expect(await listDir(path.join(cacheDir("down"), "models"))).toEqual([])
    })

    it("refuses bytes that fail the registry's hash and caches nothing", async () => {
        const file = path.join(dir, "impostor.gguf")
        await writeFile(file, randomBytes(300 * 1024))
        const storage = net.connection.storage(path.join(dir, "impostor-uploads"))
        const {id} = await storage.uploadFile({file, tags: [{name: "Content-Type", value: "application/octet-stream"}]})
        const registry = new RegistryClient(net.connection.ao, net.devnet.processes.registry)
        const claimed = "0".repeat(64)
        await registry.registerModel({
            modelId: id,
            sha256: claimed,
            name: "impostor",
            format: "GGUF",
            architecture: "llama",
            quantization: "F32",
            parameters: 1000,
            contextLength: 512,
            license: "MIT",
            ownerFee: 0
        })

        const cache = cacheDir("impostor")
        const pulled = await weavelm(["model", "pull", "impostor", "--cache-dir", cache, "--json"])
        expectOneLineError(
            pulled,
            new RegExp(
                `Model impostor \\(${id}\\) failed its hash check: got ${await sha256File(file)}, the registry says ${claimed}; the download was deleted`
            )
        )
        expect(pulled.code).toBe(1)
        expect(await listDir(path.join(cache, "models"))).toEqual([])
    })

    it("pulls by ArNS name: ar://<name> resolves through AR.IO to a registered Model-Id", async () => {
        // A compute unit answering the ARIO and ANT dry runs from recordings, pointed at the tiny model.
        const recordings = pointingAt(loadRecordings(), tiny.modelId)
        const cu = http.createServer(
            (request, response) =>
                void readBody(request).then((body) => {
                    const url = new URL(request.url ?? "/", "http://cu")
                    const {Tags} = JSON.parse(body.toString("utf8")) as {Tags: Array<{name: string; value: string}>}
                    const recording =
                        url.pathname === "/dry-run" ? findRecording(recordings, url.searchParams.get("process-id") ?? "", Tags) : undefined
                    response.writeHead(recording == null ? 404 : 200, {"content-type": "application/json"})
                    response.end(JSON.stringify(recording?.response ?? {error: "not recorded"}))
                })
        )
        await new Promise<void>((resolve) => cu.listen(0, "127.0.0.1", resolve))
        try {
            const arnsCu = `http://127.0.0.1:${(cu.address() as AddressInfo).port}`
            const cache = cacheDir("arns")
            const pulled = await weavelm(["model", "pull", "ar://weavelm-demo", "--arns-cu", arnsCu, "--cache-dir", cache, "--json"])
            expect(pulled.code, pulled.stderr).toBe(0)
            expect(pulled.stdout).toBe(
                JSON.stringify({path: path.join(cache, "models", `${tiny.sha256}.gguf`), sha256: tiny.sha256}) + "\n"
            )

            const unknown = await weavelm(["model", "pull", "ar://no-such-model", "--cache-dir", cache, "--json"], {
                WEAVELM_ARNS_CU: arnsCu
            })
            expectOneLineError(unknown, /The ArNS name "no-such-model" is not registered/)
        } finally {
            cu.closeAllConnections()
            await new Promise<void>((resolve) => cu.close(() => resolve()))
        }
    })
})

describe("weavelm model on a mainnet devnet: signed data items through the bundler", () => {
    let net: TestDevnet
    let dir: string

    beforeAll(async () => {
        net = await startTestDevnet(MAINNET_PORT)
        dir = await mkdtemp(path.join(os.tmpdir(), "weavelm-model-bundler-"))
    })
    afterAll(async () => {
        await net?.dispose()
        if (dir) await rm(dir, {recursive: true, force: true})
    })

    const weavelm = (args: string[]) => runCli([...args, "--network", net.devnet.networkFile], {cwd: dir})

    it("publishes through the bundler, serves the item by id and GraphQL, and pulls back the same bytes", async () => {
        const file = path.join(dir, "small.gguf")
        await writeTestModel({preset: "small", seed: 3, path: file})
        const sha256 = await sha256File(file)
        const published = await weavelm(["model", "publish", file, "--name", "bundled-model", "--cache-dir", path.join(dir, "a"), "--json"])
        expect(published.code, published.stderr).toBe(0)
        const {modelId} = JSON.parse(published.stdout) as {modelId: string}
        expect(JSON.parse(published.stdout)).toEqual({modelId, sha256, name: "bundled-model"})

        const head = await fetch(`${net.devnet.network.gateway}/${modelId}`, {headers: {range: "bytes=0-3"}})
        expect(head.status).toBe(206)
        expect(Buffer.from(await head.arrayBuffer()).toString("latin1")).toBe("GGUF")
        const graphql = await fetch(`${net.devnet.network.gateway}/graphql`, {
            method: "POST",
            headers: {"content-type": "application/json"},
            body: JSON.stringify({
                query: `query { transactions(tags: [{name: "Type", values: ["Model"]}, {name: "SHA-256", values: ["${sha256}"]}]) { edges { node { id } } } }`
            })
        })
        const {data} = (await graphql.json()) as {data: {transactions: {edges: Array<{node: {id: string}}>}}}
        expect(data.transactions.edges.map((e) => e.node.id)).toEqual([modelId])

        const pulled = await weavelm(["model", "pull", "bundled-model", "--cache-dir", path.join(dir, "b"), "--json"])
        expect(pulled.code, pulled.stderr).toBe(0)
        expect((await readFile(JSON.parse(pulled.stdout).path)).equals(await readFile(file))).toBe(true)
    })

    it("refuses a file that is not GGUF before anything is sent", async () => {
        const notGguf = path.join(dir, "notes.txt")
        await writeFile(notGguf, "not weights\n".repeat(100))
        const refused = await weavelm(["model", "publish", notGguf, "--name", "notes", "--cache-dir", path.join(dir, "c"), "--json"])
        expectOneLineError(refused, /notes\.txt is not a readable GGUF model/)
        expect(await listDir(path.join(dir, "c", "uploads"))).toEqual([])
    })
})
