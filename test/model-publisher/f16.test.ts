import {describe, expect, it} from "vitest"
import {encodeF16, float32ToFloat16Bits} from "../../model-publisher/testModel/f16.ts"
import {float16BitsToNumber} from "./ggufTensors.ts"

describe("float32ToFloat16Bits", () => {
    it.each([
        [0, 0x0000],
        [-0, 0x8000],
        [1, 0x3c00],
        [-2, 0xc000],
        [0.333251953125, 0x3555],
        [65504, 0x7bff],
        [65520, 0x7c00], // halfway to the next binade rounds to even: infinity
        [1e6, 0x7c00],
        [-Infinity, 0xfc00],
        [2 ** -24, 0x0001], // smallest subnormal
        [2 ** -25, 0x0000], // halfway between 0 and it: ties to even, 0
        [3 * 2 ** -25, 0x0002], // halfway between 1 and 2 units: ties to even, 2
        [2 ** -14, 0x0400], // smallest normal
        [1 + 2 ** -11, 0x3c00], // halfway, even neighbour below
        [1 + 3 * 2 ** -11, 0x3c02], // halfway, even neighbour above
        [1e-10, 0x0000]
    ])("encodes %d as %i", (value, bits) => {
        expect(float32ToFloat16Bits(value)).toBe(bits)
    })

    it("encodes NaN as a NaN", () => {
        const bits = float32ToFloat16Bits(Number.NaN)
        expect(bits & 0x7c00).toBe(0x7c00)
        expect(bits & 0x3ff).not.toBe(0)
    })

    it("round-trips every finite binary16 and rounds every midpoint to the even neighbour", () => {
        const wrong: string[] = []
        for (let bits = 0; bits < 0x10000; bits++) {
            if ((bits & 0x7c00) === 0x7c00) continue
            const value = float16BitsToNumber(bits)
            if (float32ToFloat16Bits(value) !== bits) wrong.push(`${value} -> ${float32ToFloat16Bits(value)}`)
            const next = bits + 1
            if ((bits & 0x7fff) === 0x7bff || (next & 0x7c00) === 0x7c00) continue
            const midpoint = (value + float16BitsToNumber(next)) / 2
            const expected = (bits & 1) === 0 ? bits : next
            if (float32ToFloat16Bits(midpoint) !== expected) wrong.push(`midpoint ${midpoint} -> ${float32ToFloat16Bits(midpoint)}`)
        }
        expect(wrong).toEqual([])
    })

    it("encodes arrays little-endian", () => {
        const target = new Uint8Array(4)
        encodeF16(Float32Array.of(1, -2), target)
        expect([...target]).toEqual([0x00, 0x3c, 0x00, 0xc0])
    })
})
