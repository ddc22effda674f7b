import {Prng} from "../../model-publisher/testModel/prng.ts"

// Inputs of the known-answer tests. The expected bytes were produced by ggml's own C: ggml-quants.c
// from the llama.cpp that node-llama-cpp 3.22.1 bundles (node_modules/node-llama-cpp/llama/
// gitRelease.bundle, commit de3ff815), built with gcc -O2 for x86-64 as ggml-base is, and its
// quantize_row_*_ref run on these exact float32 values. Changing a vector means regenerating them.

/** `count` float32 values drawn from N(0, std²) by the test-model PRNG, from its own stream. */
export function normal(stream: string, count: number, std = 1): Float32Array {
    const values = new Float32Array(count)
    new Prng(1, stream).fillNormal(values, std)
    return values
}

/** 64 super-blocks whose scales span 1e-4 to 1e3, a tenth of the values made 4x larger outliers. */
export function manyBlocks(): Float32Array {
    const values = normal("many", 64 * 256)
    const outliers = normal("outliers", 64 * 256)
    return values.map((value, i) => value * 10 ** (((i >> 8) % 8) - 4) * (outliers[i]! > 1.28 ? 4 : 1))
}

export const hex = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex")

/** Index of the first value whose float32 bits differ, or -1: one assertion instead of a deep compare per value. */
export function firstDifference(a: Float32Array, b: Float32Array): number {
    if (a.length !== b.length) return Math.min(a.length, b.length)
    const bitsA = new Uint32Array(a.buffer, a.byteOffset, a.length)
    const bitsB = new Uint32Array(b.buffer, b.byteOffset, b.length)
    return bitsA.findIndex((bits, i) => bits !== bitsB[i])
}
