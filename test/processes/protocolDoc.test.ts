import {readFile} from "node:fs/promises"
import {describe, expect, it} from "vitest"
import path from "node:path"
import {bundleLua, processesDir} from "../../sdk/lua/index.ts"
import {ESCROW_ACTIONS, ESCROW_NOTICES, REGISTRY_ACTIONS, TOKEN_ACTIONS} from "../../sdk/protocol/index.ts"

const doc = await readFile(new URL("../../docs/protocol.md", import.meta.url), "utf8")

/** The doc's section for one process: from its `## name` heading to the next `## `. */
function section(name: string) {
    const start = doc.indexOf(`\n## ${name}\n`)
    expect(start, `docs/protocol.md has a "## ${name}" section`).toBeGreaterThan(0)
    const end = doc.indexOf("\n## ", start + 1)
    return doc.slice(start, end < 0 ? undefined : end)
}

/** A process's code as deployed: its file with the modules it requires. */
async function lua(name: string) {
    return (await bundleLua(path.join(processesDir, `${name}.lua`))).source
}

describe.each([
    ["token", TOKEN_ACTIONS, []],
    ["registry", REGISTRY_ACTIONS, []],
    ["escrow", ESCROW_ACTIONS, ESCROW_NOTICES]
] as const)("the %s protocol", (name, actions, notices) => {
    it.each([...actions, ...notices])("documents and implements %s", async (action) => {
        const text = section(name)
        expect(text.includes(`\`${action}\``) || text.includes(`X-Action=${action}\``)).toBe(true)
        expect(await lua(name)).toContain(`"${action}"`)
    })
})
