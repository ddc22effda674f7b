import path from "node:path"

/** Models, uploads, worker and verifier state when no --cache-dir is given, relative to the working directory. */
export const DEFAULT_CACHE_DIR = ".weavelm"

/** The devnet's data folder when none is given, relative to the working directory. */
export const DEFAULT_DEVNET_DIR = path.join(DEFAULT_CACHE_DIR, "devnet")
