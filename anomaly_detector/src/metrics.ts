import { Counter, Gauge, Histogram } from 'prom-client'
import { createRegistry, LATENCY_BUCKETS_SECONDS } from '@drone-pipeline/shared/metrics.ts'

export function createDetectorMetrics() {
  const registry = createRegistry('anomaly-detector')
  return {
    registry,
    consumed: new Counter({
      name: 'detector_messages_consumed_total',
      help: 'Records consumed from telemetry-validated and scored.',
      registers: [registry],
    }),
    anomalies: new Counter({
      name: 'detector_anomalies_total',
      help: 'Records scored as anomalies (each written to telemetry-anomalies).',
      registers: [registry],
    }),
    undecodable: new Counter({
      name: 'detector_undecodable_messages_total',
      help: 'Messages on telemetry-validated that could not be decoded (logged with partition and offset).',
      registers: [registry],
    }),
    processing: new Histogram({
      name: 'detector_processing_seconds',
      help: 'Time to decode, score and report one record.',
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
      registers: [registry],
    }),
    latency: new Histogram({
      name: 'detector_end_to_end_latency_seconds',
      help: 'From the simulator publishing a record (publish_timestamp) to the detector having scored it.',
      buckets: LATENCY_BUCKETS_SECONDS,
      registers: [registry],
    }),
    connected: new Gauge({
      name: 'detector_kafka_connected',
      help: '1 while the consumer is in its group and fetching, else 0.',
      registers: [registry],
    }),
  }
}

export type DetectorMetrics = ReturnType<typeof createDetectorMetrics>
