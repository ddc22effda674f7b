export {
    decodeReceipt,
    encodeReceipt,
    EngineSchema,
    hashPrompt,
    hashReceiptBytes,
    ReceiptSchema,
    SamplingSchema,
    TokenRecordSchema
} from "./Receipt.ts"
export type {Engine, Receipt, Sampling, TokenRecord} from "./Receipt.ts"
