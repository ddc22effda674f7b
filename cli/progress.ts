/** What a progress bar shows: bytes done of a total. */
export interface ProgressUpdate {
    bytes: number
    total: number
}

/**
 * A one-line progress bar (percentage, MB, MB/s, ETA) on a terminal's stderr.
 * Silent when stderr is not a terminal or when output is JSON, so pipes and
 * scripts see only results.
 */
export class ProgressBar {
    private readonly _label: string
    private readonly _enabled: boolean
    private readonly _startedAt = Date.now()
    private _startBytes: number | null = null
    private _lastDrawAt = 0

    public constructor(label: string, {enabled = process.stderr.isTTY === true}: {enabled?: boolean} = {}) {
        this._label = label
        this._enabled = enabled
    }

    public update({bytes, total}: ProgressUpdate) {
        if (!this._enabled) return
        this._startBytes ??= bytes
        const now = Date.now()
        if (now - this._lastDrawAt < 100 && bytes < total) return
        this._lastDrawAt = now
        const seconds = Math.max((now - this._startedAt) / 1000, 1e-3)
        const rate = (bytes - this._startBytes) / seconds
        const fraction = total > 0 ? Math.min(bytes / total, 1) : 0
        const width = 24
        const filled = Math.round(fraction * width)
        const eta = rate > 0 ? Math.ceil((total - bytes) / rate) : NaN
        process.stderr.write(
            `\r${this._label.padEnd(11)} ${(fraction * 100).toFixed(0).padStart(3)}% ` +
                `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${mb(bytes)}/${mb(total)} MB ` +
                `${mb(rate)} MB/s ETA ${Number.isFinite(eta) ? formatSeconds(eta) : "--"}\u001b[K`
        )
    }

    public done() {
        if (this._enabled && this._startBytes != null) process.stderr.write("\n")
    }
}

function mb(bytes: number) {
    return (bytes / 1024 / 1024).toFixed(1)
}

function formatSeconds(seconds: number) {
    return seconds >= 60 ? `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, "0")}s` : `${seconds}s`
}
