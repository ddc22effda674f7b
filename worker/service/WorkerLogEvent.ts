/** A structured log event; the CLI prints it as a line or as JSON. */
export interface WorkerLogEvent {
    level: "info" | "warn" | "error"
    event: string
    message: string
    [field: string]: unknown
}
