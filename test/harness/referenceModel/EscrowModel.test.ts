import {describe, expect, it} from "vitest"
import {alice, carol, escrowBench, ids, m1, T0, w1, w2} from "./modelBench.ts"

// With w1's Price-Output 3000 and m1's Owner-Fee 250 bps, 64 tokens quote ceil(3000 * 64 / 1000) = 192 plus 192 * 2.5% = 4.
const QUOTE = 196n

const result = (taskId: string, inputTokens: string, outputTokens: string) => ({
    Action: "Task-Result",
    "Task-Id": taskId,
    "Input-Tokens": inputTokens,
    "Output-Tokens": outputTokens,
    "Receipt-Tx": ids.token2,
    "Receipt-Hash": "cd".repeat(32)
})

describe("reference model: escrow", () => {
    it("locks an Infer's Max-Fee from the requester's balance and assigns the task", () => {
        const {model, infer} = escrowBench()
        const [accepted, assigned] = infer("1000")
        const task = model.escrow.book.openTasks()[0]!
        expect(accepted).toEqual({
            target: alice,
            tags: {Action: "Infer-Accepted", "Task-Id": task.id, Worker: w1, Deadline: String(T0 + 7000)}
        })
        expect(assigned).toMatchObject({
            target: w1,
            tags: {Action: "Task-Assigned", Attempt: "1", "Max-Tokens": "64"},
            data: "what is 6 times 7?"
        })
        expect(task).toMatchObject({state: "Assigned", worker: w1, held: [w1], locked: 1000n, quote: QUOTE})
        const {book} = model.escrow
        expect([book.balanceOf(alice), book.locked(alice), book.liabilities()]).toEqual([29000n, 1000n, 30000n])
    })

    it("refuses an Infer it cannot fund or no worker can take, and locks nothing", () => {
        const {model, infer} = escrowBench()
        expect(infer("30001")[0]!.error).toBe("Max-Fee 30001 is above the available balance 30000")
        expect(infer(String(QUOTE - 1n))[0]!.error).toBe(`Max-Fee ${QUOTE - 1n} is below the cheapest quote ${QUOTE}`)
        infer(String(QUOTE))
        expect(infer("1000")[0]!.error).toBe("Every worker serving model toy-m1 within Max-Fee is busy")
        expect(model.escrow.book.locked()).toBe(QUOTE)
    })

    it("splits a result's fee between worker and model owner, and settles it once the challenge window has passed", () => {
        const {model, send, infer} = escrowBench()
        infer("1000")
        const id = model.escrow.book.openTasks()[0]!.id
        // 100 input and 50 output tokens: ceil((1000 * 100 + 3000 * 50) / 1000) = 250 to the worker, 250 * 2.5% = 6 to the owner.
        expect(send(ids.escrow, w1, result(id, "100", "50"), {at: T0 + 100})[0]).toEqual({
            target: w1,
            tags: {Action: "Task-Result-Notice", "Task-Id": id, Fee: "256", "Worker-Fee": "250", "Challenge-Deadline": String(T0 + 1600)}
        })
        expect(send(ids.escrow, alice, {Action: "Settle", "Task-Id": id}, {at: T0 + 1600})[0]!.error).toBe(
            `Challenge window of task ${id} is open until Challenge-Deadline ${T0 + 1600}`
        )
        model.newStep()
        const out = send(ids.escrow, alice, {Action: "Settle", "Task-Id": id}, {at: T0 + 1601})
        expect(out.map((o) => [o.target, o.tags.Action])).toEqual([
            [w1, "Task-Settled"],
            [alice, "Task-Settled"],
            [ids.registry, "Record-Outcome"],
            [alice, "Settle-Notice"]
        ])
        expect(out[1]!.tags).toMatchObject({Fee: "256", "Worker-Fee": "250", "Owner-Fee": "6", Refund: "744"})
        expect(out[3]!.tags.Settled).toBe("1")
        const {book} = model.escrow
        expect([book.balanceOf(alice), book.balanceOf(w1), book.balanceOf(carol), book.liabilities()]).toEqual([29744n, 250n, 6n, 30000n])
        expect([alice, w1, carol].map((who) => model.accounting.allowedOf(who))).toEqual([-256n, 250n, 6n])
    })

    it("scales both fees down together so that a result never costs more than Max-Fee", () => {
        const {model, send, infer} = escrowBench()
        infer("200")
        const id = model.escrow.book.openTasks()[0]!.id
        // Unscaled, 10192 + 254; scaled, the owner keeps 200 * 250 / 10250 = 4.
        expect(send(ids.escrow, w1, result(id, "10000", "64"))[0]!.tags).toMatchObject({Fee: "200", "Worker-Fee": "196"})
        expect(send(ids.escrow, w1, result(id, "1", "1"))[0]!.error).toBe(`Task ${id} is not awaiting a result (Completed)`)
    })

    it("revokes a task whose worker missed the deadline, with a strike, and refunds it when no other worker serves the model", () => {
        const {model, send, infer} = escrowBench()
        infer("1000")
        const id = model.escrow.book.openTasks()[0]!.id
        expect(send(ids.escrow, alice, {Action: "Balance"}, {at: T0 + 7000}).map((o) => o.tags.Action)).toEqual(["Balance-Response"])
        const out = send(ids.escrow, alice, {Action: "Balance"}, {at: T0 + 7001})
        expect(out.slice(0, 3)).toEqual([
            {target: w1, tags: {Action: "Task-Revoked", "Task-Id": id}},
            {target: ids.registry, tags: {Action: "Record-Outcome", Worker: w1, Outcome: "Strike", "Task-Id": id}},
            {
                target: alice,
                tags: {Action: "Infer-Refunded", "Task-Id": id, Refund: "1000", "X-Reference": undefined},
                error: `worker ${w1} missed the deadline; No available worker serves model toy-m1`
            }
        ])
        expect(out[3]!.tags).toMatchObject({Action: "Balance-Response", Balance: "30000", Locked: "0"})
        expect(model.escrow.book.tasks.get(id)).toMatchObject({state: "Refunded", refund: 1000n})
    })

    it("hands a failed task to a worker that has not held it, and refunds it once Max-Attempts is reached", () => {
        const {model, send, infer} = escrowBench({workers: [w1, w2], maxAttempts: "2"})
        infer("1000")
        const task = model.escrow.book.openTasks()[0]!
        const [first, second] = task.worker === w1 ? [w1, w2] : [w2, w1]
        const out = send(ids.escrow, first, {Action: "Task-Failed", "Task-Id": task.id, Error: "out of memory"})
        expect(out.map((o) => [o.target, o.tags.Action, o.tags.Attempt])).toEqual([
            [first, "Task-Failed-Notice", undefined],
            [second, "Task-Assigned", "2"]
        ])
        expect(send(ids.escrow, first, result(task.id, "1", "1"))[0]!.error).toBe(`Not the assigned worker of task ${task.id}`)
        const refunded = send(ids.escrow, second, {Action: "Task-Failed", "Task-Id": task.id})
        expect(refunded[1]).toMatchObject({
            target: alice,
            tags: {Action: "Infer-Refunded", Refund: "1000"},
            error: `worker ${second} failed: no reason given; Max-Attempts reached`
        })
        expect(model.accounting.stats).toMatchObject({created: 1, reassigned: 1, failed: 2, refunded: 1})
    })

    it("runs a per-call Infer on the tokens that came with it and pays back what the fee left by transfer", () => {
        const {model, send} = escrowBench()
        const paid = {
            Action: "Credit-Notice",
            Sender: alice,
            Quantity: "500",
            "X-Action": "Infer",
            "X-Model": "toy-m1",
            "X-Max-Tokens": "64",
            "X-Prompt": "hi",
            "X-Reference": "call-1"
        }
        const above = "X-Max-Fee is above the transferred Quantity 500"
        expect(send(ids.escrow, ids.token, {...paid, "X-Max-Fee": "501"})).toEqual([
            {target: ids.token, tags: {Action: "Transfer", Recipient: alice, Quantity: "500", "X-Refund-Reason": above}},
            {target: alice, tags: {Action: "Infer-Error"}, error: above}
        ])
        expect(send(ids.escrow, ids.token, {...paid, "X-Max-Fee": "300"})[0]!.tags).toMatchObject({
            Action: "Infer-Accepted",
            "X-Reference": "call-1"
        })
        const task = model.escrow.book.openTasks()[0]!
        expect(task).toMatchObject({perCall: true, maxFee: 300n, locked: 500n})
        send(ids.escrow, w1, result(task.id, "100", "50"))
        const out = send(ids.escrow, alice, {Action: "Balance"}, {at: T0 + 1501})
        expect(out[0]).toEqual({
            target: ids.token,
            tags: {
                Action: "Transfer",
                Recipient: alice,
                Quantity: "244",
                "X-Task-Id": task.id,
                "X-Refund-Reason": "Unused Max-Fee",
                "X-Reference": "call-1"
            }
        })
        expect(model.escrow.book.balanceOf(alice)).toBe(30000n)
    })

    it("takes registry records only from the registry and tokens only from its token", () => {
        const {model, send} = escrowBench()
        expect(send(ids.escrow, alice, {Action: "Sync-Worker"}, {data: "{}"})[0]!.error).toBe("Only the registry may sync")
        const reason = "Tokens must come from the configured token"
        expect(send(ids.escrow, ids.token2, {Action: "Credit-Notice", Sender: alice, Quantity: "9", "X-Action": "Deposit"})).toEqual([
            {target: ids.token2, tags: {Action: "Transfer", Recipient: alice, Quantity: "9", "X-Refund-Reason": reason}},
            {target: alice, tags: {Action: "Deposit-Error"}, error: reason}
        ])
        expect(model.escrow.book.liabilities()).toBe(30000n)
    })

    it("refunds refused tokens, but never a refund, which would bounce between two processes forever", () => {
        const {send} = escrowBench()
        const donation = {Action: "Credit-Notice", Sender: alice, Quantity: "50", "X-Action": "Donate"}
        expect(send(ids.escrow, ids.token, donation).map((o) => o.tags.Action)).toEqual(["Transfer", "Donate-Error"])
        expect(send(ids.escrow, ids.token, {...donation, "X-Refund-Reason": "refused elsewhere"})).toEqual([
            {
                target: alice,
                tags: {Action: "Donate-Error"},
                error: "Unsupported X-Action Donate: use Deposit, Infer, Challenge or Open-Channel"
            }
        ])
    })

    it("leaves disputes out: a Challenge paid in tokens is refused and refunded like any unknown X-Action", () => {
        const {send} = escrowBench()
        const out = send(ids.escrow, ids.token, {Action: "Credit-Notice", Sender: alice, Quantity: "50", "X-Action": "Challenge"})
        expect(out.map((o) => o.tags.Action)).toEqual(["Transfer", "Challenge-Error"])
        expect(out[1]!.error).toBe("Unsupported X-Action Challenge: use Deposit, Infer, Challenge or Open-Channel")
    })

    it("checks Info and Tasks reads against its own state", () => {
        const {model, send, infer} = escrowBench()
        infer("1000")
        const [info] = send(ids.escrow, alice, {Action: "Info"})
        expect(info!.tags.Liabilities).toBe("30000")
        const reported = {liabilities: "30000", balances: "29000", locked: "1000", models: 1, workers: 1, tasks: {Assigned: 1}}
        info!.json!(reported)
        expect(() => info!.json!({...reported, locked: "999"})).toThrow()
        const [tasks] = send(ids.escrow, alice, {Action: "Tasks"})
        const id = model.escrow.book.openTasks()[0]!.id
        tasks!.json!([
            {
                id,
                state: "Assigned",
                requester: alice,
                perCall: false,
                model: m1,
                modelOwner: carol,
                ownerFeeBps: 250,
                maxFee: "1000",
                locked: "1000",
                worker: w1,
                held: [w1],
                attempt: 1,
                priceInput: "1000",
                priceOutput: "3000",
                quote: String(QUOTE),
                deadline: T0 + 7000
            }
        ])
        expect(model.escrow.lastTasksRead).toEqual({openLocked: 1000n, locked: 1000n, balances: 29000n})
        expect(() => tasks!.json!([])).toThrow()
    })
})
