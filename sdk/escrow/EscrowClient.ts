import {randomBytes, randomUUID} from "node:crypto"
import {z} from "zod"
import {AoProcessError, type AoClient, type ProcessReply} from "../ao/index.ts"
import {WeaveLMError} from "../errors/index.ts"
import {TokenClient} from "../token/index.ts"
import {MemoryChallengeSecrets, newChallengeSecret, type ChallengeSecretStore} from "./challengeSecrets.ts"
import {leastBond} from "./fees.ts"
import {awaitReply, followMailbox, inboxKey, mailboxCursor, RESULTS_FEED, sleep, type MailboxMessage} from "./mailbox.ts"
import {DISPUTE_VERDICTS, TaskRecordSchema, type DisputeRecord, type TaskRecord} from "./schemas.ts"

/** What a requester asks for; see docs/protocol.md (escrow, Infer). */
export interface InferRequest {
    /** Model-Id or registered name. */
    model: string
    /** The prompt text; for `chat`, a JSON list of `{role, content}` (or pass `messages`). */
    prompt: string
    /** Defaults to `256`. */
    maxTokens?: number
    /** `0` is greedy. Defaults to `0`. */
    temperature?: number
    /** Defaults to `40`. */
    topK?: number
    /** Defaults to `1`. */
    topP?: number
    /** Seeds sampling when temperature > 0. Defaults to `0`. */
    seed?: number
    /** Defaults to `"text"`. */
    format?: "text" | "chat"
    /** The most to pay, in token base units. */
    maxFee: string
}

export interface InferAccepted {
    taskId: string
    worker: string
    deadline: number
}

/** A finished task as the requester receives it in `Infer-Result`. */
export interface InferResult {
    taskId: string
    output: string
    worker: string
    fee: string
    receiptTx: string
    receiptHash: string
    inputTokens: number
    outputTokens: number
    challengeDeadline: number
}

/** The escrow gave up on a task (no worker answered in time) and refunded it. */
export class TaskRefundedError extends WeaveLMError {
    public override readonly name = "TaskRefundedError"
    public override readonly kind = "remote"
    public readonly taskId: string

    public constructor(taskId: string, reason: string) {
        super(`Task ${taskId} was refunded: ${reason}`)
        this.taskId = taskId
    }
}

/** A result as the escrow announces it to its requester in `Infer-Result`; anyone may read them. */
export interface AnnouncedResult {
    taskId: string
    requester: string
    worker: string
    receiptTx: string
    receiptHash: string
    outputTokens: number
    challengeDeadline: number
    /** The results feed's number of this result: follow on from it to miss nothing. */
    cursor: number
}

/** The escrow's parameters (docs/protocol.md, escrow "Parameters"), as its `Info` reports them. */
export const EscrowParametersSchema = z
    .object({
        "Challenge-Window": z.coerce.number(),
        "Task-Timeout": z.coerce.number(),
        "Max-Attempts": z.coerce.number(),
        "Challenge-Bond": z.string(),
        "Referee-Count": z.coerce.number(),
        "Referee-Fee": z.string(),
        "Referee-Timeout": z.coerce.number(),
        "Slash-Amount": z.string(),
        "Challenger-Share": z.coerce.number(),
        "Seed-Timeout": z.coerce.number(),
        "Reveal-Timeout": z.coerce.number(),
        "Audit-Rate": z.coerce.number()
    })
    .transform((tags) => ({
        challengeWindow: tags["Challenge-Window"],
        taskTimeout: tags["Task-Timeout"],
        maxAttempts: tags["Max-Attempts"],
        challengeBond: tags["Challenge-Bond"],
        refereeCount: tags["Referee-Count"],
        refereeFee: tags["Referee-Fee"],
        refereeTimeout: tags["Referee-Timeout"],
        slashAmount: tags["Slash-Amount"],
        challengerShare: tags["Challenger-Share"],
        seedTimeout: tags["Seed-Timeout"],
        revealTimeout: tags["Reveal-Timeout"],
        auditRate: tags["Audit-Rate"]
    }))
export type EscrowParameters = z.output<typeof EscrowParametersSchema>

/**
 * A direct request to challenge by its receipt (docs/protocol.md, escrow "Disputes"): what the
 * worker gave (the receipt, the channel) and stored (the Receipt-Batch).
 */
export interface DirectChallengeTarget {
    channel: string
    /** The receipt's taskId: the id of the voucher that paid for the request. */
    requestId: string
    /** SHA-256 (hex) of the receipt's bytes. */
    receiptHash: string
    /** The Receipt-Batch upload holding the receipt. */
    batchTx: string
    /** What the request cost; at most what the channel has paid. */
    fee: string
}

/** What a challenger asks for; see docs/protocol.md (escrow, "Challenging"). */
export interface ChallengeRequest {
    /** The task to challenge, or `direct`: a direct request by its receipt. */
    taskId?: string
    direct?: DirectChallengeTarget
    /** The first output position (from 0) the challenger disputes. */
    position: number
    /** The Arweave transaction of the challenger's evidence (a verification report). */
    evidenceTx: string
    /** All of it is at stake. Defaults to the least bond the escrow accepts for this result (`leastBond`). */
    bond?: string
    /**
     * `deposit` takes the bond from the escrow balance (`Challenge`); `transfer` sends it from the
     * wallet's tokens (a `Transfer` with `X-Action=Challenge`), and what comes back returns by transfer.
     */
    bondFrom: "deposit" | "transfer"
}

/**
 * The escrow's `Challenge-Accepted`: the task is frozen and the bond held; the committee is drawn
 * when the challenger reveals the secret behind Seed-Commit (docs/protocol.md, "Seeding the committee").
 */
export interface ChallengeCommitted {
    taskId: string
    challengeId: string
    /** The accused worker, asked for its seed. */
    worker: string
    challenger: string
    bond: string
    /** SHA-256 (hex) of the challenger's secret. */
    seedCommit: string
    /** Until when the worker may send its seed. */
    seedDeadline: number
    /** Until when the challenger may reveal; after it the challenge lapses and the bond is lost. */
    revealDeadline: number
    quorum: number
}

/** A challenge whose committee is drawn (the escrow's `Reveal-Seed-Notice`). */
export interface ChallengeAccepted extends ChallengeCommitted {
    /** The committee, in draw order. */
    referees: string[]
    refereeDeadline: number
    /** The worker's part of the draw's seed; null when it sent none by Seed-Deadline. */
    workerSeed: string | null
    /** SHA-256 of secret, worker seed and Challenge-Id: the seed text of the draw is `<drawSeed>:referee`. */
    drawSeed: string
}

/** The escrow's `Challenge-Resolved`, and for an Invalid verdict the `Slash-Distributed` that follows. */
export interface ChallengeResolution {
    taskId: string
    challengeId: string
    verdict: (typeof DISPUTE_VERDICTS)[number]
    resolution: "Quorum" | "Deadline"
    validVotes: number
    invalidVotes: number
    majority: string[]
    struck: string[]
    bond: string
    /** Valid: what each majority referee got from the bond, and the worker's share of the rest. */
    refereeFee?: string
    workerShare?: string
    /** Invalid: what the requester got back. */
    refund?: string
    /** Invalid: how the slash proceeds were shared out. */
    slash?: {proceeds: string; reward: string; refereeFee: string; treasury: string}
}

const ChallengeAcceptedTagsSchema = z.object({
    "Task-Id": z.string(),
    "Challenge-Id": z.string(),
    Worker: z.string(),
    Challenger: z.string(),
    Bond: z.string(),
    "Seed-Commit": z.string(),
    "Seed-Deadline": z.coerce.number(),
    "Reveal-Deadline": z.coerce.number(),
    Quorum: z.coerce.number()
})

const RevealSeedNoticeTagsSchema = z.object({
    "Task-Id": z.string(),
    "Challenge-Id": z.string(),
    Referees: z.string(),
    Quorum: z.coerce.number(),
    "Referee-Deadline": z.coerce.number(),
    "Draw-Seed": z.string(),
    "Worker-Seed": z.string().optional()
})

const ChallengeResolvedTagsSchema = z.object({
    "Task-Id": z.string(),
    "Challenge-Id": z.string(),
    Verdict: z.enum(DISPUTE_VERDICTS),
    Resolution: z.enum(["Quorum", "Deadline"]),
    "Valid-Votes": z.coerce.number(),
    "Invalid-Votes": z.coerce.number(),
    Majority: z.string().default(""),
    Struck: z.string().default(""),
    Bond: z.string(),
    "Referee-Fee": z.string().optional(),
    "Worker-Share": z.string().optional(),
    Refund: z.string().optional()
})

const SlashDistributedTagsSchema = z.object({Proceeds: z.string(), Reward: z.string(), "Referee-Fee": z.string(), Treasury: z.string()})

const addresses = (list: string) => list.split(",").filter((address) => address !== "")

/** How long `challenge` waits for the escrow to answer a bond paid by transfer. */
const CHALLENGE_REPLY_TIMEOUT_MS = 120_000
/**
 * How long past Seed-Deadline a challenger whose worker sent no seed waits before revealing: a
 * reveal the escrow stamps before Seed-Deadline is refused, yet its secret is public then, and
 * the worker could choose its seed knowing it.
 */
const REVEAL_MARGIN_MS = 5000

/** Options of an EscrowClient. */
export interface EscrowClientOptions {
    /** Where `challenge` keeps its secrets until it reveals them. Defaults to memory: lost with the process. */
    secrets?: ChallengeSecretStore
}
/** Between `Settle` nudges once a Referee-Deadline has passed. */
const NUDGE_INTERVAL_MS = 3000

/** The escrow process as one wallet uses it: deposits, tasks and their results. */
export class EscrowClient {
    private readonly _ao: AoClient
    private readonly _secrets: ChallengeSecretStore
    public readonly process: string
    public readonly token: string

    public constructor(ao: AoClient, {escrow, token}: {escrow: string; token: string}, {secrets}: EscrowClientOptions = {}) {
        this._ao = ao
        this.process = escrow
        this.token = token
        this._secrets = secrets ?? new MemoryChallengeSecrets()
    }

    /** Moves tokens from the wallet into its escrow balance. */
    public async deposit(quantity: string) {
        return await new TokenClient(this._ao, this.token).transfer(this.process, quantity, {Action: "Deposit"})
    }

    public async withdraw(quantity: string) {
        return await this._ao.send(this.process, {Action: "Withdraw", Quantity: quantity})
    }

    public async balance(address = this._ao.address): Promise<{available: string; locked: string}> {
        const reply = await this._ao.read(this.process, {Action: "Balance", Recipient: address})
        return {available: reply.tags.Balance ?? "0", locked: reply.tags.Locked ?? "0"}
    }

    /** Sends `Infer`, paid from the deposit; resolves when the escrow accepted it and chose a worker. */
    public async submit(request: InferRequest): Promise<InferAccepted> {
        const {emitted} = await this._ao.send(
            this.process,
            {
                Action: "Infer",
                Model: request.model,
                "Max-Tokens": request.maxTokens,
                Temperature: request.temperature,
                "Top-K": request.topK,
                "Top-P": request.topP,
                Seed: request.seed,
                Format: request.format,
                "Max-Fee": request.maxFee
            },
            request.prompt
        )
        const accepted = emitted.find((m) => m.tags.Action === "Infer-Accepted")
        if (accepted == null) throw new AoProcessError(`The escrow did not accept the request`, {process: this.process, action: "Infer"})
        const tags = InferAcceptedTagsSchema.parse(accepted.tags)
        return {taskId: tags["Task-Id"], worker: tags.Worker, deadline: tags.Deadline}
    }

    /** Submits a request and waits for its `Infer-Result`. */
    public async infer(
        request: InferRequest,
        {signal, onAccepted}: {signal?: AbortSignal; onAccepted?: (accepted: InferAccepted) => void} = {}
    ): Promise<InferResult> {
        const from = await this.inboxCursor()
        const accepted = await this.submit(request)
        onAccepted?.(accepted)
        return await this.waitForResult(accepted.taskId, {from, signal})
    }

    /**
     * The messages the escrow addresses to this wallet after `from` (undefined: from now), as it
     * publishes them (docs/protocol.md, "Published state"); `onGap` hears of any that left the
     * published ring unread. What a worker follows for its assignments and referee requests.
     */
    public inbox({
        from,
        signal,
        pollMs,
        onGap
    }: {
        from?: number
        signal?: AbortSignal
        pollMs?: number
        onGap?: (missed: {from: number; to: number}) => void | Promise<void>
    } = {}): AsyncGenerator<MailboxMessage> {
        return followMailbox({ao: this._ao, process: this.process, key: inboxKey(this._ao.address), from, signal, pollMs, onGap})
    }

    /** A worker's answer to its task: the output, its token counts and the receipt stored on Arweave. */
    public async submitResult(result: {
        taskId: string
        output: string
        inputTokens: number
        outputTokens: number
        receiptTx: string
        receiptHash: string
    }) {
        return await this._ao.send(
            this.process,
            {
                Action: "Task-Result",
                "Task-Id": result.taskId,
                "Input-Tokens": result.inputTokens,
                "Output-Tokens": result.outputTokens,
                "Receipt-Tx": result.receiptTx,
                "Receipt-Hash": result.receiptHash
            },
            result.output
        )
    }

    /** A worker hands its task back, so the escrow can reassign it at once instead of at the deadline. */
    public async reportFailure(taskId: string, reason: string) {
        return await this._ao.send(this.process, {Action: "Task-Failed", "Task-Id": taskId, Error: reason})
    }

    /** The number of the latest message the escrow addressed to this wallet: wait for replies after it. */
    public async inboxCursor(): Promise<number> {
        return await mailboxCursor(this._ao, this.process, inboxKey(this._ao.address))
    }

    /** The number of the latest result the escrow announced: follow `results` from it. */
    public async resultsCursor(): Promise<number> {
        return await mailboxCursor(this._ao, this.process, RESULTS_FEED)
    }

    /**
     * Waits for the escrow's `Infer-Result` (or `Infer-Refunded`) for a task in this wallet's
     * inbox after `from` (default: whatever the inbox still holds). When messages left the inbox
     * before they were read, the task itself says whether the answer was among them.
     */
    public async waitForResult(taskId: string, {from = 0, signal}: {from?: number; signal?: AbortSignal} = {}): Promise<InferResult> {
        let answeredEarlier: InferResult | undefined
        const onGap = async () => {
            const task = await this.task(taskId)
            if (task?.state === "Refunded") throw new TaskRefundedError(taskId, "the refund left the inbox unread")
            if (task?.receiptTx != null) answeredEarlier = resultOfTask(task)
        }
        for await (const message of followMailbox({
            ao: this._ao,
            process: this.process,
            key: inboxKey(this._ao.address),
            from,
            signal,
            onGap
        })) {
            if (answeredEarlier != null) return answeredEarlier
            if (message.tags["Task-Id"] !== taskId) continue
            if (message.tags.Action === "Infer-Refunded") throw new TaskRefundedError(taskId, message.tags.Error ?? "no reason given")
            if (message.tags.Action === "Infer-Result") return resultOfMessage(message)
        }
        throw new Error(`Stopped waiting for task ${taskId}`)
    }

    /**
     * Every result the escrow announces after `from` (undefined: from now), whoever asked: its
     * published results feed. What a watchtower follows.
     */
    public async *results({
        from,
        signal,
        pollMs
    }: {
        from?: number
        signal?: AbortSignal
        pollMs?: number
    } = {}): AsyncGenerator<AnnouncedResult> {
        for await (const message of followMailbox({ao: this._ao, process: this.process, key: RESULTS_FEED, from, signal, pollMs})) {
            if (message.tags.Action !== "Infer-Result") continue
            const {taskId, worker, receiptTx, receiptHash, outputTokens, challengeDeadline} = resultOfMessage(message)
            yield {taskId, requester: message.target, worker, receiptTx, receiptHash, outputTokens, challengeDeadline, cursor: message.seq}
        }
    }

    /** A task by id; null when the escrow has none. */
    public async task(id: string): Promise<TaskRecord | null> {
        try {
            return TaskRecordSchema.parse(await this._ao.readJson(this.process, {Action: "Task", "Task-Id": id}))
        } catch (error) {
            if (error instanceof AoProcessError && error.action === "Task-Error") return null
            throw error
        }
    }

    public async tasks(filter: {requester?: string; worker?: string; state?: string; limit?: number} = {}): Promise<TaskRecord[]> {
        return z.array(TaskRecordSchema).parse(
            await this._ao.readJson(this.process, {
                Action: "Tasks",
                Requester: filter.requester,
                Worker: filter.worker,
                State: filter.state,
                Limit: filter.limit
            })
        )
    }

    /** Asks the escrow to settle every task whose challenge window has passed, or the one named. */
    public async settle(taskId?: string) {
        return await this._ao.send(this.process, {Action: "Settle", "Task-Id": taskId})
    }

    /** The escrow's parameters now (a challenge keeps those in force when it was accepted). */
    public async parameters(): Promise<EscrowParameters> {
        return EscrowParametersSchema.parse((await this._ao.read(this.process, {Action: "Info"})).tags)
    }

    /** A task's dispute; null when the task is unknown or was never challenged. */
    public async dispute(taskId: string): Promise<DisputeRecord | null> {
        return (await this.task(taskId))?.dispute ?? null
    }

    /** The least bond the escrow accepts for challenging this result now (docs/protocol.md, "Bond and slash"). */
    public async leastBond(target: Pick<ChallengeRequest, "taskId" | "direct">): Promise<string> {
        const parameters = await this.parameters()
        if (target.direct != null) return String(leastBond(parameters, target.direct.fee))
        if (target.taskId == null) throw new TypeError("A challenge names a taskId or a direct request")
        const task = await this.task(target.taskId)
        // An unknown task or one without a result: the escrow's refusal says which.
        return String(leastBond(parameters, task?.fee ?? "0"))
    }

    /**
     * Challenges a result: sends the `Challenge` with the Seed-Commit of a new secret (kept in this
     * client's secret store), waits for the worker's seed or Seed-Deadline, reveals the secret and
     * resolves once the committee is drawn. A refusal (`Challenge-Error`: window closed, too few
     * referees, ...) throws `AoProcessError`; a bond sent by transfer then comes back. Should the
     * reveal not happen (the process stopped), `revealChallenge` finishes it from the store before
     * Reveal-Deadline; after it the challenge lapses and the bond goes to the treasury.
     */
    public async challenge(
        request: ChallengeRequest,
        {signal, onCommitted}: {signal?: AbortSignal; onCommitted?: (committed: ChallengeCommitted) => void} = {}
    ): Promise<ChallengeAccepted> {
        const committed = await this.commitChallenge(request, {signal})
        onCommitted?.(committed)
        return await this.revealChallenge(committed, {signal})
    }

    /** The first half of `challenge`: the `Challenge` with a new secret's Seed-Commit, the secret kept. */
    public async commitChallenge(request: ChallengeRequest, {signal}: {signal?: AbortSignal} = {}): Promise<ChallengeCommitted> {
        const tags = challengeTags(request)
        const taskId = request.taskId ?? request.direct!.requestId
        const bond = request.bond ?? (await this.leastBond(request))
        const {secret, seedCommit} = newChallengeSecret()
        // Kept before it is committed to: a crash after the Challenge must not lose it.
        const kept = {seedCommit, secret, escrow: this.process, taskId, createdAt: Date.now()}
        await this._secrets.put(kept)
        let message: ProcessReply
        try {
            message = await this._sendChallenge({...tags, "Seed-Commit": seedCommit}, bond, request.bondFrom, signal)
        } catch (error) {
            // Refused: nothing to reveal. Unanswered, it may still have been accepted: the secret stays.
            if (error instanceof AoProcessError) await this._secrets.delete(seedCommit)
            throw error
        }
        const committed = parseChallengeAccepted(message)
        await this._secrets.put({...kept, challengeId: committed.challengeId})
        return committed
    }

    /**
     * The second half of `challenge`: waits until the worker has sent its seed (the escrow's
     * `Dispute-Seeded`) or Seed-Deadline has passed, then sends `Reveal-Seed` with the kept secret
     * and resolves with the drawn committee. Takes the challenge as `commitChallenge` returned it,
     * or its Challenge-Id (after a restart; the secret must be in this client's store). A
     * challenge whose committee is drawn already resolves with it.
     */
    public async revealChallenge(
        challenge: ChallengeCommitted | string,
        {signal}: {signal?: AbortSignal} = {}
    ): Promise<ChallengeAccepted> {
        const found = typeof challenge === "string" ? await this._findChallenge(challenge) : {committed: challenge, task: null}
        const {committed} = found
        const drawn = found.task?.dispute == null ? null : acceptedFromRecord(found.task, committed)
        if (drawn != null) return drawn
        const kept = await this._secrets.get(committed.seedCommit)
        if (kept == null)
            throw new Error(
                `No secret is kept here for challenge ${committed.challengeId} (Seed-Commit ${committed.seedCommit}): ` +
                    "only the store of the client that challenged can reveal it"
            )
        await this._awaitWorkerSeed(committed, signal)
        if (Date.now() > committed.revealDeadline)
            throw new Error(
                `Challenge ${committed.challengeId} lapsed: its Reveal-Deadline ${new Date(committed.revealDeadline).toISOString()} passed`
            )
        const {emitted} = await this._ao.send(this.process, {
            Action: "Reveal-Seed",
            "Task-Id": committed.taskId,
            "Challenge-Id": committed.challengeId,
            Secret: kept.secret
        })
        const notice = emitted.find((m) => m.tags.Action === "Reveal-Seed-Notice" && m.target === this._ao.address)
        if (notice == null)
            throw new AoProcessError(`The escrow did not draw the committee of challenge ${committed.challengeId}`, {
                process: this.process,
                action: "Reveal-Seed"
            })
        await this._secrets.delete(committed.seedCommit)
        return {...committed, ...parseRevealSeedNotice(notice)}
    }

    /**
     * A worker's part of the committee's seed for a challenge of its result: 32 random bytes it sends
     * as `Dispute-Seed` before Seed-Deadline. Resolves with the seed sent.
     */
    public async seedDispute({taskId, challengeId}: {taskId: string; challengeId: string}): Promise<string> {
        const seed = randomBytes(32).toString("hex")
        await this._ao.send(this.process, {Action: "Dispute-Seed", "Task-Id": taskId, "Challenge-Id": challengeId, Seed: seed})
        return seed
    }

    /** Challenges this client's store holds secrets for, not revealed yet. */
    public async keptChallenges() {
        return (await this._secrets.list()).filter((kept) => kept.escrow === this.process)
    }

    private async _sendChallenge(
        tags: Record<string, string | number>,
        bond: string,
        bondFrom: ChallengeRequest["bondFrom"],
        signal: AbortSignal | undefined
    ): Promise<ProcessReply> {
        if (bondFrom === "deposit") {
            const {emitted} = await this._ao.send(this.process, {Action: "Challenge", ...tags, Bond: bond})
            const accepted = emitted.find((m) => m.tags.Action === "Challenge-Accepted" && m.target === this._ao.address)
            if (accepted == null)
                throw new AoProcessError("The escrow did not accept the challenge", {process: this.process, action: "Challenge"})
            return accepted
        }
        // The escrow answers the token's Credit-Notice, not us: the answer is found in our inbox by X-Reference.
        const reference = randomUUID()
        const from = await this.inboxCursor()
        await new TokenClient(this._ao, this.token).transfer(this.process, bond, {Action: "Challenge", ...tags, Reference: reference})
        const timeout = AbortSignal.timeout(CHALLENGE_REPLY_TIMEOUT_MS)
        const message = await awaitReply({
            ao: this._ao,
            process: this.process,
            from,
            signal: anySignal(signal, timeout),
            match: (m) =>
                m.tags["X-Reference"] === reference && (m.tags.Action === "Challenge-Accepted" || m.tags.Action === "Challenge-Error")
        })
        if (message?.tags.Action === "Challenge-Error")
            throw new AoProcessError(message.tags.Error ?? "Challenge-Error", {process: this.process, action: "Challenge-Error"})
        if (message != null) return message
        throw new Error(
            `The escrow did not answer the challenge of ${tags["Task-Id"] == null ? `request ${tags["Request-Id"]}` : `task ${tags["Task-Id"]}`}${timeout.aborted ? ` within ${CHALLENGE_REPLY_TIMEOUT_MS / 1000} s` : ""}`
        )
    }

    /** A challenge by its id: from the secret kept for it, else among the escrow's challenged tasks. */
    private async _findChallenge(challengeId: string): Promise<{committed: ChallengeCommitted; task: TaskRecord}> {
        const kept = (await this.keptChallenges()).find((secret) => secret.challengeId === challengeId)
        const task =
            kept != null
                ? await this.task(kept.taskId)
                : ((await this.tasks({state: "Challenged", limit: 1000})).find((t) => t.dispute?.id === challengeId) ?? null)
        const dispute = task?.dispute
        if (task == null || dispute?.id !== challengeId) {
            const lapsed = task?.lapsed?.some((d) => d.id === challengeId) === true
            throw new Error(
                lapsed
                    ? `Challenge ${challengeId} lapsed: it was not revealed by its Reveal-Deadline`
                    : `No open challenge ${challengeId} at escrow ${this.process}`
            )
        }
        return {task, committed: committedFromRecord(task, dispute)}
    }

    /** Resolves once the worker seeded (read from the task, or heard as `Dispute-Seeded`) or REVEAL_MARGIN_MS after Seed-Deadline. */
    private async _awaitWorkerSeed(committed: ChallengeCommitted, signal: AbortSignal | undefined) {
        // The cursor comes first: a seed that arrives after the read below is then in the inbox.
        const from = await this.inboxCursor()
        const dispute = (await this.task(committed.taskId))?.dispute
        if (dispute?.id !== committed.challengeId) throw new Error(`Challenge ${committed.challengeId} is no longer open`)
        if (dispute.workerSeed != null) return
        const waiting = new AbortController()
        const until = anySignal(signal, waiting.signal)
        try {
            await Promise.race([
                sleep(committed.seedDeadline + REVEAL_MARGIN_MS - Date.now(), until),
                awaitReply({
                    ao: this._ao,
                    process: this.process,
                    from,
                    signal: until,
                    match: (m) => m.tags.Action === "Dispute-Seeded" && m.tags["Challenge-Id"] === committed.challengeId
                })
            ])
        } finally {
            waiting.abort()
        }
        if (signal?.aborted) throw new Error(`Stopped waiting for the worker's seed of challenge ${committed.challengeId}`)
    }

    /**
     * Waits for a dispute's `Challenge-Resolved` to this wallet (and, for an Invalid verdict, the
     * `Slash-Distributed` that shares out the slash), in this wallet's inbox after `from` (a cursor
     * taken before the challenge; default: whatever the inbox still holds). Once the
     * Referee-Deadline has passed it sends `Settle` now and then: the escrow decides expired
     * disputes only when a message arrives.
     */
    public async waitForResolution(
        accepted: Pick<ChallengeAccepted, "taskId" | "challengeId" | "refereeDeadline">,
        {from = 0, signal}: {from?: number; signal?: AbortSignal} = {}
    ): Promise<ChallengeResolution> {
        const mine = (m: ProcessReply) =>
            m.tags["Challenge-Id"] === accepted.challengeId &&
            (m.tags.Action === "Challenge-Resolved" || m.tags.Action === "Slash-Distributed")
        const stopNudging = new AbortController()
        const nudging = this._nudgeAfter(accepted.refereeDeadline, anySignal(signal, stopNudging.signal))
        let resolution: ChallengeResolution | undefined
        try {
            for await (const message of followMailbox({
                ao: this._ao,
                process: this.process,
                key: inboxKey(this._ao.address),
                from,
                signal
            })) {
                if (!mine(message)) continue
                if (message.tags.Action === "Challenge-Resolved") {
                    resolution = parseChallengeResolved(message)
                    stopNudging.abort()
                    if (resolution.verdict !== "Invalid") return resolution
                } else {
                    const slash = SlashDistributedTagsSchema.parse(message.tags)
                    const shared = {
                        proceeds: slash.Proceeds,
                        reward: slash.Reward,
                        refereeFee: slash["Referee-Fee"],
                        treasury: slash.Treasury
                    }
                    if (resolution != null) return {...resolution, slash: shared}
                }
            }
        } finally {
            stopNudging.abort()
            await nudging
        }
        throw new Error(`Stopped waiting for the challenge of task ${accepted.taskId}`)
    }

    /** A referee's vote on a challenged task; resolves with the votes counted so far. */
    public async vote({
        taskId,
        verdict,
        reportTx
    }: {
        taskId: string
        verdict: "Valid" | "Invalid"
        reportTx: string
    }): Promise<{validVotes: number; invalidVotes: number}> {
        const {emitted} = await this._ao.send(this.process, {
            Action: "Referee-Verdict",
            "Task-Id": taskId,
            Verdict: verdict,
            "Report-Tx": reportTx
        })
        const notice = emitted.find((m) => m.tags.Action === "Referee-Verdict-Notice")
        if (notice == null)
            throw new AoProcessError(`The escrow did not count the verdict on task ${taskId}`, {
                process: this.process,
                action: "Referee-Verdict"
            })
        return {validVotes: Number(notice.tags["Valid-Votes"]), invalidVotes: Number(notice.tags["Invalid-Votes"])}
    }

    private async _nudgeAfter(deadline: number, signal: AbortSignal) {
        await sleep(Math.max(0, deadline - Date.now()) + 500, signal)
        while (!signal.aborted) {
            // A failed nudge is retried at the next interval; the follower still reports the outcome.
            await this.settle().catch(() => {})
            await sleep(NUDGE_INTERVAL_MS, signal)
        }
    }
}

const InferAcceptedTagsSchema = z.object({"Task-Id": z.string(), Worker: z.string(), Deadline: z.coerce.number()})

const InferResultTagsSchema = z.object({
    "Task-Id": z.string(),
    Worker: z.string(),
    Fee: z.string(),
    "Receipt-Tx": z.string(),
    "Receipt-Hash": z.string(),
    "Input-Tokens": z.coerce.number(),
    "Output-Tokens": z.coerce.number(),
    "Challenge-Deadline": z.coerce.number()
})

function resultOfMessage(message: MailboxMessage): InferResult {
    const tags = InferResultTagsSchema.parse(message.tags)
    return {
        taskId: tags["Task-Id"],
        output: message.data,
        worker: tags.Worker,
        fee: tags.Fee,
        receiptTx: tags["Receipt-Tx"],
        receiptHash: tags["Receipt-Hash"],
        inputTokens: tags["Input-Tokens"],
        outputTokens: tags["Output-Tokens"],
        challengeDeadline: tags["Challenge-Deadline"]
    }
}

function resultOfTask(task: TaskRecord): InferResult {
    return {
        taskId: task.id,
        output: task.output ?? "",
        worker: task.worker ?? "",
        fee: task.fee ?? "0",
        receiptTx: task.receiptTx ?? "",
        receiptHash: task.receiptHash ?? "",
        inputTokens: task.inputTokens ?? 0,
        outputTokens: task.outputTokens ?? 0,
        challengeDeadline: task.challengeDeadline ?? 0
    }
}

function parseChallengeAccepted(message: ProcessReply): ChallengeCommitted {
    const tags = ChallengeAcceptedTagsSchema.parse(message.tags)
    return {
        taskId: tags["Task-Id"],
        challengeId: tags["Challenge-Id"],
        worker: tags.Worker,
        challenger: tags.Challenger,
        bond: tags.Bond,
        seedCommit: tags["Seed-Commit"],
        seedDeadline: tags["Seed-Deadline"],
        revealDeadline: tags["Reveal-Deadline"],
        quorum: tags.Quorum
    }
}

function parseRevealSeedNotice(message: ProcessReply) {
    const tags = RevealSeedNoticeTagsSchema.parse(message.tags)
    return {
        referees: addresses(tags.Referees),
        quorum: tags.Quorum,
        refereeDeadline: tags["Referee-Deadline"],
        drawSeed: tags["Draw-Seed"],
        workerSeed: tags["Worker-Seed"] ?? null
    }
}

function committedFromRecord(task: TaskRecord, dispute: DisputeRecord): ChallengeCommitted {
    return {
        taskId: task.id,
        challengeId: dispute.id,
        worker: task.worker ?? "",
        challenger: dispute.challenger,
        bond: dispute.bond,
        seedCommit: dispute.seedCommit ?? "",
        seedDeadline: dispute.seedDeadline ?? 0,
        revealDeadline: dispute.revealDeadline ?? 0,
        quorum: dispute.quorum
    }
}

/** The challenge as drawn, from its task's record; null while the committee is not drawn. */
function acceptedFromRecord(task: TaskRecord, committed: ChallengeCommitted): ChallengeAccepted | null {
    const dispute = task.dispute
    if (dispute == null || dispute.id !== committed.challengeId || dispute.stage === "Seeding" || dispute.drawSeed == null) return null
    return {
        ...committed,
        referees: dispute.committee,
        refereeDeadline: dispute.deadline,
        workerSeed: dispute.workerSeed ?? null,
        drawSeed: dispute.drawSeed
    }
}

function parseChallengeResolved(message: ProcessReply): ChallengeResolution {
    const tags = ChallengeResolvedTagsSchema.parse(message.tags)
    return {
        taskId: tags["Task-Id"],
        challengeId: tags["Challenge-Id"],
        verdict: tags.Verdict,
        resolution: tags.Resolution,
        validVotes: tags["Valid-Votes"],
        invalidVotes: tags["Invalid-Votes"],
        majority: addresses(tags.Majority),
        struck: addresses(tags.Struck),
        bond: tags.Bond,
        ...(tags["Referee-Fee"] == null ? {} : {refereeFee: tags["Referee-Fee"]}),
        ...(tags["Worker-Share"] == null ? {} : {workerShare: tags["Worker-Share"]}),
        ...(tags.Refund == null ? {} : {refund: tags.Refund})
    }
}

function anySignal(...signals: Array<AbortSignal | undefined>): AbortSignal {
    return AbortSignal.any(signals.filter((s): s is AbortSignal => s != null))
}

/** A Challenge's tags (the escrow reads them as `X-` tags from a bond's transfer): a task's, or a direct request's. */
function challengeTags(request: ChallengeRequest): Record<string, string | number> {
    const common = {Position: request.position, "Evidence-Tx": request.evidenceTx}
    if (request.direct != null) {
        const {channel, requestId, receiptHash, batchTx, fee} = request.direct
        return {Channel: channel, "Request-Id": requestId, "Receipt-Hash": receiptHash, "Batch-Tx": batchTx, Fee: fee, ...common}
    }
    if (request.taskId == null) throw new TypeError("A challenge names a taskId or a direct request")
    return {"Task-Id": request.taskId, ...common}
}
