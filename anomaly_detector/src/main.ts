/**
 * Anomaly detector. Commands: run (default, the live detector), train, score.
 *
 * Start-up: read back telemetry-anomalies (what was reported) and the records just before the
 * committed offsets (each drone's history, rebuilt without scoring them again).
 *
 * Live: Kafka telemetry-validated (group anomaly-detector) -> decode by schema fingerprint ->
 * sequencer (drop duplicates, put each drone's records in seq order) -> per-drone features ->
 * Isolation Forest score -> on anomaly: console line + telemetry-anomalies event (never twice for a
 * record, even across a restart; sent without waiting, up to MAX_UNACKNOWLEDGED at a time) ->
 * prediction line (optional file) -> offset committed (only after all of the above, the event's
 * acknowledgement included).
 */
import fs from 'node:fs'
import type { Message } from '@platformatic/kafka'
import { TelemetryCodec } from '@drone-pipeline/shared/codec.ts'
import {
  ConfigError,
  exitOnConfigError,
  formatHelp,
  parseHostPortList,
  parseOrExit,
} from '@drone-pipeline/shared/cli.ts'
import type { DroneTelemetry } from '@drone-pipeline/shared/generated/drone-telemetry.ts'
import { kafkaConnection } from '@drone-pipeline/shared/kafka.ts'
import { createLogger } from '@drone-pipeline/shared/log.ts'
import { retryUntilDone, sleep } from '@drone-pipeline/shared/retry.ts'
import { createServiceHttp } from '@drone-pipeline/shared/service-http.ts'
import { loadTlsMaterial, type TlsMaterial } from '@drone-pipeline/shared/tls.ts'
import { DETECTOR_GROUP_ID, KAFKA_TOPICS } from '@drone-pipeline/shared/topics.ts'
import { anomalyLine, toAnomalyEvent } from './anomaly-event.ts'
import { RUN_COMMAND } from './config.ts'
import { anomalyKey, EmittedAnomalies } from './emitted.ts'
import { historyOrder } from './history.ts'
import { AnomalyPublisher, readAnomalyTail, readHistory, ReconnectingConsumer } from './kafka-io.ts'
import { createDetectorMetrics } from './metrics.ts'
import { loadModel, ModelError, type DetectorModel } from './model.ts'
import { ProcessedOffsets } from './offsets.ts'
import { SCORE_COMMAND, scoreCommand, TRAIN_COMMAND, trainCommand } from './offline.ts'
import { createScorer, predictionRow } from './scorer.ts'
import { Sequencer, type Ready } from './sequencer.ts'
import { registerSlowdownRoute, Slowdown } from './slowdown.ts'

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

/** How long a scrape may wait for the partitions' log end offsets. */
const LAG_QUERY_TIMEOUT_MS = 1_500

/** How long reading back telemetry-anomalies, or the drones' history, may take at start-up. */
const READ_BACK_MS = 30_000

/** Records read back to rebuild the drones' history at most (about 20 s of scoring). */
const MAX_HISTORY_RECORDS = 500_000

/** Events remembered in any case, so that one run never sends an event twice even with --anomaly-tail 0. */
const MIN_EMITTED_REMEMBERED = 10_000

/**
 * Anomaly events sent and not yet acknowledged at most. Scoring does not wait for each event's
 * round trip to Kafka (a storm of anomalies would slow it to a few hundred records a second), only
 * for the oldest when this many are in flight; a Kafka that stops acknowledging stops it, as before.
 */
const MAX_UNACKNOWLEDGED = 1_000
/** Events in flight; each record's offset counts as processed once its event is acknowledged. */
const unacknowledged = new Set<Promise<void>>()

/** A record in hand: decoded, with the Kafka message its offset is committed by. */
interface Consumed {
  record: DroneTelemetry
  message: Message
}
const sequencer = new Sequencer<Consumed>((c) => c.record, { maxWaitMs: options.reorderWaitMs })
const metrics = createDetectorMetrics({ sequencerStats: () => sequencer.stats, consumerLag })
const offsets = new ProcessedOffsets()
const slowdown = new Slowdown()
const connection = (suffix: string) => kafkaConnection(`${options.clientId}${suffix}`, brokers, tls)
let connected = false
/** The tail of the processing steps queued (see `serially`). */
let queue = Promise.resolve()
/** Anomaly events already on telemetry-anomalies; known once read back at start-up. */
let emitted: EmittedAnomalies | undefined
let historyRebuilt = false
const source = new ReconnectingConsumer(
  { connection: connection(''), groupId: DETECTOR_GROUP_ID, maxWaitMs: options.maxWaitMs },
  logger,
  (up) => {
    connected = up
    metrics.connected.set(up ? 1 : 0)
  },
)
const publisher = new AnomalyPublisher(connection('-anomalies'), logger, async (eventKeys) => {
  await seedEmitted(1_000)
  return new Set(eventKeys.filter((key) => emitted!.has(key)))
})

const http = await createServiceHttp({
  logger,
  tls,
  registry: metrics.registry,
  notReadyReason,
})
registerSlowdownRoute(http, slowdown)
await http.listen({ host: options.host, port: options.port })

await seedEmittedWithRetry()
await rebuildHistory()
// One commit at a time: while Kafka is away, a commit can take longer than the interval.
let committing: Promise<void> | undefined
const commitTimer = setInterval(() => {
  committing ??= offsets
    .commit((points) => source.commit(points))
    .catch((err: Error) =>
      logger.warn({ err: err.message }, 'offset commit failed; records will be redelivered'),
    )
    .finally(() => (committing = undefined))
}, options.commitIntervalMs)
// A drone that went quiet leaves records waiting for a gap to fill: release them in time (one
// expiry queued at most, however long processing is blocked).
let expiryQueued = false
const expiryTimer = setInterval(
  () => {
    if (expiryQueued) return
    expiryQueued = true
    void serially(() => {
      expiryQueued = false
      return processAll(sequencer.expire(Date.now()))
    })
  },
  Math.max(50, options.reorderWaitMs / 4),
)
let stopping = false
process.on('SIGINT', () => void shutdown('SIGINT'))
process.on('SIGTERM', () => void shutdown('SIGTERM'))
logger.info(
  { kafka: brokers, model: options.model, threshold: model.threshold },
  'anomaly detector consuming',
)
for await (const message of source.messages()) await serially(() => receive(message))

/** The pipeline, one message at a time, in partition order. */
async function receive(message: Message): Promise<void> {
  offsets.received(message)
  let record: DroneTelemetry
  try {
    record = codec.decode(message.value)
  } catch (err) {
    metrics.undecodable.inc()
    logger.error(
      { err: (err as Error).message, partition: message.partition, offset: String(message.offset) },
      'undecodable record skipped',
    )
    offsets.processed(message)
    return
  }
  const { decision, ready } = sequencer.offer({ record, message }, Date.now())
  if (decision === 'duplicate') {
    logger.debug(
      {
        drone_id: record.drone_id,
        seq: record.seq,
        partition: message.partition,
        offset: String(message.offset),
      },
      'duplicate record dropped',
    )
    offsets.processed(message)
  }
  await processAll(ready)
}

/** Scores records the sequencer released, in its order. */
async function processAll(ready: Ready<Consumed>[]): Promise<void> {
  for (const { item, late } of ready) {
    await processRecord(item, late)
    const pause = slowdown.delayNow()
    if (pause > 0) await sleep(pause)
  }
}

async function processRecord({ record, message }: Consumed, late: boolean): Promise<void> {
  const started = performance.now()
  // A late record is scored against the drone's state without moving it (features.ts).
  if (late) logger.debug({ drone_id: record.drone_id, seq: record.seq }, 'late record processed')
  const prediction = scorer.score(record)
  const scoredAtMs = performance.timeOrigin + performance.now()
  let awaitingAck = false
  if (prediction.anomaly) {
    const event = toAnomalyEvent(record, prediction, scoredAtMs)
    const key = anomalyKey(record)
    if (emitted!.has(key)) {
      logger.info({ drone_id: event.drone_id, seq: event.seq }, 'anomaly already reported before a restart')
    } else {
      logger.warn(
        { drone_id: event.drone_id, seq: event.seq, score: event.score, top_features: event.top_features },
        anomalyLine(event),
      )
      // Remembered as emitted only once acknowledged: a failed send asks `emitted` whether the
      // event reached the topic after all.
      const sent = publisher
        .publish(record.drone_id, key, Buffer.from(JSON.stringify(event)))
        .then(() => {
          emitted!.add(key)
          offsets.processed(message)
        })
        .catch((err: Error) => {
          logger.fatal({ err: err.message, stack: err.stack }, 'anomaly event failed; exiting')
          process.exit(1)
        })
      awaitingAck = true
      unacknowledged.add(sent)
      void sent.finally(() => unacknowledged.delete(sent))
      metrics.anomaly(
        record.drone_id,
        event.top_features.map((f) => f.name),
      )
      if (unacknowledged.size >= MAX_UNACKNOWLEDGED) await Promise.race(unacknowledged)
    }
  }
  const latencyMs = scoredAtMs - record.publish_timestamp / 1000
  predictionsOut?.write(
    JSON.stringify({ ...predictionRow(prediction), latency_ms: Number(latencyMs.toFixed(3)) }) + '\n',
  )
  metrics.scored(record.drone_id)
  metrics.latency.observe(latencyMs / 1000)
  metrics.processing.observe((performance.now() - started) / 1000)
  if (!awaitingAck) offsets.processed(message)
}

/**
 * Lag per assigned partition for /metrics. The broker is asked at scrape time, within a bound, so
 * a scrape never waits on a Kafka that is away; the lag is then unknown and not exported.
 */
async function consumerLag(): Promise<Map<number, number>> {
  const timeout = sleep(LAG_QUERY_TIMEOUT_MS).then(() => {
    throw new Error(`no answer within ${LAG_QUERY_TIMEOUT_MS} ms`)
  })
  try {
    const ends = await Promise.race([source.assignedPartitionEnds(), timeout])
    return offsets.lag(KAFKA_TOPICS.validated, ends)
  } catch (err) {
    logger.debug({ err: (err as Error).message }, 'consumer lag unknown: log end offsets not read')
    return new Map()
  }
}

/** The anomaly events already on telemetry-anomalies (its last `events` per partition). */
async function seedEmitted(events: number): Promise<void> {
  const tail = await readAnomalyTail(connection('-tail'), events, Date.now() + READ_BACK_MS, logger)
  emitted ??= new EmittedAnomalies(Math.max(MIN_EMITTED_REMEMBERED, options.anomalyTail * tail.partitions))
  const seeded = emitted.seed(tail.values)
  logger.info({ events: seeded }, 'anomaly events read back from telemetry-anomalies')
}

/**
 * Scores the records just before the committed offsets, in each drone's order, and throws the
 * verdicts away: they were given before a restart. What stays is each drone's history, so a
 * restart in mid-flight neither leaves the drones unchecked nor relearns their typical residuals
 * (history.ts). Any failure leaves the drones to start afresh, as they did before.
 */
async function rebuildHistory(): Promise<void> {
  try {
    if (options.historySeconds === 0) return
    const started = performance.now()
    const values = await readHistory(
      connection('-history'),
      DETECTOR_GROUP_ID,
      options.historySeconds,
      MAX_HISTORY_RECORDS,
      Date.now() + READ_BACK_MS,
      logger,
    )
    // An undecodable record was logged and counted when it was consumed; here it is only counted.
    let undecodable = 0
    const records = historyOrder(
      values.flatMap((value) => {
        try {
          return [codec.decode(value)]
        } catch {
          undecodable++
          return []
        }
      }),
    )
    for (const record of records) scorer.score(record)
    logger.info(
      {
        records: records.length,
        undecodable,
        drones: new Set(records.map((r) => r.drone_id)).size,
        seconds: options.historySeconds,
        ms: Math.round(performance.now() - started),
      },
      "drones' history rebuilt from the records before the committed offsets",
    )
  } catch (err) {
    logger.warn({ err: (err as Error).message }, "drones' history not rebuilt; every drone starts afresh")
  } finally {
    historyRebuilt = true
  }
}

/** Why /readyz says not ready, in start-up order; undefined once consuming. */
function notReadyReason(): string | undefined {
  if (!emitted) return 'reading back telemetry-anomalies'
  if (!historyRebuilt) return "rebuilding the drones' history"
  return connected ? undefined : 'not consuming from Kafka'
}

/** Kafka may still be starting, or the topic not yet created: keep trying, visibly. */
function seedEmittedWithRetry(): Promise<void> {
  return retryUntilDone(
    () => seedEmitted(options.anomalyTail),
    (err, attempt) =>
      logger.warn({ err: err.message, attempt }, 'cannot read telemetry-anomalies yet; retrying'),
  )
}

/** Processing runs one step at a time, whether a message or the expiry timer started it. */
function serially(step: () => Promise<void>): Promise<void> {
  const done = queue.then(step)
  queue = done.catch((err: Error) => {
    logger.fatal({ err: err.message, stack: err.stack }, 'processing failed; exiting')
    process.exit(1)
  })
  return done
}

async function shutdown(signal: string): Promise<void> {
  if (stopping) return
  stopping = true
  logger.info({ signal }, 'shutting down: committing processed offsets')
  clearInterval(commitTimer)
  clearInterval(expiryTimer)
  await source.stop()
  await queue
  await Promise.all(unacknowledged)
  await committing
  await offsets
    .commit((points) => source.commit(points))
    .catch((err: Error) => logger.warn({ err: err.message }, 'final offset commit failed'))
  await source.close()
  await publisher.close()
  await http.close().catch(() => {})
  await new Promise<void>((resolve) => (predictionsOut ? predictionsOut.end(resolve) : resolve()))
  process.exit(0)
}
