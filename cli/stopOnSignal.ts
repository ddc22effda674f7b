/**
 * Resolves once the first SIGINT or SIGTERM has run `dispose`; a second one meanwhile ends the process at once,
 * as Node does by default (the handlers are gone).
 */
export function stopOnSignal(dispose: () => Promise<void>): Promise<void> {
    return new Promise<void>((resolve) => {
        const stop = () => {
            process.off("SIGINT", stop)
            process.off("SIGTERM", stop)
            void dispose().then(resolve)
        }
        process.on("SIGINT", stop)
        process.on("SIGTERM", stop)
    })
}
