import path from "node:path"

/** The devnet's data folder when none is given, relative to the working directory. */
export const DEFAULT_DEVNET_DIR = path.join(".weavelm", "devnet")
