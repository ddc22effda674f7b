import {createHash} from "node:crypto"
import {readFile} from "node:fs/promises"
import path from "node:path"
import {fileURLToPath} from "node:url"

/** The folder holding our Lua processes; shared modules live in its `lib/`. */
export const processesDir = fileURLToPath(new URL("../../processes/", import.meta.url))

/** Our shared modules are required as `weavelm.<file>`; everything else (`.bint`, `json`) is aos's own. */
const LOCAL_MODULE = /require\(\s*["'](weavelm\.[\w.]+)["']\s*\)/g

export interface LuaBundle {
    /** One chunk of Lua that installs the modules and then runs the entry file. */
    source: string
    /** SHA-256 (hex) of `source`: a deployment re-Evals a process only when it changes. */
    hash: string
    /** The `weavelm.*` modules bundled in, in load order. */
    modules: string[]
}

export interface BundleLuaOptions {
    /** Folder that `weavelm.<name>` resolves in (`<libDir>/<name>.lua`). Defaults to `processes/lib`. */
    libDir?: string
}

/**
 * Bundles a Lua file with the `weavelm.*` modules it requires, for one `Eval`.
 * Each module is assigned to `package.loaded` in dependency order, replacing any
 * earlier version so a re-Eval upgrades the code while globals keep the state.
 */
export async function bundleLua(entryFile: string, {libDir = path.join(processesDir, "lib")}: BundleLuaOptions = {}): Promise<LuaBundle> {
    const ordered: Array<{name: string; source: string}> = []
    const visiting = new Set<string>()
    const done = new Set<string>()

    async function visit(name: string) {
        if (done.has(name)) return
        if (visiting.has(name)) throw new Error(`Lua modules require each other in a cycle at ${name}`)
        visiting.add(name)
        const file = path.join(libDir, name.slice("weavelm.".length).replaceAll(".", "/") + ".lua")
        const source = await readFile(file, "utf8").catch(() => {
            throw new Error(`Lua module ${name} not found at ${file}`)
        })
        for (const dep of requiredModules(source)) await visit(dep)
        visiting.delete(name)
        done.add(name)
        ordered.push({name, source})
    }

    const entry = await readFile(entryFile, "utf8")
    for (const dep of requiredModules(entry)) await visit(dep)

    const parts = ordered.map(({name, source}) => `package.loaded[${JSON.stringify(name)}] = (function()\n${source}\nend)()\n`)
    const source = parts.join("\n") + "\n" + entry
    return {source, hash: createHash("sha256").update(source).digest("hex"), modules: ordered.map((m) => m.name)}
}

/** Lua comments (`--[[ ]]` blocks and `--` lines): a usage example in one must not pull a module in. */
const LUA_COMMENT = /--\[(=*)\[[\s\S]*?\]\1\]|--[^\n]*/g

function requiredModules(source: string): string[] {
    return [...source.replace(LUA_COMMENT, "").matchAll(LOCAL_MODULE)].map((match) => match[1]!)
}
