import type http from "node:http"

/** Starts `server` on `port` of every interface; rejects when the port is taken. */
export function listen(server: http.Server, port: number): Promise<void> {
    // Idle keep-alive sockets are left for the client to close. With a server-side timeout, a loaded
    // client can reuse a socket in the instant the server drops it and its request fails with ECONNRESET.
    server.keepAliveTimeout = 0
    return new Promise<void>((resolve, reject) => {
        server.once("error", reject)
        server.listen(port, resolve)
    })
}

/** The URL a local client reaches `server` at; useful when it was started on port `0`. */
export function localUrl(server: http.Server): string {
    const address = server.address()
    return `http://localhost:${typeof address === "object" && address != null ? address.port : 0}`
}

/** Stops `server`, cutting open keep-alive connections rather than waiting for them. */
export async function close(server: http.Server): Promise<void> {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
}
