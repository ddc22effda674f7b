import {mkdtemp, rm, writeFile} from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import {afterAll, beforeAll, describe, expect, it} from "vitest"
import {inspectModel, sha256File, writeTestModel} from "../../model-publisher/index.ts"
import {runCli} from "../harness/cli.ts"

// No devnet: `model convert` works on local files only.

let dir: string
let tiny: string
beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "weavelm-cli-convert-"))
    tiny = (await writeTestModel({preset: "tiny", seed: 2, path: path.join(dir, "tiny.gguf")})).path
})
afterAll(async () => {
    await rm(dir, {recursive: true, force: true})
})

describe("weavelm model convert", () => {
    it("prints the converted file's path, type, size and hash as JSON", async () => {
        const output = path.join(dir, "tiny-q4_0.gguf")
        const result = await runCli(["model", "convert", tiny, "--type", "q4_0", "-o", output, "--json"])
        expect(result.code, result.stderr).toBe(0)
        const summary = await inspectModel(output)
        const sha256 = await sha256File(output)
        expect(result.stdout).toBe(JSON.stringify({path: output, type: "q4_0", sizeBytes: summary.sizeBytes, sha256}) + "\n")
        expect(summary.fileTypeName).toBe("MOSTLY_Q4_0")
    })

    it("says in words which matrices fell back to another type", async () => {
        const output = path.join(dir, "tiny-q4_K.gguf")
        const result = await runCli(["model", "convert", tiny, "--type", "q4_K", "-o", output])
        expect(result.code, result.stderr).toBe(0)
        expect(result.stdout).toMatch(/^wrote .*tiny-q4_K\.gguf: q4_K, \d+ bytes, sha256 [0-9a-f]{64}\n16 matrices stored as q5_0: /)
        expect((await inspectModel(output)).fileTypeName).toBe("MOSTLY_Q4_K_S")
    })

    it("exits 1 with one line for input it cannot read, and 2 for a missing or unknown --type", async () => {
        const notGguf = path.join(dir, "notes.gguf")
        await writeFile(notGguf, "not a model\n")
        const output = path.join(dir, "out.gguf")
        const missing = path.join(dir, "missing.gguf")
        const cases = [
            [["model", "convert", missing, "--type", "f16", "-o", output], 1, /^error: No such file: .*missing\.gguf\n$/],
            [["model", "convert", notGguf, "--type", "f16", "-o", output], 1, /^error: .*notes\.gguf is not a readable GGUF file: .*\n$/],
            [["model", "convert", tiny, "--type", "f16", "-o", path.join(tiny, "out.gguf")], 1, /^error: cannot write [^\n]*\n$/],
            [["model", "convert", tiny, "-o", output], 2, /--type/],
            [["model", "convert", tiny, "--type", "q3_K", "-o", output], 2, /q3_K/]
        ] as const
        const results = await Promise.all(cases.map(([args]) => runCli([...args])))
        results.forEach((result, i) => {
            const [, code, stderr] = cases[i]!
            expect(result.code, result.stderr).toBe(code)
            expect(result.stderr).toMatch(stderr)
            expect(result.stdout).toBe("")
        })
    })
})
