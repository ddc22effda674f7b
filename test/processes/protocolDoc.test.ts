import {readFile} from "node:fs/promises"
import {describe, expect, it} from "vitest"
import {ESCROW_ACTIONS, ESCROW_NOTICES, REGISTRY_ACTIONS, TOKEN_ACTIONS} from "../../sdk/protocol/index.ts"

const doc = await readFile(new URL("../../docs/protocol.md", import.meta.url), "utf8")

/** The doc's section for one process: from its `## name` heading to the next `## `. */
function section(name: string) {
    const start = doc.indexOf(`\n## ${name}\n`)
    expect(start, `docs/protocol.md has a "## ${name}" section`).toBeGreaterThan(0)
    const end = doc.indexOf("\n## ", start + 1)
    return doc.slice(start, end < 0 ? undefined : end)
}

async function lua(name: string) {
    return await readFile(new URL(`../../processes/${name}.lua`, import.meta.url), "utf8")
}

describe.each([
    ["token", TOKEN_ACTIONS, []],
    ["registry", REGISTRY_ACTIONS, []],
    ["escrow", ESCROW_ACTIONS, ESCROW_NOTICES]
] as const)("the %s protocol", (name, actions, notices) => {
    it.each([...actions, ...notices])("documents and implements %s", async (action) => {
        expect(section(name)).toContain(`\`${action}\``)
        expect(await lua(name)).toContain(`"${action}"`)
    })
})
