import type {ProcessReply} from "../../../sdk/ao/index.ts"
import {Accounting} from "./Accounting.ts"
import {EscrowModel} from "./EscrowModel.ts"
import {compareOutputs, withNormalizedTags, type Evaluation, type Expected} from "./evaluation.ts"
import {RegistryModel} from "./RegistryModel.ts"
import {TokenModel} from "./TokenModel.ts"

export interface ProcessIds {
    token: string
    token2: string
    registry: string
    escrow: string
}

export interface ReferenceModelOptions {
    /** The addresses whose holdings the run accounts for; transfers among them are allowed moves. */
    isActor: (address: string) => boolean
    /** A readable name for an address in mismatch reports. Defaults to the address itself. */
    label?: (address: string) => string
}

/**
 * The token, the registry and the escrow written from docs/protocol.md, plus a second token as the "wrong
 * token". Each evaluation a process made is replayed through the model of that process, which predicts its
 * outputs (lazy upkeep included) and applies its effects.
 */
export class ReferenceModel {
    public readonly accounting: Accounting
    public readonly token: TokenModel
    public readonly token2: TokenModel
    public readonly registry: RegistryModel
    public readonly escrow: EscrowModel
    /** Every output evaluated since the driver last cleared it, with its sender, for the driver's own assertions. */
    public stepOutputs: Array<ProcessReply & {from: string}> = []
    private readonly label: (address: string) => string

    public constructor(
        private readonly ids: ProcessIds,
        owner: string,
        options: ReferenceModelOptions
    ) {
        this.label = options.label ?? ((address) => address)
        this.accounting = new Accounting(options.isActor)
        this.token = new TokenModel(owner, this.accounting)
        this.token2 = new TokenModel(owner)
        this.registry = new RegistryModel(owner, this.accounting)
        this.escrow = new EscrowModel(owner, this.accounting)
    }

    /** Predicts what the process at `ev.pid` emits for `ev`, and applies its effects. */
    public predict(ev: Evaluation): Expected[] {
        const msg = withNormalizedTags(ev)
        return this.processAt(msg.pid).predict(msg)
    }

    /** Replays one evaluation: predicts its outputs, throws unless they are what it emitted, applies its effects. */
    public evaluate(ev: Evaluation) {
        const msg = withNormalizedTags(ev)
        compareOutputs(msg, this.processAt(msg.pid).predict(msg), this.label)
        for (const o of ev.outputs) this.stepOutputs.push({...o, from: ev.pid})
    }

    /** Starts a step: nothing moved and nothing emitted yet. */
    public newStep() {
        this.accounting.newStep()
        this.stepOutputs = []
    }

    /** Token + escrow balance + locked + stake + unstaking of an address. */
    public holdings(who: string) {
        const s = this.registry.stakeOf(who)
        return this.token.balanceOf(who) + this.escrow.book.balanceOf(who) + this.escrow.book.locked(who) + s.staked + s.unstaking
    }

    private processAt(pid: string): {predict(ev: Evaluation): Expected[]} {
        switch (pid) {
            case this.ids.token:
                return this.token
            case this.ids.token2:
                return this.token2
            case this.ids.registry:
                return this.registry
            case this.ids.escrow:
                return this.escrow
            default:
                throw new Error(`evaluation at an unknown process ${pid}`)
        }
    }
}
