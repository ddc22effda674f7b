import type {Engine} from "../../sdk/receipt/index.ts"

/** The receipt's engine fields that do not depend on a loaded model. */
export type EngineInfo = Pick<Engine, "name" | "version" | "llamaCpp" | "backend" | "gpu">
