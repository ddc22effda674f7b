import {z} from "zod"

/** A model as the registry reports it (docs/protocol.md, registry). */
export const ModelRecordSchema = z.object({
    id: z.string(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    name: z.string(),
    format: z.string(),
    architecture: z.string(),
    quantization: z.string(),
    parameters: z.coerce.number(),
    contextLength: z.coerce.number(),
    license: z.string(),
    ownerFee: z.coerce.number(),
    owner: z.string()
})
export type ModelRecord = z.infer<typeof ModelRecordSchema>

export const ReputationSchema = z.object({
    completed: z.coerce.number(),
    strikes: z.coerce.number(),
    slashed: z.coerce.number()
})

/** A worker as the registry reports it. */
export const WorkerRecordSchema = z
    .object({
        address: z.string(),
        models: z.array(z.string()).or(z.object({}).transform(() => [] as string[])),
        priceInput: z.string(),
        priceOutput: z.string(),
        maxConcurrency: z.coerce.number(),
        stake: z.string(),
        eligible: z.boolean(),
        lastHeartbeat: z.coerce.number(),
        heartbeatTimeout: z.coerce.number(),
        reputation: ReputationSchema,
        hardware: z.string().optional(),
        endpoint: z.string().optional()
    })
    .loose()
export type WorkerRecord = z.infer<typeof WorkerRecordSchema>

/** Someone who staked but has not registered as a worker (yet). */
export const StakerRecordSchema = z
    .object({
        address: z.string(),
        registered: z.literal(false),
        stake: z.string()
    })
    .loose()
export type StakerRecord = z.infer<typeof StakerRecordSchema>
