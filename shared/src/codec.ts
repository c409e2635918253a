import type { DroneTelemetry } from './generated/drone-telemetry.ts'
import { fingerprintBytes } from './fingerprint.ts'
import { loadSchemaRegistry, parseSchemaFile, TELEMETRY_SCHEMA_FILE, type SchemaEntry } from './schema.ts'
import { SCHEMAS_DIR } from './paths.ts'
import path from 'node:path'
import type avro from 'avsc'

/** Avro single-object encoding: marker C3 01, 8-byte little-endian CRC-64-AVRO fingerprint, datum. */
const MARKER = Buffer.from([0xc3, 0x01])
const HEADER_LENGTH = 10

export class TelemetryCodec {
  readonly writer: SchemaEntry
  private readonly header: Buffer
  private readonly resolvers = new Map<string, avro.Resolver>()
  private readonly registry: Map<string, SchemaEntry>

  constructor(schemasDir: string = SCHEMAS_DIR) {
    this.registry = loadSchemaRegistry(schemasDir)
    this.writer = parseSchemaFile(path.join(schemasDir, TELEMETRY_SCHEMA_FILE))
    this.header = Buffer.concat([MARKER, fingerprintBytes(BigInt('0x' + this.writer.fingerprint))])
  }

  encode(record: DroneTelemetry): Buffer {
    return Buffer.concat([this.header, this.writer.type.toBuffer(record)])
  }

  /** Decodes any known writer version into the current record shape (Avro schema resolution). */
  decode(bytes: Buffer): DroneTelemetry {
    if (bytes.length < HEADER_LENGTH || bytes[0] !== MARKER[0] || bytes[1] !== MARKER[1]) {
      throw new Error('not Avro single-object encoding (missing C3 01 marker)')
    }
    const fingerprint = bytes.readBigUInt64LE(2).toString(16).padStart(16, '0')
    const datum = bytes.subarray(HEADER_LENGTH)
    const reader = this.writer.type
    if (fingerprint === this.writer.fingerprint) return reader.fromBuffer(datum) as DroneTelemetry
    return reader.fromBuffer(datum, this.resolverFor(fingerprint)) as DroneTelemetry
  }

  private resolverFor(fingerprint: string): avro.Resolver {
    let resolver = this.resolvers.get(fingerprint)
    if (!resolver) {
      const entry = this.registry.get(fingerprint)
      if (!entry) throw new Error(`unknown writer schema fingerprint ${fingerprint}`)
      resolver = this.writer.type.createResolver(entry.type)
      this.resolvers.set(fingerprint, resolver)
    }
    return resolver
  }
}
