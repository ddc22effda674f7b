import {z} from "zod"
import type {ProcessReply} from "../../sdk/ao/index.ts"
import type {EscrowClient} from "../../sdk/escrow/index.ts"
import type {RegistryClient} from "../../sdk/registry/index.ts"
import type {StorageBackend} from "../../sdk/storage/index.ts"
import {publishVerification, verificationDocument, verifyTask, VerifierModels} from "../../verifier/index.ts"
import type {InferenceEngine, LoadedModel} from "../engine/index.ts"
import type {WorkerLogEvent} from "./WorkerLogEvent.ts"

const RefereeRequestTagsSchema = z.object({
    "Task-Id": z.string(),
    "Challenge-Id": z.string(),
    Deadline: z.coerce.number().int(),
    Model: z.string()
})

/** What a referee needs of a `Referee-Request` (docs/protocol.md, escrow "The committee"); the rest it reads from the escrow. */
export interface RefereeRequest {
    taskId: string
    challengeId: string
    /** The Referee-Deadline: a vote after it is refused. */
    deadline: number
    model: string
}

/** Reads a `Referee-Request`; throws a ZodError naming a missing or malformed tag. */
export function parseRefereeRequest(message: ProcessReply): RefereeRequest {
    const tags = RefereeRequestTagsSchema.parse(message.tags)
    return {taskId: tags["Task-Id"], challengeId: tags["Challenge-Id"], deadline: tags.Deadline, model: tags.Model}
}

export interface RefereeDutyOptions {
    /** The worker's address: the committee member. */
    address: string
    escrow: EscrowClient
    registry: RegistryClient
    /** Arweave gateway URL. */
    gateway: string
    /** The worker's model cache root. */
    cacheDir: string
    storage: StorageBackend
    /** Loads the referee's own copy of a model, with the receipt's batch size and flash attention off. */
    engine: InferenceEngine
    /**
     * The worker's loaded model with this SHA-256, reused when its settings are the referee's: the
     * receipt's batch size and flash attention off (the engine's default). A served model loaded with
     * flash attention on or `"auto"` is not: the referee loads its own pinned copy.
     */
    served: (sha256: string) => LoadedModel | undefined
    log: (level: WorkerLogEvent["level"], event: string, message: string, fields?: Record<string, unknown>) => void
}

/**
 * A worker's duty on a referee committee: for each `Referee-Request` addressed to it, re-check the
 * challenged task with the verifier (the worker's own loaded model where it fits), store the report
 * on Arweave (`Type: Verification`) and answer `Referee-Verdict` before the Referee-Deadline. One
 * request at a time, in arrival order. A referee that cannot gather the evidence does not vote: it
 * takes the strike for silence rather than guess at a worker's stake.
 *
 * Referees on other machines must reach the same verdict, so they replay rather than re-score: the
 * model loaded with flash attention off and the receipt's batch size, the output decoded token by
 * token (`LoadedModel.score`'s decode mode). Those numbers do not depend on the referee's thread
 * count; the one-pass re-score's do, near a threshold enough to flip a verdict
 * (docs/verification.md, "Referees: decode replay").
 */
export class RefereeDuty {
    readonly #options: RefereeDutyOptions
    readonly #models: VerifierModels
    readonly #queue: RefereeRequest[] = []
    /** Challenge-Ids queued or answered in this run; the escrow's record says which were answered before it. */
    readonly #taken = new Set<string>()
    #draining: Promise<void> | null = null
    #stopped = false

    public constructor(options: RefereeDutyOptions) {
        this.#options = options
        this.#models = new VerifierModels({
            load: async (path, loadOptions) => await options.engine.loadModel(path, {...loadOptions, flashAttention: false}),
            loaded: (sha256) => {
                const model = options.served(sha256)
                return model?.flashAttention === false ? model : undefined
            },
            keep: 1
        })
    }

    /** A `Referee-Request` from this worker's inbox at the escrow: queued, or logged when malformed. */
    public receive(message: ProcessReply) {
        let request: RefereeRequest
        try {
            request = parseRefereeRequest(message)
        } catch (error) {
            this.#options.log(
                "warn",
                "referee.malformed",
                `ignored a malformed Referee-Request: ${(error as Error).message.replace(/\s+/g, " ")}`
            )
            return
        }
        this.accept(request)
    }

    /** Queues a request; one seen before is ignored. */
    public accept(request: RefereeRequest) {
        if (this.#stopped || this.#taken.has(request.challengeId)) return
        this.#taken.add(request.challengeId)
        this.#queue.push(request)
        this.#draining ??= this.#drain().finally(() => (this.#draining = null))
    }

    /**
     * After a restart: requests behind the saved cursor whose answer a stop cut short. Every open
     * dispute whose committee holds this worker and has no vote from it is queued again.
     */
    public async resume() {
        const {escrow, address} = this.#options
        for (const task of await escrow.tasks({state: "Challenged", limit: 1000})) {
            const dispute = task.dispute
            if (dispute == null || !dispute.committee.includes(address) || dispute.votes[address] != null || dispute.deadline < Date.now())
                continue
            this.accept({taskId: task.id, challengeId: dispute.id, deadline: dispute.deadline, model: task.model})
        }
    }

    /** Lets the request under way finish, drops the rest (resume() finds them again) and frees the models loaded for refereeing. */
    public async stop() {
        this.#stopped = true
        this.#queue.length = 0
        await this.#draining
        await this.#models.dispose()
    }

    async #drain() {
        for (let request = this.#queue.shift(); request != null && !this.#stopped; request = this.#queue.shift()) {
            try {
                await this.#answer(request)
            } catch (error) {
                this.#options.log("error", "referee.failed", `could not referee task ${request.taskId}: ${(error as Error).message}`, {
                    taskId: request.taskId,
                    challengeId: request.challengeId
                })
            }
        }
    }

    async #answer(request: RefereeRequest) {
        const {escrow, address, log} = this.#options
        const {taskId, challengeId} = request
        if (Date.now() > request.deadline) {
            log("warn", "referee.missed", `the Referee-Deadline of task ${taskId} passed before it was checked`, {taskId, challengeId})
            return
        }
        const task = await escrow.task(taskId)
        const dispute = task?.dispute
        if (task?.state !== "Challenged" || dispute?.id !== challengeId || dispute.votes[address] != null) return
        log("info", "referee.started", `refereeing task ${taskId} (challenge ${challengeId})`, {taskId, challengeId})

        const {evidence, report, verifierEngine} = await verifyTask({
            taskId,
            escrow,
            registry: this.#options.registry,
            gateway: this.#options.gateway,
            cacheDir: this.#options.cacheDir,
            models: this.#models,
            replay: "always"
        })
        const reportTx = await publishVerification(
            this.#options.storage,
            verificationDocument({
                report,
                receiptBytes: evidence.receiptBytes,
                model: {id: task.model, sha256: evidence.model.sha256},
                verifier: address,
                engine: verifierEngine,
                taskId,
                receiptTx: evidence.receiptTx,
                challengeId,
                notes: evidence.notes,
                promptSource: evidence.prompt?.source ?? null
            })
        )
        const verdict = report.verdict === "valid" ? "Valid" : "Invalid"
        const votes = await escrow.vote({taskId, verdict, reportTx})
        log(
            "info",
            "referee.voted",
            `voted ${verdict} on task ${taskId}` +
                (report.firstBadPosition == null ? "" : ` (first bad position ${report.firstBadPosition})`) +
                `, report ${reportTx}`,
            {
                taskId,
                challengeId,
                verdict,
                reportTx,
                firstBadPosition: report.firstBadPosition,
                validVotes: votes.validVotes,
                invalidVotes: votes.invalidVotes
            }
        )
    }
}
