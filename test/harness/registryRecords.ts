import type {ModelRecord, WorkerRecord} from "../../sdk/registry/index.ts"

/** A registered model, for tests that rank or route workers from registry records without a network. */
export const testModel: ModelRecord = {
    id: "m".repeat(43),
    sha256: "0".repeat(64),
    name: "tiny",
    format: "GGUF",
    architecture: "llama",
    quantization: "F32",
    parameters: 1,
    contextLength: 512,
    license: "CC0-1.0",
    ownerFee: 0,
    owner: "o".repeat(43)
}

/** An eligible worker serving `testModel` that heartbeat just now, at `http://<address>.example:8080/v1`; `fields` override any of it. */
export function workerRecord(address: string, fields: Partial<WorkerRecord> = {}): WorkerRecord {
    return {
        address,
        models: [testModel.id],
        priceInput: "1000",
        priceOutput: "1000",
        maxConcurrency: 1,
        stake: "1000",
        eligible: true,
        lastHeartbeat: Date.now(),
        heartbeatTimeout: 600_000,
        reputation: {completed: 0, strikes: 0, slashed: 0},
        endpoint: `http://${address}.example:8080/v1`,
        ...fields
    }
}
