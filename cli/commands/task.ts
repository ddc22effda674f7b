import {Command} from "commander"
import {openConnection, printJson, requireProcesses, withNetworkOptions, type NetworkOptions} from "../context.ts"
import {UserError} from "../errors.ts"

export function taskCommand() {
    return withNetworkOptions(new Command("task"))
        .description("show a task: its state, worker, fee, receipt and result")
        .argument("<id>", "Task-Id")
        .action(async (id: string, options: NetworkOptions) => {
            const {EscrowClient} = await import("../../sdk/escrow/index.ts")
            const connection = await openConnection(options)
            const processes = requireProcesses(connection.config)
            const task = await new EscrowClient(connection.ao, processes).task(id)
            if (task == null) throw new UserError(`No task ${id} in the escrow`)
            if (options.json) return printJson(task)
            const rows: Array<[string, unknown]> = [
                ["task", task.id], ["state", task.state], ["model", task.model], ["requester", task.requester], ["worker", task.worker],
                ["attempt", task.attempt], ["max fee", task.maxFee], ["fee", task.fee], ["tokens", task.outputTokens == null ? undefined : `${task.inputTokens} in, ${task.outputTokens} out`],
                ["receipt", task.receiptTx == null ? undefined : `${connection.config.gateway}/${task.receiptTx}`],
                ["challenge by", task.challengeDeadline == null ? undefined : new Date(task.challengeDeadline).toISOString()],
                ["output", task.output]
            ]
            for (const [key, value] of rows) if (value != null) process.stdout.write(`${key.padEnd(13)} ${String(value)}\n`)
        })
}
