/** AR.IO's compute unit for reading ArNS names from the ARIO process on mainnet. */
export const ARIO_MAINNET_CU = "https://cu.ardrive.io"
