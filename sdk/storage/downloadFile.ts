import {createWriteStream} from "node:fs"
import {stat, truncate} from "node:fs/promises"
import {Readable, Writable} from "node:stream"
import {pipeline} from "node:stream/promises"
import {GatewayError, withRetry, type RetryOptions} from "./retry.ts"
import type {TransferProgress} from "./types.ts"

export interface DownloadFileOptions {
    gateway: string
    id: string
    /** File to write; bytes already in it are kept and the rest is asked for with an HTTP Range. */
    destination: string
    onProgress?: (progress: TransferProgress) => void
    retry?: RetryOptions
}

/**
 * Downloads a transaction's data to a file, resuming from the bytes already
 * there with `Range: bytes=N-`. A gateway that ignores Range (answers 200)
 * gets the file rewritten from the start.
 */
export async function downloadFile({
    gateway,
    id,
    destination,
    onProgress = () => {},
    retry
}: DownloadFileOptions): Promise<{bytes: number}> {
    const url = `${gateway.replace(/\/$/, "")}/${id}`
    let resumedFrom: number | null = null
    return await withRetry(
        `Downloading ${id}`,
        async () => {
            const have = await stat(destination).then(
                (s) => s.size,
                () => 0
            )
            resumedFrom ??= have
            const response = await fetch(url, {headers: have > 0 ? {Range: `bytes=${have}-`} : {}})
            if (response.status === 404) throw new GatewayError(`${id} was not found on ${gateway}`)
            if (response.status === 416) return {bytes: have}
            if (response.status !== 200 && response.status !== 206) throw new Error(`HTTP ${response.status} from ${url}`)
            if (response.body == null) throw new Error(`Empty response from ${url}`)

            const start = response.status === 206 ? have : 0
            if (start === 0 && have > 0) await truncate(destination, 0)
            const length = Number(response.headers.get("content-length") ?? NaN)
            const total = Number.isFinite(length) ? start + length : NaN
            let bytes = start
            const counter = new Writable({
                write(chunk: Buffer, _encoding, done) {
                    bytes += chunk.length
                    onProgress({bytes, total, resumedFrom: resumedFrom ?? 0})
                    done()
                }
            })
            const file = createWriteStream(destination, {flags: start > 0 ? "a" : "w"})
            const body = Readable.fromWeb(response.body as never)
            body.on("data", (chunk: Buffer) => counter.write(chunk))
            await pipeline(body, file)
            if (Number.isFinite(total) && bytes < total) throw new Error(`Connection closed at ${bytes} of ${total} bytes`)
            return {bytes}
        },
        retry
    )
}
