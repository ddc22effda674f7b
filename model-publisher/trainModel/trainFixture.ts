import {createHash} from "node:crypto"
import {readFile} from "node:fs/promises"
import {loadavg} from "node:os"
import path from "node:path"
import {fileURLToPath} from "node:url"
import {parameterCount, storyCorpus, storyLoss, TRAINED_STORIES_RECIPE, trainStoryModel, writeTrainedModel} from "./index.ts"

/**
 * `npm run fixtures:trained [path]`: trains the story model from TRAINED_STORIES_RECIPE on one thread and
 * writes it as an f32 GGUF, by default to test/fixtures/models/trained-stories.gguf. Prints the loss as it
 * goes and, at the end, what test/fixtures/models/README.md records. The machine is shared, so the CPU
 * time and the load average are printed beside the wall-clock time.
 */
const repositoryRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")
const destination = path.resolve(process.argv[2] ?? path.join(repositoryRoot, "test/fixtures/models/trained-stories.gguf"))
const recipe = TRAINED_STORIES_RECIPE
const REPORT_EVERY = 25
// The held-out stories come from the next seed: same grammar, stories the model never saw.
const HELD_OUT = {stories: 300, windows: 64, seed: (recipe.seed + 1) >>> 0}

const loadBefore = loadavg()
const started = performance.now()
const cpuBefore = process.cpuUsage()
let lossSinceReport = 0
const trained = trainStoryModel(recipe, ({step, loss, learningRate}) => {
    lossSinceReport += loss
    if ((step + 1) % REPORT_EVERY !== 0) return
    const seconds = ((performance.now() - started) / 1000).toFixed(0)
    const meanLoss = (lossSinceReport / REPORT_EVERY).toFixed(4)
    process.stderr.write(`step ${step + 1}/${recipe.steps}  loss ${meanLoss}  lr ${learningRate.toExponential(2)}  ${seconds} s\n`)
    lossSinceReport = 0
})
const seconds = (performance.now() - started) / 1000
const cpu = process.cpuUsage(cpuBefore)
const cpuSeconds = (cpu.user + cpu.system) / 1e6
const loadAfter = loadavg()

const heldOut = storyCorpus(HELD_OUT.seed, HELD_OUT.stories, trained.vocabulary)
const heldOutLoss = storyLoss(trained.shape, trained.weights, heldOut, {
    sequenceLength: recipe.sequenceLength,
    windows: HELD_OUT.windows,
    seed: HELD_OUT.seed
})
const finalLoss = trained.losses.slice(-REPORT_EVERY).reduce((sum, loss) => sum + loss, 0) / REPORT_EVERY
const sizeBytes = await writeTrainedModel({
    path: destination,
    name: `weavelm-trained-stories-seed${recipe.seed}`,
    shape: trained.shape,
    vocabulary: trained.vocabulary,
    weights: trained.weights
})
const sha256 = createHash("sha256")
    .update(await readFile(destination))
    .digest("hex")
const load = (averages: number[]) => averages.map((average) => average.toFixed(2)).join(", ")

process.stdout.write(
    [
        `wrote ${destination}`,
        `shape: ${JSON.stringify(trained.shape)}, ${parameterCount(trained.shape)} parameters`,
        `training: ${recipe.steps} steps of ${recipe.batchSize} x ${recipe.sequenceLength} tokens`,
        `time: ${seconds.toFixed(0)} s, ${cpuSeconds.toFixed(0)} s of CPU time`,
        `load average (1, 5, 15 min): ${load(loadBefore)} before, ${load(loadAfter)} after`,
        `final loss (mean of the last ${REPORT_EVERY} steps): ${finalLoss.toFixed(4)} nats/token`,
        `held-out loss (${HELD_OUT.windows} windows, stories of seed ${HELD_OUT.seed}): ${heldOutLoss.toFixed(4)} nats/token`,
        `size: ${sizeBytes} bytes, sha256 ${sha256}`
    ].join("\n") + "\n"
)
