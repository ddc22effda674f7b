import {mkdtemp, readdir, readFile, rm} from "node:fs/promises"
import {tmpdir} from "node:os"
import {join} from "node:path"
import {readGgufFileInfo} from "node-llama-cpp"
import {afterAll, beforeAll, describe, expect, it} from "vitest"
import {writeGguf, type GgufTensor} from "../../model-publisher/testModel/ggufWriter.ts"

let dir: string
beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "weavelm-gguf-"))
})
afterAll(async () => {
    await rm(dir, {recursive: true, force: true})
})

const tensor = (name: string, dims: number[], bytes: Uint8Array, byteLength = bytes.length): GgufTensor => ({
    name,
    dims,
    ggmlType: 0,
    byteLength,
    *data() {
        yield bytes
    }
})

describe("writeGguf", () => {
    it("writes metadata and tensor infos that node-llama-cpp reads back, data aligned", async () => {
        const path = join(dir, "file.gguf")
        const first = new Uint8Array(new Float32Array([1, 2, 3]).buffer)
        const second = new Uint8Array(new Float32Array([4, 5, 6, 7, 8, 9]).buffer)
        const progress: number[] = []
        await writeGguf(
            path,
            {
                metadata: [
                    ["general.architecture", {type: "string", value: "llama"}],
                    ["test.count", {type: "u32", value: 7}],
                    ["test.ratio", {type: "f32", value: 0.5}],
                    ["test.flag", {type: "bool", value: true}],
                    ["test.words", {type: "string[]", value: ["a", "\u2581b"]}],
                    ["test.floats", {type: "f32[]", value: [1.5, -2]}],
                    ["test.ints", {type: "i32[]", value: [-1, 3]}]
                ],
                tensors: [tensor("first", [3], first), tensor("second", [3, 2], second)]
            },
            ({bytesWritten, totalBytes}) => {
                expect(bytesWritten).toBeLessThanOrEqual(totalBytes)
                progress.push(bytesWritten)
            }
        )
        const info = await readGgufFileInfo(path, {logWarnings: false})
        const metadata = info.metadata as unknown as Record<string, Record<string, unknown>>
        expect(info.version).toBe(3)
        expect(metadata.test).toEqual({count: 7, ratio: 0.5, flag: true, words: ["a", "\u2581b"], floats: [1.5, -2], ints: [-1, 3]})
        expect(metadata.general).toEqual({architecture: "llama", alignment: 32})
        const infos = info.tensorInfo ?? []
        expect(infos.map((t) => [t.name, t.dimensions.map(Number), Number(t.offset)])).toEqual([
            ["first", [3], 0],
            ["second", [3, 2], 32]
        ])
        const file = await readFile(path)
        for (const t of infos) expect(Number(t.fileOffset) % 32).toBe(0)
        const secondOffset = Number(infos[1]!.fileOffset)
        expect(new Float32Array(file.buffer.slice(file.byteOffset + secondOffset, file.byteOffset + secondOffset + 24))).toEqual(
            new Float32Array([4, 5, 6, 7, 8, 9])
        )
        expect(file.length).toBe(secondOffset + 32)
        expect(progress.at(-1)).toBe(file.length)
    })

    it("fails on a tensor that yields fewer bytes than declared and leaves no file behind", async () => {
        const path = join(dir, "broken.gguf")
        const bytes = new Uint8Array(8)
        await expect(writeGguf(path, {metadata: [], tensors: [tensor("short", [4], bytes, 16)]})).rejects.toThrow(
            /produced 8 bytes, declared 16/
        )
        expect((await readdir(dir)).filter((name) => name.startsWith("broken"))).toEqual([])
    })
})
