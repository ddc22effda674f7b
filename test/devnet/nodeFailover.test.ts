import {mkdtemp, rm} from "node:fs/promises"
import http from "node:http"
import type {AddressInfo} from "node:net"
import os from "node:os"
import path from "node:path"
import {afterAll, beforeAll, describe, expect, it} from "vitest"
import {Devnet} from "../../devnet/index.ts"
import {EscrowClient} from "../../sdk/escrow/index.ts"
import {connectNetwork, type MainnetNetwork} from "../../sdk/network/index.ts"
import {TokenClient} from "../../sdk/token/index.ts"
import {readWallet} from "../../sdk/wallet/index.ts"

const PORT = 5270

/** A node that is up but failing: every request answers 502, and is counted. */
function failingNode() {
    let hits = 0
    const server = http.createServer((request, response) => {
        hits++
        request.resume()
        response.writeHead(502).end("bad gateway")
    })
    return {server, hits: () => hits}
}

describe("a network whose first nodes are down or failing", () => {
    let devnet: Devnet
    let dataDir: string
    const failing = failingNode()
    let deadUrl: string

    beforeAll(async () => {
        dataDir = await mkdtemp(path.join(os.tmpdir(), "weavelm-test-failover-"))
        devnet = await Devnet.start({port: PORT, dataDir})
        await new Promise<void>((resolve) => failing.server.listen(0, "127.0.0.1", resolve))
        const closed = http.createServer()
        await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve))
        deadUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`
        await new Promise((resolve) => closed.close(resolve))
    })
    afterAll(async () => {
        failing.server.close()
        await devnet?.dispose()
        await rm(dataDir, {recursive: true, force: true})
    })

    it("reads, sends and reads published state through the next node, once", async () => {
        const network = devnet.network as MainnetNetwork
        const failingUrl = `http://127.0.0.1:${(failing.server.address() as AddressInfo).port}`
        const dev = connectNetwork(
            {...network, node: `${deadUrl},${failingUrl},${network.node}`},
            await readWallet(path.join(dataDir, "wallets", "dev.json"))
        )
        const token = new TokenClient(dev.ao, devnet.processes.token)
        const escrow = new EscrowClient(dev.ao, devnet.processes)

        const before = await token.balance()
        const slot = async () => Number(await (await fetch(`${network.node}/${devnet.processes.escrow}/slot/current`)).text())
        const escrowSlot = await slot()
        const from = await escrow.inboxCursor()
        await escrow.deposit("250")
        expect(BigInt(before) - BigInt(await token.balance())).toBe(250n)
        // The token's Credit-Notice is the one message the escrow got: the deposit was sent once.
        expect(await slot()).toBe(escrowSlot + 1)
        const notice = await escrow.inbox({from, signal: AbortSignal.timeout(30_000)}).next()
        expect(notice.value).toMatchObject({tags: {Action: "Deposit-Notice", Quantity: "250"}})
        expect(failing.hits()).toBeGreaterThanOrEqual(4)
    })
})
