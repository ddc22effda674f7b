import type {AoClient as ArioAoClient, ArNSNameResolver} from "@ar.io/sdk"
import {connect} from "@permaweb/aoconnect"
import type {AoResult, Tag} from "../ao/index.ts"
import {WeaveLMError} from "../errors/index.ts"
import {ARIO_MAINNET_CU} from "./defaults.ts"

/** The ArNS name cannot be resolved to a transaction; the message says why. */
export class ArnsError extends WeaveLMError {
    public override readonly name = "ArnsError"
    public override readonly kind = "user"
}

/** Reads ArNS names: `ARIO.init()` from `@ar.io/sdk` is one, `arioReader()` a lazily loaded one. */
export type ArnsReader = ArNSNameResolver

/** A dry run as aoconnect's `dryrun` takes it: the only AO call a name lookup makes. */
export type ArnsDryrun = (args: {process: string; tags: Tag[]}) => Promise<AoResult>

export interface ArioReaderOptions {
    /** Compute unit the ARIO and ANT processes are read through. Defaults to `https://cu.ardrive.io`, as `ARIO.mainnet()`. */
    cuUrl?: string
    /** The ARIO process that holds the names. Defaults to AR.IO mainnet's (`ARIO_MAINNET_PROCESS_ID`). */
    processId?: string
    /** Answers the lookups' dry runs instead of the compute unit (recorded responses in tests). Defaults to aoconnect's. */
    dryrun?: ArnsDryrun
}

const TX_ID = /^[A-Za-z0-9_-]{43}$/
// A base name (1-51 of a-z 0-9 -, no dash at either end), optionally behind an undername and `_`.
const ARNS_NAME = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?_)?[a-z0-9](?:[a-z0-9-]{0,49}[a-z0-9])?$/

/**
 * An ARIO client that loads `@ar.io/sdk` on its first lookup, so commands
 * that never meet an `ar://` name do not pay for importing it.
 */
export function arioReader({cuUrl = ARIO_MAINNET_CU, processId, dryrun}: ArioReaderOptions = {}): ArnsReader {
    let client: Promise<ArnsReader> | undefined
    return {
        async resolveArNSName(params) {
            client ??= import("@ar.io/sdk").then(({ARIO, AOProcess, ARIO_MAINNET_PROCESS_ID}) => {
                const read = dryrun ?? connect({MODE: "legacy", CU_URL: cuUrl}).dryrun
                // A name lookup only ever dry-runs: the ARIO process, then the name's ANT.
                const ao = {dryrun: read} as unknown as ArioAoClient
                return ARIO.init({process: new AOProcess({processId: processId ?? ARIO_MAINNET_PROCESS_ID, ao})})
            })
            return await (await client).resolveArNSName(params)
        }
    }
}

/**
 * The transaction an `ar://` URL points at now: `ar://<tx id>` is that
 * transaction, `ar://<name>` (or `ar://<undername>_<name>`) is whatever the
 * name's ANT record holds. ArNS names are case-insensitive.
 */
export async function resolveArUrl(url: string, {ario}: {ario: ArnsReader}): Promise<string> {
    if (!url.startsWith("ar://")) throw new ArnsError(`"${url}" is not an ar:// URL`)
    const rest = url.slice("ar://".length)
    if (TX_ID.test(rest)) return rest
    return (await resolveArnsName(rest, {ario})).txId
}

/** What an ArNS name points at. */
export interface ArnsResolution {
    name: string
    txId: string
    /** The ANT process that holds the name's records. */
    processId: string
    /** How long the answer may be cached. */
    ttlSeconds: number
}

/** Resolves an ArNS name (`my-model`, `q8_my-model`) to the transaction id its ANT record holds. */
export async function resolveArnsName(name: string, {ario}: {ario: ArnsReader}): Promise<ArnsResolution> {
    const normalized = name.toLowerCase()
    if (!ARNS_NAME.test(normalized))
        throw new ArnsError(`"${name}" is not an ArNS name: 1-51 letters, digits and dashes, optionally after "<undername>_"`)
    let resolved: Awaited<ReturnType<typeof ario.resolveArNSName>>
    try {
        resolved = await ario.resolveArNSName({name: normalized})
    } catch (error) {
        const reason = error instanceof Error ? error.message : String(error)
        throw new ArnsError(
            /not found/i.test(reason)
                ? `The ArNS name "${normalized}" is not registered (${reason})`
                : `Could not resolve the ArNS name "${normalized}": ${reason}`
        )
    }
    if (typeof resolved.txId !== "string" || !TX_ID.test(resolved.txId))
        throw new ArnsError(`The ArNS name "${normalized}" points at ${JSON.stringify(resolved.txId)}, which is not a transaction id`)
    return {name: normalized, txId: resolved.txId, processId: resolved.processId, ttlSeconds: resolved.ttlSeconds}
}
