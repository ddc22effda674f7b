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
        .addCommand(
            new Command("create")
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
                })
        )
        .addCommand(
            withNetworkOptions(new Command("address"))
                .description("print the signing wallet's address")
                .action(async (options: NetworkOptions) => {
                    const address =
                        options.wallet != null ? walletAddress(await readWallet(options.wallet)) : (await openConnection(options)).address
                    if (options.json) return printJson({address})
                    process.stdout.write(address + "\n")
                })
        )
        .addCommand(
            withNetworkOptions(new Command("balance"))
                .description("token balance, and escrow balance (available and locked in open tasks)")
                .option("--address <address>", "whose balance (default: the signing wallet)")
                .action(async (options: NetworkOptions & {address?: string}) => {
                    const {connection, token, escrow} = await openAccount(options)
                    const who = options.address ?? connection.address
                    const [tokens, escrowed] = await Promise.all([token.balance(who), escrow.balance(who)])
                    const result = {address: who, token: tokens, escrow: escrowed}
                    if (options.json) return printJson(result)
                    process.stdout.write(
                        `address  ${who}\ntoken    ${result.token}\nescrow   ${result.escrow.available} available, ${result.escrow.locked} locked\n`
                    )
                })
        )
        .addCommand(
            withNetworkOptions(new Command("deposit"))
                .description("move tokens into your escrow balance, to pay for inference")
                .argument("<amount>", "token base units", parseAmount)
                .action(async (amount: string, options: NetworkOptions) => {
                    const {escrow} = await openAccount(options)
                    const {id} = await escrow.deposit(amount)
                    if (options.json) return printJson({deposited: amount, message: id})
                    process.stdout.write(`deposited ${amount} (message ${id})\n`)
                })
        )
        .addCommand(
            withNetworkOptions(new Command("withdraw"))
                .description("move tokens from your escrow balance back to your wallet")
                .argument("<amount>", "token base units", parseAmount)
                .action(async (amount: string, options: NetworkOptions) => {
                    const {escrow} = await openAccount(options)
                    const {id} = await escrow.withdraw(amount)
                    if (options.json) return printJson({withdrawn: amount, message: id})
                    process.stdout.write(`withdrew ${amount} (message ${id})\n`)
                })
        )
}

/** The signing wallet's view of the token and the escrow. */
async function openAccount(options: NetworkOptions) {
    const connection = await openConnection(options)
    const processes = requireProcesses(connection.config)
    const [{TokenClient}, {EscrowClient}] = await Promise.all([import("../../sdk/token/index.ts"), import("../../sdk/escrow/index.ts")])
    return {connection, token: new TokenClient(connection.ao, processes.token), escrow: new EscrowClient(connection.ao, processes)}
}
