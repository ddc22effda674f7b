import {connect, createDataItemSigner} from "@permaweb/aoconnect"
import {mkdtemp, readFile, stat} from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import {afterAll, describe, expect, it} from "vitest"
import {runCli, startCli, type RunningCli} from "../harness/cli.ts"

interface Ready {
    ready: true
    gateway: string
    mu: string
    cu: string
    processes: {token: string, registry: string, escrow: string}
    wallet: string
}

// Each test file gets its own ports so files can run in parallel.
const PORT = 4600

describe("weavelm devnet", () => {
    let dataDir: string
    let devnet: RunningCli<Ready> | undefined

    afterAll(async () => {
        await devnet?.stop()
    })

    it("starts, deploys, and answers plain aoconnect over HTTP", async () => {
        dataDir = await mkdtemp(path.join(os.tmpdir(), "weavelm-devnet-"))
        devnet = await startCli<Ready>(["devnet", "--port", String(PORT), "--data-dir", dataDir, "--json"])
        const {ready} = devnet
        expect(Object.keys(ready).sort()).toEqual(["cu", "gateway", "mu", "processes", "ready", "wallet"])
        expect(ready.gateway).toBe(`http://localhost:${PORT}`)
        expect(ready.cu).toBe(`http://localhost:${PORT + 4}`)

        const walletFile = path.join(dataDir, "wallets", "dev.json")
        expect((await stat(walletFile)).mode & 0o777).toBe(0o600)
        const network = JSON.parse(await readFile(path.join(dataDir, "network.json"), "utf8"))
        expect(network.processes).toEqual(ready.processes)

        const ao = connect({MODE: "legacy", MU_URL: ready.mu, CU_URL: ready.cu, GATEWAY_URL: ready.gateway})
        const balance = await ao.dryrun({process: ready.processes.token, tags: [{name: "Action", value: "Balance"}, {name: "Recipient", value: ready.wallet}]})
        expect(balance.Messages[0].Tags.find((t: {name: string}) => t.name === "Balance").value).toBe("1000000000000000000")

        const jwk = JSON.parse(await readFile(walletFile, "utf8"))
        const signer = createDataItemSigner(jwk)
        const id = await ao.message({
            process: ready.processes.token, signer,
            tags: [{name: "Action", value: "Transfer"}, {name: "Recipient", value: ready.processes.escrow}, {name: "Quantity", value: "500"}, {name: "X-Action", value: "Deposit"}]
        })
        const result = await ao.result({process: ready.processes.token, message: id as string})
        expect(result.Messages.map((m: {Tags: Array<{name: string, value: string}>}) => m.Tags.find((t) => t.name === "Action")?.value)).toContain("Credit-Notice")
    })

    it("refuses a second devnet on the same ports", async () => {
        const second = await runCli(["devnet", "--port", String(PORT), "--data-dir", dataDir + "-other", "--json"])
        expect(second.code).toBe(1)
        expect(second.stderr.trim().split("\n")).toHaveLength(1)
        expect(second.stderr).toMatch(/in use/)
    })

    it("keeps state and process ids across a restart", async () => {
        const before = devnet!.ready
        expect(await devnet!.stop()).toBe(0)
        devnet = await startCli<Ready>(["devnet", "--port", String(PORT), "--data-dir", dataDir, "--json"])
        expect(devnet.ready.processes).toEqual(before.processes)
        expect(devnet.ready.wallet).toBe(before.wallet)

        const ao = connect({MODE: "legacy", MU_URL: devnet.ready.mu, CU_URL: devnet.ready.cu, GATEWAY_URL: devnet.ready.gateway})
        const balance = await ao.dryrun({process: before.processes.escrow, tags: [{name: "Action", value: "Balance"}, {name: "Recipient", value: before.wallet}]})
        expect(balance.Messages[0].Tags.find((t: {name: string}) => t.name === "Balance").value).toBe("500")
    })
})
