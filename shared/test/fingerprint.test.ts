import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { crc64Avro, fingerprintBytes } from '../src/fingerprint.ts'

/**
 * Vectors computed independently with a few lines of Python implementing the Avro specification's
 * Rabin fingerprint (EMPTY = 0xc15d213aa4d7a795, byte-wise table). "null" is also Avro's own
 * published test vector (7195948357588979594 in schema-tests.txt).
 */
const VECTORS: Array<[string, bigint]> = [
  ['', 0xc15d213aa4d7a795n],
  ['"int"', 0x7275d51a3f395c8fn],
  ['"null"', 7195948357588979594n],
  ['"string"', 0x8f014872634503c7n],
  ['"long"', 0xd054e14493f41db7n],
  ['"double"', 0x8e7535c032ab957en],
  ['"boolean"', 0x9f42fc78a4d4f764n],
  ['a', 0x0ade663b45cf10e2n],
  [
    '{"name":"test.geo.Point","type":"record","fields":[{"name":"x","type":"double"},{"name":"t","type":"long"},{"name":"tag","type":"string"}]}',
    0x55461c078fed221bn,
  ],
]

describe('crc64Avro', () => {
  for (const [text, expected] of VECTORS) {
    it(`fingerprints ${JSON.stringify(text).slice(0, 40)} as ${expected.toString(16)}`, () => {
      assert.equal(crc64Avro(Buffer.from(text, 'utf8')), expected)
    })
  }

  it('accepts a plain Uint8Array as well as a Buffer', () => {
    assert.equal(crc64Avro(new TextEncoder().encode('"int"')), 0x7275d51a3f395c8fn)
  })

  it('always stays within 64 bits', () => {
    for (let i = 0; i < 256; i++) {
      const fp = crc64Avro(Uint8Array.from([i, 255 - i, i ^ 0x5a]))
      assert.ok(fp >= 0n && fp <= 0xffffffffffffffffn, `fingerprint ${fp} out of range`)
    }
  })
})

describe('fingerprintBytes', () => {
  it('lays the fingerprint out little-endian (least significant byte first)', () => {
    assert.deepEqual(
      [...fingerprintBytes(0x7275d51a3f395c8fn)],
      [0x8f, 0x5c, 0x39, 0x3f, 0x1a, 0xd5, 0x75, 0x72],
    )
  })

  it('keeps leading zero bytes and the top bit', () => {
    assert.equal(fingerprintBytes(1n).toString('hex'), '0100000000000000')
    assert.equal(fingerprintBytes(0x8000000000000000n).toString('hex'), '0000000000000080')
  })
})
