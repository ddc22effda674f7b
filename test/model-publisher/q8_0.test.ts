import {describe, expect, it} from "vitest"
import {float32ToFloat16Bits} from "../../model-publisher/testModel/f16.ts"
import {encodeQ8_0, Q8_0_BLOCK_BYTES} from "../../model-publisher/testModel/q8_0.ts"
import {float16BitsToNumber} from "./ggufTensors.ts"

const decodeBlock = (bytes: Uint8Array, block = 0) => {
    const view = new DataView(bytes.buffer, bytes.byteOffset + block * Q8_0_BLOCK_BYTES, Q8_0_BLOCK_BYTES)
    return {scaleBits: view.getUint16(0, true), quants: Array.from({length: 32}, (_, i) => view.getInt8(2 + i))}
}

describe("encodeQ8_0", () => {
    it("scales by max|x| / 127 and rounds halves away from zero", () => {
        const values = new Float32Array(32)
        values[0] = 127
        values[1] = -127
        values[2] = 2.5
        values[3] = -2.5
        values[4] = 0.49
        const bytes = new Uint8Array(Q8_0_BLOCK_BYTES)
        encodeQ8_0(values, bytes)
        const {scaleBits, quants} = decodeBlock(bytes)
        expect(scaleBits).toBe(0x3c00)
        expect(quants.slice(0, 6)).toEqual([127, -127, 3, -3, 0, 0])
    })

    it("writes a zero block as zero scale and zero quants", () => {
        const bytes = new Uint8Array(Q8_0_BLOCK_BYTES).fill(0xff)
        encodeQ8_0(new Float32Array(32), bytes)
        expect([...bytes]).toEqual(new Array(Q8_0_BLOCK_BYTES).fill(0))
    })

    it("reconstructs every value within half a quantization step", () => {
        const values = Float32Array.from({length: 32 * 50}, (_, i) => Math.sin(i * 12.9898) * (1 + (i % 7)))
        const bytes = new Uint8Array(50 * Q8_0_BLOCK_BYTES)
        encodeQ8_0(values, bytes)
        for (let block = 0; block < 50; block++) {
            const {scaleBits, quants} = decodeBlock(bytes, block)
            const chunk = values.subarray(block * 32, block * 32 + 32)
            const amax = Math.max(...chunk.map(Math.abs))
            expect(scaleBits).toBe(float32ToFloat16Bits(amax / 127))
            const scale = float16BitsToNumber(scaleBits)
            // The stored scale is f16-rounded, so allow its relative error (2^-11) on top of half a step.
            for (const [i, q] of quants.entries()) expect(Math.abs(q * scale - chunk[i]!)).toBeLessThanOrEqual(scale / 2 + amax * 2 ** -11)
            expect(Math.max(...quants.map(Math.abs))).toBe(127)
        }
    })

    it("refuses a length that is not a whole number of blocks", () => {
        expect(() => encodeQ8_0(new Float32Array(33), new Uint8Array(64))).toThrow(RangeError)
    })
})
