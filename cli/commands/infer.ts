import {Command} from "commander"
import {openConnection, printJson, requireProcesses, withNetworkOptions, type NetworkOptions} from "../context.ts"
import {parseAmount, parseInteger, parseNumber} from "../parse.ts"

interface InferCommandOptions extends NetworkOptions {
    model: string
    maxTokens: number
    temperature: number
    seed: number
    topK: number
    topP: number
    format: "text" | "chat"
    maxFee?: string
}

export function inferCommand() {
    return withNetworkOptions(new Command("infer"))
        .description("ask a model for a completion, paid from your escrow balance, and wait for the answer")
        .argument("<prompt>", "the prompt (for --format chat, a JSON list of {role, content})")
        .requiredOption("--model <model>", "Model-Id or registered name")
        .option("--max-tokens <n>", "most tokens to generate", parseInteger(1, 32768), 64)
        .option("--temperature <t>", "0 is greedy", parseNumber(0, 2), 0)
        .option("--seed <n>", "sampling seed when temperature > 0", parseInteger(0, 2 ** 32 - 1), 0)
        .option("--top-k <n>", "sample among the k most likely tokens (0: off)", parseInteger(0, 1000), 40)
        .option("--top-p <p>", "nucleus sampling threshold", parseNumber(0, 1), 1)
        .option("--format <format>", "text or chat", "text")
        .option("--max-fee <n>", "most to pay in base units (default: a quote covering every worker)", parseAmount)
        .action(async (prompt: string, options: InferCommandOptions) => {
            const {WeaveLM} = await import("../../sdk/client/index.ts")
            const connection = await openConnection(options)
            const client = new WeaveLM(connection, requireProcesses(connection.config))
            const result = await client.infer({
                model: options.model,
                prompt,
                format: options.format,
                maxTokens: options.maxTokens,
                temperature: options.temperature,
                seed: options.seed,
                topK: options.topK,
                topP: options.topP,
                maxFee: options.maxFee,
                onAccepted: (accepted) =>
                    options.json ? undefined : process.stderr.write(`task ${accepted.taskId} assigned to ${accepted.worker}\n`)
            })
            if (options.json)
                return printJson({
                    taskId: result.taskId,
                    output: result.output,
                    worker: result.worker,
                    fee: Number(result.fee),
                    receiptTx: result.receiptTx
                })
            process.stdout.write(`${result.output}\n\n`)
            process.stderr.write(
                `fee ${result.fee} · worker ${result.worker}\n` +
                    `receipt ${connection.config.gateway}/${result.receiptTx}\n` +
                    `challenge window closes ${new Date(result.challengeDeadline).toISOString()}\n`
            )
        })
}
