import {spawn, type ChildProcess} from "node:child_process"
import {fileURLToPath} from "node:url"

export const weavelmBin = fileURLToPath(new URL("../../scripts/weavelm.mjs", import.meta.url))

export interface CliResult {
    code: number | null
    stdout: string
    stderr: string
}

/** Runs `weavelm ...args` to completion, as a user's shell would. */
export function runCli(args: string[], {cwd, env}: {cwd?: string; env?: NodeJS.ProcessEnv} = {}): Promise<CliResult> {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [weavelmBin, ...args], {cwd, env: {...process.env, ...env}})
        let stdout = "",
            stderr = ""
        child.stdout.on("data", (chunk) => (stdout += chunk))
        child.stderr.on("data", (chunk) => (stderr += chunk))
        child.on("error", reject)
        child.on("close", (code) => resolve({code, stdout, stderr}))
    })
}

/** A long-running `weavelm` command (the devnet, a worker) and the first JSON line it printed. */
export interface RunningCli<T> {
    child: ChildProcess
    ready: T
    /** Sends SIGTERM and resolves with the exit code. */
    stop(): Promise<number | null>
}

/** Starts `weavelm ...args --json` and waits for its first stdout line, parsed as JSON. */
export function startCli<T>(args: string[], {cwd, timeoutMs = 120_000}: {cwd?: string; timeoutMs?: number} = {}): Promise<RunningCli<T>> {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [weavelmBin, ...args], {cwd, stdio: ["ignore", "pipe", "pipe"]})
        let stdout = "",
            stderr = ""
        const timer = setTimeout(() => {
            child.kill("SIGKILL")
            reject(new Error(`weavelm ${args.join(" ")} was not ready in ${timeoutMs} ms\n${stderr}`))
        }, timeoutMs)
        const exited = new Promise<number | null>((res) => child.on("close", res))
        child.stderr.on("data", (chunk) => (stderr += chunk))
        child.stdout.on("data", (chunk) => {
            stdout += chunk
            const newline = stdout.indexOf("\n")
            if (newline < 0) return
            clearTimeout(timer)
            try {
                const ready = JSON.parse(stdout.slice(0, newline)) as T
                resolve({
                    child,
                    ready,
                    async stop() {
                        child.kill("SIGTERM")
                        return await exited
                    }
                })
            } catch {
                reject(new Error(`weavelm printed a non-JSON line: ${stdout}\n${stderr}`))
            }
        })
        void exited.then((code) => {
            clearTimeout(timer)
            reject(new Error(`weavelm ${args.join(" ")} exited with ${code} before it was ready\n${stderr}`))
        })
    })
}
