import {describe, expect, it} from "vitest"
import {z} from "zod"
import {describeError, UsageError, UserError} from "../../cli/errors.ts"
import {DevnetError} from "../../devnet/Devnet.ts"
import {ConvertError} from "../../model-publisher/convert/convertModel.ts"
import {PublishError} from "../../model-publisher/publish/publishModel.ts"
import {PullError} from "../../model-publisher/pull/pullModel.ts"
import {AoProcessError} from "../../sdk/ao/AoClient.ts"
import {NodeRefusedError, NodesUnreachableError} from "../../sdk/ao/nodeFailover.ts"
import {ArnsError} from "../../sdk/arns/resolveArnsName.ts"
import {DirectRequestError, WorkerDroppedError} from "../../sdk/direct/errors.ts"
import {WeaveLMError} from "../../sdk/errors/index.ts"
import {TaskRefundedError} from "../../sdk/escrow/EscrowClient.ts"
import {NetworkError} from "../../sdk/network/resolveNetwork.ts"
import {GatewayError} from "../../sdk/storage/retry.ts"
import {WalletError} from "../../sdk/wallet/wallet.ts"
import {ReceiptFileError} from "../../verifier/evidence/fetchReceiptEvidence.ts"
import {TaskEvidenceError} from "../../verifier/evidence/TaskEvidence.ts"
import {VerifierSetupError} from "../../verifier/verify/verifyReceipt.ts"
import {InvalidPromptError, PromptTooLongError} from "../../worker/engine/LoadedModel.ts"

describe("the CLI's error handler", () => {
    it("exits 1 for errors the person can fix, 2 for usage, 3 for a process or the network, by the kind each error carries", () => {
        const exitCodes = (errors: Error[]) => errors.map((error) => [error.name, describeError(error).exitCode])
        const user = [
            new UserError("x"),
            new WalletError("x"),
            new NetworkError("x"),
            new DevnetError("x"),
            new PublishError("x"),
            new PullError("x"),
            new ConvertError("x"),
            new ArnsError("x"),
            new TaskEvidenceError("no-result", "x"),
            new ReceiptFileError("x"),
            new VerifierSetupError("x"),
            new InvalidPromptError("x"),
            new PromptTooLongError(10, 8)
        ]
        const remote = [
            new AoProcessError("x", {process: "p", action: "a"}),
            new GatewayError("x"),
            new TaskRefundedError("t", "x"),
            new NodesUnreachableError(["n"], "x"),
            new NodeRefusedError("n", 400, "x"),
            new DirectRequestError("x", {status: 502, code: "c"}),
            new WorkerDroppedError("w")
        ]
        expect(exitCodes(user)).toEqual(user.map((error) => [error.name, 1]))
        expect(exitCodes([new UsageError("x")])).toEqual([["UsageError", 2]])
        expect(exitCodes(remote)).toEqual(remote.map((error) => [error.name, 3]))
        expect([...user, ...remote].every((error) => error instanceof WeaveLMError)).toBe(true)
    })

    it("prints a known error as one line with its suggestion", () => {
        expect(describeError(new UserError("weavelm is not deployed\non devnet", "run `weavelm deploy` first"))).toEqual({
            text: "error: weavelm is not deployed on devnet (run `weavelm deploy` first)",
            exitCode: 1
        })
        expect(describeError(new AoProcessError("Insufficient balance", {process: "p", action: "Deposit"}))).toEqual({
            text: "error: Insufficient balance",
            exitCode: 3
        })
    })

    it("names the fields of invalid input, and an unreachable network", () => {
        const invalid = z.object({node: z.url()}).safeParse({node: "nope"}).error
        expect(describeError(invalid)).toEqual({text: expect.stringMatching(/^error: node: /), exitCode: 1})
        const unreachable = new TypeError("fetch failed", {cause: {code: "ECONNREFUSED", address: "127.0.0.1", port: 4000}})
        expect(describeError(unreachable)).toEqual({
            text: "error: the network is unreachable at 127.0.0.1:4000 (ECONNREFUSED); is the devnet running?",
            exitCode: 3
        })
    })

    it("prints the stack of an unexpected error, exit 3", () => {
        const {text, exitCode} = describeError(new TypeError("undefined is not a function"))
        expect(text).toMatch(/^weavelm: unexpected error, please report it\nTypeError: undefined is not a function\n {4}at /)
        expect(exitCode).toBe(3)
    })
})
