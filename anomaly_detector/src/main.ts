/**
 * Anomaly detector. Commands: run (default, the live detector), train, score.
 *
 * Live: Kafka telemetry-validated (group anomaly-detector) -> decode by schema fingerprint ->
 * per-drone features -> Isolation Forest score -> on anomaly: console line + telemetry-anomalies
 * event -> prediction line (optional file) -> offset committed (only after all of the above).
 */
import fs from 'node:fs'
import { Consumer, Producer, type Message } from '@platformatic/kafka'
import { TelemetryCodec } from '@drone-pipeline/shared/codec.ts'
import {
  ConfigError,
  exitOnConfigError,
  formatHelp,
  parseHostPortList,
  parseOrExit,
} from '@drone-pipeline/shared/cli.ts'
import { kafkaConnection } from '@drone-pipeline/shared/kafka.ts'
import { createLogger } from '@drone-pipeline/shared/log.ts'
import { createServiceHttp } from '@drone-pipeline/shared/service-http.ts'
import { loadTlsMaterial, type TlsMaterial } from '@drone-pipeline/shared/tls.ts'
import { DETECTOR_GROUP_ID, KAFKA_TOPICS } from '@drone-pipeline/shared/topics.ts'
import { anomalyLine, toAnomalyEvent } from './anomaly-event.ts'
import { RUN_COMMAND } from './config.ts'
import { createDetectorMetrics } from './metrics.ts'
import { loadModel, ModelError, type DetectorModel } from './model.ts'
import { ProcessedOffsets } from './offsets.ts'
import { SCORE_COMMAND, scoreCommand, TRAIN_COMMAND, trainCommand } from './offline.ts'
import { createScorer } from './scorer.ts'

const [command, ...rest] = process.argv.slice(2)
if (command === 'train') {
  await trainCommand(rest)
  process.exit(0)
}
if (command === 'score') {
  await scoreCommand(rest)
  process.exit(0)
}
if (command === '--help' || command === 'help') {
  process.stdout.write(
    'Usage: npm run detector -- [run|train|score] [options]\n\nCommands:\n' +
      '  run    the live detector (default)\n  train  train a model from a labeled dataset\n' +
      '  score  score a dataset offline with the live code path\n\n' +
      [formatHelp(RUN_COMMAND), formatHelp(TRAIN_COMMAND), formatHelp(SCORE_COMMAND)].join('\n'),
  )
  process.exit(0)
}
if (command !== undefined && command !== 'run' && !command.startsWith('-')) {
  exitOnConfigError(
    new ConfigError(`unknown command "${command}" (run, train or score)`),
    'npm run detector --',
  )
}
const argv = command === 'run' ? rest : process.argv.slice(2)
const { options } = parseOrExit(RUN_COMMAND, argv)
let brokers: string[]
let tls: TlsMaterial
try {
  brokers = parseHostPortList(options.kafkaBrokers, '--kafka-brokers (KAFKA_BROKERS)')
  tls = loadTlsMaterial({ ca: options.tlsCa, cert: options.tlsCert, key: options.tlsKey })
} catch (err) {
  exitOnConfigError(err, RUN_COMMAND.usage)
}

const logger = createLogger('anomaly-detector')
const metrics = createDetectorMetrics()
const codec = new TelemetryCodec()
let model: DetectorModel
try {
  model = await loadModel(options.model)
} catch (err) {
  if (!(err instanceof ModelError)) throw err
  logger.fatal(err.message)
  process.exit(1)
}
const scorer = createScorer(model)
const predictionsOut = options.predictionsOut
  ? fs.createWriteStream(options.predictionsOut, { flags: 'a' })
  : undefined

const anomalyProducer = new Producer({
  ...kafkaConnection(`${options.clientId}-anomalies`, brokers, tls),
  idempotent: true,
  acks: -1,
})
const consumer = new Consumer({
  ...kafkaConnection(options.clientId, brokers, tls),
  groupId: DETECTOR_GROUP_ID,
  autocommit: false,
  maxWaitTime: options.maxWaitMs,
  sessionTimeout: 10_000,
  heartbeatInterval: 1_000,
})

let ready = false
const http = await createServiceHttp({
  logger,
  tls,
  registry: metrics.registry,
  notReadyReason: () => (ready ? undefined : 'not consuming from Kafka'),
})
await http.listen({ host: options.host, port: options.port })

let stopping = false
const offsets = new ProcessedOffsets<Message>()
const commitTimer = setInterval(() => {
  offsets
    .commit()
    .catch((err: Error) =>
      logger.warn({ err: err.message }, 'offset commit failed; records will be redelivered'),
    )
}, options.commitIntervalMs)

const stream = await consumeWithRetry()
ready = true
metrics.connected.set(1)
logger.info(
  { kafka: brokers, model: options.model, threshold: model.threshold },
  'anomaly detector consuming',
)

process.on('SIGINT', () => void shutdown('SIGINT'))
process.on('SIGTERM', () => void shutdown('SIGTERM'))

try {
  await detect()
} catch (err) {
  if (!stopping) {
    logger.fatal(
      { err: (err as Error).message },
      'consumer failed; exiting so the supervisor restarts the detector',
    )
    process.exit(1)
  }
}

/** The pipeline, one record at a time, in partition order. */
async function detect(): Promise<void> {
  for await (const message of stream) {
    const started = performance.now()
    let record
    try {
      record = codec.decode(message.value)
    } catch (err) {
      metrics.undecodable.inc()
      logger.error(
        { err: (err as Error).message, partition: message.partition, offset: String(message.offset) },
        'undecodable record skipped',
      )
      offsets.markProcessed(message)
      continue
    }
    const prediction = scorer.score(record)
    const scoredAtMs = performance.timeOrigin + performance.now()
    if (prediction.anomaly) {
      const event = toAnomalyEvent(record, prediction, model.threshold, scoredAtMs)
      logger.warn(
        { drone_id: event.drone_id, seq: event.seq, score: event.score, top_features: event.top_features },
        anomalyLine(event),
      )
      await anomalyProducer.send({
        messages: [
          {
            topic: KAFKA_TOPICS.anomalies,
            key: Buffer.from(record.drone_id),
            value: Buffer.from(JSON.stringify(event)),
          },
        ],
      })
      metrics.anomalies.inc()
    }
    const latencyMs = scoredAtMs - record.publish_timestamp / 1000
    predictionsOut?.write(
      JSON.stringify({ ...prediction, features: undefined, latency_ms: Number(latencyMs.toFixed(3)) }) + '\n',
    )
    metrics.consumed.inc()
    metrics.latency.observe(latencyMs / 1000)
    metrics.processing.observe((performance.now() - started) / 1000)
    offsets.markProcessed(message)
  }
}

/** Kafka may still be starting, or the topic not yet created: keep trying, visibly. */
async function consumeWithRetry() {
  for (let attempt = 1; ; attempt++) {
    try {
      return await consumer.consume({
        topics: [KAFKA_TOPICS.validated],
        mode: 'committed',
        fallbackMode: 'earliest',
      })
    } catch (err) {
      logger.warn({ err: (err as Error).message, attempt }, 'cannot consume yet; retrying')
      await new Promise((resolve) => setTimeout(resolve, Math.min(500 * attempt, 5_000)))
    }
  }
}

async function shutdown(signal: string): Promise<void> {
  if (stopping) return
  stopping = true
  logger.info({ signal }, 'shutting down: committing processed offsets')
  ready = false
  clearInterval(commitTimer)
  await stream.close().catch(() => {})
  await offsets
    .commit()
    .catch((err: Error) => logger.warn({ err: err.message }, 'final offset commit failed'))
  await consumer.close().catch(() => {})
  await anomalyProducer.close().catch(() => {})
  await http.close().catch(() => {})
  await new Promise<void>((resolve) => (predictionsOut ? predictionsOut.end(resolve) : resolve()))
  process.exit(0)
}
