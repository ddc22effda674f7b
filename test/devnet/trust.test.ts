import {connect, createDataItemSigner} from "@permaweb/aoconnect"
import {mkdtemp, readFile, rm} from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import {afterAll, beforeAll, describe, expect, it} from "vitest"
import {Devnet, type DevnetMode} from "../../devnet/index.ts"
import {AOS_MODULE, type MainnetNetwork} from "../../sdk/network/index.ts"
import {generateWallet, readWallet, walletAddress, type ArweaveJwk} from "../../sdk/wallet/index.ts"
import {MESSAGE_FIELDS, mainnetAo, tags, tagValue, type Evaluation, type MainnetAo, type Tag} from "./clients.ts"

// Each test file gets its own ports so files can run in parallel.
const MAINNET_PORT = 5230
const LEGACY_PORT = 5250

const DEPOSIT = "500"
const STAKE = "1000"

/** A devnet where the dev wallet has deposited in the escrow and staked in the registry, and a fresh wallet with nothing. */
interface World {
    devnet: Devnet
    dataDir: string
    dev: ArweaveJwk
    fresh: ArweaveJwk
    freshAddress: string
}

async function startWorld(port: number, mode: DevnetMode): Promise<World> {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), `weavelm-test-trust-${mode}-`))
    const devnet = await Devnet.start({port, dataDir, mode})
    const fresh = await generateWallet()
    return {devnet, dataDir, dev: await readWallet(path.join(dataDir, "wallets", "dev.json")), fresh, freshAddress: walletAddress(fresh)}
}

/** Everything a forgery could change, read with dry runs, and the slot each process is at. */
async function ledger({devnet, freshAddress}: World, dryrun: (process: string, tags: Tag[]) => Promise<Evaluation>) {
    const {token, registry, escrow} = devnet.processes
    const read = async (process: string, readTags: Tag[]) => (await dryrun(process, readTags)).Messages[0]
    const slot = async (process: string) => await (await fetch(`${devnet.legacyUnits.mu}/${process}/slot/current`)).text()
    return {
        deposit: tagValue(await read(escrow, tags({Action: "Balance", Recipient: devnet.walletAddress})), "Balance"),
        devTokens: tagValue(await read(token, tags({Action: "Balance", Recipient: devnet.walletAddress})), "Balance"),
        freshTokens: tagValue(await read(token, tags({Action: "Balance", Recipient: freshAddress})), "Balance"),
        stake: JSON.parse((await read(registry, tags({Action: "Worker", Address: devnet.walletAddress})))!.Data!).stake,
        slots: [await slot(token), await slot(registry), await slot(escrow)]
    }
}

const transfer = (recipient: string, quantity: string, action: string) =>
    tags({Action: "Transfer", Recipient: recipient, Quantity: quantity, "X-Action": action})

describe("the node's trust rules on a mainnet devnet, over aoconnect's mainnet mode", () => {
    let world: World
    let dev: MainnetAo
    let fresh: MainnetAo
    const state = () => ledger(world, (process, readTags) => dev.dryrun({process, tags: readTags}))
    /** A fresh wallet's push that claims to speak for a process: the node's answer. */
    const forge = async (process: string, fields: Record<string, string>) => {
        const route = `/${process}~process@1.0/push`
        const response = await fresh.request({path: route, target: process, data: "1984", ...fields, ...MESSAGE_FIELDS})
        return {status: response.status, body: (await response.json()) as {error?: string}}
    }

    beforeAll(async () => {
        world = await startWorld(MAINNET_PORT, "mainnet")
        const network = world.devnet.network as MainnetNetwork
        dev = mainnetAo(network.node, network.scheduler, world.dev)
        fresh = mainnetAo(network.node, network.scheduler, world.fresh)
        const {token, registry, escrow} = world.devnet.processes
        await dev.message({process: token, tags: transfer(escrow, DEPOSIT, "Deposit")})
        await dev.message({process: token, tags: transfer(registry, STAKE, "Stake")})
    })

    afterAll(async () => {
        await world?.devnet.dispose()
        await rm(world?.dataDir, {recursive: true, force: true})
    })

    it("has the dev wallet's deposit and stake in place", async () => {
        expect(await state()).toMatchObject({deposit: DEPOSIT, stake: STAKE, freshTokens: "0"})
    })

    it("refuses a wallet withdrawing another's deposit (From-Process: the depositor)", async () => {
        const before = await state()
        const {escrow} = world.devnet.processes
        const forged = await forge(escrow, {Action: "Withdraw", Quantity: DEPOSIT, "From-Process": world.devnet.walletAddress})
        expect(forged).toEqual({status: 400, body: {error: expect.stringMatching(/may not send "From-Process"/)}})
        expect(await state()).toEqual(before)
    })

    it("refuses a wallet slashing as the escrow (From-Process: the escrow)", async () => {
        const {registry, escrow} = world.devnet.processes
        const before = await state()
        const forged = await forge(registry, {
            Action: "Slash",
            Worker: world.devnet.walletAddress,
            Quantity: STAKE,
            "Task-Id": escrow,
            Recipient: world.freshAddress,
            "From-Process": escrow
        })
        expect(forged.status).toBe(400)
        expect(await state()).toEqual(before)
    })

    it("refuses a wallet transferring another wallet's tokens (From-Process: that wallet)", async () => {
        const before = await state()
        const forged = await forge(world.devnet.processes.token, {
            Action: "Transfer",
            Recipient: world.freshAddress,
            Quantity: "1000",
            "From-Process": world.devnet.walletAddress
        })
        expect(forged.status).toBe(400)
        expect(await state()).toEqual(before)
    })

    it("refuses From-Module and Pushed-For too, and still takes the same wallet's honest messages", async () => {
        const {token} = world.devnet.processes
        for (const claim of ["From-Module", "Pushed-For"]) {
            const forged = await forge(token, {Action: "Balance", [claim]: AOS_MODULE})
            expect(forged).toEqual({status: 400, body: {error: expect.stringContaining(claim)}})
        }
        const slot = await fresh.message({process: token, tags: tags({Action: "Balance"})})
        expect(tagValue((await fresh.result({process: token, slot})).Messages[0], "Balance")).toBe("0")
    })
})

describe("the node's trust rules on a legacy devnet, over aoconnect's legacy mode", () => {
    const legacyAo = ({legacyUnits, network}: Devnet) =>
        connect({MODE: "legacy", MU_URL: legacyUnits.mu, CU_URL: legacyUnits.cu, GATEWAY_URL: network.gateway})
    let world: World
    let ao: ReturnType<typeof legacyAo>
    const state = () => ledger(world, (process, readTags) => ao.dryrun({process, tags: readTags}) as Promise<Evaluation>)

    beforeAll(async () => {
        world = await startWorld(LEGACY_PORT, "legacy")
        ao = legacyAo(world.devnet)
        const {token, registry, escrow} = world.devnet.processes
        const signer = createDataItemSigner(world.dev as never)
        await ao.message({process: token, tags: transfer(escrow, DEPOSIT, "Deposit"), signer})
        await ao.message({process: token, tags: transfer(registry, STAKE, "Stake"), signer})
    })

    afterAll(async () => {
        await world?.devnet.dispose()
        await rm(world?.dataDir, {recursive: true, force: true})
    })

    it("describes itself as a legacy network", async () => {
        const local = (offset: number) => `http://localhost:${LEGACY_PORT + offset}`
        const {scheduler, authority} = world.devnet.network
        expect(JSON.parse(await readFile(world.devnet.networkFile, "utf8"))).toEqual({
            name: "devnet",
            mode: "legacy",
            mu: local(2),
            cu: local(4),
            gateway: local(0),
            scheduler,
            authority,
            module: AOS_MODULE,
            processes: world.devnet.processes,
            wallet: path.join("wallets", "dev.json")
        })
    })

    it("refuses a wallet withdrawing another's deposit at the MU", async () => {
        const before = await state()
        expect(before.deposit).toBe(DEPOSIT)
        const forged = ao.message({
            process: world.devnet.processes.escrow,
            signer: createDataItemSigner(world.fresh as never),
            tags: tags({Action: "Withdraw", Quantity: DEPOSIT, "From-Process": world.devnet.walletAddress})
        })
        await expect(forged).rejects.toThrow(/400|From-Process/)
        expect(await state()).toEqual(before)
    })

    it("keeps its processes and balances when the data folder is restarted in mainnet mode", async () => {
        const before = await state()
        const {processes} = world.devnet
        await world.devnet.dispose()
        world.devnet = await Devnet.start({port: LEGACY_PORT, dataDir: world.dataDir, mode: "mainnet"})
        expect(world.devnet.network.mode).toBe("mainnet")
        expect(world.devnet.processes).toEqual(processes)
        const network = world.devnet.network as MainnetNetwork
        const dev = mainnetAo(network.node, network.scheduler, world.dev)
        expect(await ledger(world, (process, readTags) => dev.dryrun({process, tags: readTags}))).toEqual(before)
    })
})
