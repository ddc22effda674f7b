import {spawn, type ChildProcess} from "node:child_process"
import {weavelmBin} from "./cli.ts"

/** A `weavelm worker start --json` child process and the log events it printed. */
export interface WorkerProcess {
    child: ChildProcess
    address: string
    events: Array<{event: string; taskId?: string; [field: string]: unknown}>
    kill(signal?: NodeJS.Signals): Promise<number | null>
}

/** Starts a worker as a user would and resolves once it logs `worker.ready`. */
export function startWorkerCli(args: string[], {timeoutMs = 120_000}: {timeoutMs?: number} = {}): Promise<WorkerProcess> {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [weavelmBin, "worker", "start", "--json", ...args], {stdio: ["ignore", "pipe", "pipe"]})
        const events: WorkerProcess["events"] = []
        let buffered = "",
            stderr = ""
        const exited = new Promise<number | null>((res) => child.on("close", (code, signal) => res(code ?? (signal ? 128 : null))))
        const timer = setTimeout(() => {
            child.kill("SIGKILL")
            reject(new Error(`worker not ready in ${timeoutMs} ms\n${stderr}`))
        }, timeoutMs)
        child.stderr.on("data", (chunk) => (stderr += chunk))
        child.stdout.on("data", (chunk) => {
            buffered += chunk
            let newline: number
            while ((newline = buffered.indexOf("\n")) >= 0) {
                const line = buffered.slice(0, newline)
                buffered = buffered.slice(newline + 1)
                const event = JSON.parse(line) as WorkerProcess["events"][number]
                events.push(event)
                if (event.event === "worker.ready") {
                    clearTimeout(timer)
                    resolve({
                        child,
                        events,
                        address: String(event.message).split(" ")[1]!,
                        async kill(signal = "SIGTERM") {
                            child.kill(signal)
                            return await exited
                        }
                    })
                }
            }
        })
        void exited.then((code) => {
            clearTimeout(timer)
            reject(new Error(`worker exited with ${code} before it was ready\n${stderr}`))
        })
    })
}
