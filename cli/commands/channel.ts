import {Command, Option} from "commander"
import {openConnection, printJson, requireProcesses, withNetworkOptions, type NetworkOptions} from "../context.ts"
import {UserError} from "../errors.ts"

interface ChannelListOptions extends NetworkOptions {
    state?: "Open" | "Closing" | "Closed"
}

export function channelCommand() {
    return new Command("channel")
        .description("your direct-mode payment channels (weavelm proxy opens them)")
        .addCommand(
            withNetworkOptions(new Command("list"))
                .description("list the channels your wallet opened, newest first")
                .addOption(new Option("--state <state>", "only channels in this state").choices(["Open", "Closing", "Closed"]))
                .action(async (options: ChannelListOptions) => {
                    const channels = await channelClient(options)
                    const list = await channels.client.channels({owner: channels.owner, state: options.state})
                    if (options.json) return printJson(list)
                    if (list.length === 0) process.stderr.write("no channels\n")
                    for (const c of list) {
                        const closes = c.closesAt == null ? "" : ` closes ${new Date(c.closesAt).toISOString()}`
                        process.stdout.write(
                            `${c.id}  ${c.state.padEnd(7)} worker ${c.worker}  deposited ${c.deposited}  paid ${c.paid}  redemptions ${c.redemptions}${closes}\n`
                        )
                    }
                })
        )
        .addCommand(
            withNetworkOptions(new Command("close"))
                .description(
                    "start closing a channel: the worker may redeem until the refund lock ends, then the rest returns to your escrow balance"
                )
                .argument("<id>", "the channel's id")
                .action(async (id: string, options: NetworkOptions) => {
                    const channels = await channelClient(options)
                    const record = await channels.client.channel(id)
                    if (record == null) throw new UserError(`No channel ${id} in the escrow`)
                    if (record.owner !== channels.owner) throw new UserError(`Channel ${id} is not yours`)
                    const closing = await channels.client.close(id)
                    if (options.json) return printJson(closing)
                    process.stdout.write(
                        `channel ${id} closing: deposited ${closing.deposited}, paid ${closing.paid}; ` +
                            `the rest returns to your escrow balance after ${new Date(closing.closesAt).toISOString()}\n`
                    )
                })
        )
}

async function channelClient(options: NetworkOptions) {
    const {ChannelClient} = await import("../../sdk/channel/index.ts")
    const connection = await openConnection(options)
    const {escrow, token} = requireProcesses(connection.config)
    return {client: new ChannelClient(connection.ao, {escrow, token}), owner: connection.address}
}
