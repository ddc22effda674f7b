import {GgmlType} from "node-llama-cpp"
import {ENCODINGS, matrixTypeFor, tensorTypeOf, type TensorType, type WeightType} from "../testModel/encodings.ts"

// Name parts of 2-D weights that llama.cpp's quantizer never re-encodes (`tensor_allows_quantization`
// in src/llama-quant.cpp): norms, routers, small convolutions and position tables.
const KEPT_NAME_PARTS = [
    "_norm.weight",
    "ffn_gate_inp.weight",
    "ffn_gate_tid2eid.weight",
    "altup",
    "laurel",
    "per_layer_model_proj",
    "ssm_conv1d",
    "shortconv.conv.weight",
    "indexer.k_proj.weight",
    "indexer.q_proj.weight",
    "time_mix_first.weight",
    "time_mix_w0.weight",
    "time_mix_w1.weight",
    "time_mix_w2.weight",
    "time_mix_v0.weight",
    "time_mix_v1.weight",
    "time_mix_v2.weight",
    "time_mix_a0.weight",
    "time_mix_a1.weight",
    "time_mix_a2.weight",
    "time_mix_g1.weight",
    "time_mix_g2.weight",
    "time_mix_decay_w1.weight",
    "time_mix_decay_w2.weight",
    "time_mix_lerp_fused.weight",
    "attn_rel_b.weight",
    ".position_embd",
    "sam.pos_embd",
    "sam.neck.",
    "sam.net_",
    ".rel_pos",
    ".patch_embd",
    ".patch_merger",
    "a.rvq.codebook",
    "mm.a.code_embd"
]
const KEPT_NAMES = new Set(["position_embd.weight", "token_types.weight"])

// Element sizes of the plain ggml types a kept tensor may have besides ours: bf16, i8, i16, i32, i64, f64.
const PLAIN_TYPE_BYTES: Readonly<Record<number, number>> = {30: 2, 24: 1, 25: 2, 26: 4, 27: 8, 28: 8}

/** What happens to one tensor. */
export type TensorStep =
    /** Bytes carried over unchanged. */
    | {readonly kind: "copy"; readonly byteLength: number}
    /** Decoded from `from` and re-encoded as `to`, a row at a time. */
    | {readonly kind: "transcode"; readonly from: TensorType; readonly to: TensorType; readonly rowLength: number; readonly rows: number}

/** A tensor of the input, as the plan sees it. */
export interface TensorInfo {
    readonly name: string
    readonly dims: readonly number[]
    readonly ggmlType: number
}

/**
 * Decides a tensor's fate the way llama-quantize does: a matrix (2 or more dimensions, name ending
 * in "weight", not on llama.cpp's keep list) goes to `type`, or to the fallback its row length forces
 * (`matrixTypeFor`); a matrix already in that type, and every other tensor, is copied.
 */
export function planTensor(tensor: TensorInfo, type: WeightType): TensorStep {
    const count = tensor.dims.reduce((product, dim) => product * dim, 1)
    const from = tensorTypeOf(tensor.ggmlType)
    const target = isMatrix(tensor) ? matrixTypeFor(type, tensor.dims[0]!) : undefined
    if (target === undefined || target === from) {
        const size = from !== undefined ? ENCODINGS[from].byteLength(count) : (PLAIN_TYPE_BYTES[tensor.ggmlType] ?? NaN) * count
        if (!Number.isInteger(size)) throw new Error(`tensor ${tensor.name} is ${typeName(tensor.ggmlType)}, which convert cannot copy`)
        return {kind: "copy", byteLength: size}
    }
    if (from === undefined) {
        const readable = Object.keys(ENCODINGS).join(", ")
        throw new Error(`matrix ${tensor.name} is ${typeName(tensor.ggmlType)}; convert reads matrices in ${readable}`)
    }
    return {kind: "transcode", from, to: target, rowLength: tensor.dims[0]!, rows: count / tensor.dims[0]!}
}

function isMatrix({name, dims}: TensorInfo): boolean {
    return dims.length >= 2 && name.endsWith("weight") && !KEPT_NAMES.has(name) && !KEPT_NAME_PARTS.some((part) => name.includes(part))
}

function typeName(ggmlType: number): string {
    return GgmlType[ggmlType] ?? `ggml type ${ggmlType}`
}
