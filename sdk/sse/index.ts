/** Server-sent events (`text/event-stream`), read by one parser wherever a stream is read. */
export {EventStreamParser, readEventStream} from "./EventStreamParser.ts"
export type {ServerSentEvent} from "./EventStreamParser.ts"
