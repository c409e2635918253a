import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { TelemetryCodec } from '@drone-pipeline/shared/codec.ts'
import type { DroneTelemetry } from '@drone-pipeline/shared/generated/drone-telemetry.ts'
import { sampleRecord } from './fixtures.ts'
import {
  MAX_PAYLOAD_BYTES,
  parsePayload,
  validateRecord,
  type RejectReason,
  type Verdict,
} from '../src/validate.ts'

const TYPE = new TelemetryCodec().writer.type

const RECORD: DroneTelemetry = sampleRecord({
  drone_id: 'drone-0007',
  seq: 42,
  publish_timestamp: 1_700_000_000_000_123,
})

function without(field: keyof DroneTelemetry): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...RECORD }
  delete copy[field]
  return copy
}

function rejected(verdict: Verdict, reason: RejectReason, detail: string | RegExp): void {
  assert.equal(verdict.ok, false, `expected a rejection, got ${JSON.stringify(verdict)}`)
  if (verdict.ok) return
  assert.equal(verdict.reason, reason, verdict.detail)
  if (typeof detail === 'string') assert.equal(verdict.detail, detail)
  else assert.match(verdict.detail, detail)
}

/** The whole path a payload takes: bytes -> JSON -> record. */
function verdictOf(payload: string | Buffer, expectedDroneId?: string): Verdict {
  const parsed = parsePayload(Buffer.isBuffer(payload) ? payload : Buffer.from(payload))
  return parsed.ok ? validateRecord(parsed.value, TYPE, expectedDroneId) : parsed
}

describe('parsePayload', () => {
  it('parses JSON', () => {
    assert.deepEqual(parsePayload(Buffer.from(JSON.stringify(RECORD))), { ok: true, value: RECORD })
  })

  it('accepts a payload of exactly the limit and rejects one byte more (payload_too_large)', () => {
    const fits = Buffer.from(JSON.stringify({ pad: 'x'.repeat(MAX_PAYLOAD_BYTES - 10) }))
    assert.equal(fits.length, MAX_PAYLOAD_BYTES)
    assert.equal(parsePayload(fits).ok, true)
    const tooBig = Buffer.from(JSON.stringify({ pad: 'x'.repeat(MAX_PAYLOAD_BYTES - 9) }))
    rejected(
      parsePayload(tooBig) as Verdict,
      'payload_too_large',
      `${MAX_PAYLOAD_BYTES + 1} bytes > ${MAX_PAYLOAD_BYTES}`,
    )
  })

  it('rejects bytes that are not JSON (invalid_json), with the parser message', () => {
    rejected(parsePayload(Buffer.from('{"drone_id":')) as Verdict, 'invalid_json', /JSON/)
    rejected(parsePayload(Buffer.from('')) as Verdict, 'invalid_json', /JSON/)
    rejected(parsePayload(Buffer.from([0xff, 0xfe, 0x00])) as Verdict, 'invalid_json', /JSON|token/)
  })
})

describe('validateRecord', () => {
  it('passes a valid record and returns it', () => {
    const verdict = validateRecord(RECORD, TYPE, 'drone-0007')
    assert.deepEqual(verdict, { ok: true, record: RECORD })
  })

  it('skips the identity check when the transport vouches for no drone', () => {
    assert.equal(validateRecord(RECORD, TYPE, undefined).ok, true)
    assert.equal(validateRecord(RECORD, TYPE).ok, true)
  })

  it('accepts the boundaries of every physical range', () => {
    const edges = {
      ...RECORD,
      latitude: -90,
      longitude: 180,
      velocity: 0,
      gyro_x: -34.91,
      acceleration_z: -156.9064,
    }
    assert.equal(validateRecord(edges, TYPE).ok, true)
  })

  describe('schema_violation', () => {
    for (const value of [null, [RECORD], 'drone-0007', 42, true]) {
      it(`rejects a non-object: ${JSON.stringify(value).slice(0, 20)}`, () => {
        rejected(validateRecord(value, TYPE), 'schema_violation', 'payload is not a JSON object')
      })
    }

    it('names a missing field', () => {
      rejected(validateRecord(without('seq'), TYPE), 'schema_violation', 'seq: expected long, got missing')
      rejected(
        validateRecord(without('gyro_z'), TYPE),
        'schema_violation',
        'gyro_z: expected double, got missing',
      )
    })

    it('names a field of the wrong type with the value received', () => {
      rejected(
        validateRecord({ ...RECORD, latitude: '47.4' }, TYPE),
        'schema_violation',
        'latitude: expected double, got "47.4"',
      )
      rejected(
        validateRecord({ ...RECORD, velocity: null }, TYPE),
        'schema_violation',
        'velocity: expected double, got null',
      )
      rejected(
        validateRecord({ ...RECORD, drone_id: 7 }, TYPE),
        'schema_violation',
        'drone_id: expected string, got 7',
      )
      rejected(
        validateRecord({ ...RECORD, seq: 1.5 }, TYPE),
        'schema_violation',
        'seq: expected long, got 1.5',
      )
    })

    it('names unknown fields', () => {
      rejected(
        validateRecord({ ...RECORD, battery: 3.7 }, TYPE),
        'schema_violation',
        'unknown field(s): battery',
      )
      rejected(
        validateRecord({ ...RECORD, battery: 3.7, label: 1 }, TYPE),
        'schema_violation',
        'unknown field(s): battery, label',
      )
    })

    it('rejects a malformed drone_id', () => {
      rejected(
        validateRecord({ ...RECORD, drone_id: 'drone 7' }, TYPE),
        'schema_violation',
        'drone_id: "drone 7" is not 1-64 of [A-Za-z0-9_-]',
      )
      rejected(validateRecord({ ...RECORD, drone_id: '' }, TYPE), 'schema_violation', /^drone_id: "" is not/)
      rejected(
        validateRecord({ ...RECORD, drone_id: 'x'.repeat(65) }, TYPE),
        'schema_violation',
        /^drone_id: /,
      )
      rejected(validateRecord({ ...RECORD, drone_id: 'a/b' }, TYPE), 'schema_violation', /^drone_id: "a\/b"/)
    })
  })

  describe('out_of_range', () => {
    const cases: Array<[keyof DroneTelemetry, number, string]> = [
      ['latitude', 90.0001, 'latitude: 90.0001 outside [-90, 90]'],
      ['latitude', -91, 'latitude: -91 outside [-90, 90]'],
      ['longitude', 180.5, 'longitude: 180.5 outside [-180, 180]'],
      ['longitude', -181, 'longitude: -181 outside [-180, 180]'],
      ['altitude', 10001, 'altitude: 10001 outside [-1000, 10000]'],
      ['velocity', -0.1, 'velocity: -0.1 outside [0, 150]'],
      ['velocity', 151, 'velocity: 151 outside [0, 150]'],
      ['acceleration_x', 157, 'acceleration_x: 157 outside [-156.9064, 156.9064]'],
      ['acceleration_y', -200, 'acceleration_y: -200 outside [-156.9064, 156.9064]'],
      ['acceleration_z', -157, 'acceleration_z: -157 outside [-156.9064, 156.9064]'],
      ['gyro_x', 35, 'gyro_x: 35 outside [-34.91, 34.91]'],
      ['gyro_y', -40, 'gyro_y: -40 outside [-34.91, 34.91]'],
      ['gyro_z', 34.92, 'gyro_z: 34.92 outside [-34.91, 34.91]'],
      ['seq', -1, `seq: -1 outside [0, ${Number.MAX_SAFE_INTEGER}]`],
      ['timestamp', -5, `timestamp: -5 outside [0, ${Number.MAX_SAFE_INTEGER}]`],
    ]
    for (const [field, value, detail] of cases) {
      it(`rejects ${field} = ${value}`, () => {
        rejected(validateRecord({ ...RECORD, [field]: value }, TYPE), 'out_of_range', detail)
      })
    }

    it('rejects non-finite numbers, e.g. 1e999 parsed from JSON', () => {
      const json = JSON.stringify(RECORD).replace('"latitude":47.397', '"latitude":1e999')
      rejected(verdictOf(json), 'out_of_range', 'latitude: Infinity is not a finite number')
      const negative = JSON.stringify(RECORD).replace('"gyro_x":0.01', '"gyro_x":-1e999')
      rejected(verdictOf(negative), 'out_of_range', 'gyro_x: -Infinity is not a finite number')
      rejected(
        validateRecord({ ...RECORD, altitude: NaN }, TYPE),
        'out_of_range',
        'altitude: NaN is not a finite number',
      )
    })
  })

  describe('identity_mismatch', () => {
    it('rejects a record claiming another drone than its topic', () => {
      rejected(
        validateRecord(RECORD, TYPE, 'drone-0008'),
        'identity_mismatch',
        'drone_id drone-0007 published as drone-0008',
      )
    })

    it('checks the schema and ranges before identity', () => {
      rejected(validateRecord({ ...RECORD, latitude: 100 }, TYPE, 'drone-0008'), 'out_of_range', /^latitude/)
    })
  })

  it('the whole path accepts a published JSON payload', () => {
    assert.deepEqual(verdictOf(JSON.stringify(RECORD), 'drone-0007'), { ok: true, record: RECORD })
  })
})
