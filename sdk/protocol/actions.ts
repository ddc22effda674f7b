/**
 * Every Action each weavelm process accepts, as docs/protocol.md lists them. A
 * test holds these lists, the doc and the Lua handlers to each other.
 */
export const TOKEN_ACTIONS = ["Info", "Total-Supply", "Balance", "Balances", "Transfer", "Mint"] as const

export const REGISTRY_ACTIONS = [
    "Configure",
    "Register-Model",
    "Stake",
    "Register-Worker",
    "Update-Worker",
    "Heartbeat",
    "Unstake",
    "Withdraw",
    "Slash",
    "Record-Outcome",
    "Info",
    "Models",
    "Model",
    "Workers",
    "Worker"
] as const

export const ESCROW_ACTIONS = [
    "Configure",
    "Sync-Model",
    "Sync-Worker",
    "Deposit",
    "Withdraw",
    "Balance",
    "Infer",
    "Task-Result",
    "Task-Failed",
    "Settle",
    "Info",
    "Task",
    "Tasks",
    "Challenge",
    "Dispute-Seed",
    "Reveal-Seed",
    "Referee-Verdict",
    "Slash-Notice",
    "Open-Channel",
    "Redeem-Voucher",
    "Close-Channel",
    "Channel",
    "Channels",
    "Published"
] as const

/** Messages the escrow sends to requesters, workers, challengers, referees and channel owners. */
export const ESCROW_NOTICES = [
    "Infer-Accepted",
    "Infer-Result",
    "Infer-Refunded",
    "Task-Assigned",
    "Task-Revoked",
    "Task-Settled",
    "Task-Result-Notice",
    "Challenge-Accepted",
    "Dispute-Seed-Notice",
    "Dispute-Seeded",
    "Reveal-Seed-Notice",
    "Committee-Drawn",
    "Challenge-Lapsed",
    "Referee-Request",
    "Referee-Verdict-Notice",
    "Challenge-Resolved",
    "Slash-Distributed",
    "Channel-Opened",
    "Voucher-Redeemed",
    "Channel-Closing",
    "Channel-Closed",
    "Infer-Response"
] as const

export type TokenAction = (typeof TOKEN_ACTIONS)[number]
export type RegistryAction = (typeof REGISTRY_ACTIONS)[number]
export type EscrowAction = (typeof ESCROW_ACTIONS)[number]
export type EscrowNotice = (typeof ESCROW_NOTICES)[number]
