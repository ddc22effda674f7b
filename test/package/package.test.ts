import {execFile, spawn} from "node:child_process"
import {mkdtemp, readdir, rm, writeFile} from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import {fileURLToPath} from "node:url"
import {promisify} from "node:util"
import {afterAll, beforeAll, describe, expect, it} from "vitest"

const run = promisify(execFile)
const repository = fileURLToPath(new URL("../..", import.meta.url))
const npm = process.platform === "win32" ? "npm.cmd" : "npm"
const PORT = 5310

// What a user gets from `npm install weavelm`: the packed tarball installed into an empty project,
// used from plain Node and from TypeScript, never through this repository's tsx or sources.
describe("the npm package", {timeout: 600_000}, () => {
    let scratch: string
    let tarball: string
    let project: string

    beforeAll(async () => {
        scratch = await mkdtemp(path.join(os.tmpdir(), "weavelm-package-"))
        // npm pack runs the prepack build, so the tarball holds what the sources compile to now.
        await run(npm, ["pack", "--pack-destination", scratch, "--silent"], {cwd: repository, maxBuffer: 16 << 20})
        tarball = path.join(scratch, (await readdir(scratch)).find((name) => name.endsWith(".tgz"))!)
        project = path.join(scratch, "consumer")
        await run("mkdir", [project])
        await writeFile(path.join(project, "package.json"), JSON.stringify({name: "consumer", private: true, type: "module"}))
        // node-llama-cpp's prebuilt CPU and GPU binaries are optional dependencies for glibc (600 MB here);
        // nothing below loads a model, so --libc=musl leaves just them out and every other optional
        // dependency in (arbundles needs its optional ones on Node). With the binaries missing,
        // node-llama-cpp's install script would compile llama.cpp, and weavelm has none of its own.
        await run(npm, ["install", "--prefer-offline", "--libc=musl", "--ignore-scripts", "--no-audit", "--no-fund", tarball], {
            cwd: project,
            maxBuffer: 16 << 20
        })
    }, 600_000)

    afterAll(async () => {
        if (scratch != null) await rm(scratch, {recursive: true, force: true})
    })

    it("passes publint and arethetypeswrong", async () => {
        const linted = await run(process.execPath, [bin("publint"), "run", "--strict", tarball], {cwd: repository})
        expect(linted.stdout).toContain("All good")
        // ESM only: a require() of weavelm is not offered, so the CJS resolutions are not judged.
        await run(process.execPath, [bin("attw"), tarball, "--profile", "esm-only", "--format", "table-flipped"], {cwd: repository})
    })

    it("ships compiled JavaScript, declarations and the Lua processes, and no TypeScript sources", async () => {
        const {stdout} = await run("tar", ["tzf", tarball])
        const files = stdout.trim().split("\n")
        expect(files).toContain("package/dist/cli/bin.js")
        expect(files).toContain("package/dist/sdk/index.d.ts")
        expect(files).toContain("package/dist/processes/escrow.lua")
        expect(files).toContain("package/dist/processes/lib/client.lua")
        expect(files.filter((file) => file.endsWith(".ts") && !file.endsWith(".d.ts"))).toEqual([])
        expect(files.filter((file) => /^package\/(test|bench|scripts)\//.test(file))).toEqual([])
    })

    it("imports connectWeaveLM and DirectClient from plain Node ESM", async () => {
        const {stdout} = await run(
            process.execPath,
            [
                "--input-type=module",
                "-e",
                'import {connectWeaveLM, DirectClient} from "weavelm"; console.log(typeof connectWeaveLM, typeof DirectClient.create)'
            ],
            {cwd: project}
        )
        expect(stdout.trim()).toBe("function function")
    })

    it("type-checks the README's TypeScript against the shipped declarations", async () => {
        await writeFile(
            path.join(project, "consumer.ts"),
            [
                'import {connectWeaveLM, DirectClient} from "weavelm"',
                "",
                'const weavelm = await connectWeaveLM({network: "devnet"})',
                'await weavelm.deposit("1000000")',
                'const {output, taskId, fee, receiptTx, challengeDeadline} = await weavelm.infer({model: "tiny", prompt: "Hello", maxTokens: 32})',
                "console.log(output.length, taskId, fee, receiptTx, challengeDeadline)",
                'const client = await DirectClient.create({connection: weavelm.connection, model: "tiny", worker: "auto"})',
                'const answer = await client.complete("chat", {messages: [{role: "user", content: "Hello"}], max_tokens: 32})',
                "console.log(answer)",
                'for await (const chunk of client.stream("completions", {prompt: "Once upon a time", max_tokens: 32})) process.stdout.write(chunk.choices[0]?.text ?? "")',
                "await client.close()",
                "// @ts-expect-error: the shipped types know the options, so a misspelt one is an error",
                'await connectWeaveLM({netwrok: "devnet"})',
                ""
            ].join("\n")
        )
        await writeFile(
            path.join(project, "tsconfig.json"),
            JSON.stringify({
                compilerOptions: {
                    target: "ES2022",
                    module: "NodeNext",
                    moduleResolution: "NodeNext",
                    strict: true,
                    noEmit: true,
                    skipLibCheck: true,
                    types: ["node"],
                    typeRoots: [path.join(repository, "node_modules/@types")]
                },
                files: ["consumer.ts"]
            })
        )
        const checked = await run(process.execPath, [path.join(repository, "node_modules/typescript/bin/tsc"), "-p", project], {
            cwd: project
        }).catch((error: {stdout?: string}) => ({stdout: error.stdout ?? String(error), failed: true}))
        expect(checked.stdout).toBe("")
    })

    it("runs weavelm --help through npx", async () => {
        const {stdout} = await run(npm, ["exec", "--offline", "--", "weavelm", "--help"], {cwd: project})
        expect(stdout).toMatch(/^Usage: weavelm /)
        expect(stdout).toContain("devnet")
    })

    it("starts weavelm devnet --json from the installed package until its ready line", async () => {
        const dataDir = path.join(scratch, "devnet")
        const child = spawn(
            path.join(project, "node_modules/.bin/weavelm"),
            ["devnet", "--json", "--port", String(PORT), "--data-dir", dataDir],
            {cwd: project, stdio: ["ignore", "pipe", "pipe"]}
        )
        let stderr = ""
        child.stderr.on("data", (chunk) => (stderr += chunk))
        const exited = new Promise<number | null>((resolve) => child.on("close", resolve))
        const firstLine = await new Promise<string>((resolve, reject) => {
            let stdout = ""
            child.stdout.on("data", (chunk) => {
                stdout += chunk
                if (stdout.includes("\n")) resolve(stdout.slice(0, stdout.indexOf("\n")))
            })
            void exited.then((code) => reject(new Error(`weavelm devnet exited with ${code} before it was ready: ${stderr}`)))
        })
        child.kill("SIGTERM")
        expect(JSON.parse(firstLine)).toMatchObject({
            ready: true,
            mode: "mainnet",
            node: `http://localhost:${PORT + 2}`,
            processes: {token: expect.any(String), registry: expect.any(String), escrow: expect.any(String)}
        })
        expect(await exited).toBe(0)
    })
})

function bin(name: string): string {
    return path.join(repository, "node_modules/.bin", name)
}
