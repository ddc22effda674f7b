import {Command} from "commander"
import {existsSync} from "node:fs"
import path from "node:path"
import {generateWallet, walletAddress, writeWallet, readWallet} from "../../sdk/wallet/index.ts"
import {openConnection, printJson, requireProcesses, withNetworkOptions, type NetworkOptions} from "../context.ts"
import {UserError} from "../errors.ts"
import {parseAmount} from "../parse.ts"

export function walletCommand() {
    return new Command("wallet")
        .description("create and use wallets: addresses, balances, escrow deposits and withdrawals")
        .addCommand(new Command("create")
            .description("create a new Arweave wallet file (mode 600)")
            .argument("<file>", "where to write the wallet")
            .option("--json", "print machine-readable JSON")
            .action(async (file: string, options: {json?: boolean}) => {
                if (existsSync(file)) throw new UserError(`${file} already exists; refusing to overwrite a wallet`)
                const jwk = await generateWallet()
                await writeWallet(file, jwk)
                const address = walletAddress(jwk)
                if (options.json) return printJson({address, file: path.resolve(file)})
                process.stdout.write(`created ${file} (mode 600)\naddress ${address}\n`)
            }))
        .addCommand(withNetworkOptions(new Command("address"))
            .description("print the signing wallet's address")
            .action(async (options: NetworkOptions) => {
                const address = options.wallet != null
                    ? walletAddress(await readWallet(options.wallet))
                    : (await openConnection(options)).address
                if (options.json) return printJson({address})
                process.stdout.write(address + "\n")
            }))
        .addCommand(withNetworkOptions(new Command("balance"))
            .description("token balance, and escrow balance (available and locked in open tasks)")
            .option("--address <address>", "whose balance (default: the signing wallet)")
            .action(async (options: NetworkOptions & {address?: string}) => {
                const connection = await openConnection(options)
                const {token, escrow} = requireProcesses(connection.config)
                const who = options.address ?? connection.address
                const [tokenReply, escrowReply] = await Promise.all([
                    connection.ao.read(token, {Action: "Balance", Recipient: who}),
                    connection.ao.read(escrow, {Action: "Balance", Recipient: who})
                ])
                const result = {
                    address: who,
                    token: tokenReply.tags.Balance ?? "0",
                    escrow: {available: escrowReply.tags.Balance ?? "0", locked: escrowReply.tags.Locked ?? "0"}
                }
                if (options.json) return printJson(result)
                process.stdout.write(`address  ${who}\ntoken    ${result.token}\nescrow   ${result.escrow.available} available, ${result.escrow.locked} locked\n`)
            }))
        .addCommand(withNetworkOptions(new Command("deposit"))
            .description("move tokens into your escrow balance, to pay for inference")
            .argument("<amount>", "token base units", parseAmount)
            .action(async (amount: string, options: NetworkOptions) => {
                const connection = await openConnection(options)
                const {token, escrow} = requireProcesses(connection.config)
                const {id} = await connection.ao.send(token, {Action: "Transfer", Recipient: escrow, Quantity: amount, "X-Action": "Deposit"})
                if (options.json) return printJson({deposited: amount, message: id})
                process.stdout.write(`deposited ${amount} (message ${id})\n`)
            }))
        .addCommand(withNetworkOptions(new Command("withdraw"))
            .description("move tokens from your escrow balance back to your wallet")
            .argument("<amount>", "token base units", parseAmount)
            .action(async (amount: string, options: NetworkOptions) => {
                const connection = await openConnection(options)
                const {escrow} = requireProcesses(connection.config)
                const {id} = await connection.ao.send(escrow, {Action: "Withdraw", Quantity: amount})
                if (options.json) return printJson({withdrawn: amount, message: id})
                process.stdout.write(`withdrew ${amount} (message ${id})\n`)
            }))
}
