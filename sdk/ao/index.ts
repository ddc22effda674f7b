export {AoClient, AoProcessError, emittedBy} from "./AoClient.ts"
export type {AoClientOptions, ProcessReply, SentMessage, TagValues} from "./AoClient.ts"
export {recordFromTags, tagsFromRecord} from "./tags.ts"
export type {AoOutboxMessage, AoPort, AoResult, Tag} from "./types.ts"
