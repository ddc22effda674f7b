import {Command, CommanderError} from "commander"
import {deployCommand} from "./commands/deploy.ts"
import {devnetCommand} from "./commands/devnet.ts"
import {modelCommand} from "./commands/model/index.ts"
import {walletCommand} from "./commands/wallet.ts"
import {inferCommand} from "./commands/infer.ts"
import {taskCommand} from "./commands/task.ts"
import {verifyCommand} from "./commands/verify.ts"
import {receiptCommand} from "./commands/receipt.ts"
import {challengeCommand} from "./commands/challenge.ts"
import {workerCommand} from "./commands/worker.ts"
import {proxyCommand} from "./commands/proxy.ts"
import {channelCommand} from "./commands/channel.ts"
import {EXIT_USAGE, handleError} from "./errors.ts"

export function createProgram() {
    const program = new Command("weavelm")
        .description("trustless LLM inference on AO and Arweave")
        .version("0.1.0")
        .exitOverride()
        .addCommand(devnetCommand())
        .addCommand(deployCommand())
        .addCommand(modelCommand())
        .addCommand(walletCommand())
        .addCommand(workerCommand())
        .addCommand(inferCommand())
        .addCommand(taskCommand())
        .addCommand(proxyCommand())
        .addCommand(channelCommand())
        .addCommand(verifyCommand())
        .addCommand(receiptCommand())
        .addCommand(challengeCommand())
    // commander does not pass this down to commands added with addCommand
    const configure = (command: Command) => {
        command.exitOverride().configureOutput({outputError: (text, write) => write(withIdHint(text))})
        command.commands.forEach(configure)
    }
    configure(program)
    return program
}

/**
 * Ids are base64url, so one in 32 starts with "-" and reads to commander as an option: say how to
 * pass it instead of leaving the user with "unknown option".
 */
function withIdHint(text: string): string {
    const id = /unknown option '(-[A-Za-z0-9_-]{42})'/.exec(text)?.[1]
    return id == null ? text : `${text.trimEnd()} (an id that starts with "-" goes after "--": weavelm <command> [options] -- ${id})\n`
}

export async function main(argv: string[]) {
    try {
        await createProgram().parseAsync(argv)
    } catch (error) {
        if (error instanceof CommanderError) {
            // --help and --version end here too, with exit code 0
            process.exit(error.exitCode === 0 ? 0 : EXIT_USAGE)
        }
        handleError(error)
    }
}
