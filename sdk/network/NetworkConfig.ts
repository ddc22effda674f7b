import {z} from "zod"

const processId = z.string().regex(/^[A-Za-z0-9_-]{43}$/, "must be a 43-character id")
const address = z.string().regex(/^[A-Za-z0-9_-]{43}$/, "must be a 43-character address")

/** One URL, or several separated by commas: tried in order on connection errors and 5xx answers. */
const urlList = z
    .string()
    .refine((value) => value.split(",").every((url) => z.url().safeParse(url.trim()).success), "must be a URL, or URLs separated by commas")

/** The processes weavelm runs on a network. */
export const ProcessIdsSchema = z.object({
    token: processId,
    registry: processId,
    escrow: processId
})
export type ProcessIds = z.infer<typeof ProcessIdsSchema>

const commonFields = {
    /** Short name, used in deployment manifest file names. */
    name: z.string().regex(/^[a-z0-9-]+$/, "must be lowercase letters, digits and dashes"),
    /** Arweave gateway URL: downloads by id, GraphQL; on legacy also L1 uploads. */
    gateway: z.url(),
    /** Scheduler address new processes are spawned with. */
    scheduler: address,
    /** Who may speak for a process: spawned processes trust messages this address signs or pushes. */
    authority: address,
    /** The aos module new processes run. */
    module: processId,
    /** Deployed process ids, when known; `weavelm deploy` fills them in. */
    processes: ProcessIdsSchema.partial().optional(),
    /** Wallet file that signs when no `--wallet` is given (the devnet names its dev wallet). */
    wallet: z.string().optional()
}

/** AO on HyperBEAM: a node takes pushes, computes by slot and serves `patch@1.0` state; uploads go to a bundler. */
export const MainnetNetworkSchema = z.object({
    mode: z.literal("mainnet"),
    ...commonFields,
    /** HyperBEAM node URL, or several separated by commas (tried in order). */
    node: urlList,
    /** Where signed ANS-104 data items are uploaded: Turbo's upload service or a node's `~bundler@1.0`. */
    bundler: z.url()
})

/** AO legacy units (self-hosted, or whitelisted processes on legacynet): MU, CU, L1 uploads through the gateway. */
export const LegacyNetworkSchema = z.object({
    /** Files written before networks had modes are legacy. */
    mode: z.literal("legacy").default("legacy"),
    ...commonFields,
    /** Messenger unit URL, or several separated by commas. */
    mu: urlList,
    /** Compute unit URL, or several separated by commas. */
    cu: urlList
})

/**
 * A network is configuration, never a code path: the same clients run against
 * the devnet, AO mainnet or a legacy deployment; `mode` picks the transport.
 */
export const NetworkConfigSchema = z.discriminatedUnion("mode", [MainnetNetworkSchema, LegacyNetworkSchema])
export type NetworkConfig = z.infer<typeof NetworkConfigSchema>
export type MainnetNetwork = z.infer<typeof MainnetNetworkSchema>
export type LegacyNetwork = z.infer<typeof LegacyNetworkSchema>

/** aos 2.0.x, the current aos module on AO (legacynet and HyperBEAM's `genesis-wasm@1.0`). */
export const AOS_MODULE = "ISShJH1ij-hPPt9St5UFFr_8Ys3Kj5cyg7zrMGt7H9s"

/** AO mainnet as aos itself defaults to it (permaweb/aos `src/config.js`), uploads through Turbo. */
export const MAINNET_NETWORK: MainnetNetwork = {
    name: "mainnet",
    mode: "mainnet",
    node: "https://push.forward.computer",
    scheduler: "n_XZJhUnmldNFo4dhajoPZWhBXuJk-OcQr5JQ49c4Zo",
    authority: "n_XZJhUnmldNFo4dhajoPZWhBXuJk-OcQr5JQ49c4Zo",
    module: AOS_MODULE,
    gateway: "https://arweave.net",
    bundler: "https://upload.ardrive.io"
}

/** AO legacynet, as aoconnect's own defaults name it; only whitelisted processes are served there since 2026-02. */
export const LEGACY_NETWORK: LegacyNetwork = {
    name: "legacy",
    mode: "legacy",
    mu: "https://mu.ao-testnet.xyz",
    cu: "https://cu.ao-testnet.xyz",
    gateway: "https://arweave.net",
    scheduler: "_GQ33BkPtZrqxA84vM8Zk-N2aO0toNNu_C-l-rawrBA",
    authority: "fcoN_xJeisVsPXA-trzVAuIiqO3ydLQxM-L4XbrQKzY",
    module: AOS_MODULE
}

/** The URLs of a comma-separated list, in order. */
export function splitUrls(list: string): string[] {
    return list
        .split(",")
        .map((url) => url.trim())
        .filter((url) => url !== "")
}
