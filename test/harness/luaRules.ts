import {MemoryAo} from "./memoryAo.ts"

/**
 * Runs Lua inside a freshly deployed process whose bundle installed the weavelm.* rule modules:
 * one Eval evaluates a whole table of cases, which message-by-message tests cannot afford.
 * `prelude` is prepended to every snippet (requires, small helpers); `json` is always in scope.
 * Each snippet returns a value, read back as JSON.
 */
export async function deployLuaRules(processName: "escrow" | "registry", prelude = "") {
    const ao = MemoryAo.create()
    const owner = await ao.actor("owner")
    const process = await ao.deploy(owner, processName)
    return async function lua<T>(code: string): Promise<T> {
        const result = await owner.client.eval(process, `local json = require("json")\n${prelude}\n${code}`)
        const output = result.Output as {data?: string} | undefined
        if (output?.data === undefined || result.Error) throw new Error(`Eval failed: ${JSON.stringify(result.Error ?? result.Output)}`)
        return JSON.parse(output.data) as T
    }
}
