export {BundlerService} from "./BundlerService.ts"
export type {BundlerServiceOptions} from "./BundlerService.ts"
export {ItemStore} from "./ItemStore.ts"
export type {ItemStoreOptions, StoredItem} from "./ItemStore.ts"
