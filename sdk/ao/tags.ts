import type {Tag} from "./types.ts"

/** Tag list from a record, dropping undefined values; insertion order is kept. */
export function tagsFromRecord(record: Record<string, string | number | undefined>): Tag[] {
    const tags: Tag[] = []
    for (const [name, value] of Object.entries(record)) {
        if (value !== undefined) tags.push({name, value: String(value)})
    }
    return tags
}

/** Record from a tag list; a repeated tag keeps its last value, as aos does. */
export function recordFromTags(tags: readonly Tag[] | undefined): Record<string, string> {
    const record: Record<string, string> = {}
    for (const tag of tags ?? []) record[tag.name] = tag.value
    return record
}
