/** Waits until `check` stops throwing, polling every 500 ms; rethrows its last error after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
    for (const deadline = Date.now() + timeoutMs; ; ) {
        try {
            return await check()
        } catch (error) {
            if (Date.now() > deadline) throw error
            await new Promise((resolve) => setTimeout(resolve, 500))
        }
    }
}
