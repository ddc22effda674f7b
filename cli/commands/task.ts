import {Command} from "commander"
import type {DisputeRecord} from "../../sdk/escrow/index.ts"
import {openConnection, printJson, requireProcesses, withNetworkOptions, type NetworkOptions} from "../context.ts"
import {UserError} from "../errors.ts"

export function taskCommand() {
    return withNetworkOptions(new Command("task"))
        .description("show a task: its state, worker, fee, receipt and result, and its dispute if challenged")
        .argument("<id>", "Task-Id")
        .action(async (id: string, options: NetworkOptions) => {
            const {EscrowClient} = await import("../../sdk/escrow/index.ts")
            const connection = await openConnection(options)
            const processes = requireProcesses(connection.config)
            const task = await new EscrowClient(connection.ao, processes).task(id)
            if (task == null) throw new UserError(`No task ${id} in the escrow`)
            if (options.json) return printJson(task)
            const rows: Array<[string, unknown]> = [
                ["task", task.id],
                ["state", task.state],
                ["model", task.model],
                ["requester", task.requester],
                ["worker", task.worker],
                ["channel", task.channel],
                ["attempt", task.attempt],
                ["max fee", task.maxFee],
                ["fee", task.fee],
                ["tokens", task.outputTokens == null ? undefined : `${task.inputTokens} in, ${task.outputTokens} out`],
                ["receipt", task.receiptTx == null ? undefined : `${connection.config.gateway}/${task.receiptTx}`],
                ["challenge by", task.challengeDeadline == null ? undefined : new Date(task.challengeDeadline).toISOString()],
                ["output", task.output]
            ]
            for (const [key, value] of rows) if (value != null) process.stdout.write(`${key.padEnd(13)} ${String(value)}\n`)
            if (task.dispute != null)
                for (const [key, value] of disputeRows(task.dispute)) process.stdout.write(`${key.padEnd(13)} ${value}\n`)
        })
}

/** The dispute in a few lines: who challenged, the committee's votes, and once decided the verdict and payouts. */
function disputeRows(dispute: DisputeRecord): Array<[string, string]> {
    const votes = Object.values(dispute.votes)
    const count = (verdict: string) => votes.filter((vote) => vote.verdict === verdict).length
    const rows: Array<[string, string]> = [
        ["challenge", `${dispute.id} by ${dispute.challenger}, bond ${dispute.bond}, position ${dispute.position}`],
        ["evidence", dispute.evidenceTx],
        ["referees", `${dispute.committee.join(", ")} (quorum ${dispute.quorum})`],
        ["votes", `${count("Valid")} valid, ${count("Invalid")} invalid of ${dispute.committee.length}`],
        ["referee by", new Date(dispute.deadline).toISOString()]
    ]
    if (dispute.verdict == null) return rows
    rows.push(["verdict", `${dispute.verdict} (${dispute.resolution})`])
    if (dispute.struck != null && dispute.struck.length > 0) rows.push(["struck", dispute.struck.join(", ")])
    if (dispute.verdict === "Valid")
        rows.push(["bond paid", `${dispute.refereePay} to each majority referee, ${dispute.workerShare} to the worker`])
    if (dispute.verdict === "Invalid")
        rows.push([
            "slash",
            dispute.proceeds == null
                ? `requested ${dispute.slashRequested}, awaiting proceeds`
                : `${dispute.proceeds} taken: reward ${dispute.reward}, referees ${dispute.refereePay} each, treasury ${dispute.treasury}`
        ])
    return rows
}
