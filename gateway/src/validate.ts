/**
 * The gateway's functional core: raw MQTT/HTTP payload -> a valid TelemetryRecord or a precise
 * rejection. Pure: no I/O, so every rejection reason is unit-tested without a broker.
 */
import type { AvroType } from '@drone-pipeline/shared/schema.ts'
import type { DroneTelemetry } from '@drone-pipeline/shared/generated/drone-telemetry.ts'
import { isValidDroneId } from '@drone-pipeline/shared/topics.ts'

export type RejectReason =
  | 'payload_too_large'
  | 'invalid_json'
  | 'schema_violation'
  | 'out_of_range'
  | 'identity_mismatch'
  | 'invalid_topic'

export const REJECT_REASONS: readonly RejectReason[] = [
  'payload_too_large',
  'invalid_json',
  'schema_violation',
  'out_of_range',
  'identity_mismatch',
  'invalid_topic',
]

export type Verdict =
  { ok: true; record: DroneTelemetry } | { ok: false; reason: RejectReason; detail: string }

export const MAX_PAYLOAD_BYTES = 16 * 1024

/**
 * Physical sense, beyond what the Avro types say. The inertial limits are common MEMS full-scale
 * ranges (±16 g, ±2000 °/s): a reading outside them cannot come from a working sensor.
 */
export const PHYSICAL_RANGES: Readonly<Record<string, readonly [number, number]>> = {
  seq: [0, Number.MAX_SAFE_INTEGER],
  timestamp: [0, Number.MAX_SAFE_INTEGER],
  publish_timestamp: [0, Number.MAX_SAFE_INTEGER],
  latitude: [-90, 90],
  longitude: [-180, 180],
  altitude: [-1000, 10000],
  velocity: [0, 150],
  acceleration_x: [-16 * 9.80665, 16 * 9.80665],
  acceleration_y: [-16 * 9.80665, 16 * 9.80665],
  acceleration_z: [-16 * 9.80665, 16 * 9.80665],
  gyro_x: [-34.91, 34.91],
  gyro_y: [-34.91, 34.91],
  gyro_z: [-34.91, 34.91],
}

// Entries once, not per message: this runs for every record.
const RANGE_ENTRIES = Object.entries(PHYSICAL_RANGES)

const reject = (reason: RejectReason, detail: string): Verdict => ({ ok: false, reason, detail })

/** Step 1: bytes to a JSON value. */
export function parsePayload(
  payload: Buffer,
): { ok: true; value: unknown } | Extract<Verdict, { ok: false }> {
  if (payload.length > MAX_PAYLOAD_BYTES) {
    return {
      ok: false,
      reason: 'payload_too_large',
      detail: `${payload.length} bytes > ${MAX_PAYLOAD_BYTES}`,
    }
  }
  try {
    return { ok: true, value: JSON.parse(payload.toString('utf8')) }
  } catch (err) {
    return { ok: false, reason: 'invalid_json', detail: (err as Error).message }
  }
}

/**
 * Step 2: a JSON value to a record. `expectedDroneId` is the identity the transport vouches for
 * (the MQTT topic's drone id); a record claiming another drone is rejected.
 */
export function validateRecord(value: unknown, type: AvroType, expectedDroneId?: string): Verdict {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return reject('schema_violation', 'payload is not a JSON object')
  }
  // The common case first, without the error hook (a closure per call); only a record that fails
  // is checked again to say why.
  if (!type.isValid(value, { noUndeclaredFields: true })) {
    return reject('schema_violation', schemaProblems(value, type))
  }

  const record = value as DroneTelemetry
  if (!isValidDroneId(record.drone_id)) {
    return reject(
      'schema_violation',
      `drone_id: ${JSON.stringify(record.drone_id)} is not 1-64 of [A-Za-z0-9_-]`,
    )
  }
  for (const [field, [min, max]] of RANGE_ENTRIES) {
    const v = (record as unknown as Record<string, number>)[field]!
    if (!Number.isFinite(v)) return reject('out_of_range', `${field}: ${v} is not a finite number`)
    if (v < min || v > max) return reject('out_of_range', `${field}: ${v} outside [${min}, ${max}]`)
  }
  if (expectedDroneId !== undefined && record.drone_id !== expectedDroneId) {
    return reject('identity_mismatch', `drone_id ${record.drone_id} published as ${expectedDroneId}`)
  }
  return { ok: true, record }
}

/** What makes `value` (a JSON object) not a valid record of `type`, one problem per field. */
function schemaProblems(value: object, type: AvroType): string {
  const problems: string[] = []
  type.isValid(value, {
    noUndeclaredFields: true,
    errorHook: (path: string[], got: unknown, expected: AvroType) => {
      if (path.length === 0) {
        const known = new Set(
          (type.schema() as { fields: Array<{ name: string }> }).fields.map((f) => f.name),
        )
        const unknown = Object.keys(value).filter((k) => !known.has(k))
        problems.push(unknown.length ? `unknown field(s): ${unknown.join(', ')}` : 'not a telemetry record')
      } else {
        const shown = got === undefined ? 'missing' : JSON.stringify(got)
        problems.push(`${path.join('.')}: expected ${expected.typeName}, got ${shown}`)
      }
    },
  })
  return problems.join('; ')
}
