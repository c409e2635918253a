/**
 * Gateway: MQTT over TLS (or HTTPS) -> parse -> validate -> Kafka over TLS.
 *   valid:   telemetry-validated, Avro single-object encoding, key drone_id
 *   invalid: telemetry-dlq, original bytes + reason headers
 * A message is acknowledged to its sender (MQTT PUBACK, HTTP response) only after Kafka took it.
 * The identity a message may speak for is the one its transport proved: the MQTT topic's drone
 * (Mosquitto's ACL binds topics to certificates) or the HTTPS caller's certificate.
 */
import path from 'node:path'
import { TelemetryCodec } from '@drone-pipeline/shared/codec.ts'
import { exitOnConfigError, parseOrExit } from '@drone-pipeline/shared/cli.ts'
import { createLogger } from '@drone-pipeline/shared/log.ts'
import { SCHEMAS_DIR } from '@drone-pipeline/shared/paths.ts'
import { readRecordSchema, TELEMETRY_SCHEMA_FILE } from '@drone-pipeline/shared/schema.ts'
import { kafkaConnection } from '@drone-pipeline/shared/kafka.ts'
import { retryUntilDone } from '@drone-pipeline/shared/retry.ts'
import { loadTlsMaterial, requireMqttsUrl, type TlsMaterial } from '@drone-pipeline/shared/tls.ts'
import { droneIdFromTopic, KAFKA_TOPICS } from '@drone-pipeline/shared/topics.ts'
import { GATEWAY_COMMAND, kafkaBrokerList } from './config.ts'
import { buildHttpApp } from './http.ts'
import { KafkaSink } from './kafka-sink.ts'
import { createGatewayMetrics } from './metrics.ts'
import { MqttSource } from './mqtt-source.ts'
import { toKafkaMessage, type Envelope } from './routing.ts'
import { parsePayload, validateRecord, type Verdict } from './validate.ts'

const { options } = parseOrExit(GATEWAY_COMMAND, process.argv.slice(2))
let brokers: string[]
let tls: TlsMaterial
try {
  brokers = kafkaBrokerList(options.kafkaBrokers)
  requireMqttsUrl(options.mqttUrl, '--mqtt-url (MQTT_URL)')
  tls = loadTlsMaterial({ ca: options.tlsCa, cert: options.tlsCert, key: options.tlsKey })
} catch (err) {
  exitOnConfigError(err, GATEWAY_COMMAND.usage)
}

const logger = createLogger('gateway')
const codec = new TelemetryCodec()
const metrics = createGatewayMetrics()

const sink = new KafkaSink({
  connection: kafkaConnection(options.clientId, brokers, tls),
  maxQueued: options.maxQueued,
  maxBatch: options.maxBatch,
  logger,
  events: {
    onBatch: (size) => metrics.batchSize.observe(size),
    onError: () => metrics.produceErrors.inc(),
  },
})

function validate(envelope: Envelope, value: unknown): Verdict {
  if (envelope.droneId === undefined) {
    return {
      ok: false,
      reason: 'invalid_topic',
      detail: `${envelope.sourceTopic} is not drones/<drone_id>/telemetry`,
    }
  }
  return validateRecord(value, codec.writer.type, envelope.droneId)
}

/** One message through the pipeline; resolves once Kafka holds it, valid or dead-lettered. */
async function handle(envelope: Envelope, source: 'mqtt' | 'http', value?: unknown): Promise<Verdict> {
  metrics.received.inc({ source })
  metrics.inFlight.inc()
  const parsed = value === undefined ? parsePayload(envelope.payload) : { ok: true as const, value }
  const verdict = parsed.ok ? validate(envelope, parsed.value) : parsed
  if (verdict.ok) metrics.validated.inc()
  else metrics.rejected.inc({ reason: verdict.reason })
  const message = toKafkaMessage(envelope, verdict, codec)
  try {
    await sink.submit(message)
  } finally {
    metrics.inFlight.dec()
  }
  metrics.produced.inc({ topic: message.topic })
  metrics.latency.observe((Date.now() - envelope.receivedAtMs) / 1000)
  return verdict
}

const mqttSource = new MqttSource({
  url: options.mqttUrl,
  tls,
  clientId: options.clientId,
  receiveMaximum: options.receiveMaximum,
  sessionExpirySeconds: 3600,
  logger,
  onMessage: (topic, payload) =>
    handle(
      { payload, sourceTopic: topic, droneId: droneIdFromTopic(topic), receivedAtMs: Date.now() },
      'mqtt',
    ),
})

const app = await buildHttpApp({
  logger,
  tls,
  registry: metrics.registry,
  telemetrySchema: readRecordSchema(path.join(SCHEMAS_DIR, TELEMETRY_SCHEMA_FILE)),
  notReadyReason: () =>
    !mqttSource.connected ? 'MQTT not connected' : !sink.isHealthy() ? 'Kafka not reachable' : undefined,
  hasRoom: (count) => sink.hasRoom(count),
  ingest: (item, identity) =>
    handle(
      {
        payload: Buffer.from(JSON.stringify(item) ?? 'null'),
        sourceTopic: 'https:/v1/telemetry',
        droneId: identity,
        receivedAtMs: Date.now(),
      },
      'http',
      item,
    ),
})

let stopping = false
async function shutdown(signal: string): Promise<void> {
  if (stopping) return
  stopping = true
  logger.info({ signal }, 'shutting down: no new messages, finishing writes in flight')
  await mqttSource.stop().catch(() => {})
  await app.close().catch(() => {})
  await sink.close().catch(() => {})
  process.exit(0)
}
process.on('SIGINT', () => void shutdown('SIGINT'))
process.on('SIGTERM', () => void shutdown('SIGTERM'))

await app.listen({ host: options.host, port: options.port })
await connectKafka()
await mqttSource.start()
logger.info({ mqtt: options.mqttUrl, kafka: brokers }, 'gateway ready')

/** Kafka may still be starting: keep trying, visibly, rather than fail the whole gateway. */
function connectKafka(): Promise<void> {
  return retryUntilDone(
    () => sink.connect([KAFKA_TOPICS.validated, KAFKA_TOPICS.dlq]),
    (err, attempt) => logger.warn({ err: err.message, attempt }, 'Kafka not reachable yet; retrying'),
  )
}
