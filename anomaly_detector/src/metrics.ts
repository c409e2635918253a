import { Counter, Gauge, Histogram } from 'prom-client'
import { createRegistry, LATENCY_BUCKETS_SECONDS } from '@drone-pipeline/shared/metrics.ts'
import { faultGuess, SENSOR_GROUPS } from './sensor-group.ts'
import type { SequencerStats } from './sequencer.ts'

export interface DetectorMetricSources {
  sequencerStats(): SequencerStats
  /** Messages not yet processed, by assigned partition; asked on every scrape. */
  consumerLag(): Promise<Map<number, number>>
}

/**
 * The detector's metrics. The sequencer's counts and the consumer lag are read when Prometheus
 * scrapes, so the pure cores keep their own tallies and need no metrics library.
 */
export function createDetectorMetrics({ sequencerStats, consumerLag }: DetectorMetricSources) {
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
  const anomalies = new Counter({
    name: 'detector_anomalies_total',
    help: 'Records scored as anomalies (each written to telemetry-anomalies), by the sensor the most unusual feature points at.',
    labelNames: ['sensor'] as const,
    registers: [registry],
  })
  // Every sensor is exported from the start, so a healthy fleet shows 0 rather than no data.
  for (const sensor of SENSOR_GROUPS) anomalies.inc({ sensor }, 0)
  const droneAnomalies = new Counter({
    name: 'detector_drone_anomalies_total',
    help: 'Records scored as anomalies, by drone (one series per drone seen: bounded by the fleet).',
    labelNames: ['drone_id'] as const,
    registers: [registry],
  })
  const consumed = new Counter({
    name: 'detector_messages_consumed_total',
    help: 'Records consumed from telemetry-validated and scored.',
    registers: [registry],
  })
  /** Drones whose anomaly series exists already (a label lookup per record costs more than this). */
  const seenDrones = new Set<string>()
  return {
    registry,
    /** Counts a scored record; its drone's anomaly series starts at 0, so a first anomaly shows in rate(). */
    scored(droneId: string): void {
      consumed.inc()
      if (seenDrones.has(droneId)) return
      seenDrones.add(droneId)
      droneAnomalies.inc({ drone_id: droneId }, 0)
    },
    /** Counts an anomaly reported for a drone, labelled by what its top features point at. */
    anomaly(droneId: string, topFeatureNames: readonly string[]): void {
      anomalies.inc({ sensor: faultGuess(topFeatureNames) })
      droneAnomalies.inc({ drone_id: droneId })
    },
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
    consumerLag: new Gauge({
      name: 'detector_consumer_lag_messages',
      help: "Messages of telemetry-validated not yet processed, per partition assigned to this detector (log end offset minus the detector's position).",
      labelNames: ['partition'] as const,
      registers: [registry],
      async collect() {
        // A partition that moved to another detector must disappear, not freeze at its last value.
        const lag = await consumerLag()
        this.reset()
        for (const [partition, messages] of lag) this.set({ partition: String(partition) }, messages)
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
