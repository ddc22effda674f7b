import { open } from "node:fs/promises"
import { readGgufFileInfo } from "node-llama-cpp"

// Test-side decoding of tensor data, written independently of the encoders under test.

/** binary16 bits → number, straight from the IEEE 754 definition. */
export function float16BitsToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1
  const exponent = (bits >> 10) & 0x1f
  const mantissa = bits & 0x3ff
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN
  if (exponent === 0) return sign * mantissa * 2 ** -24
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15)
}

/** Reads and dequantizes one f32, f16 or q8_0 tensor from a GGUF file. */
export async function readTensor(path: string, name: string): Promise<{ ggmlType: number; values: Float32Array }> {
  const info = await readGgufFileInfo(path, { logWarnings: false })
  const tensor = info.tensorInfo?.find((candidate) => candidate.name === name)
  if (tensor === undefined) throw new Error(`no tensor ${name}`)
  const count = tensor.dimensions.reduce<number>((product, dim) => product * Number(dim), 1)
  const byteLength = { 0: count * 4, 1: count * 2, 8: (count / 32) * 34 }[tensor.ggmlType as 0 | 1 | 8]
  if (byteLength === undefined) throw new Error(`unsupported ggml type ${tensor.ggmlType}`)
  const bytes = Buffer.alloc(byteLength)
  const handle = await open(path)
  try {
    await handle.read(bytes, 0, byteLength, Number(tensor.fileOffset))
  } finally {
    await handle.close()
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const values = new Float32Array(count)
  for (let i = 0; i < count; i++) {
    if (tensor.ggmlType === 0) values[i] = view.getFloat32(i * 4, true)
    else if (tensor.ggmlType === 1) values[i] = float16BitsToNumber(view.getUint16(i * 2, true))
    else {
      const block = (i >> 5) * 34
      values[i] = float16BitsToNumber(view.getUint16(block, true)) * view.getInt8(block + 2 + (i & 31))
    }
  }
  return { ggmlType: tensor.ggmlType, values }
}
