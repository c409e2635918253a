import os from 'node:os'
import type { CommandSpec, OptionSpecs } from '@drone-pipeline/shared/cli.ts'
import { tlsOptionSpecs } from '@drone-pipeline/shared/tls.ts'
import { DEFAULT_TAIL_EVENTS } from './emitted.ts'
import { DEFAULT_HISTORY_S } from './history.ts'
import { DEFAULT_SEQUENCER_OPTIONS } from './sequencer.ts'

export const RUN_COMMAND = {
  usage: 'npm run detector -- run',
  summary:
    'The live anomaly detector: consumes telemetry-validated in the consumer group anomaly-detector, scores\n' +
    'every record with the Isolation Forest model, prints and publishes anomalies to telemetry-anomalies,\n' +
    'and commits offsets only after a record is fully processed.',
  options: {
    model: {
      type: 'string',
      description: 'model file (npm run detector -- train)',
      default: '.run/default/model.json',
      env: 'DETECTOR_MODEL',
    },
    kafkaBrokers: {
      type: 'string',
      description: 'Kafka bootstrap brokers, host:port[,host:port]',
      default: '127.0.0.1:9092',
      env: 'KAFKA_BROKERS',
    },
    ...tlsOptionSpecs('anomaly-detector'),
    host: { type: 'string', description: 'HTTPS listen address', default: '127.0.0.1', env: 'DETECTOR_HOST' },
    port: {
      type: 'int',
      description: 'HTTPS port (/healthz, /readyz, /metrics)',
      default: 8081,
      min: 0,
      max: 65535,
      env: 'DETECTOR_PORT',
    },
    clientId: {
      type: 'string',
      description: 'Kafka client id',
      default: `detector-${os.hostname()}`,
      env: 'DETECTOR_CLIENT_ID',
    },
    predictionsOut: {
      type: 'string',
      description:
        'also append one prediction per record to this JSON Lines file (drone_id, seq, score, anomaly, latency_ms)',
      env: 'DETECTOR_PREDICTIONS_OUT',
    },
    maxWaitMs: {
      type: 'int',
      description: 'longest a Kafka fetch waits for new records (lower = lower latency, more requests)',
      default: 100,
      min: 1,
      max: 10000,
      env: 'DETECTOR_MAX_WAIT_MS',
    },
    commitIntervalMs: {
      type: 'int',
      description: 'how often processed offsets are committed',
      default: 200,
      min: 10,
      max: 60000,
      env: 'DETECTOR_COMMIT_INTERVAL_MS',
    },
    reorderWaitMs: {
      type: 'int',
      description:
        "how long a drone's record waits for the seqs before it to arrive before they are counted as a gap",
      default: DEFAULT_SEQUENCER_OPTIONS.maxWaitMs,
      min: 0,
      max: 60000,
      env: 'DETECTOR_REORDER_WAIT_MS',
    },
    anomalyTail: {
      type: 'int',
      description:
        'anomaly events read back per partition of telemetry-anomalies at start-up, so none is sent twice',
      default: DEFAULT_TAIL_EVENTS,
      min: 0,
      max: 10000000,
      env: 'DETECTOR_ANOMALY_TAIL',
    },
    historySeconds: {
      type: 'number',
      description:
        "at start-up, rebuild each drone's history from this many seconds of records before the committed offsets, without scoring them again (0: every drone starts afresh)",
      default: DEFAULT_HISTORY_S,
      min: 0,
      max: 3600,
      env: 'DETECTOR_HISTORY_SECONDS',
    },
  },
} as const satisfies CommandSpec<OptionSpecs>
