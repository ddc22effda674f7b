import {createHash} from "node:crypto"
import {describe, expect, it} from "vitest"
import {decodeQ5_0, encodeQ5_0, Q5_0_BLOCK_BYTES} from "../../model-publisher/testModel/q5_0.ts"
import {decodeTensor} from "./ggufTensors.ts"
import {firstDifference, hex, manyBlocks, normal} from "./quantVectors.ts"

// q5_0 is what q4_K files hold where a row is not a multiple of 256 (tiny's and small's matrices).

const encode = (values: ArrayLike<number>) => {
    const input = Float32Array.from(values)
    const bytes = new Uint8Array((input.length / 32) * Q5_0_BLOCK_BYTES)
    encodeQ5_0(input, bytes)
    return bytes
}

describe("encodeQ5_0", () => {
    it("stores trunc(x / scale + 16.5) capped at 31, fifth bits in a uint32", () => {
        // Worked by hand: scale = -16 / -16 = 1. First half: -16 → 0, 15 → 31, 15.7 → 32 capped to 31,
        // 0.4 → 16, -0.5 → 16, -3.2 → 13, 0 → 16; second half: 1 → 17, -15 → 1, 0 → 16.
        // Fifth bits: first half 0b1111111111011110, second half 0b1111111111111101 → 0xfffdffde.
        // Low nibbles: byte j = q[j] & 15 | (q[j + 16] & 15) << 4.
        const values = Object.assign(new Array(32).fill(0), {0: -16, 1: 15, 2: 15.7, 3: 0.4, 4: -0.5, 5: -3.2, 16: 1, 17: -15})
        expect(hex(encode(values))).toBe("003c" + "defffdff" + "101f0f00000d" + "00".repeat(10))
    })

    it("writes an all-zero block as a -0 scale and quants of 16", () => {
        expect(hex(encode(new Array(32).fill(0)))).toBe("0080" + "ffffffff" + "00".repeat(16))
    })

    it("matches ggml's quantize_row_q5_0_ref byte for byte", () => {
        expect(createHash("sha256").update(encode(manyBlocks())).digest("hex")).toBe(
            "0bd043f5c610dd25d05c3088535e5dee3533138d1d90dcc1a1e7429dcc0ecb2f"
        )
    })

    it("reconstructs normal weights to 4.5% RMS, decoded as the test's own decoder does", () => {
        const values = normal("q5_0 rms", 32 * 400)
        const bytes = encode(values)
        const decoded = new Float32Array(values.length)
        decodeQ5_0(bytes, decoded)
        expect(firstDifference(decoded, decodeTensor(6, bytes, values.length))).toBe(-1)
        let error = 0
        let energy = 0
        values.forEach((value, i) => {
            error += (decoded[i]! - value) ** 2
            energy += value ** 2
        })
        expect(Math.sqrt(error / energy)).toBeLessThan(0.045)
    })
})
