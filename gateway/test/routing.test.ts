import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { TelemetryCodec } from '@drone-pipeline/shared/codec.ts'
import type { DroneTelemetry } from '@drone-pipeline/shared/generated/drone-telemetry.ts'
import { sampleRecord } from './fixtures.ts'
import { DLQ_HEADERS, toKafkaMessage, type Envelope } from '../src/routing.ts'
import { parsePayload, validateRecord, type Verdict } from '../src/validate.ts'

const codec = new TelemetryCodec()

const RECORD: DroneTelemetry = sampleRecord({
  drone_id: 'drone-0007',
  seq: 3,
  publish_timestamp: 1_700_000_000_000_001,
})

const RECEIVED_AT = Date.UTC(2025, 0, 2, 3, 4, 5, 678)

function envelope(payload: Buffer): Envelope {
  return {
    payload,
    sourceTopic: 'drones/drone-0007/telemetry',
    droneId: 'drone-0007',
    receivedAtMs: RECEIVED_AT,
  }
}

/** As received over HTTP: no transport identity. */
function httpEnvelope(payload: Buffer): Envelope {
  return { payload, sourceTopic: 'http:/v1/telemetry', droneId: undefined, receivedAtMs: RECEIVED_AT }
}

function verdictFor(payload: Buffer, droneId?: string): Verdict {
  const parsed = parsePayload(payload)
  return parsed.ok ? validateRecord(parsed.value, codec.writer.type, droneId) : parsed
}

function headersOf(headers: unknown): Record<string, string> {
  assert.ok(headers instanceof Map, 'headers must be a Map (plain objects hang @platformatic/kafka 1.35)')
  const out: Record<string, string> = {}
  for (const [key, value] of headers as Map<unknown, unknown>) {
    assert.ok(Buffer.isBuffer(key) && Buffer.isBuffer(value), 'header keys and values are Buffers')
    out[key.toString()] = value.toString()
  }
  return out
}

describe('toKafkaMessage', () => {
  it('sends a valid record to telemetry-validated, keyed by drone_id, Avro-encoded', () => {
    const payload = Buffer.from(JSON.stringify(RECORD))
    const verdict = verdictFor(payload, 'drone-0007')
    assert.equal(verdict.ok, true)
    const message = toKafkaMessage(envelope(payload), verdict, codec)
    assert.equal(message.topic, 'telemetry-validated')
    assert.deepEqual(message.key, Buffer.from('drone-0007'))
    assert.ok(Buffer.isBuffer(message.value))
    const value = message.value as Buffer
    assert.deepEqual([...value.subarray(0, 2)], [0xc3, 0x01])
    assert.deepEqual({ ...codec.decode(value) }, RECORD)
    assert.equal(message.headers, undefined)
  })

  it('keys by the record drone_id even when the transport vouches for none (HTTP)', () => {
    const payload = Buffer.from(JSON.stringify(RECORD))
    const message = toKafkaMessage(httpEnvelope(payload), verdictFor(payload), codec)
    assert.deepEqual(message.key, Buffer.from('drone-0007'))
  })

  it('dead-letters an invalid payload with the original bytes and the reason in headers', () => {
    const payload = Buffer.from(JSON.stringify({ ...RECORD, latitude: 123 }) + '  ')
    const original = Buffer.from(payload)
    const verdict = verdictFor(payload, 'drone-0007')
    const message = toKafkaMessage(envelope(payload), verdict, codec)
    assert.equal(message.topic, 'telemetry-dlq')
    assert.deepEqual(message.key, Buffer.from('drone-0007'))
    assert.deepEqual(message.value, original)
    assert.deepEqual(headersOf(message.headers), {
      [DLQ_HEADERS.reason]: 'out_of_range',
      [DLQ_HEADERS.detail]: 'latitude: 123 outside [-90, 90]',
      [DLQ_HEADERS.sourceTopic]: 'drones/drone-0007/telemetry',
      [DLQ_HEADERS.receivedAt]: '2025-01-02T03:04:05.678Z',
    })
    assert.deepEqual(Object.values(DLQ_HEADERS), [
      'dlq-reason',
      'dlq-detail',
      'dlq-source-topic',
      'dlq-received-at',
    ])
  })

  it('keeps bytes that are not even JSON, and has no key without a vouched drone', () => {
    const payload = Buffer.from([0x00, 0xff, 0x7b, 0x22])
    const verdict = verdictFor(payload)
    const message = toKafkaMessage(httpEnvelope(payload), verdict, codec)
    assert.equal(message.topic, 'telemetry-dlq')
    assert.equal(message.key, undefined)
    assert.deepEqual(message.value, Buffer.from([0x00, 0xff, 0x7b, 0x22]))
    const headers = headersOf(message.headers)
    assert.equal(headers['dlq-reason'], 'invalid_json')
    assert.equal(headers['dlq-source-topic'], 'http:/v1/telemetry')
  })

  it('cuts a long detail to 1000 characters', () => {
    const verdict: Verdict = { ok: false, reason: 'schema_violation', detail: 'x'.repeat(5000) }
    const headers = headersOf(toKafkaMessage(envelope(Buffer.from('{}')), verdict, codec).headers)
    assert.equal(headers['dlq-detail'], 'x'.repeat(1000))
  })
})
