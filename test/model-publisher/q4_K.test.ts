import {createHash} from "node:crypto"
import {describe, expect, it} from "vitest"
import {decodeQ4_K, encodeQ4_K, Q4_K_BLOCK_BYTES} from "../../model-publisher/testModel/q4_K.ts"
import {decodeTensor} from "./ggufTensors.ts"
import {firstDifference, hex, manyBlocks, normal} from "./quantVectors.ts"

const encode = (values: ArrayLike<number>) => {
    const input = Float32Array.from(values)
    const bytes = new Uint8Array((input.length / 256) * Q4_K_BLOCK_BYTES)
    encodeQ4_K(input, bytes)
    return bytes
}
const decode = (bytes: Uint8Array) => {
    const values = new Float32Array((bytes.length / Q4_K_BLOCK_BYTES) * 256)
    decodeQ4_K(bytes, values)
    return values
}

// Expected bytes from ggml's quantize_row_q4_K_ref (see quantVectors.ts for how they were made).
const REFERENCE: ReadonlyArray<readonly [string, () => Float32Array, string]> = [
    [
        "normal",
        () => normal("q4_K normal", 256),
        "fb1c8329fdf6fff8a7febff05286ea9d72ced4d2a348a484d1c7a7b3b27466c707b57aa5b37aca67593798edd8ba99f0af9cff6ed4eb966979e58b5899a09e" +
            "67ab69f7692a66534b7b068977bd25f60bf987c566aa39c975d835c3e8ab751037af98fbc4aaf3c841a564d4ccb5649b02c1be475b58865b693bb5f46895" +
            "454888db7125e7aa27bf072a8a40b475dceaaa"
    ],
    [
        "negative-only",
        () => normal("q4_K negative", 256).map((value) => -Math.abs(value)),
        "e7199a29ada9bfeaeda7bfeb0feffdbceea908872418cf90b8cedd7dcb9ccd7d4ab5c5640ecd68996c9bb9ade9a9b9bfe8cbc7ad0dbb4791de6cfdae5c27" +
            "b740d6eabdfedd5dbd87df859bed5e68ee97387fe9d7bc91af5d0ba6e4bf4bdfecdddc85beae0ed94b4bd0e0c9398f4edb9acfcdc1f48775eaaedeefd082" +
            "9b5cbfddd58bbeca66830bacbee9dcd8b2dcaf8d"
    ],
    [
        "positive-only",
        () => normal("q4_K positive", 256, 0.02).map(Math.abs),
        "ea03a200fdf6b4ff213e3f0041040a09b39721e76273164423502432217c622146403742562153491e64b52771583734164a37251c353d1627d133c9e615" +
            "13660497610f4826289238792279263695a6464cc75516c86401f22a46354344be5702718b602aa29857365d548365b8766243b134511316085a1c57f422" +
            "8144341732c47273324343c3a121145e70147322"
    ],
    // Sixteenths: many products land exactly on .5, where nearest_int rounds to even and Math.round would not.
    [
        "dyadic",
        () => Float32Array.from({length: 256}, (_, i) => (((i * 37) % 61) - 30) / 16),
        "e51b8d27fffffffefdfffdfeefffefec6009a34dd6701aa44de7711ab45ee7812bb55ef8822bc56ff8923cc66f09933c3dd6701aa44de7711ab45ee7812b" +
            "b55ef8822bc56ff8923cc66f09933cd670091aa44de7711ab45ee8812bb55ef8822bc56ff9923cc66f09933cd6700aa34dd7e7811ab45ef8812bc55ef892" +
            "2bc56ff9923cd66f09a33cd6700aa34de7711ab4"
    ],
    // Sub-block 0 is 10^5 times smaller than the rest, so its 6-bit scale rounds to 0 and it keeps
    // the levels of its search, which ggml stores even though they decode to the same value.
    [
        "tiny sub-block",
        () => normal("q4_K tiny", 256).map((value, i) => (i < 32 ? value * 1e-5 : value)),
        "831d2929c0f0fcffc0ebf2b44343f580b595106d38620fa4426677465a27177177f8aa29856b86a88a57ecbb15d8757e369946864fa8a75797850a6a75c4" +
            "3673242619664b72e8a7454b426660045332552e7f57286d9b9877a40d5e09f86f77544658699997e3c927a088ca68db979067a8ea8a1738ab526a09d5ee" +
            "95799b486ec8873aea4a5e4bbb67509fa86fd56c"
    ]
]

describe("encodeQ4_K", () => {
    it.each(REFERENCE)("matches ggml's quantize_row_q4_K_ref byte for byte: %s", (_name, values, expected) => {
        expect(hex(encode(values()))).toBe(expected)
    })

    it("matches ggml over 64 super-blocks of scales from 1e-4 to 1e3 with outliers", () => {
        expect(createHash("sha256").update(encode(manyBlocks())).digest("hex")).toBe(
            "2ab70ea7d06c84fceb345af9e287fd360abf94cd124e711832ee1fb9118e2786"
        )
    })

    it("writes an all-zero block as all-zero bytes", () => {
        // Worked by hand: every sub-block has max == min == 0, so scale 0, min 0, levels 0; d and dmin are f16(0).
        expect(hex(encode(new Array(256).fill(0)))).toBe("00".repeat(Q4_K_BLOCK_BYTES))
    })

    it("writes a constant positive block as the top level of every sub-block", () => {
        // Worked by hand: each sub-block's min is clipped to 0 and its first fit, scale 0.5 / 15 with
        // every level 15, is exact, so no candidate beats it. All 8 scales are the largest: 6-bit 63;
        // mins 0. d = f16(0.5 / 15 / 63) = f16(5.29e-4) = 2^-11 * (1 + 86 / 1024) = 0x1056.
        const bytes = encode(new Array(256).fill(0.5))
        expect(hex(bytes.subarray(0, 16))).toBe("5610" + "0000" + "ffffffff" + "00000000" + "0f0f0f0f")
        expect(hex(bytes.subarray(16))).toBe("ff".repeat(128))
        for (const value of decode(bytes)) expect(value).toBeCloseTo(0.5, 3)
    })

    it("writes a constant negative block as min only", () => {
        // Worked by hand: max == min == -0.5, so the search stops at scale 0 and min 0.5 with levels 0.
        // The 6-bit mins are all 63, dmin = f16(0.5 / 63) = 2^-7 * (1 + 16 / 1024) = 0x2010; d = 0.
        const bytes = encode(new Array(256).fill(-0.5))
        expect(hex(bytes.subarray(0, 16))).toBe("0000" + "1020" + "00000000" + "ffffffff" + "f0f0f0f0")
        expect(hex(bytes.subarray(16))).toBe("00".repeat(128))
        for (const value of decode(bytes)) expect(value).toBeCloseTo(-0.5, 3)
    })

    it("reconstructs every value within one level of its sub-block's range / 15, 7% RMS on normal weights", () => {
        const negative = normal("q4_K bound negative", 256 * 20).map((value) => -Math.abs(value))
        for (const values of [normal("q4_K bound", 256 * 100), manyBlocks(), negative]) {
            const bytes = encode(values)
            const decoded = decode(bytes)
            // The decoder under test and the test's own element-by-element decoder agree exactly.
            expect(firstDifference(decoded, decodeTensor(12, bytes, values.length))).toBe(-1)
            // Measured at most 0.9 of a level: a value is off by half a level, or by up to one where
            // the 6-bit scale and min, rounded to the super-block's, pushed it past level 0 or 15.
            let worst = 0
            for (let start = 0; start < values.length; start += 32) {
                const chunk = values.subarray(start, start + 32)
                const level = (Math.max(0, ...chunk) - Math.min(0, ...chunk)) / 15
                for (const [i, value] of chunk.entries()) worst = Math.max(worst, Math.abs(decoded[start + i]! - value) / level)
            }
            expect(worst).toBeLessThanOrEqual(1)
        }
        const values = normal("q4_K rms", 256 * 100)
        expect(relativeRms(values, decode(encode(values)))).toBeLessThan(0.07)
    })

    it("refuses a length that is not a whole number of super-blocks", () => {
        expect(() => encodeQ4_K(new Float32Array(288), new Uint8Array(288))).toThrow(RangeError)
    })
})

function relativeRms(expected: Float32Array, actual: Float32Array): number {
    let error = 0
    let energy = 0
    expected.forEach((value, i) => {
        error += (actual[i]! - value) ** 2
        energy += value ** 2
    })
    return Math.sqrt(error / energy)
}
