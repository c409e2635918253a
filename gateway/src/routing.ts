/**
 * Where each verdict goes in Kafka. Valid records: telemetry-validated, Avro single-object
 * encoding, key drone_id. Everything else: telemetry-dlq with the original bytes untouched and the
 * reason in headers, so a rejected payload can be inspected and replayed, never lost.
 */
import type { MessageToProduce } from '@platformatic/kafka'
import type { TelemetryCodec } from '@drone-pipeline/shared/codec.ts'
import { KAFKA_TOPICS } from '@drone-pipeline/shared/topics.ts'
import type { Verdict } from './validate.ts'

export interface Envelope {
  /** The bytes as received (MQTT payload, or one HTTP batch item as JSON). */
  payload: Buffer
  /** Where it came from: the MQTT topic, or `http:/v1/telemetry`. */
  sourceTopic: string
  /** The drone the transport vouches for, if any. */
  droneId: string | undefined
  receivedAtMs: number
}

export const DLQ_HEADERS = {
  reason: 'dlq-reason',
  detail: 'dlq-detail',
  sourceTopic: 'dlq-source-topic',
  receivedAt: 'dlq-received-at',
} as const

export function toKafkaMessage(
  envelope: Envelope,
  verdict: Verdict,
  codec: TelemetryCodec,
): MessageToProduce {
  if (verdict.ok) {
    return {
      topic: KAFKA_TOPICS.validated,
      key: Buffer.from(verdict.record.drone_id),
      value: codec.encode(verdict.record),
    }
  }
  return {
    topic: KAFKA_TOPICS.dlq,
    key: envelope.droneId === undefined ? undefined : Buffer.from(envelope.droneId),
    value: envelope.payload,
    // A Map of Buffers: @platformatic/kafka 1.35 never settles a send whose headers are a plain object.
    headers: new Map(
      [
        [DLQ_HEADERS.reason, verdict.reason],
        [DLQ_HEADERS.detail, verdict.detail.slice(0, 1000)],
        [DLQ_HEADERS.sourceTopic, envelope.sourceTopic],
        [DLQ_HEADERS.receivedAt, new Date(envelope.receivedAtMs).toISOString()],
      ].map(([key, value]) => [Buffer.from(key!), Buffer.from(value!)]),
    ),
  }
}
