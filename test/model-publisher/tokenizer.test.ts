import {describe, expect, it} from "vitest"
import {buildVocabulary, TokenType} from "../../model-publisher/testModel/tokenizer.ts"

const SPACE = "\u2581"

describe("buildVocabulary", () => {
    it.each([1024, 4096, 32000])("builds exactly %i unique tokens with llama's special layout", (size) => {
        const vocabulary = buildVocabulary(size)
        expect(vocabulary.tokens).toHaveLength(size)
        expect(vocabulary.scores).toHaveLength(size)
        expect(vocabulary.types).toHaveLength(size)
        expect(new Set(vocabulary.tokens).size).toBe(size)
        expect(vocabulary.tokens.slice(0, 3)).toEqual(["<unk>", "<s>", "</s>"])
        expect([...vocabulary.types.slice(0, 3)]).toEqual([TokenType.Unknown, TokenType.Control, TokenType.Control])
        for (let byte = 0; byte < 256; byte++) {
            expect(vocabulary.tokens[3 + byte]).toBe(`<0x${byte.toString(16).toUpperCase().padStart(2, "0")}>`)
            expect(vocabulary.types[3 + byte]).toBe(TokenType.Byte)
        }
    })

    it("makes every word token reachable by SentencePiece merges of its prefixes", () => {
        const {tokens, kinds} = buildVocabulary(32000)
        const known = new Set(tokens)
        const missing = tokens
            .filter((token) => token.startsWith(SPACE))
            .flatMap((token) => Array.from({length: token.length - 2}, (_, i) => token.slice(0, i + 2)))
            .filter((prefix) => !known.has(prefix))
        expect(missing).toEqual([])
        const words = tokens.filter((_, id) => kinds[id] === "word" || kinds[id] === "inflection")
        expect(words.length).toBeGreaterThan(15_000)
        expect(words.filter((word) => !/^\u2581[A-Za-z]+$/.test(word))).toEqual([])
        expect(known.has(`${SPACE}the`)).toBe(true)
        expect(known.has(`${SPACE}The`)).toBe(true)
    })

    it("ranks earlier tokens higher so common words merge first", () => {
        const {scores, types} = buildVocabulary(4096)
        const first = types.indexOf(TokenType.Normal)
        for (let id = first + 1; id < scores.length; id++) expect(scores[id]!).toBeLessThan(scores[id - 1]!)
    })

    it("refuses a size the word lists cannot fill", () => {
        expect(() => buildVocabulary(100_000)).toThrow(/word lists yield/)
    })
})
