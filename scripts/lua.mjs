// The Lua side of `npm run lint` and `npm run format`: StyLua (its wasm build, from npm) formats the
// processes and the example, luacheck (Debian's lua-check) lints them with .luacheckrc.
//   node scripts/lua.mjs check    fails on a file StyLua would change or a luacheck warning
//   node scripts/lua.mjs format   rewrites the files in StyLua's form
import {spawnSync} from "node:child_process"
import {readdir, readFile, writeFile} from "node:fs/promises"
import path from "node:path"
import {fileURLToPath} from "node:url"
import {
    CallParenType,
    CollapseSimpleStatement,
    Config,
    formatCode,
    IndentType,
    LuaVersion,
    OutputVerification,
    QuoteStyle
} from "@johnnymorganz/stylua"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const FOLDERS = ["processes", "examples"]

const mode = process.argv[2]
if (mode !== "check" && mode !== "format") {
    console.error("usage: node scripts/lua.mjs check|format")
    process.exit(2)
}

const files = (await Promise.all(FOLDERS.map((folder) => luaFiles(path.join(root, folder))))).flat()
const unformatted = []
for (const file of files) {
    const source = await readFile(file, "utf8")
    const formatted = styluaFormat(source)
    if (formatted === source) continue
    if (mode === "format") await writeFile(file, formatted)
    else unformatted.push(path.relative(root, file))
}
for (const file of unformatted) console.error(`${file}: not formatted (npm run format)`)

let linted = true
if (mode === "check") {
    const luacheck = spawnSync("luacheck", ["--no-color", "--quiet", ...FOLDERS], {cwd: root, encoding: "utf8"})
    if (luacheck.error?.code === "ENOENT") {
        // npm test must pass on a fresh machine; .ci/run installs lua-check so that CI always lints.
        console.warn("luacheck is not installed (apt-get install lua-check): the Lua was formatted but not linted")
    } else {
        process.stdout.write(luacheck.stdout)
        linted = luacheck.status === 0
    }
}
process.exit(unformatted.length > 0 || !linted ? 1 : 0)

// StyLua sometimes reaches its fixed point only on a second pass (a comment after a wrapped table).
function styluaFormat(source) {
    let formatted = source
    for (let pass = 0; pass < 3; pass++) {
        const next = formatCode(formatted, styluaConfig(), undefined, OutputVerification.Full)
        if (next === formatted) break
        formatted = next
    }
    return formatted
}

function styluaConfig() {
    // The processes' own style (the aos blueprints'): two spaces, double quotes, calls with parentheses.
    const config = Config.new()
    config.syntax = LuaVersion.Lua53
    config.column_width = 140
    config.indent_type = IndentType.Spaces
    config.indent_width = 2
    config.quote_style = QuoteStyle.AutoPreferDouble
    config.call_parentheses = CallParenType.Always
    config.collapse_simple_statement = CollapseSimpleStatement.ConditionalOnly
    return config
}

async function luaFiles(folder) {
    const entries = await readdir(folder, {withFileTypes: true, recursive: true})
    return entries
        .filter((entry) => entry.isFile() && entry.name.endsWith(".lua"))
        .map((entry) => path.join(entry.parentPath, entry.name))
        .sort()
}
