import {mkdir, readFile, rename, writeFile} from "node:fs/promises"
import path from "node:path"

/**
 * Reads an upload's resume state; null when there is none or it cannot be used (unreadable,
 * or not what `parse` accepts), so the upload starts anew rather than failing.
 */
export async function readStateFile<T>(file: string, parse: (value: unknown) => T): Promise<T | null> {
    try {
        return parse(JSON.parse(await readFile(file, "utf8")))
    } catch {
        return null
    }
}

/** Writes the whole state to a temporary file and renames it over the old one, so a crash never leaves half a state. */
export async function saveStateFile(file: string, state: unknown): Promise<void> {
    await mkdir(path.dirname(file), {recursive: true})
    await writeFile(file + ".tmp", JSON.stringify(state))
    await rename(file + ".tmp", file)
}
