import type {AoClient} from "../ao/index.ts"
import type {LuaBundle} from "../lua/index.ts"

export interface SpawnLuaProcessOptions {
    client: AoClient
    /** The aos module (wasm) the process runs. */
    module: string
    /** The scheduler unit's address. */
    scheduler: string
    /** The MU address trusted to push other processes' messages; aos refuses Eval from untrusted pushers otherwise. */
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
        tags: [
            {name: "Authority", value: authority},
            {name: "Name", value: name},
            {name: "App-Name", value: "weavelm"}
        ]
    })
    await client.eval(process, bundle.source)
    return process
}
