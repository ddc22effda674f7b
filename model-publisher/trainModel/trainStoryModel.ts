import type {ModelShape} from "../testModel/presets.ts"
import {Prng} from "../testModel/prng.ts"
import {LlamaPass} from "./LlamaPass.ts"
import {generateStories} from "./storyCorpus.ts"
import {buildStoryVocabulary, textPieces, type StoryVocabulary} from "./storyVocabulary.ts"
import {trainLlama, type TrainingStep} from "./trainLlama.ts"

/** Everything that decides a trained story model: the same recipe gives the same weights. */
export interface StoryModelRecipe {
    /** Seeds the stories, the initial weights and the order of training windows. */
    readonly seed: number
    /** Stories in the training corpus. */
    readonly stories: number
    /** The model's shape but its vocabulary, which the corpus decides. */
    readonly shape: Omit<ModelShape, "vocabularySize">
    /** Input tokens per training window, BOS included; at most the shape's context length. */
    readonly sequenceLength: number
    /** Windows per optimizer step. */
    readonly batchSize: number
    readonly steps: number
    readonly learningRate: number
}

/**
 * The recipe of test/fixtures/models/trained-stories.gguf (`npm run fixtures:trained`). 500 steps of 8
 * windows: the loss falls from 7 to 0.36 and flattens over the last hundred steps, in about 4 minutes
 * of CPU time on one thread (test/fixtures/models/README.md).
 */
export const TRAINED_STORIES_RECIPE: StoryModelRecipe = {
    seed: 1,
    stories: 4000,
    shape: {embeddingLength: 64, blockCount: 2, feedForwardLength: 176, headCount: 4, headCountKv: 4, contextLength: 256},
    sequenceLength: 128,
    batchSize: 8,
    steps: 500,
    learningRate: 5e-3
}

/** A tokenized corpus: one stream of stories written one after another, as a book of them. */
export interface StoryCorpus {
    readonly vocabulary: StoryVocabulary
    readonly tokens: readonly number[]
    /** Where each sentence begins in `tokens`: where training windows start. */
    readonly sentenceStarts: readonly number[]
}

export interface TrainedStoryModel {
    readonly shape: ModelShape
    readonly vocabulary: StoryVocabulary
    readonly weights: Float32Array
    /** Mean loss per token of each step's batch, in nats. */
    readonly losses: readonly number[]
}

/**
 * `stories` stories from `seed`, tokenized with `vocabulary`. Defaults to the vocabulary of exactly
 * these stories; a held-out corpus passes the training corpus's, which holds every word the grammar uses.
 */
export function storyCorpus(seed: number, stories: number, vocabulary?: StoryVocabulary): StoryCorpus {
    const pieces: string[] = []
    const sentenceStarts: number[] = []
    for (const story of generateStories(seed, stories)) {
        for (const sentence of story) {
            sentenceStarts.push(pieces.length)
            pieces.push(...textPieces(sentence))
        }
    }
    const used = vocabulary ?? buildStoryVocabulary(pieces)
    return {vocabulary: used, tokens: used.encode(pieces), sentenceStarts}
}

/**
 * Trains on windows of the corpus that start at a sentence, each led by BOS as llama.cpp leads a prompt,
 * so the model learns to continue any sentence-aligned prompt as well as a story's opening.
 */
export function trainStoryModel(recipe: StoryModelRecipe, onStep?: (progress: TrainingStep) => void): TrainedStoryModel {
    const corpus = storyCorpus(recipe.seed, recipe.stories)
    const shape: ModelShape = {...recipe.shape, vocabularySize: corpus.vocabulary.tokens.length}
    const windows = new Prng(recipe.seed, "training windows")
    const batch = () => Array.from({length: recipe.batchSize}, () => trainingWindow(corpus, recipe.sequenceLength, windows))
    const {weights, losses} = trainLlama({
        shape,
        seed: recipe.seed,
        steps: recipe.steps,
        batch,
        sequenceLength: recipe.sequenceLength,
        learningRate: recipe.learningRate,
        onStep
    })
    return {shape, vocabulary: corpus.vocabulary, weights, losses}
}

/**
 * Mean loss per token, in nats, of `shape`'s `weights` over windows of `corpus` drawn with `seed`: the
 * held-out loss when the corpus was generated from another seed than the training one.
 */
export function storyLoss(
    shape: ModelShape,
    weights: Float32Array,
    corpus: StoryCorpus,
    options: {sequenceLength: number; windows: number; seed: number}
): number {
    const pass = new LlamaPass(shape, weights, options.sequenceLength)
    const random = new Prng(options.seed, "evaluation windows")
    let loss = 0
    for (let i = 0; i < options.windows; i++) {
        const window = trainingWindow(corpus, options.sequenceLength, random)
        pass.forward(window.slice(0, -1))
        loss += pass.loss(window.slice(1))
    }
    return loss / (options.windows * options.sequenceLength)
}

/** BOS and the `sequenceLength` tokens from a random sentence start: inputs and targets in one. */
function trainingWindow(corpus: StoryCorpus, sequenceLength: number, random: Prng): number[] {
    const {sentenceStarts, tokens} = corpus
    // Only starts with a full window after them; the corpus is far longer than one window.
    let start: number
    do start = sentenceStarts[Math.floor((random.nextUint32() / 2 ** 32) * sentenceStarts.length)]!
    while (start + sequenceLength > tokens.length)
    return [corpus.vocabulary.bosId, ...tokens.slice(start, start + sequenceLength)]
}
