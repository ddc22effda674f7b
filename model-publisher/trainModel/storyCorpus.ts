import {Prng} from "../testModel/prng.ts"

// A small probabilistic grammar of children's stories. Its choices (names, animals, places, things) give
// a trained model real uncertainty, and everything between them (set phrases, a hero's name and pronoun
// repeated through the story) is predictable from context, so the model becomes confident without being
// deterministic.

interface Character {
    readonly name: string
    readonly he: string
    readonly his: string
    readonly him: string
}

const he = (name: string): Character => ({name, he: "he", his: "his", him: "him"})
const she = (name: string): Character => ({name, he: "she", his: "her", him: "her"})

const CHARACTERS: readonly Character[] = [he("Tom"), she("Mia"), he("Sam"), she("Lily"), he("Ben"), she("Anna"), he("Max"), she("Lucy")]
const ANIMALS = ["cat", "dog", "bird", "fox", "rabbit", "bear", "frog", "duck", "mouse", "owl"]
const TRAITS = ["little", "happy", "kind", "small", "brave", "shy", "funny", "good"]
const PLACES = [
    ["in", "park"],
    ["in", "forest"],
    ["in", "garden"],
    ["by", "river"],
    ["on", "hill"],
    ["on", "farm"],
    ["by", "sea"]
] as const
const THINGS = ["ball", "kite", "box", "hat", "apple", "cake", "boat", "key", "book", "flower", "shell", "stone"]
const LOOKS = ["red", "blue", "green", "yellow", "big", "shiny", "old", "little"]
const PASTIMES = ["play", "run", "sing", "read", "swim", "jump", "dance", "draw"]
const FEELINGS = ["happy", "excited", "surprised", "glad"]

/** One story: its sentences, each a line of words and punctuation as it is written. */
export type Story = readonly string[]

/** Makes `count` stories from `seed`: the same seed always gives the same stories. */
export function generateStories(seed: number, count: number): Story[] {
    const random = new Choices(new Prng(seed, "stories"))
    return Array.from({length: count}, () => story(random))
}

function story(random: Choices): Story {
    const hero = random.pick(CHARACTERS)
    const friend = random.pick(CHARACTERS.filter((character) => character !== hero))
    const animal = random.pick(ANIMALS)
    const friendAnimal = random.pick(ANIMALS)
    const [preposition, place] = random.pick(PLACES)
    const thing = random.pick(THINGS)
    const look = random.pick(LOOKS)
    const He = capitalise(hero.he)
    const lines: string[] = []

    const opening = random.weighted([6, 2, 2])
    if (opening === 0) {
        lines.push(`Once upon a time, there was a ${random.pick(TRAITS)} ${animal} named ${hero.name}.`)
    } else if (opening === 1) {
        lines.push(
            `Once upon a time, in a ${random.pick(["small", "big"])} ${random.pick(["village", "forest"])}, ` +
                `there lived a ${random.pick(TRAITS)} ${animal} named ${hero.name}.`
        )
    } else {
        lines.push(`One day, a ${random.pick(TRAITS)} ${animal} named ${hero.name} went to the ${place}.`)
    }

    lines.push(
        random.chance(0.5)
            ? `${He} liked to ${random.pick(PASTIMES)} ${preposition} the ${place}.`
            : `${hero.name} loved to ${random.pick(PASTIMES)} with ${hero.his} ${random.pick(["mom", "dad", "friends"])} every day.`
    )
    if (opening !== 2) {
        lines.push(`One day, ${hero.name} went to the ${place} ${random.pick(["to play", `with ${hero.his} mom`, "all alone"])}.`)
    }
    lines.push(
        `${random.chance(0.5) ? hero.name : He} ${random.pick(["found", "saw"])} a ${look} ${thing} ` +
            `${random.pick(["under a tree", "near the water", "in the grass"])}.`
    )
    lines.push(
        random.pick([
            `${He} was very ${random.pick(FEELINGS)}.`,
            `${hero.name} smiled and picked up the ${thing}.`,
            `It was the best ${thing} ${hero.he} had ever seen.`
        ])
    )
    lines.push(`Then ${hero.name} saw ${hero.his} friend ${friend.name} the ${friendAnimal}.`)
    lines.push(
        `${hero.name} showed the ${look} ${thing} to ${friend.name}, and they played with it ` +
            `${random.pick(["all day", "for a long time", "until the sun went down"])}.`
    )

    if (random.chance(0.6)) {
        lines.push(
            `But then, ${random.pick([
                `the wind blew the ${thing} away`,
                `the ${thing} fell into the water`,
                `a big dog took the ${thing}`
            ])}.`
        )
        lines.push(`${hero.name} was sad${random.chance(0.5) ? " and started to cry" : ""}.`)
        lines.push(
            `${friend.name} wanted to help, so ${friend.he} ${random.pick(["ran", "looked", "searched"])} ` +
                `${random.pick(["everywhere", "very fast", "for a long time"])}.`
        )
        lines.push(`At last, ${friend.name} found the ${thing} and gave it back to ${hero.name}.`)
        lines.push(`${hero.name} said thank you to ${friend.name}.`)
    }
    lines.push(
        random.pick([
            `From that day on, ${hero.name} and ${friend.name} were best friends.`,
            `${hero.name} and ${friend.name} went home and had a good nap.`,
            `${hero.name} learned that it is good to share with friends.`
        ])
    )
    lines.push("The end.")
    return lines
}

function capitalise(word: string): string {
    return word.charAt(0).toUpperCase() + word.slice(1)
}

/** Draws from a seeded stream; the scaling by 2^-32 keeps every choice unbiased enough for a grammar. */
class Choices {
    readonly #prng: Prng

    public constructor(prng: Prng) {
        this.#prng = prng
    }

    public pick<T>(items: readonly T[]): T {
        return items[Math.floor(this.#uniform() * items.length)]!
    }

    public chance(probability: number): boolean {
        return this.#uniform() < probability
    }

    /** An index drawn with probability proportional to its weight. */
    public weighted(weights: readonly number[]): number {
        let rest = this.#uniform() * weights.reduce((sum, weight) => sum + weight, 0)
        for (const [index, weight] of weights.entries()) {
            if (rest < weight) return index
            rest -= weight
        }
        return weights.length - 1
    }

    #uniform(): number {
        return this.#prng.nextUint32() / 2 ** 32
    }
}
