import type {Tags} from "./evaluation.ts"
import {check} from "./guard.ts"
import {isId, parseAmount, type Input} from "./input.ts"

/** A worker's terms as Register-Worker and Update-Worker set them. */
export interface WorkerTerms {
    models: string[]
    priceInput: string
    priceOutput: string
    maxConcurrency: number
    hardware: string
    endpoint?: string
}

/** The terms a Register-Worker (all of them) or an Update-Worker (`partial`: those it names) sets. */
export function parseWorkerTerms(input: Input, tags: Tags, partial: boolean, isModel: (id: string) => boolean): Partial<WorkerTerms> {
    const wanted = (name: string) => !partial || input.optional(name) !== undefined
    const terms: Partial<WorkerTerms> = {}
    if (wanted("Models")) {
        const ids: string[] = []
        for (const item of input
            .required("Models")
            .split(",")
            .filter((s) => s !== "")) {
            const id = item.trim()
            check(isId(id), `Models: '${id}' is not a 43-character id`)
            check(!ids.includes(id), `Models lists ${id} twice`)
            check(isModel(id), `Unknown model ${id}`)
            ids.push(id)
        }
        check(ids.length > 0, "Models must name at least one model")
        terms.models = ids
    }
    if (wanted("Price-Input")) terms.priceInput = String(parseAmount(tags["Price-Input"], "Price-Input"))
    if (wanted("Price-Output")) terms.priceOutput = String(parseAmount(tags["Price-Output"], "Price-Output"))
    if (wanted("Max-Concurrency")) terms.maxConcurrency = input.integer("Max-Concurrency", {min: 1, max: 64})
    if (wanted("Hardware")) terms.hardware = input.text("Hardware", 256)
    const endpoint = input.optional("Endpoint")
    if (endpoint !== undefined) {
        check(
            endpoint.length <= 256 && /^https?:\/\/[^\s\x00-\x1f]+$/.test(endpoint),
            "Endpoint must be an http(s) URL of at most 256 characters"
        )
        terms.endpoint = endpoint
    }
    return terms
}
