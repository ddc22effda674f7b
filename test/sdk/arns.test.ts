import {describe, expect, it} from "vitest"
import {ArnsError, arioReader, resolveArnsName, resolveArUrl} from "../../sdk/arns/index.ts"
import {ANT_PROCESS, ARIO_PROCESS, DEMO_TX, Q8_TX, recordedDryrun} from "../fixtures/arns/recorded.ts"

// The real @ar.io/sdk does the lookups; only its compute-unit dry runs are answered from recordings.
function reader() {
    const dryrun = recordedDryrun()
    return {ario: arioReader({dryrun}), dryrun}
}

const tagsOf = (call: {tags: Array<{name: string; value: string}>}) => Object.fromEntries(call.tags.map((t) => [t.name, t.value]))

describe("ArNS names", () => {
    it("resolves a base name through the ARIO process and the name's ANT", async () => {
        const {ario, dryrun} = reader()
        expect(await resolveArnsName("weavelm-demo", {ario})).toEqual({
            name: "weavelm-demo",
            txId: DEMO_TX,
            processId: ANT_PROCESS,
            ttlSeconds: 3600
        })
        expect(dryrun.calls.map((c) => [c.process, tagsOf(c)])).toEqual(
            expect.arrayContaining([
                [ARIO_PROCESS, {Action: "Record", Name: "weavelm-demo"}],
                [ANT_PROCESS, {Action: "Record", "Sub-Domain": "@"}]
            ])
        )
    })

    it("resolves an undername, case-insensitively, and ar:// URLs", async () => {
        const {ario} = reader()
        expect((await resolveArnsName("Q8_WeaveLM-Demo", {ario})).txId).toBe(Q8_TX)
        expect(await resolveArUrl("ar://weavelm-demo", {ario})).toBe(DEMO_TX)
        expect(await resolveArUrl("ar://q8_weavelm-demo", {ario})).toBe(Q8_TX)
    })

    it("takes ar://<tx id> as the transaction itself, without a lookup", async () => {
        const {ario, dryrun} = reader()
        expect(await resolveArUrl(`ar://${Q8_TX}`, {ario})).toBe(Q8_TX)
        expect(dryrun.calls).toHaveLength(0)
    })

    it("says clearly when a name is not registered or has no such undername", async () => {
        const {ario} = reader()
        await expect(resolveArnsName("no-such-model", {ario})).rejects.toThrow(ArnsError)
        await expect(resolveArnsName("no-such-model", {ario})).rejects.toThrow(/"no-such-model" is not registered/)
        await expect(resolveArnsName("missing_weavelm-demo", {ario})).rejects.toThrow(
            /"missing_weavelm-demo" is not registered \(Record for missing not found/
        )
    })

    it("refuses a record that does not hold a transaction id", async () => {
        const {ario} = reader()
        await expect(resolveArnsName("broken_weavelm-demo", {ario})).rejects.toThrow(
            /points at "https:\/\/example.com\/model.gguf", which is not a transaction id/
        )
    })

    it("rejects malformed names before asking anyone", async () => {
        const {ario, dryrun} = reader()
        for (const name of ["", "-model", "model-", "my model", "a".repeat(52), "x_y_z"])
            await expect(resolveArnsName(name, {ario}), name).rejects.toThrow(/is not an ArNS name/)
        await expect(resolveArUrl("weavelm-demo", {ario})).rejects.toThrow(/not an ar:\/\/ URL/)
        expect(dryrun.calls).toHaveLength(0)
    })
})
