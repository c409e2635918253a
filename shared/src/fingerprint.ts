/**
 * CRC-64-AVRO (the "Rabin" fingerprint of the Avro specification), computed over a schema's
 * Parsing Canonical Form. It identifies the writer schema in Avro's single-object encoding.
 */
const EMPTY = 0xc15d213aa4d7a795n
const MASK64 = 0xffffffffffffffffn

const TABLE: bigint[] = Array.from({ length: 256 }, (_, i) => {
  let fp = BigInt(i)
  for (let j = 0; j < 8; j++) fp = (fp >> 1n) ^ (EMPTY & -(fp & 1n) & MASK64)
  return fp
})

export function crc64Avro(bytes: Uint8Array): bigint {
  let fp = EMPTY
  for (const b of bytes) fp = (fp >> 8n) ^ TABLE[Number((fp ^ BigInt(b)) & 0xffn)]!
  return fp
}

/** The fingerprint as the 8 little-endian bytes that follow the C3 01 marker. */
export function fingerprintBytes(fp: bigint): Buffer {
  const out = Buffer.alloc(8)
  out.writeBigUInt64LE(fp)
  return out
}
