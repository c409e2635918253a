import { Counter, Gauge, Histogram } from 'prom-client'
import { createRegistry, LATENCY_BUCKETS_SECONDS } from '@drone-pipeline/shared/metrics.ts'
import type { SequencerStats } from './sequencer.ts'

/**
 * The detector's metrics. The sequencer's counts are read when Prometheus scrapes, so its pure core
 * keeps its own tallies and needs no metrics library.
 */
export function createDetectorMetrics(sequencerStats: () => SequencerStats) {
  const registry = createRegistry('anomaly-detector')
  /** A counter that follows one of the sequencer's running totals. */
  const sequencerCounter = (name: string, help: string, total: (s: SequencerStats) => number) => {
    let counted = 0
    return new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        const now = total(sequencerStats())
        if (now > counted) this.inc(now - counted)
        counted = now
      },
    })
  }
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
    duplicates: sequencerCounter(
      'detector_duplicates_total',
      'Records dropped because their (drone_id, seq) was already processed (redelivered by MQTT or Kafka).',
      (s) => s.duplicates,
    ),
    sequenceGaps: sequencerCounter(
      'detector_sequence_gaps_total',
      "Missing seq numbers skipped over after waiting for them (a drone's records lost, or late).",
      (s) => s.gaps,
    ),
    lateRecords: sequencerCounter(
      'detector_late_records_total',
      'Records processed after their seq had been skipped as a gap (scored, without moving the drone state).',
      (s) => s.late,
    ),
    reorderBuffered: new Gauge({
      name: 'detector_reorder_buffered',
      help: 'Records held in the per-drone reorder buffers, waiting for the seqs before them.',
      registers: [registry],
      collect() {
        this.set(sequencerStats().held)
      },
    }),
    connected: new Gauge({
      name: 'detector_kafka_connected',
      help: '1 while the consumer is in its group and fetching, else 0.',
      registers: [registry],
    }),
  }
}

export type DetectorMetrics = ReturnType<typeof createDetectorMetrics>
