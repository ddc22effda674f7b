import {BOS_ID, EOS_ID, TokenType, UNK_ID} from "../testModel/tokenizer.ts"

// A llama SentencePiece vocabulary laid out like the generated test models' (tokenizer.ts): <unk>, <s>,
// </s>, the 256 byte-fallback tokens, the ChatML markers, then text pieces. It holds exactly the pieces
// the corpus is written in, so every word is one token and the trained model's output rows are all used.

/** SentencePiece's word-boundary marker, standing for a leading space. */
export const SPACE = "\u2581"

const CHATML_START = "<|im_start|>"
const CHATML_END = "<|im_end|>"

export interface StoryVocabulary {
    readonly tokens: readonly string[]
    /** SentencePiece scores: higher merges first. */
    readonly scores: Float32Array
    readonly types: Int32Array
    readonly bosId: number
    readonly eosId: number
    /** Token ids of `pieces`; throws on a piece the vocabulary lacks. */
    encode(pieces: readonly string[]): number[]
}

/**
 * Splits written text into the pieces llama.cpp's SentencePiece tokenizer cuts it into with this
 * vocabulary: a word with the space before it ("▁upon"), or one punctuation mark. The text must have
 * single spaces between words and none before punctuation; the first word gets a space too, as llama.cpp
 * prefixes one.
 */
export function textPieces(text: string): string[] {
    return [...text.matchAll(/[A-Za-z]+|[.,!?]/g)].map(([piece]) => (/[A-Za-z]/.test(piece) ? SPACE + piece : piece))
}

/**
 * The vocabulary of `pieces`, most frequent first. Every word token is preceded by all its prefixes
 * ("▁u", "▁up", "▁upo" before "▁upon"): SentencePiece reaches a token only by merging adjacent pieces that
 * are themselves tokens.
 */
export function buildStoryVocabulary(pieces: Iterable<string>): StoryVocabulary {
    const tokens = ["<unk>", "<s>", "</s>"]
    const types: number[] = [TokenType.Unknown, TokenType.Control, TokenType.Control]
    for (let byte = 0; byte < 256; byte++) {
        tokens.push(`<0x${byte.toString(16).toUpperCase().padStart(2, "0")}>`)
        types.push(TokenType.Byte)
    }
    tokens.push(CHATML_START, CHATML_END)
    types.push(TokenType.Control, TokenType.Control)
    const firstNormalId = tokens.length

    const counts = new Map<string, number>()
    for (const piece of pieces) counts.set(piece, (counts.get(piece) ?? 0) + 1)
    // Ties in count break by the piece itself, so the order never depends on the corpus's first occurrences.
    const ranked = [...counts].sort(([a, countA], [b, countB]) => countB - countA || (a < b ? -1 : 1)).map(([piece]) => piece)
    const ids = new Map(tokens.map((token, id) => [token, id]))
    const add = (token: string) => {
        if (ids.has(token)) return
        ids.set(token, tokens.length)
        tokens.push(token)
        types.push(TokenType.Normal)
    }
    for (const piece of ranked) {
        for (let end = 2; end < piece.length; end++) add(piece.slice(0, end))
        add(piece)
    }

    const scores = new Float32Array(tokens.length)
    for (let id = firstNormalId; id < tokens.length; id++) scores[id] = -(id - firstNormalId)
    return {
        tokens,
        scores,
        types: Int32Array.from(types),
        bosId: BOS_ID,
        eosId: EOS_ID,
        encode: (text) =>
            text.map((piece) => {
                const id = ids.get(piece)
                if (id === undefined || id === UNK_ID) throw new RangeError(`${JSON.stringify(piece)} is not in the vocabulary`)
                return id
            })
    }
}
