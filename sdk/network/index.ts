export {connectNetwork} from "./connectNetwork.ts"
export type {NetworkConnection} from "./connectNetwork.ts"
export {
    AOS_MODULE,
    LEGACY_NETWORK,
    LegacyNetworkSchema,
    MAINNET_NETWORK,
    MainnetNetworkSchema,
    NetworkConfigSchema,
    ProcessIdsSchema,
    splitUrls
} from "./NetworkConfig.ts"
export type {LegacyNetwork, MainnetNetwork, NetworkConfig, ProcessIds} from "./NetworkConfig.ts"
export {DEFAULT_CACHE_DIR, DEFAULT_DEVNET_DIR} from "./defaults.ts"
export {NETWORK_OVERRIDE_VARIABLES, NetworkError, resolveNetwork} from "./resolveNetwork.ts"
export type {NetworkOverrides, ResolveNetworkOptions} from "./resolveNetwork.ts"
