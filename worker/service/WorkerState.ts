import {mkdir, readFile, rename, writeFile} from "node:fs/promises"
import path from "node:path"

/** How many finished task ids to remember: enough to dedupe any redelivery window. */
const REMEMBERED = 1000

interface Persisted {
    /** The number of the last inbox message handled (docs/protocol.md, "Published state"). */
    cursor: number | null
    finished: string[]
}

/**
 * What a worker must remember across restarts: where it stopped reading its
 * inbox at the escrow, and which tasks it already answered, so that a restart
 * neither misses an assignment nor runs one twice.
 */
export class WorkerState {
    private readonly _file: string
    private _cursor: number | null
    private readonly _finished: string[]
    /**
     * The save under way, which the next one waits for: the inbox follower and a finished task save at
     * once, and two writers of the one temporary file rename it from under each other.
     */
    private _saving: Promise<void> = Promise.resolve()

    private constructor(file: string, persisted: Persisted) {
        this._file = file
        // A cursor from before inboxes were numbered cannot be resumed from; the open-task list covers the gap.
        this._cursor = typeof persisted.cursor === "number" ? persisted.cursor : null
        this._finished = persisted.finished
    }

    /** Loads `<dir>/<address>.json`; null cursor when this worker never ran here. */
    public static async load(dir: string, address: string): Promise<WorkerState & {isNew: boolean}> {
        const file = path.join(dir, `${address}.json`)
        const persisted = await readFile(file, "utf8").then(
            (raw) => JSON.parse(raw) as Persisted,
            () => null
        )
        const state = new WorkerState(file, persisted ?? {cursor: null, finished: []})
        return Object.assign(state, {isNew: persisted == null})
    }

    public get cursor() {
        return this._cursor
    }

    public hasFinished(taskId: string) {
        return this._finished.includes(taskId)
    }

    public async advance(cursor: number) {
        this._cursor = cursor
        await this._save()
    }

    public async markFinished(taskId: string) {
        this._finished.push(taskId)
        if (this._finished.length > REMEMBERED) this._finished.splice(0, this._finished.length - REMEMBERED)
        await this._save()
    }

    private _save() {
        const saved = this._saving.then(() => this._write())
        // A failed save is its caller's to report; the next one still runs.
        this._saving = saved.catch(() => {})
        return saved
    }

    private async _write() {
        await mkdir(path.dirname(this._file), {recursive: true})
        await writeFile(this._file + ".tmp", JSON.stringify({cursor: this._cursor, finished: this._finished} satisfies Persisted))
        await rename(this._file + ".tmp", this._file)
    }
}
