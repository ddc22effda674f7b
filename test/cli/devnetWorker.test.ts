import {mkdtemp} from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import OpenAI from "openai"
import {afterAll, beforeAll, describe, expect, it} from "vitest"
import {runCli, startCli, type RunningCli} from "../harness/cli.ts"

interface Ready {
    ready: true
    gateway: string
    worker: {address: string; model: string; endpoint: string}
}

const PORT = 4940

// What `npm start` runs: a devnet with a worker, asked over AO and, through the proxy, over HTTP.
describe("weavelm devnet --with-worker", {timeout: 300_000}, () => {
    let dataDir: string
    let devnet: RunningCli<Ready>
    let proxy: RunningCli<{listening: true; url: string}> | undefined

    beforeAll(async () => {
        dataDir = await mkdtemp(path.join(os.tmpdir(), "weavelm-devnet-worker-"))
        devnet = await startCli<Ready>(["devnet", "--with-worker", "--port", String(PORT), "--data-dir", dataDir, "--json"], {
            timeoutMs: 240_000
        })
    })

    afterAll(async () => {
        await proxy?.stop()
        expect(await devnet?.stop()).toBe(0)
    })

    it("announces its worker and answers the infer command it suggests", async () => {
        expect(devnet.ready.worker).toMatchObject({model: "tiny", endpoint: `http://127.0.0.1:${PORT + 6}/v1`})
        const network = path.join(dataDir, "network.json")
        const asked = await runCli(["infer", "--model", "tiny", "--max-tokens", "6", "--json", "--network", network, "The quick brown fox"])
        expect(asked.stderr).toBe("")
        expect(asked.code).toBe(0)
        expect(JSON.parse(asked.stdout)).toMatchObject({worker: devnet.ready.worker.address, output: expect.any(String)})
    })

    it("serves an OpenAI client through the proxy it suggests", async () => {
        const network = path.join(dataDir, "network.json")
        proxy = await startCli(["proxy", "--model", "tiny", "--port", "0", "--json", "--network", network])
        const openai = new OpenAI({baseURL: proxy.ready.url, apiKey: "unused"})
        const completion = await openai.chat.completions.create({
            model: "tiny",
            messages: [{role: "user", content: "Hello"}],
            max_tokens: 6
        })
        expect(completion.choices[0]!.message.content).toEqual(expect.any(String))
        expect(completion.usage!.completion_tokens).toBeGreaterThan(0)
        expect((completion as unknown as {weavelm: {fee: string}}).weavelm.fee).toMatch(/^[1-9]\d*$/)
    })
})
