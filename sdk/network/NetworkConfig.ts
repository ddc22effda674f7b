import {z} from "zod"

const processId = z.string().regex(/^[A-Za-z0-9_-]{43}$/, "must be a 43-character id")

/** The processes weavelm runs on a network. */
export const ProcessIdsSchema = z.object({
    token: processId,
    registry: processId,
    escrow: processId
})
export type ProcessIds = z.infer<typeof ProcessIdsSchema>

/**
 * A network is configuration, never a code path: the same aoconnect and
 * Arweave calls run against the devnet, legacynet or any other AO deployment.
 */
export const NetworkConfigSchema = z.object({
    /** Short name, used in deployment manifest file names. */
    name: z.string().regex(/^[a-z0-9-]+$/, "must be lowercase letters, digits and dashes"),
    /** Messenger unit URL. */
    mu: z.url(),
    /** Compute unit URL. */
    cu: z.url(),
    /** Arweave gateway URL (uploads, downloads, GraphQL). */
    gateway: z.url(),
    /** Scheduler unit address new processes are spawned with. */
    scheduler: z.string(),
    /** The MU's address: spawned processes trust messages it pushes. */
    authority: z.string(),
    /** The aos module new processes run. */
    module: z.string(),
    /** Deployed process ids, when known; `weavelm deploy` fills them in. */
    processes: ProcessIdsSchema.partial().optional(),
    /** Wallet file that signs when no `--wallet` is given (the devnet names its dev wallet). */
    wallet: z.string().optional()
})
export type NetworkConfig = z.infer<typeof NetworkConfigSchema>

/** aos 2.0.x, the current aos module on AO. */
export const AOS_MODULE = "ISShJH1ij-hPPt9St5UFFr_8Ys3Kj5cyg7zrMGt7H9s"

/** AO legacynet, as aoconnect's own defaults name it. */
export const LEGACY_NETWORK: NetworkConfig = {
    name: "legacy",
    mu: "https://mu.ao-testnet.xyz",
    cu: "https://cu.ao-testnet.xyz",
    gateway: "https://arweave.net",
    scheduler: "_GQ33BkPtZrqxA84vM8Zk-N2aO0toNNu_C-l-rawrBA",
    authority: "fcoN_xJeisVsPXA-trzVAuIiqO3ydLQxM-L4XbrQKzY",
    module: AOS_MODULE
}
