/**
 * Runs `handler` on the first SIGINT or SIGTERM. It returns the function that removes the handler, for a
 * command that ends on its own; once the handler has run, a second signal ends the process at once, as
 * Node does by default (the handlers are gone).
 */
export function onStopSignal(handler: () => void): () => void {
    const remove = () => {
        process.off("SIGINT", stop)
        process.off("SIGTERM", stop)
    }
    const stop = () => {
        remove()
        handler()
    }
    process.on("SIGINT", stop)
    process.on("SIGTERM", stop)
    return remove
}

/** Resolves once the first SIGINT or SIGTERM has run `dispose`. */
export function stopOnSignal(dispose: () => Promise<void>): Promise<void> {
    return new Promise<void>((resolve) => {
        onStopSignal(() => void dispose().then(resolve))
    })
}
