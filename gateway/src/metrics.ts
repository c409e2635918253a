import { Counter, Gauge, Histogram } from 'prom-client'
import { createRegistry, LATENCY_BUCKETS_SECONDS } from '@drone-pipeline/shared/metrics.ts'
import { KAFKA_TOPICS } from '@drone-pipeline/shared/topics.ts'
import { REJECT_REASONS } from './validate.ts'

/** The topics the gateway writes: every message goes to exactly one of them. */
export const PRODUCED_TOPICS = [KAFKA_TOPICS.validated, KAFKA_TOPICS.dlq] as const

export function createGatewayMetrics() {
  const registry = createRegistry('gateway')
  const metrics = {
    registry,
    received: new Counter({
      name: 'gateway_messages_received_total',
      help: 'Telemetry payloads received, by transport (mqtt, http).',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    validated: new Counter({
      name: 'gateway_messages_validated_total',
      help: 'Records that passed validation (bound for telemetry-validated).',
      registers: [registry],
    }),
    rejected: new Counter({
      name: 'gateway_messages_rejected_total',
      help: 'Payloads that failed validation (bound for telemetry-dlq), by reason.',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    produced: new Counter({
      name: 'gateway_messages_produced_total',
      help: 'Messages Kafka acknowledged, by topic; topic="telemetry-dlq" counts the DLQ writes.',
      labelNames: ['topic'] as const,
      registers: [registry],
    }),
    produceErrors: new Counter({
      name: 'gateway_kafka_produce_errors_total',
      help: 'Kafka batch writes that failed (each is retried until it succeeds).',
      registers: [registry],
    }),
    inFlight: new Gauge({
      name: 'gateway_inflight_messages',
      help: 'Messages accepted and not yet acknowledged by Kafka.',
      registers: [registry],
    }),
    latency: new Histogram({
      name: 'gateway_mqtt_to_kafka_seconds',
      help: 'From receiving a payload to Kafka acknowledging its write.',
      buckets: LATENCY_BUCKETS_SECONDS,
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: 'gateway_kafka_batch_messages',
      help: 'Messages per Kafka write.',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
      registers: [registry],
    }),
  }
  // Every reason is exported from the start, so a dashboard shows 0 rather than no data.
  for (const reason of REJECT_REASONS) metrics.rejected.inc({ reason }, 0)
  for (const source of ['mqtt', 'http']) metrics.received.inc({ source }, 0)
  for (const topic of PRODUCED_TOPICS) metrics.produced.inc({ topic }, 0)
  return metrics
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>
