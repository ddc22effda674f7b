// Builds the package into dist/: the TypeScript compiled to ESM with declarations, and the Lua
// processes beside it (deploy bundles them at run time, from dist/processes as from processes/).
import {execFileSync} from "node:child_process"
import {cp, readdir, readFile, rm, writeFile} from "node:fs/promises"
import path from "node:path"
import {fileURLToPath} from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const dist = path.join(root, "dist")

await rm(dist, {recursive: true, force: true})
execFileSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", path.join(root, "tsconfig.build.json")], {
    stdio: "inherit"
})
await rewriteDeclarationImports(dist)
await cp(path.join(root, "processes"), path.join(dist, "processes"), {recursive: true, filter: (source) => !source.endsWith(".md")})

// tsc rewrites "./x.ts" to "./x.js" in the JavaScript it emits, not in declarations; a consumer
// without allowImportingTsExtensions would then reject every shipped .d.ts.
async function rewriteDeclarationImports(folder) {
    for (const entry of await readdir(folder, {withFileTypes: true, recursive: true})) {
        if (!entry.isFile() || !entry.name.endsWith(".d.ts")) continue
        const file = path.join(entry.parentPath, entry.name)
        const text = await readFile(file, "utf8")
        const rewritten = text.replace(/(from\s+|import\()(["'])(\.{1,2}\/[^"']+)\.ts\2/g, "$1$2$3.js$2")
        if (rewritten !== text) await writeFile(file, rewritten)
    }
}
