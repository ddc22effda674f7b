export {ESCROW_ACTIONS, ESCROW_NOTICES, REGISTRY_ACTIONS, TOKEN_ACTIONS} from "./actions.ts"
export type {EscrowAction, EscrowNotice, RegistryAction, TokenAction} from "./actions.ts"
