import {createReadStream} from "node:fs"
import {Readable} from "node:stream"
import {GatewayError, withRetry, type RetryOptions} from "./retry.ts"

export interface ItemEndpointClientOptions {
    /** The endpoint's base URL, e.g. a HyperBEAM node's `https://node/~bundler@1.0`; items go to `<url>/tx`. */
    url: string
    retry?: RetryOptions
    /** Defaults to the global `fetch`. */
    fetch?: typeof fetch
}

/** Whether `url` names a HyperBEAM node's bundler device rather than Turbo's upload service. */
export function isItemEndpoint(url: string): boolean {
    return new URL(url).pathname.includes("~bundler@1.0")
}

/**
 * The `up.arweave.net`-compatible item endpoint a HyperBEAM node's `~bundler@1.0` serves: one
 * `POST <url>/tx` per signed item, the raw item as the body. It has no multi-part uploads, so a
 * file goes in one streamed request, sent again whole if it fails.
 */
export class ItemEndpointClient {
    private readonly _url: string
    private readonly _retry: RetryOptions
    private readonly _fetch: typeof fetch

    public constructor({url, retry = {}, fetch: http = fetch}: ItemEndpointClientOptions) {
        this._url = `${url.replace(/\/$/, "")}/tx`
        this._retry = retry
        this._fetch = http
    }

    public async postItem(raw: Uint8Array): Promise<void> {
        await this._post("Uploading a data item", () => raw as Uint8Array<ArrayBuffer>)
    }

    /** The item whose signed header is `header` and whose data is `file`, streamed from disk. */
    public async postFile(header: Uint8Array, file: string): Promise<void> {
        await this._post(`Uploading ${file}`, () => Readable.toWeb(Readable.from(itemStream(header, file))) as ReadableStream<Uint8Array>)
    }

    private async _post(what: string, body: () => BodyInit) {
        await withRetry(
            what,
            async () => {
                const response = await this._fetch(this._url, {
                    method: "POST",
                    headers: {"content-type": "application/octet-stream"},
                    body: body(),
                    duplex: "half"
                } as RequestInit)
                const text = await response.text()
                if (response.ok) return
                const detail = `HTTP ${response.status}${text === "" ? "" : `: ${text.slice(0, 200)}`}`
                if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429)
                    throw new GatewayError(`${what}: the bundler refused it (${detail})`)
                throw new Error(detail)
            },
            this._retry
        )
    }
}

async function* itemStream(header: Uint8Array, file: string): AsyncGenerator<Uint8Array> {
    yield header
    for await (const chunk of createReadStream(file)) yield chunk as Uint8Array
}
