import {AoProcessError, type AoClient} from "../ao/index.ts"
import type {LuaBundle} from "../lua/index.ts"

export interface SpawnLuaProcessOptions {
    client: AoClient
    /** The aos module (wasm) the process runs. */
    module: string
    /** The scheduler unit's address. */
    scheduler: string
    /** Who may speak for other processes (the MU, or the HyperBEAM node's scheduler); aos refuses their pushes otherwise. */
    authority: string
    /** Human-readable process name, tagged as `Name`. */
    name: string
    bundle: LuaBundle
}

/** Spawns an aos process and loads our Lua into it; an Eval error fails the spawn. */
export async function spawnLuaProcess({client, module, scheduler, authority, name, bundle}: SpawnLuaProcessOptions): Promise<string> {
    const process = await client.spawn({
        module,
        scheduler,
        authority,
        tags: [
            {name: "Name", value: name},
            {name: "App-Name", value: "weavelm"}
        ]
    })
    await evalWhenReady(client, process, bundle.source)
    return process
}

/**
 * A real MU refuses messages to a process its scheduler has not indexed yet, a
 * few seconds after the spawn; that refusal is retried, a Lua error is not.
 */
async function evalWhenReady(client: AoClient, process: string, source: string) {
    for (let attempt = 1; ; attempt++) {
        try {
            return await client.eval(process, source)
        } catch (error) {
            if (error instanceof AoProcessError || attempt >= 6) throw error
            await new Promise((resolve) => setTimeout(resolve, 1000 * attempt))
        }
    }
}
