import {mkdir, readdir, writeFile} from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import {fileURLToPath} from "node:url"
import type {BenchRow, BenchSuite} from "./types.ts"

/**
 * `npm run bench [suite...]`: runs the suites in bench/suites (all, or those
 * named), prints one table, and writes bench/results/<timestamp>.json and
 * bench/results/latest.json. Ratios come from figures measured side by side in
 * one run, since this machine is shared and noisy.
 */
const here = path.dirname(fileURLToPath(import.meta.url))
const wanted = process.argv.slice(2)
const files = (await readdir(path.join(here, "suites"))).filter((f) => f.endsWith(".ts")).sort()
const suites: BenchSuite[] = []
for (const file of files) {
    const {suite} = (await import(path.join(here, "suites", file))) as {suite: BenchSuite}
    if (wanted.length === 0 || wanted.includes(suite.name)) suites.push(suite)
}
if (suites.length === 0) {
    process.stderr.write(`no suite named ${wanted.join(", ")}; suites: ${files.map((f) => f.replace(/\.ts$/, "")).join(", ")}\n`)
    process.exit(2)
}

const workDir = path.join(os.tmpdir(), "weavelm-bench")
await mkdir(workDir, {recursive: true})
const rows: BenchRow[] = []
for (const suite of suites) {
    process.stderr.write(`== ${suite.name}: ${suite.description}\n`)
    rows.push(...(await suite.run({workDir, log: (line) => process.stderr.write(`   ${line}\n`)})))
}

const table = [
    ["suite", "measure", "value", "unit", "goal", "ok", "note"],
    ...rows.map((r) => [
        r.suite,
        r.name,
        formatValue(r.value),
        r.unit,
        r.goal ?? "",
        r.pass == null ? "" : r.pass ? "yes" : "NO",
        r.note ?? ""
    ])
]
const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)))
for (const row of table)
    process.stdout.write(
        row
            .map((cell, i) => cell.padEnd(widths[i]!))
            .join("  ")
            .trimEnd() + "\n"
    )

const resultsDir = path.join(here, "results")
await mkdir(resultsDir, {recursive: true})
const report = JSON.stringify(
    {
        at: new Date().toISOString(),
        machine: {cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version},
        rows
    },
    null,
    2
)
const stamp = new Date().toISOString().replace(/[:.]/g, "-")
await writeFile(path.join(resultsDir, `${stamp}.json`), report)
await writeFile(path.join(resultsDir, "latest.json"), report)
process.stderr.write(`results written to ${path.relative(process.cwd(), path.join(resultsDir, "latest.json"))}\n`)

function formatValue(value: number) {
    return Math.abs(value) >= 100 ? value.toFixed(0) : Math.abs(value) >= 1 ? value.toFixed(2) : value.toPrecision(3)
}
