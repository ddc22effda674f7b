export {generateWallet, readWallet, walletAddress, WalletError, writeWallet} from "./wallet.ts"
export type {ArweaveJwk} from "./wallet.ts"
