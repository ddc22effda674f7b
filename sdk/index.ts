/**
 * weavelm's TypeScript client. Start with `connectWeaveLM({ network, wallet })`;
 * the lower layers (AO access, registry and escrow clients, storage, receipts)
 * are exported for programs that need them.
 */
export * from "./client/index.ts"
export * from "./ao/index.ts"
export * from "./channel/index.ts"
export * from "./direct/index.ts"
export * from "./errors/index.ts"
export * from "./escrow/index.ts"
export * from "./network/index.ts"
export * from "./protocol/index.ts"
export * from "./receipt/index.ts"
export * from "./registry/index.ts"
export * from "./storage/index.ts"
export * from "./token/index.ts"
export * from "./wallet/index.ts"
export {deployProcesses, readManifest, writeManifest} from "./deploy/index.ts"
export type {DeployManifest, DeployParameters, DeployResult} from "./deploy/index.ts"
export {bundleLua} from "./lua/index.ts"
