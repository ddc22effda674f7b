import {createHash, randomBytes} from "node:crypto"
import {mkdir, readdir, readFile, rename, rm, writeFile} from "node:fs/promises"
import path from "node:path"
import {z} from "zod"

/**
 * A challenger's secret for one challenge (docs/protocol.md, escrow "Seeding the committee"): the
 * `Challenge` carries only its SHA-256, the `Reveal-Seed` the secret itself once the worker has
 * seeded. Lost before the reveal, the challenge lapses and its bond with it.
 */
export const ChallengeSecretSchema = z.object({
    /** SHA-256 (hex) of `secret`: the challenge's Seed-Commit, and the key it is stored under. */
    seedCommit: z.string().regex(/^[0-9a-f]{64}$/),
    /** 32 random bytes as 64 lowercase hex characters. */
    secret: z.string().regex(/^[0-9a-f]{64}$/),
    /** The escrow the challenge went to. */
    escrow: z.string(),
    /** The challenged task (a direct request's Request-Id). */
    taskId: z.string(),
    /** The Challenge-Id, once the escrow accepted the challenge. */
    challengeId: z.string().optional(),
    createdAt: z.number()
})
export type ChallengeSecret = z.infer<typeof ChallengeSecretSchema>

/** Where a challenger keeps its secrets from the `Challenge` until the `Reveal-Seed`. */
export interface ChallengeSecretStore {
    put(secret: ChallengeSecret): Promise<void>
    /** The secret whose Seed-Commit is `seedCommit`; null when none is kept. */
    get(seedCommit: string): Promise<ChallengeSecret | null>
    list(): Promise<ChallengeSecret[]>
    delete(seedCommit: string): Promise<void>
}

/** A new secret (32 random bytes, hex) and its Seed-Commit. */
export function newChallengeSecret(): {secret: string; seedCommit: string} {
    const secret = randomBytes(32).toString("hex")
    return {secret, seedCommit: seedCommitOf(secret)}
}

/** SHA-256 of the secret's text, as the escrow checks it. */
export function seedCommitOf(secret: string): string {
    return createHash("sha256").update(secret).digest("hex")
}

/** Secrets for as long as the process lives: a restart before the reveal loses them. */
export class MemoryChallengeSecrets implements ChallengeSecretStore {
    private readonly _secrets = new Map<string, ChallengeSecret>()

    public async put(secret: ChallengeSecret) {
        this._secrets.set(secret.seedCommit, ChallengeSecretSchema.parse(secret))
    }

    public async get(seedCommit: string) {
        return this._secrets.get(seedCommit) ?? null
    }

    public async list() {
        return [...this._secrets.values()]
    }

    public async delete(seedCommit: string) {
        this._secrets.delete(seedCommit)
    }
}

/**
 * Secrets in a directory, one `<seedCommit>.json` each, readable by the owner only and written
 * whole (a temporary file renamed over the old one): what `weavelm challenge` keeps under its
 * state dir so that `weavelm challenge reveal` can finish a challenge after a restart.
 */
export class FileChallengeSecrets implements ChallengeSecretStore {
    public readonly dir: string

    public constructor(dir: string) {
        this.dir = dir
    }

    public async put(secret: ChallengeSecret) {
        const file = this._file(ChallengeSecretSchema.parse(secret).seedCommit)
        await mkdir(this.dir, {recursive: true, mode: 0o700})
        await writeFile(file + ".tmp", JSON.stringify(secret), {mode: 0o600})
        await rename(file + ".tmp", file)
    }

    public async get(seedCommit: string) {
        if (!/^[0-9a-f]{64}$/.test(seedCommit)) return null
        const raw = await readFile(this._file(seedCommit), "utf8").catch(() => null)
        return raw == null ? null : ChallengeSecretSchema.parse(JSON.parse(raw))
    }

    public async list() {
        const names = await readdir(this.dir).catch(() => [] as string[])
        const secrets = await Promise.all(
            names.filter((name) => /^[0-9a-f]{64}\.json$/.test(name)).map((name) => this.get(name.slice(0, 64)))
        )
        return secrets.filter((secret): secret is ChallengeSecret => secret != null)
    }

    public async delete(seedCommit: string) {
        await rm(this._file(seedCommit), {force: true})
    }

    private _file(seedCommit: string) {
        return path.join(this.dir, `${seedCommit}.json`)
    }
}
