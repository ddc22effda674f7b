import {mkdtemp, rm, writeFile} from "node:fs/promises"
import http from "node:http"
import type {AddressInfo} from "node:net"
import os from "node:os"
import path from "node:path"
import {afterAll, beforeAll, describe, expect, it} from "vitest"
import {MAINNET_NETWORK, resolveNetwork} from "../../sdk/network/index.ts"
import {generateWallet, writeWallet} from "../../sdk/wallet/index.ts"
import {runCli} from "../harness/cli.ts"

const ID = "a".repeat(43)

/** A network file whose nodes are `nodes`, with weavelm "deployed" at made-up ids. */
function mainnetFile(nodes: string, extra: Record<string, unknown> = {}) {
    return JSON.stringify({...MAINNET_NETWORK, name: "test", node: nodes, processes: {token: ID, registry: ID, escrow: ID}, ...extra})
}

describe("networks as configuration", () => {
    let dir: string
    let wallet: string
    let failing: http.Server
    let failingUrl: string
    let deadUrl: string

    beforeAll(async () => {
        dir = await mkdtemp(path.join(os.tmpdir(), "weavelm-networks-"))
        wallet = path.join(dir, "wallet.json")
        await writeWallet(wallet, await generateWallet())
        failing = http.createServer((_, response) => response.writeHead(503).end("overloaded"))
        await new Promise<void>((resolve) => failing.listen(0, "127.0.0.1", resolve))
        failingUrl = `http://127.0.0.1:${(failing.address() as AddressInfo).port}`
        const closed = http.createServer()
        await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve))
        deadUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`
        await new Promise((resolve) => closed.close(resolve))
    })
    afterAll(async () => {
        failing?.close()
        await rm(dir, {recursive: true, force: true})
    })

    it("knows mainnet by name, with aos's node and scheduler", async () => {
        const config = await resolveNetwork("mainnet", {cwd: dir})
        expect(config).toMatchObject({
            mode: "mainnet",
            node: "https://push.forward.computer",
            scheduler: "n_XZJhUnmldNFo4dhajoPZWhBXuJk-OcQr5JQ49c4Zo"
        })
    })

    it("lets flags and WEAVELM_* variables point a network elsewhere, and refuses one that does not fit its mode", async () => {
        const config = await resolveNetwork("mainnet", {
            cwd: dir,
            overrides: {node: "http://a.test,http://b.test", bundler: "http://up.test"}
        })
        expect(config).toMatchObject({node: "http://a.test,http://b.test", bundler: "http://up.test"})
        await expect(resolveNetwork("mainnet", {cwd: dir, overrides: {mu: "http://mu.test"}})).rejects.toThrow(/--mu .*legacy networks/)
        const env = await runCli(["wallet", "balance", "--network", "mainnet", "--wallet", wallet], {
            cwd: dir,
            env: {WEAVELM_NODE: "not a url"}
        })
        expect(env.code).toBe(1)
        expect(env.stderr).toMatch(/^error: .*node: must be a URL/)
    })

    it("names the missing or malformed field of a network file", async () => {
        const missing = path.join(dir, "missing.json")
        const {node: _, ...withoutNode} = JSON.parse(mainnetFile(deadUrl)) as Record<string, unknown>
        await writeFile(missing, JSON.stringify(withoutNode))
        const a = await runCli(["wallet", "balance", "--network", missing, "--wallet", wallet], {cwd: dir})
        expect(a.code).toBe(1)
        expect(a.stderr.trim().split("\n")).toHaveLength(1)
        expect(a.stderr).toMatch(/invalid: node: missing/)

        const malformed = path.join(dir, "malformed.json")
        await writeFile(malformed, mainnetFile(deadUrl, {scheduler: "short", mode: "mainnet"}))
        const b = await runCli(["wallet", "balance", "--network", malformed, "--wallet", wallet], {cwd: dir})
        expect(b.code).toBe(1)
        expect(b.stderr).toMatch(/scheduler: must be a 43-character address/)

        const unknownMode = path.join(dir, "mode.json")
        await writeFile(unknownMode, mainnetFile(deadUrl, {mode: "testnet"}))
        const c = await runCli(["wallet", "balance", "--network", unknownMode, "--wallet", wallet], {cwd: dir})
        expect(c.code).toBe(1)
        expect(c.stderr).toMatch(/mode/)
    })

    it("says how to make a wallet when mainnet has none", async () => {
        const {code, stderr} = await runCli(["wallet", "balance", "--network", "mainnet"], {cwd: dir, env: {WEAVELM_WALLET: ""}})
        expect(code).toBe(1)
        expect(stderr).toMatch(/names no default wallet.*weavelm wallet create/)
    })

    it("tries every node in order and, when none answers, says so in one line with exit 3", async () => {
        const file = path.join(dir, "down.json")
        await writeFile(file, mainnetFile(`${deadUrl},${failingUrl}`))
        const {code, stderr} = await runCli(["wallet", "balance", "--network", file, "--wallet", wallet], {cwd: dir})
        expect(code).toBe(3)
        expect(stderr.trim().split("\n")).toHaveLength(1)
        expect(stderr).toContain(deadUrl)
        expect(stderr).toContain(failingUrl)
        expect(stderr).toMatch(/^error: No AO node answered .*HTTP 503/)
    })
})
