import {describe, expect, it} from "vitest"
import {EventStreamParser, readEventStream, type ServerSentEvent} from "../../sdk/sse/index.ts"

/** Every event of `bytes` pushed in pieces of `size` bytes. */
function parseInPieces(bytes: Uint8Array, size: number): ServerSentEvent[] {
    const parser = new EventStreamParser()
    const events: ServerSentEvent[] = []
    for (let at = 0; at < bytes.length; at += size) events.push(...parser.push(bytes.subarray(at, at + size)))
    return events
}

/** The events of `text`, checked to come out the same however its bytes are cut. */
function parse(text: string): ServerSentEvent[] {
    const bytes = new TextEncoder().encode(text)
    const whole = parseInPieces(bytes, Math.max(1, bytes.length))
    for (let size = 1; size < bytes.length; size++) expect(parseInPieces(bytes, size)).toEqual(whole)
    return whole
}

const message = (data: string, lastEventId = "") => ({type: "message", data, lastEventId})

describe("reading an event stream", () => {
    it("dispatches an event at each blank line, with an optional single space after the colon", () => {
        expect(parse("data: one\n\ndata:two\n\ndata:  three\n\n")).toEqual([message("one"), message("two"), message(" three")])
    })

    it("ends lines at CRLF, LF or CR, mixed in one stream", () => {
        expect(parse("data: a\r\n\r\ndata: b\r\rdata: c\n\ndata: d\r\n\n")).toEqual(["a", "b", "c", "d"].map((data) => message(data)))
    })

    it("joins data lines with a newline", () => {
        expect(parse('data: {"a":\ndata: 1}\n\ndata\ndata\n\n')).toEqual([message('{"a":\n1}'), message("\n")])
    })

    it("skips comments, unknown fields and retry, and dispatches nothing for an event without data", () => {
        expect(parse(": keep-alive\n\n:data: no\nfoo: bar\nretry: 3000\n\nevent: ping\n\ndata: yes\n\n")).toEqual([message("yes")])
    })

    it("names the event type for one event and carries the last id over to the events after it", () => {
        expect(parse("event: error\nid: 7\ndata: x\n\ndata: y\n\nid\ndata: z\n\n")).toEqual([
            {type: "error", data: "x", lastEventId: "7"},
            message("y", "7"),
            message("z")
        ])
        expect(parse("id: a\0b\ndata: x\n\n")).toEqual([message("x")])
    })

    it("holds a partial event until its blank line arrives, and never dispatches one the stream did not finish", () => {
        const parser = new EventStreamParser()
        const encode = (text: string) => new TextEncoder().encode(text)
        expect(parser.push(encode("data: hel"))).toEqual([])
        expect(parser.push(encode("lo\n"))).toEqual([])
        expect(parser.push(encode("\ndata: cut off"))).toEqual([message("hello")])
    })

    it("keeps a character split across chunks whole, and drops a byte order mark at the start", () => {
        const bytes = new TextEncoder().encode("\uFEFFdata: caf\u00e9 \u{1F600}\n\n")
        for (const size of [1, 2, 3]) expect(parseInPieces(bytes, size)).toEqual([message("caf\u00e9 \u{1F600}")])
    })

    it("reads a whole body as an async stream of events", async () => {
        async function* body() {
            yield new TextEncoder().encode("data: [DONE")
            yield new TextEncoder().encode("]\r\n\r\n")
        }
        const events: ServerSentEvent[] = []
        for await (const event of readEventStream(body())) events.push(event)
        expect(events).toEqual([message("[DONE]")])
    })
})
