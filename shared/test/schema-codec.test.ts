import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { TelemetryCodec } from '../src/codec.ts'
import type { DroneTelemetry } from '../src/generated/drone-telemetry.ts'
import {
  loadSchemaRegistry,
  parseSchemaFile,
  primitiveType,
  readRecordSchema,
  TELEMETRY_SCHEMA_FILE,
  type AvroRecordSchema,
} from '../src/schema.ts'
import { SCHEMAS_DIR } from '../src/paths.ts'

const SCHEMA_PATH = path.join(SCHEMAS_DIR, TELEMETRY_SCHEMA_FILE)

/**
 * CRC-64-AVRO of the Parsing Canonical Form of schemas/drone_telemetry.avsc, computed independently
 * (Python: the spec's canonicalisation rules and Rabin fingerprint). Schemas are never edited in
 * place, so a change here means a new version belongs beside the old one instead.
 */
const TELEMETRY_FINGERPRINT = '7deaa189c909275f'

/** avsc decodes into instances of a generated record class; compare the fields as a plain object. */
const plain = (value: object): Record<string, unknown> => ({ ...value })

const RECORD: DroneTelemetry = {
  drone_id: 'drone-0007',
  seq: 42,
  timestamp: 1_700_000_000_123,
  publish_timestamp: 1_700_000_000_123_456,
  latitude: 47.397,
  longitude: 8.545,
  altitude: 30.25,
  velocity: 5.5,
  acceleration_x: 0.125,
  acceleration_y: -0.25,
  acceleration_z: -9.81,
  gyro_x: 0.01,
  gyro_y: -0.02,
  gyro_z: 0.03,
}

describe('schemas/drone_telemetry.avsc', () => {
  const schema = readRecordSchema(SCHEMA_PATH)

  it('is a record with the design fields in order', () => {
    assert.equal(schema.type, 'record')
    assert.deepEqual(
      schema.fields.map((f) => f.name),
      [
        'drone_id',
        'seq',
        'timestamp',
        'publish_timestamp',
        'latitude',
        'longitude',
        'altitude',
        'velocity',
        'acceleration_x',
        'acceleration_y',
        'acceleration_z',
        'gyro_x',
        'gyro_y',
        'gyro_z',
      ],
    )
  })

  for (const field of schema.fields) {
    it(`field ${field.name} has a doc`, () => {
      assert.equal(typeof field.doc, 'string')
      assert.ok(field.doc!.trim().length > 10, `doc of ${field.name} is too short: ${field.doc}`)
    })
  }

  it('declares the timestamp logical types and unwraps them to long', () => {
    const byName = new Map(schema.fields.map((f) => [f.name, f]))
    assert.deepEqual(byName.get('timestamp')!.type, { type: 'long', logicalType: 'timestamp-millis' })
    assert.deepEqual(byName.get('publish_timestamp')!.type, { type: 'long', logicalType: 'timestamp-micros' })
    assert.equal(primitiveType(byName.get('timestamp')!), 'long')
    assert.equal(primitiveType(byName.get('latitude')!), 'double')
  })
})

describe('parseSchemaFile / loadSchemaRegistry', () => {
  it('fingerprints the Parsing Canonical Form (independently computed value)', () => {
    const entry = parseSchemaFile(SCHEMA_PATH)
    assert.equal(entry.file, TELEMETRY_SCHEMA_FILE)
    assert.equal(entry.fingerprint, TELEMETRY_FINGERPRINT)
  })

  it('ignores docs, defaults and logical types and qualifies the name (canonical form)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'schema-test-'))
    try {
      const file = path.join(dir, 'point.avsc')
      fs.writeFileSync(
        file,
        JSON.stringify({
          type: 'record',
          name: 'Point',
          namespace: 'test.geo',
          doc: 'A point.',
          fields: [
            { name: 'x', type: 'double', doc: 'metres' },
            { name: 't', type: { type: 'long', logicalType: 'timestamp-millis' }, doc: 'ms' },
            { name: 'tag', type: 'string', default: 'none' },
          ],
        }),
      )
      // Python: CRC-64-AVRO of {"name":"test.geo.Point","type":"record","fields":[...x double, t long, tag string]}
      assert.equal(parseSchemaFile(file).fingerprint, '55461c078fed221b')
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('finds the telemetry schema by its fingerprint', () => {
    const registry = loadSchemaRegistry()
    const entry = registry.get(TELEMETRY_FINGERPRINT)
    assert.ok(entry, `registry keys: ${[...registry.keys()].join(', ')}`)
    assert.equal(entry.file, TELEMETRY_SCHEMA_FILE)
    assert.ok(entry.type.isValid(RECORD))
  })

  it('names the file when a schema is not JSON', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'schema-test-'))
    try {
      fs.writeFileSync(path.join(dir, 'broken.avsc'), '{ not json')
      assert.throws(() => loadSchemaRegistry(dir), /cannot read Avro schema .*broken\.avsc/)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('TelemetryCodec', () => {
  const codec = new TelemetryCodec()

  it('round-trips a record', () => {
    const decoded = codec.decode(codec.encode(RECORD))
    assert.deepEqual(plain(decoded), RECORD)
    assert.deepEqual(Object.keys(decoded), Object.keys(RECORD))
  })

  it('round-trips extreme but valid values exactly', () => {
    const extreme: DroneTelemetry = {
      ...RECORD,
      drone_id: 'x'.repeat(64),
      // avsc's long holds integers up to 2^52 exactly without a custom long type.
      seq: 2 ** 52,
      latitude: -90,
      longitude: 180,
      acceleration_x: 1e-300,
      gyro_z: -0,
    }
    assert.deepEqual(plain(codec.decode(codec.encode(extreme))), extreme)
  })

  it('writes the single-object encoding: C3 01, fingerprint little-endian, then the datum', () => {
    const bytes = codec.encode(RECORD)
    assert.equal(bytes[0], 0xc3)
    assert.equal(bytes[1], 0x01)
    assert.equal(bytes.subarray(2, 10).toString('hex'), '5f2709c989a1ea7d')
    assert.equal(bytes.readBigUInt64LE(2), BigInt('0x' + TELEMETRY_FINGERPRINT))
    assert.deepEqual(bytes.subarray(10), codec.writer.type.toBuffer(RECORD))
    assert.equal(codec.writer.fingerprint, TELEMETRY_FINGERPRINT)
  })

  it('rejects bytes without the marker', () => {
    const bytes = codec.encode(RECORD)
    bytes[0] = 0x00
    assert.throws(() => codec.decode(bytes), /missing C3 01 marker/)
    assert.throws(() => codec.decode(Buffer.from(JSON.stringify(RECORD))), /not Avro single-object encoding/)
    assert.throws(() => codec.decode(Buffer.from([0xc3, 0x01, 1, 2])), /not Avro single-object encoding/)
  })

  it('rejects an unknown writer fingerprint, naming it', () => {
    const bytes = codec.encode(RECORD)
    Buffer.from('0123456789abcdef', 'hex').copy(bytes, 2)
    // Read little-endian, the bytes 01 23 .. ef are the fingerprint efcdab8967452301.
    assert.throws(() => codec.decode(bytes), /unknown writer schema fingerprint efcdab8967452301/)
  })

  it('rejects a truncated datum', () => {
    const bytes = codec.encode(RECORD)
    assert.throws(() => codec.decode(bytes.subarray(0, bytes.length - 3)))
  })
})

describe('TelemetryCodec schema resolution', () => {
  const current = readRecordSchema(SCHEMA_PATH)
  /** A later version with one more field; readers of the current version must skip it. */
  const battery = { name: 'battery', type: 'double', doc: 'Battery voltage, volts.', default: 0 }
  const withBattery: AvroRecordSchema = { ...current, fields: [...current.fields, battery] }
  let root: string
  let currentDir: string
  let newerDir: string

  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'codec-resolution-'))
    // Reader keeps the current schema as its writer and knows the newer version by fingerprint.
    currentDir = path.join(root, 'current')
    fs.mkdirSync(currentDir)
    fs.copyFileSync(SCHEMA_PATH, path.join(currentDir, TELEMETRY_SCHEMA_FILE))
    fs.writeFileSync(path.join(currentDir, 'drone_telemetry_v2.avsc'), JSON.stringify(withBattery))
    // A producer already on the newer version, with the current one kept beside it.
    newerDir = path.join(root, 'newer')
    fs.mkdirSync(newerDir)
    fs.writeFileSync(path.join(newerDir, TELEMETRY_SCHEMA_FILE), JSON.stringify(withBattery))
    fs.copyFileSync(SCHEMA_PATH, path.join(newerDir, 'drone_telemetry_v1.avsc'))
  })
  after(() => fs.rmSync(root, { recursive: true, force: true }))

  it('decodes a record written with a version that has an extra field (the field is dropped)', () => {
    const writer = new TelemetryCodec(newerDir)
    const reader = new TelemetryCodec(currentDir)
    assert.notEqual(writer.writer.fingerprint, reader.writer.fingerprint)
    const bytes = writer.encode({ ...RECORD, battery: 15.2 } as DroneTelemetry)
    assert.equal(bytes.readBigUInt64LE(2).toString(16).padStart(16, '0'), writer.writer.fingerprint)
    assert.deepEqual(plain(reader.decode(bytes)), RECORD)
    // Resolvers are cached; a second decode takes the same path and gives the same answer.
    assert.deepEqual(plain(reader.decode(bytes)), RECORD)
  })

  it('decodes a record written with the older version, filling the new field from its default', () => {
    const older = new TelemetryCodec(currentDir)
    const newer = new TelemetryCodec(newerDir)
    assert.deepEqual(plain(newer.decode(older.encode(RECORD))), { ...RECORD, battery: 0 })
  })

  it('rejects a version that is not in its schemas directory', () => {
    const writer = new TelemetryCodec(newerDir)
    assert.throws(
      () => new TelemetryCodec().decode(writer.encode({ ...RECORD, battery: 1 } as DroneTelemetry)),
      new RegExp(`unknown writer schema fingerprint ${writer.writer.fingerprint}`),
    )
  })
})
