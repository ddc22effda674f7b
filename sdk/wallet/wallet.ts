import {createHash, generateKeyPair} from "node:crypto"
import {chmod, mkdir, readFile, stat, writeFile} from "node:fs/promises"
import path from "node:path"
import {promisify} from "node:util"
import {WeaveLMError} from "../errors/index.ts"

/** An Arweave RSA wallet as a JSON Web Key. */
export interface ArweaveJwk {
    kty: "RSA"
    n: string
    e: string
    d?: string
    p?: string
    q?: string
    dp?: string
    dq?: string
    qi?: string
}

/** The wallet file is missing, unreadable, not a key, or readable by others. */
export class WalletError extends WeaveLMError {
    public override readonly name = "WalletError"
    public override readonly kind = "user"
}

/** Generates a 4096-bit RSA key, the size ANS-104 signatures require. */
export async function generateWallet(): Promise<ArweaveJwk> {
    const {privateKey} = await promisify(generateKeyPair)("rsa", {modulusLength: 4096, publicExponent: 0x10001})
    const jwk = privateKey.export({format: "jwk"}) as ArweaveJwk
    return {kty: "RSA", n: jwk.n, e: jwk.e, d: jwk.d, p: jwk.p, q: jwk.q, dp: jwk.dp, dq: jwk.dq, qi: jwk.qi}
}

/** An Arweave address: base64url SHA-256 of the key's modulus. */
export function walletAddress(jwk: Pick<ArweaveJwk, "n">): string {
    return createHash("sha256").update(Buffer.from(jwk.n, "base64url")).digest("base64url")
}

/** Writes a wallet readable by its owner alone; refuses to overwrite one. */
export async function writeWallet(file: string, jwk: ArweaveJwk): Promise<void> {
    await mkdir(path.dirname(file), {recursive: true, mode: 0o700})
    await writeFile(file, JSON.stringify(jwk), {mode: 0o600, flag: "wx"}).catch((error: NodeJS.ErrnoException) => {
        if (error.code === "EEXIST") throw new WalletError(`A wallet already exists at ${file}`)
        throw error
    })
    await chmod(file, 0o600)
}

/**
 * Reads a wallet file. A key that others can read is refused rather than used:
 * it may already be leaked, and silently using it would hide that.
 */
export async function readWallet(file: string): Promise<ArweaveJwk> {
    const info = await stat(file).catch(() => {
        throw new WalletError(`No wallet at ${file}`)
    })
    if ((info.mode & 0o077) !== 0)
        throw new WalletError(`Wallet ${file} is readable by other users (mode ${(info.mode & 0o777).toString(8)}); run: chmod 600 ${file}`)

    let jwk: Partial<ArweaveJwk>
    try {
        jwk = JSON.parse(await readFile(file, "utf8")) as Partial<ArweaveJwk>
    } catch {
        throw new WalletError(`Wallet ${file} is not valid JSON`)
    }
    if (jwk.kty !== "RSA" || typeof jwk.n !== "string" || typeof jwk.d !== "string")
        throw new WalletError(`Wallet ${file} is not an Arweave RSA private key`)
    return jwk as ArweaveJwk
}
