/** One event of a `text/event-stream`, as the WHATWG HTML standard's EventSource would dispatch it. */
export interface ServerSentEvent {
    /** The `event:` field; `"message"` when the event named none. */
    type: string
    /** The event's `data:` lines joined with `\n`; an event with none is never dispatched. */
    data: string
    /** The last `id:` the stream sent at or before this event, since an id carries over to the events after it; `""` when none. */
    lastEventId: string
}

/** A line ends at CRLF, LF or CR; a CR at the end of a chunk may be the first half of a CRLF whose LF comes next. */
const LINE_BREAK = /\r\n?|\n/g

/**
 * Reads a `text/event-stream` as its bytes arrive, cut anywhere, by the WHATWG
 * HTML standard's rules ("Interpreting an event stream"): an optional single
 * space after a field's colon, `data:` lines joined with `\n`, comment lines
 * (`:`) and unknown fields skipped, an event dispatched at a blank line, a
 * partial line or event held until more bytes come. An event the stream never
 * finished is never dispatched. `retry:` is skipped: no reader here reconnects.
 */
export class EventStreamParser {
    private readonly _decoder = new TextDecoder()
    private _partialLine = ""
    private _lastChunkEndedInCr = false
    private _type = ""
    private _data: string[] = []
    private _lastEventId = ""

    /** The events these bytes complete, in stream order. */
    public push(bytes: Uint8Array): ServerSentEvent[] {
        let text = this._decoder.decode(bytes, {stream: true})
        if (text === "") return []
        if (this._lastChunkEndedInCr && text.startsWith("\n")) text = text.slice(1)
        this._lastChunkEndedInCr = text.endsWith("\r")
        const buffered = this._partialLine + text
        const events: ServerSentEvent[] = []
        let lineStart = 0
        for (const lineBreak of buffered.matchAll(LINE_BREAK)) {
            const event = this._readLine(buffered.slice(lineStart, lineBreak.index))
            if (event != null) events.push(event)
            lineStart = lineBreak.index + lineBreak[0].length
        }
        this._partialLine = buffered.slice(lineStart)
        return events
    }

    private _readLine(line: string): ServerSentEvent | null {
        if (line === "") return this._dispatch()
        if (line.startsWith(":")) return null
        const colon = line.indexOf(":")
        const field = colon < 0 ? line : line.slice(0, colon)
        const value = colon < 0 ? "" : line.slice(line.startsWith(" ", colon + 1) ? colon + 2 : colon + 1)
        if (field === "event") this._type = value
        else if (field === "data") this._data.push(value)
        else if (field === "id" && !value.includes("\0")) this._lastEventId = value
        return null
    }

    private _dispatch(): ServerSentEvent | null {
        const event =
            this._data.length === 0
                ? null
                : {type: this._type === "" ? "message" : this._type, data: this._data.join("\n"), lastEventId: this._lastEventId}
        this._type = ""
        this._data = []
        return event
    }
}

/** The events of a whole stream, each as soon as its bytes arrived. */
export async function* readEventStream(body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<ServerSentEvent> {
    const parser = new EventStreamParser()
    for await (const bytes of body) yield* parser.push(bytes)
}
