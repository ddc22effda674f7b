import {createHash} from "node:crypto"
import {DataItem} from "@dha-team/arbundles"
import {createDataItemSigner} from "@permaweb/aoconnect"
import {afterAll, beforeAll, describe, expect, it} from "vitest"
import {
    ChannelClient,
    ChannelLedger,
    decodeVoucher,
    encodeVoucherHeader,
    InvalidRequestError,
    InvalidVoucherError,
    parseDirectRequest,
    receiptsRoot,
    requestFee,
    requestFeeBound,
    signVoucher,
    VoucherRedemptionError,
    type VoucherRefusedError,
    type DataItemSigner
} from "../../sdk/channel/index.ts"
import {quoteMaxFee} from "../../sdk/escrow/index.ts"
import {RegistryClient} from "../../sdk/registry/index.ts"
import {generateWallet, walletAddress, type ArweaveJwk} from "../../sdk/wallet/index.ts"
import {fundedActor} from "../harness/actors.ts"
import {startTestDevnet, type TestDevnet} from "../harness/devnet.ts"

const PORT = 4860
const sha = (text: string) => createHash("sha256").update(text).digest()
const hex = (text: string) => sha(text).toString("hex")
const fakeId = (text: string) => sha(text).toString("base64url")
const ESCROW = fakeId("escrow")
const CHANNEL = fakeId("channel")

describe("vouchers offline", () => {
    let alice: ArweaveJwk

    beforeAll(async () => {
        alice = await generateWallet()
    })

    it("sign and decode round-trip with exactly the contract's tags, target and data", async () => {
        const voucher = await signVoucher({
            wallet: alice,
            escrow: ESCROW,
            channel: CHANNEL,
            cumulative: 1234n,
            nonce: 7,
            receiptsRoot: receiptsRoot([])
        })
        expect(voucher.owner).toBe(walletAddress(alice))
        const item = new DataItem(Buffer.from(voucher.raw))
        expect(item.id).toBe(voucher.id)
        expect(item.target).toBe(ESCROW)
        expect(Buffer.from(item.rawData).toString()).toBe("1")
        expect(item.tags).toEqual([
            {name: "Data-Protocol", value: "ao"},
            {name: "Variant", value: "ao.TN.1"},
            {name: "Type", value: "Message"},
            {name: "Action", value: "Redeem-Voucher"},
            {name: "Channel", value: CHANNEL},
            {name: "Cumulative", value: "1234"},
            {name: "Nonce", value: "7"},
            {name: "Receipts-Root", value: receiptsRoot([])}
        ])
        const decoded = await decodeVoucher(encodeVoucherHeader(voucher), {escrow: ESCROW})
        expect(decoded).toEqual(voucher)
    })

    it("signs through an aoconnect signer as well as a wallet", async () => {
        const signer = createDataItemSigner(alice) as DataItemSigner
        const voucher = await signVoucher({signer, escrow: ESCROW, channel: CHANNEL, cumulative: "5", nonce: 1, receiptsRoot: hex("r")})
        expect((await decodeVoucher(encodeVoucherHeader(voucher))).owner).toBe(walletAddress(alice))
    })

    it("refuses a tampered, misaddressed or malformed voucher with a readable reason", async () => {
        const voucher = await signVoucher({
            wallet: alice,
            escrow: ESCROW,
            channel: CHANNEL,
            cumulative: "100",
            nonce: 2,
            receiptsRoot: hex("r")
        })
        const header = encodeVoucherHeader(voucher)
        await expect(decodeVoucher(header, {escrow: fakeId("another escrow")})).rejects.toThrow(
            /addressed to .* not to this worker's escrow/
        )
        await expect(decodeVoucher("not base64url!")).rejects.toThrow(/not base64url/)
        await expect(decodeVoucher(Buffer.from("tiny").toString("base64url"))).rejects.toThrow(/not an ANS-104 data item/)

        // Cumulative "100" → "900": same length, so only the signature can tell.
        const raw = Buffer.from(voucher.raw)
        const at = raw.indexOf(Buffer.from("Cumulative")) + "Cumulative".length
        const value = raw.indexOf(Buffer.from("100"), at)
        raw[value] = "9".charCodeAt(0)
        const tampered = decodeVoucher(raw.toString("base64url"))
        await expect(tampered).rejects.toBeInstanceOf(InvalidVoucherError)
        await expect(tampered).rejects.toThrow(/signature does not verify/)

        // A genuine message that is not a voucher: another Action, an extra tag.
        const signer = createDataItemSigner(alice)
        const {createData} = await import("@dha-team/arbundles")
        const signOther = async (tags: Array<{name: string; value: string}>) => {
            let unsigned: Uint8Array | undefined
            const {signature} = (await signer(async ({publicKey}: {publicKey: Uint8Array}) => {
                const item = createData(
                    "1",
                    {signatureType: 1, ownerLength: 512, signatureLength: 512, publicKey: Buffer.from(publicKey)} as never,
                    {target: ESCROW, tags}
                )
                unsigned = item.getRaw()
                return await item.getSignatureData()
            }, "ans104")) as {signature: Uint8Array}
            const bytes = Buffer.from(unsigned!)
            bytes.set(signature, 2)
            return bytes.toString("base64url")
        }
        const base = [
            {name: "Data-Protocol", value: "ao"},
            {name: "Variant", value: "ao.TN.1"},
            {name: "Type", value: "Message"}
        ]
        const fields = [
            {name: "Channel", value: CHANNEL},
            {name: "Cumulative", value: "1"},
            {name: "Nonce", value: "1"},
            {name: "Receipts-Root", value: hex("r")}
        ]
        await expect(decodeVoucher(await signOther([...base, {name: "Action", value: "Transfer"}, ...fields]))).rejects.toThrow(
            /Action must be Redeem-Voucher, not Transfer/
        )
        await expect(
            decodeVoucher(await signOther([...base, {name: "Action", value: "Redeem-Voucher"}, ...fields, {name: "Extra", value: "x"}]))
        ).rejects.toThrow(/unexpected tag Extra/)
        await expect(
            decodeVoucher(await signOther([...base, {name: "Action", value: "Redeem-Voucher"}, ...fields.slice(0, 3)]))
        ).rejects.toThrow(/lacks the tag Receipts-Root/)
        await expect(
            decodeVoucher(
                await signOther([
                    ...base,
                    {name: "Action", value: "Redeem-Voucher"},
                    ...fields.slice(0, 2),
                    {name: "Nonce", value: "-1"},
                    fields[3]!
                ])
            )
        ).rejects.toThrow(/Nonce must be an integer from 0 to 999999999999999/)
        await expect(
            signVoucher({wallet: alice, escrow: ESCROW, channel: CHANNEL, cumulative: "1", nonce: 1e15, receiptsRoot: hex("r")})
        ).rejects.toThrow(/Nonce must be an integer from 0 to 999999999999999, not 1000000000000000/)
        await expect(
            signVoucher({wallet: alice, escrow: ESCROW, channel: CHANNEL, cumulative: "1.5", nonce: 1, receiptsRoot: hex("r")})
        ).rejects.toThrow(/Cumulative must be an integer string/)
    })
})

describe("receipts root", () => {
    const leaf = (text: string) => hex(text)
    const pair = (a: string, b: string) => createHash("sha256").update(Buffer.from(a, "hex")).update(Buffer.from(b, "hex")).digest("hex")

    it("follows the contract: empty, one leaf, pairs, an odd last node carried up", () => {
        const [a, b, c] = [leaf("a"), leaf("b"), leaf("c")]
        expect(receiptsRoot([])).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        expect(receiptsRoot([a])).toBe(a)
        expect(receiptsRoot([a, b])).toBe(pair(a, b))
        expect(receiptsRoot([a, b, c])).toBe(pair(pair(a, b), c))
        expect(receiptsRoot([b, a])).not.toBe(receiptsRoot([a, b]))
        expect(() => receiptsRoot(["XYZ"])).toThrow(RangeError)
    })
})

describe("fees and the ledger", () => {
    const terms = {priceInput: "1000", priceOutput: "2000", ownerFeeBps: 1000}

    it("bounds a request as quoteMaxFee bounds a task, and prices it as the escrow's fees.split does", () => {
        const request = parseDirectRequest("completions", {model: "tiny", prompt: "héllo", max_tokens: 20})
        // ceil((1000·(6 bytes + 16) + 2000·20) / 1000) = 62, plus 10% owner fee = 68
        expect(requestFeeBound(terms, request)).toBe(68n)
        const model = {id: "m", ownerFee: 1000} as never
        const worker = {eligible: true, models: ["m"], priceInput: "1000", priceOutput: "2000"} as never
        expect(quoteMaxFee({model, workers: [worker], promptBytes: 6, maxTokens: 20})).toBe("68")
        // ceil((1000·7 + 2000·5)/1000) = 17, owner floor(1.7) = 1
        expect(requestFee(terms, {inputTokens: 7, outputTokens: 5})).toBe(18n)
    })

    it("parses chat and completion bodies into the prompt the receipt hashes", () => {
        const chat = parseDirectRequest("chat", {
            model: "tiny",
            messages: [
                {role: "developer", content: "Be brief."},
                {
                    role: "user",
                    content: [
                        {type: "text", text: "Hi"},
                        {type: "text", text: "!"}
                    ]
                }
            ],
            temperature: 0,
            max_completion_tokens: 9,
            seed: 3,
            stream: true,
            stop: null,
            n: 1
        })
        expect(chat).toEqual({
            endpoint: "chat",
            model: "tiny",
            format: "chat",
            prompt: JSON.stringify([
                {role: "system", content: "Be brief."},
                {role: "user", content: "Hi!"}
            ]),
            maxTokens: 9,
            temperature: "0",
            topP: "1",
            topK: 40,
            seed: 3,
            stream: true
        })
        expect(parseDirectRequest("completions", {model: "tiny", prompt: ["x"]})).toMatchObject({
            prompt: "x",
            maxTokens: 256,
            temperature: "1",
            seed: undefined,
            stream: false
        })
        expect(() => parseDirectRequest("chat", {model: "tiny", messages: []})).toThrow(InvalidRequestError)
        expect(() => parseDirectRequest("completions", {model: "tiny", prompt: "x", n: 2})).toThrow(/n: only n = 1/)
        expect(() => parseDirectRequest("completions", {model: "tiny", prompt: "x", stop: ["\n"]})).toThrow(
            /stop sequences are not supported/
        )
        expect(() => parseDirectRequest("completions", {model: "tiny", prompt: "x", temperature: 3})).toThrow(/temperature/)
        expect(() => parseDirectRequest("completions", "text")).toThrow(/JSON object/)
    })

    it("keeps both ends of a channel in step: reserve on the owner's side is what admit accepts on the worker's", () => {
        const owner = new ChannelLedger({channel: CHANNEL, deposited: "1000"})
        const worker = new ChannelLedger({channel: CHANNEL, deposited: "1000"})
        const first = owner.reserve(100n)
        expect(first).toEqual({nonce: 1, cumulative: 100n, receiptsRoot: receiptsRoot([])})
        worker.admit(first, 100n)
        // Two in flight: the second voucher covers both bounds.
        const second = owner.reserve(50n)
        expect(second.cumulative).toBe(150n)
        worker.admit(second, 50n)
        expect(worker.complete(1, {fee: 30n, receiptHash: hex("r1")})).toBe(30n)
        owner.complete(1, {fee: 30n, receiptHash: hex("r1")})
        worker.release(2)
        owner.release(2)
        const third = owner.reserve(100n)
        expect(third).toEqual({nonce: 3, cumulative: 130n, receiptsRoot: receiptsRoot([hex("r1")])})

        expect(() => worker.admit({nonce: 2, cumulative: 500n}, 100n)).toThrow(/Stale voucher: nonce 2 is not above 2/)
        const refusal = (() => {
            try {
                worker.admit({nonce: 3, cumulative: 129n}, 100n)
            } catch (error) {
                return error as VoucherRefusedError
            }
        })()
        expect(refusal).toMatchObject({code: "insufficient_voucher", required: 130n})
        expect(() => worker.admit({nonce: 3, cumulative: 1001n}, 100n)).toThrow(/over-spends the channel: 1001 > 1000/)
        expect(() => worker.admit({nonce: 3, cumulative: 1000n}, 971n)).toThrow(
            expect.objectContaining({code: "channel_exhausted", required: 1001n})
        )
        worker.admit(third, 100n)

        // A redemption of the third voucher pays its whole Cumulative, more than the fees so far: that excess is credit.
        worker.complete(3, {fee: 20n, receiptHash: hex("r3")})
        worker.recordPayment(130n)
        expect(worker.owed).toBe(130n)
        expect(worker.required(10n)).toBe(140n)
        owner.complete(3, {fee: 20n, receiptHash: hex("r3")})
        owner.acknowledgeOwed(130n)
        expect(owner.reserve(10n).cumulative).toBe(140n)
        // The owner never acknowledges more than it signed: 150, the second voucher.
        owner.acknowledgeOwed(10_000n)
        expect(owner.owed).toBe(150n)
    })
})

describe("vouchers on the devnet", {timeout: 300_000}, () => {
    let net: TestDevnet
    let alice: Awaited<ReturnType<typeof fundedActor>>
    let worker: Awaited<ReturnType<typeof fundedActor>>
    let aliceChannels: ChannelClient
    let workerChannels: ChannelClient

    beforeAll(async () => {
        net = await startTestDevnet(PORT)
        const {processes} = net.devnet
        ;[alice, worker] = await Promise.all([fundedActor(net, "alice", "100000"), fundedActor(net, "worker", "5000")])
        // A registered, eligible worker is all an Open-Channel needs; no model has to be loaded.
        const modelId = fakeId("voucher-test-model")
        await new RegistryClient(net.connection.ao, processes.registry).registerModel({
            modelId,
            sha256: hex("voucher-test-model"),
            name: "voucher-toy",
            format: "GGUF",
            architecture: "llama",
            quantization: "F32",
            parameters: 1,
            contextLength: 512,
            license: "none",
            ownerFee: 0
        })
        await worker.ao.send(processes.token, {Action: "Transfer", Recipient: processes.registry, Quantity: "1000", "X-Action": "Stake"})
        await worker.ao.send(processes.registry, {
            Action: "Register-Worker",
            Models: modelId,
            "Price-Input": "1000",
            "Price-Output": "2000",
            "Max-Concurrency": 1,
            Hardware: "test"
        })
        const options = {escrow: processes.escrow, token: processes.token}
        aliceChannels = new ChannelClient(alice.ao, options)
        workerChannels = new ChannelClient(worker.ao, options)
    })
    afterAll(async () => {
        await net?.dispose()
    })

    it("a voucher signed by the owner and posted to the MU by the worker reaches the escrow from the owner, once", async () => {
        const opened = await aliceChannels.open({worker: worker.address, quantity: "5000"})
        expect(opened).toMatchObject({
            owner: alice.address,
            worker: worker.address,
            model: null,
            deposited: "5000",
            paid: "0",
            nonce: 0,
            state: "Open"
        })
        expect(await workerChannels.channels({worker: worker.address})).toEqual([opened])

        const root = receiptsRoot([hex("receipt 1"), hex("receipt 2")])
        const voucher = await signVoucher({
            wallet: alice.wallet,
            escrow: net.devnet.processes.escrow,
            channel: opened.id,
            cumulative: "1200",
            nonce: 3,
            receiptsRoot: root
        })
        // Travels as a header would, and is redeemed by someone who is not its signer.
        const carried = await decodeVoucher(encodeVoucherHeader(voucher), {escrow: net.devnet.processes.escrow})
        const redeemed = await workerChannels.redeem(carried)
        expect(redeemed).toMatchObject({
            channel: opened.id,
            amount: "1200",
            cumulative: "1200",
            nonce: 3,
            receiptsRoot: root,
            workerShare: "1200",
            ownerShare: "0"
        })
        expect(redeemed.messageId).toBe(voucher.id)
        expect(await aliceChannels.channel(opened.id)).toMatchObject({
            paid: "1200",
            nonce: 3,
            receiptsRoot: root,
            redemptions: 1,
            state: "Open"
        })
        expect((await worker.ao.read(net.devnet.processes.escrow, {Action: "Balance"})).tags.Balance).toBe("1200")

        // The same signed item again is the same message: the node answers with its first evaluation and runs nothing.
        expect(await workerChannels.redeem(voucher)).toMatchObject({amount: "1200", nonce: 3, messageId: voucher.id})
        expect(await aliceChannels.channel(opened.id)).toMatchObject({paid: "1200", redemptions: 1})
        const older = await signVoucher({
            wallet: alice.wallet,
            escrow: net.devnet.processes.escrow,
            channel: opened.id,
            cumulative: "1200",
            nonce: 3,
            receiptsRoot: root
        })
        await expect(workerChannels.redeem(older)).rejects.toThrow(/Stale voucher: nonce 3 is not above 3/)
        const forged = await signVoucher({
            wallet: worker.wallet,
            escrow: net.devnet.processes.escrow,
            channel: opened.id,
            cumulative: "5000",
            nonce: 4,
            receiptsRoot: root
        })
        const refused = workerChannels.redeem(forged)
        await expect(refused).rejects.toBeInstanceOf(VoucherRedemptionError)
        await expect(refused).rejects.toThrow("Voucher is not signed by the channel's owner")
        expect(await aliceChannels.channel(opened.id)).toMatchObject({paid: "1200", redemptions: 1})
    })

    it("tops up, closes and reads channels; refuses an unknown channel", async () => {
        const opened = await aliceChannels.open({worker: worker.address, quantity: "100"})
        expect((await aliceChannels.topUp(opened.id, "50")).deposited).toBe("150")
        const closing = await aliceChannels.close(opened.id)
        expect(closing).toMatchObject({channel: opened.id, deposited: "150", paid: "0"})
        expect(closing.closesAt).toBeGreaterThan(Date.now())
        expect((await aliceChannels.channel(opened.id))!.state).toBe("Closing")
        expect(await aliceChannels.channel(fakeId("no such channel"))).toBeNull()
        await expect(aliceChannels.open({worker: alice.address, quantity: "10"})).rejects.toThrow(/not an eligible registered worker/)
    })
})
