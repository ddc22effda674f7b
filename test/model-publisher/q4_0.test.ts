import {createHash} from "node:crypto"
import {describe, expect, it} from "vitest"
import {decodeQ4_0, encodeQ4_0, Q4_0_BLOCK_BYTES} from "../../model-publisher/testModel/q4_0.ts"
import {decodeTensor, float16BitsToNumber} from "./ggufTensors.ts"
import {firstDifference, hex, manyBlocks, normal} from "./quantVectors.ts"

const encode = (values: ArrayLike<number>) => {
    const input = Float32Array.from(values)
    const bytes = new Uint8Array((input.length / 32) * Q4_0_BLOCK_BYTES)
    encodeQ4_0(input, bytes)
    return bytes
}
const block = (entries: Record<number, number>) => Array.from({length: 32}, (_, i) => entries[i] ?? 0)

describe("encodeQ4_0", () => {
    it("scales by the signed largest value over -8 and stores trunc(x / scale + 8.5), capped at 15", () => {
        // Worked by hand: scale = -8 / -8 = 1 (f16 0x3c00), so each nibble is trunc(x + 8.5):
        // -8 → 0, 7 → 15, 7.6 → 16 capped to 15, 0.4 → 8, -0.5 → 8 (halves go up), -0.6 → 7,
        // 2.5 → 11, 0 → 8; 1 → 9 and -3.3 → 5 in the second half. Byte j = value j | value j+16 << 4.
        const bytes = encode(block({0: -8, 1: 7, 2: 7.6, 3: 0.4, 4: -0.5, 5: -0.6, 6: 2.5, 16: 1, 17: -3.3}))
        expect(hex(bytes)).toBe("003c" + "905f8f8888878b88" + "8888888888888888")
    })

    it("keeps the first of two equal magnitudes, and clamps the opposite extreme one step short", () => {
        // 8 comes first: scale = 8 / -8 = -1 (0xbc00); 8 → trunc(-8 + 8.5) = 0, -8 → trunc(16.5) = 15,
        // which decodes to (15 - 8) * -1 = -7: q4_0's one-step error at the far end of its range.
        const bytes = encode(block({0: 8, 1: -8}))
        expect(hex(bytes.subarray(0, 4))).toBe("00bc" + "80" + "8f")
        const decoded = new Float32Array(32)
        decodeQ4_0(bytes, decoded)
        expect([...decoded.subarray(0, 3)]).toEqual([8, -7, -0])
    })

    it("writes an all-zero block as a -0 scale and quants of 8 (which decode to 0)", () => {
        // 0 / -8 is -0 in float32, so ggml stores f16 0x8000, not 0x0000.
        expect(hex(encode(new Array(32).fill(0)))).toBe("0080" + "88".repeat(16))
    })

    it("writes a constant block as quant 0 everywhere, decoding to the constant within f16 error", () => {
        const bytes = encode(new Array(32).fill(0.3))
        expect(hex(bytes.subarray(2))).toBe("00".repeat(16))
        const decoded = new Float32Array(32)
        decodeQ4_0(bytes, decoded)
        for (const value of decoded) expect(value).toBeCloseTo(0.3, 3)
    })

    it("matches ggml's quantize_row_q4_0_ref byte for byte", () => {
        expect(hex(encode(normal("q4_0 normal", 64)))).toBe("a6339757dc8bd7763c7ad17037165e7bd5dd0e3592dd2303729628cb5d172c07ab3ebf7c")
        expect(hex(encode(normal("q4_0 negative", 32).map((value) => -Math.abs(value))))).toBe("913333474847504752754655646648527550")
        expect(createHash("sha256").update(encode(manyBlocks())).digest("hex")).toBe(
            "799adfdc2de9fb719367db6a516755ee1cad3c396be4fe820e837b5b1e4d6d72"
        )
    })

    it("reconstructs every value within one step (largest magnitude / 8), plus what rounding the scale to f16 moved", () => {
        for (const values of [manyBlocks(), normal("q4_0 bound", 32 * 200).map((value) => -Math.abs(value))]) {
            const bytes = encode(values)
            const decoded = new Float32Array(values.length)
            decodeQ4_0(bytes, decoded)
            // The decoder under test and the test's own element-by-element decoder agree exactly.
            expect(firstDifference(decoded, decodeTensor(2, bytes, values.length))).toBe(-1)
            for (let start = 0; start < values.length; start += 32) {
                const chunk = values.subarray(start, start + 32)
                const step = Math.max(...chunk.map(Math.abs)) / 8
                const stored = Math.abs(float16BitsToNumber(bytes[(start / 32) * 18]! | (bytes[(start / 32) * 18 + 1]! << 8)))
                // f16 keeps 11 significant bits, or an absolute 2^-24 below 2^-14.
                expect(Math.abs(stored - step)).toBeLessThanOrEqual(step * 2 ** -11 + 2 ** -25)
                // A quant is at most 8 from the middle, so the scale's rounding moves a value by at most 8 times it.
                const bound = step + 8 * Math.abs(stored - step) + step * 2 ** -20
                const worst = Math.max(...chunk.map((value, i) => Math.abs(decoded[start + i]! - value)))
                expect(worst).toBeLessThanOrEqual(bound)
            }
        }
    })

    it("refuses a length that is not a whole number of blocks", () => {
        expect(() => encodeQ4_0(new Float32Array(48), new Uint8Array(36))).toThrow(RangeError)
    })
})
