import fs from 'node:fs'
import path from 'node:path'
import avro from 'avsc'
import { crc64Avro } from './fingerprint.ts'
import { SCHEMAS_DIR } from './paths.ts'

export type AvroType = avro.Type

/** The JSON shape of the record schemas in schemas/ (what codegen and API docs read). */
export interface AvroField {
  name: string
  type: string | { type: string; logicalType?: string }
  doc?: string
}
export interface AvroRecordSchema {
  type: 'record'
  name: string
  namespace?: string
  doc?: string
  fields: AvroField[]
}

/** The primitive type under a field, logical types unwrapped (timestamp-millis -> long). */
export function primitiveType(field: AvroField): string {
  return typeof field.type === 'string' ? field.type : field.type.type
}

export function readRecordSchema(file: string): AvroRecordSchema {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as AvroRecordSchema
}

/** The schema file every new record is written with. Older versions stay beside it, never edited. */
export const TELEMETRY_SCHEMA_FILE = 'drone_telemetry.avsc'

export interface SchemaEntry {
  file: string
  type: AvroType
  /** CRC-64-AVRO of the Parsing Canonical Form, as 16 lowercase hex digits. */
  fingerprint: string
}

export function parseSchemaFile(file: string): SchemaEntry {
  let json: unknown
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (err) {
    throw new Error(`cannot read Avro schema ${file}: ${(err as Error).message}`)
  }
  const type = avro.Type.forSchema(json as avro.Schema)
  // avsc's schema() without options is the Parsing Canonical Form (no docs, no logical types).
  const canonical = JSON.stringify(type.schema())
  const fingerprint = crc64Avro(Buffer.from(canonical, 'utf8')).toString(16).padStart(16, '0')
  return { file: path.basename(file), type, fingerprint }
}

/** Every schema under schemas/, indexed by fingerprint, so a reader can resolve any writer version. */
export function loadSchemaRegistry(dir: string = SCHEMAS_DIR): Map<string, SchemaEntry> {
  const registry = new Map<string, SchemaEntry>()
  for (const name of fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.avsc'))
    .sort()) {
    const entry = parseSchemaFile(path.join(dir, name))
    registry.set(entry.fingerprint, entry)
  }
  return registry
}
