import path from "node:path"
import type {AoClient} from "../ao/index.ts"
import {bundleLua, processesDir, type LuaBundle} from "../lua/index.ts"
import type {NetworkConfig} from "../network/index.ts"
import {PROCESS_NAMES, type DeployManifest, type ProcessName} from "./manifest.ts"
import {spawnLuaProcess} from "./spawnLuaProcess.ts"

/** Protocol parameters set with `Configure`; see docs/protocol.md for meanings and defaults. */
export interface DeployParameters {
    registry?: {"Min-Stake"?: string; "Unstake-Cooldown"?: string; "Heartbeat-Timeout"?: string}
    escrow?: {
        "Challenge-Window"?: string
        "Task-Timeout"?: string
        "Max-Attempts"?: string
        "Challenge-Bond"?: string
        "Referee-Count"?: string
        "Referee-Fee"?: string
        "Referee-Timeout"?: string
        "Slash-Amount"?: string
        "Challenger-Share"?: string
        "Channel-Refund-Lock"?: string
    }
}

export interface DeployProcessesOptions {
    client: AoClient
    network: NetworkConfig
    /** The previous deployment on this network; its processes are upgraded in place. */
    previous?: DeployManifest | null
    /** Use this token process instead of deploying ours (e.g. wrapped AR on a real network). */
    token?: string
    parameters?: DeployParameters
    /** Called before each step, for progress output. */
    onStep?: (step: string) => void
}

export interface DeployResult {
    manifest: DeployManifest
    /** What happened to each process. */
    actions: Record<ProcessName, "spawned" | "upgraded" | "unchanged" | "external">
}

/**
 * Spawns the processes a network lacks, re-Evals those whose bundled code
 * changed (globals keep their state), leaves the rest alone, and configures
 * registry and escrow with each other's ids and the parameters.
 */
export async function deployProcesses({
    client,
    network,
    previous,
    token,
    parameters = {},
    onStep = () => {}
}: DeployProcessesOptions): Promise<DeployResult> {
    const bundles = {} as Record<ProcessName, LuaBundle>
    for (const name of PROCESS_NAMES) bundles[name] = await bundleLua(path.join(processesDir, `${name}.lua`))

    const ids = {} as Record<ProcessName, string>
    const actions = {} as DeployResult["actions"]
    const code: DeployManifest["code"] = {}

    for (const name of PROCESS_NAMES) {
        const bundle = bundles[name]
        if (name === "token" && token != null) {
            ids.token = token
            actions.token = "external"
            continue
        }
        const existing = previous?.code[name]
        if (existing == null) {
            onStep(`spawning ${name}`)
            ids[name] = await spawnLuaProcess({
                client,
                module: network.module,
                scheduler: network.scheduler,
                authority: network.authority,
                name: `weavelm-${name}`,
                bundle
            })
            actions[name] = "spawned"
        } else if (existing.codeHash !== bundle.hash) {
            onStep(`upgrading ${name}`)
            await client.eval(existing.id, bundle.source)
            ids[name] = existing.id
            actions[name] = "upgraded"
        } else {
            ids[name] = existing.id
            actions[name] = "unchanged"
        }
        code[name] = {id: ids[name], codeHash: bundle.hash}
    }

    const configured = {
        registry: {...parameters.registry, Token: ids.token, Escrow: ids.escrow},
        escrow: {...parameters.escrow, Token: ids.token, Registry: ids.registry}
    } as Record<"registry" | "escrow", Record<string, string>>
    for (const name of ["registry", "escrow"] as const) {
        const unchanged = actions[name] === "unchanged" && JSON.stringify(previous?.parameters[name]) === JSON.stringify(configured[name])
        if (unchanged) continue
        onStep(`configuring ${name}`)
        await client.send(ids[name], {Action: "Configure", ...configured[name]})
    }

    return {
        manifest: {
            network: network.name,
            module: network.module,
            processes: {token: ids.token, registry: ids.registry, escrow: ids.escrow},
            code,
            parameters: configured,
            updatedAt: new Date().toISOString()
        },
        actions
    }
}
