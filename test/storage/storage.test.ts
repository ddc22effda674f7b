import {createHash, randomBytes} from "node:crypto"
import {mkdtemp, readdir, readFile, stat, writeFile} from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import {afterAll, beforeAll, describe, expect, it} from "vitest"
import {ArweaveChunkedStorage, chunkBoundaries, downloadFile, GatewayError} from "../../sdk/storage/index.ts"
import {chunkData} from "arweave/node/lib/merkle.js"
import {startTestDevnet, type TestDevnet} from "../harness/devnet.ts"

const PORT = 4620
const KiB = 1024

describe("Arweave storage on the devnet", () => {
    let net: TestDevnet
    let dir: string
    let storage: ArweaveChunkedStorage

    beforeAll(async () => {
        net = await startTestDevnet(PORT)
        dir = await mkdtemp(path.join(os.tmpdir(), "weavelm-storage-"))
        storage = new ArweaveChunkedStorage({
            arweave: net.connection.arweave,
            wallet: net.connection.wallet,
            stateDir: path.join(dir, "uploads")
        })
    })
    afterAll(async () => await net?.dispose())

    const sha256 = async (file: string) =>
        createHash("sha256")
            .update(await readFile(file))
            .digest("hex")

    it("draws chunk boundaries exactly as arweave-js does", async () => {
        for (const size of [1, 32 * KiB, 256 * KiB, 256 * KiB + 1, 256 * KiB + 32 * KiB - 1, 512 * KiB + 100, 3 * 256 * KiB + 40 * KiB]) {
            const expected = (await chunkData(new Uint8Array(size))).filter((c) => c.maxByteRange > c.minByteRange)
            expect(chunkBoundaries(size), `size ${size}`).toEqual(expected.map((c) => [c.minByteRange, c.maxByteRange]))
        }
    })

    it("round-trips a file whose 256 KiB chunks repeat, byte for byte", async () => {
        const file = path.join(dir, "zeros.bin")
        // Mostly zero-filled chunks, like untrained tensors, with a distinct head and tail.
        await writeFile(file, Buffer.concat([randomBytes(1000), Buffer.alloc(6 * 256 * KiB), randomBytes(777)]))
        const {id, chunksTotal} = await storage.uploadFile({file, tags: [{name: "Content-Type", value: "application/octet-stream"}]})
        expect(chunksTotal).toBe(7)
        const copy = path.join(dir, "zeros.copy")
        await downloadFile({gateway: net.connection.config.gateway, id, destination: copy})
        expect(await sha256(copy)).toBe(await sha256(file))
    })

    it("resumes an interrupted upload without re-sending confirmed chunks", async () => {
        const file = path.join(dir, "random.bin")
        await writeFile(file, randomBytes(10 * 256 * KiB + 12345))
        const tags = [{name: "App-Name", value: "weavelm-test"}]
        const interrupted = storage.uploadFile({
            file,
            tags,
            onProgress: ({bytes}) => {
                if (bytes >= 4 * 256 * KiB) throw new Error("simulated crash")
            }
        })
        await expect(interrupted).rejects.toThrow("simulated crash")
        expect(await readdir(path.join(dir, "uploads"))).toHaveLength(1)

        const resumed = await storage.uploadFile({file, tags})
        expect(resumed.chunksTotal).toBe(11)
        expect(resumed.chunksSent).toBe(7)
        expect(await readdir(path.join(dir, "uploads"))).toHaveLength(0)

        const copy = path.join(dir, "random.copy")
        await downloadFile({gateway: net.connection.config.gateway, id: resumed.id, destination: copy})
        expect(await sha256(copy)).toBe(await sha256(file))
    })

    it("resumes a partial download with an HTTP Range request", async () => {
        const file = path.join(dir, "partial.bin")
        await writeFile(file, randomBytes(3 * 256 * KiB))
        const {id} = await storage.uploadFile({file, tags: []})
        const copy = path.join(dir, "partial.copy")
        await writeFile(copy, (await readFile(file)).subarray(0, 300 * KiB))
        const seen: number[] = []
        await downloadFile({gateway: net.connection.config.gateway, id, destination: copy, onProgress: (p) => seen.push(p.resumedFrom)})
        expect(seen.every((from) => from === 300 * KiB)).toBe(true)
        expect((await stat(copy)).size).toBe(3 * 256 * KiB)
        expect(await sha256(copy)).toBe(await sha256(file))
    })

    it("reports an unknown transaction and an unreachable gateway clearly", async () => {
        await expect(
            downloadFile({gateway: net.connection.config.gateway, id: "x".repeat(43), destination: path.join(dir, "none")})
        ).rejects.toThrow(/not found/)
        const down = downloadFile({
            gateway: "http://localhost:1",
            id: "x".repeat(43),
            destination: path.join(dir, "none"),
            retry: {attempts: 3, initialDelayMs: 10}
        })
        await expect(down).rejects.toBeInstanceOf(GatewayError)
        await expect(down).rejects.toThrow(/after 3 attempts/)
    })
})
