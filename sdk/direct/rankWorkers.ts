import {taskFee, type FeeTerms} from "../escrow/index.ts"
import type {ModelRecord, WorkerRecord} from "../registry/index.ts"

/** A worker `auto` may send requests to: it serves the model and says where it listens. */
export interface WorkerCandidate {
    record: WorkerRecord
    /** The worker's OpenAI base URL (ends in `/v1`). */
    baseUrl: string
    /** The fee of the reference request divided by the worker's reliability; lower ranks first. */
    score: number
}

/**
 * The request a price is compared on: input and output sizes of a typical chat
 * turn, so that a worker cheap on input but dear on output does not win on a
 * prompt-only comparison.
 */
const REFERENCE_REQUEST = {inputTokens: 512, outputTokens: 256}

/**
 * Orders the workers that can serve `model` directly, best first. A worker
 * qualifies when it is eligible, serves the model, registered an endpoint and
 * its heartbeat is fresh at `now`. The score is the fee of a reference request
 * divided by the escrow's own reliability factor `(completed + 1) / (completed
 * + 1 + 4 strikes + 16 slashed)`: a worker that failed before must be that much
 * cheaper to be tried first. Ties go to the larger stake, then the address, so
 * every client ranks the same registry the same way.
 */
export function rankWorkers(workers: readonly WorkerRecord[], model: ModelRecord, now: number): WorkerCandidate[] {
    const candidates: WorkerCandidate[] = []
    for (const record of workers) {
        if (!record.eligible || !record.models.includes(model.id) || record.endpoint == null) continue
        if (now - record.lastHeartbeat > record.heartbeatTimeout) continue
        const baseUrl = openAiBaseUrl(record.endpoint)
        if (baseUrl == null) continue
        const fee = Number(taskFee(feeTermsOf(record, model), REFERENCE_REQUEST).total)
        const {completed, strikes, slashed} = record.reputation
        const reliability = (completed + 1) / (completed + 1 + 4 * strikes + 16 * slashed)
        candidates.push({record, baseUrl, score: fee / reliability})
    }
    return candidates.sort(
        (a, b) => a.score - b.score || compareStakes(b.record.stake, a.record.stake) || (a.record.address < b.record.address ? -1 : 1)
    )
}

/** What `worker` charges for a request for `model`, the model owner's fee included. */
export function feeTermsOf(worker: WorkerRecord, model: ModelRecord): FeeTerms {
    return {priceInput: worker.priceInput, priceOutput: worker.priceOutput, ownerFeeBps: model.ownerFee}
}

/**
 * The OpenAI base URL of a registered endpoint. Workers register the URL an
 * OpenAI client is given (`https://host/v1`); a bare origin (`http://host:port`)
 * means its `/v1`. Null for anything that is not http(s).
 */
export function openAiBaseUrl(endpoint: string): string | null {
    let url: URL
    try {
        url = new URL(endpoint)
    } catch {
        return null
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") return null
    const path = url.pathname.replace(/\/+$/, "")
    return `${url.origin}${path === "" ? "/v1" : path}`
}

function compareStakes(a: string, b: string) {
    const difference = BigInt(a) - BigInt(b)
    return difference === 0n ? 0 : difference < 0n ? -1 : 1
}
