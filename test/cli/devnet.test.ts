import {connect, createDataItemSigner, createSigner} from "@permaweb/aoconnect"
import {mkdtemp, readFile, stat} from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import {afterAll, describe, expect, it} from "vitest"
import {runCli, startCli, type RunningCli} from "../harness/cli.ts"

interface Ready {
    ready: true
    mode: "mainnet" | "legacy"
    node: string | null
    gateway: string
    mu: string
    cu: string
    processes: {token: string; registry: string; escrow: string}
    wallet: string
}

type Tags = Array<{name: string; value: string}>
interface MainnetAo {
    dryrun(args: {process: string; tags: Tags}): Promise<{Messages: Array<{Tags: Tags}>}>
    message(args: {process: string; tags: Tags}): Promise<number>
    result(args: {process: string; slot: number}): Promise<{Messages: Array<{Tags: Tags}>}>
}

// Each test file gets its own ports so files can run in parallel.
const PORT = 4600

describe("weavelm devnet", () => {
    let dataDir: string
    let devnet: RunningCli<Ready> | undefined

    afterAll(async () => {
        await devnet?.stop()
    })

    it("starts in mainnet mode, deploys, and answers aoconnect's mainnet client over HTTP", async () => {
        dataDir = await mkdtemp(path.join(os.tmpdir(), "weavelm-devnet-"))
        devnet = await startCli<Ready>(["devnet", "--port", String(PORT), "--data-dir", dataDir, "--json"])
        const {ready} = devnet
        expect(Object.keys(ready).sort()).toEqual(["cu", "gateway", "mode", "mu", "node", "processes", "ready", "wallet"])
        expect(ready).toMatchObject({mode: "mainnet", node: `http://localhost:${PORT + 2}`, gateway: `http://localhost:${PORT}`})
        expect(ready.cu).toBe(`http://localhost:${PORT + 4}`)

        const walletFile = path.join(dataDir, "wallets", "dev.json")
        expect((await stat(walletFile)).mode & 0o777).toBe(0o600)
        const network = JSON.parse(await readFile(path.join(dataDir, "network.json"), "utf8"))
        expect(network).toMatchObject({
            mode: "mainnet",
            node: ready.node,
            bundler: `http://localhost:${PORT + 1}`,
            processes: ready.processes
        })

        const jwk = JSON.parse(await readFile(walletFile, "utf8"))
        const ao = connect({
            MODE: "mainnet",
            URL: ready.node!,
            SCHEDULER: network.scheduler,
            signer: createSigner(jwk)
        } as never) as unknown as MainnetAo
        const balance = await ao.dryrun({
            process: ready.processes.token,
            tags: [
                {name: "Action", value: "Balance"},
                {name: "Recipient", value: ready.wallet}
            ]
        })
        expect(balance.Messages[0]!.Tags.find((t) => t.name === "Balance")!.value).toBe("1000000000000000000")

        const slot = await ao.message({
            process: ready.processes.token,
            tags: [
                {name: "Action", value: "Transfer"},
                {name: "Recipient", value: ready.processes.escrow},
                {name: "Quantity", value: "500"},
                {name: "X-Action", value: "Deposit"}
            ]
        })
        const result = await ao.result({process: ready.processes.token, slot})
        expect(result.Messages.map((m) => m.Tags.find((t) => t.name === "Action")?.value)).toContain("Credit-Notice")
    })

    it("refuses a second devnet on the same ports", async () => {
        const second = await runCli(["devnet", "--port", String(PORT), "--data-dir", dataDir + "-other", "--json"])
        expect(second.code).toBe(1)
        expect(second.stderr.trim().split("\n")).toHaveLength(1)
        expect(second.stderr).toMatch(/in use/)
    })

    it("keeps state and process ids across a restart, also into legacy mode, which answers aoconnect's legacy client", async () => {
        const before = devnet!.ready
        expect(await devnet!.stop()).toBe(0)
        devnet = await startCli<Ready>(["devnet", "--port", String(PORT), "--data-dir", dataDir, "--mode", "legacy", "--json"])
        expect(devnet.ready).toMatchObject({mode: "legacy", node: null, processes: before.processes, wallet: before.wallet})

        const ao = connect({MODE: "legacy", MU_URL: devnet.ready.mu, CU_URL: devnet.ready.cu, GATEWAY_URL: devnet.ready.gateway})
        const balance = await ao.dryrun({
            process: before.processes.escrow,
            tags: [
                {name: "Action", value: "Balance"},
                {name: "Recipient", value: before.wallet}
            ]
        })
        expect(balance.Messages[0].Tags.find((t: {name: string}) => t.name === "Balance").value).toBe("500")

        const jwk = JSON.parse(await readFile(path.join(dataDir, "wallets", "dev.json"), "utf8"))
        const id = await ao.message({
            process: before.processes.token,
            signer: createDataItemSigner(jwk),
            tags: [
                {name: "Action", value: "Transfer"},
                {name: "Recipient", value: before.processes.escrow},
                {name: "Quantity", value: "5"},
                {name: "X-Action", value: "Deposit"}
            ]
        })
        const result = await ao.result({process: before.processes.token, message: id as string})
        expect(
            result.Messages.map((m: {Tags: Array<{name: string; value: string}>}) => m.Tags.find((t) => t.name === "Action")?.value)
        ).toContain("Credit-Notice")
    })
})
