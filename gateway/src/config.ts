import os from 'node:os'
import { parseHostPortList, type CommandSpec, type OptionSpecs } from '@drone-pipeline/shared/cli.ts'
import { tlsOptionSpecs } from '@drone-pipeline/shared/tls.ts'

export const GATEWAY_COMMAND = {
  usage: 'npm run gateway --',
  summary:
    'Subscribes to drone telemetry on MQTT (shared subscription), validates each message against the Avro\n' +
    'schema and physical ranges, and writes it to Kafka: valid records to telemetry-validated, invalid ones\n' +
    'to telemetry-dlq with the reason. Serves /healthz, /readyz, /metrics and POST /v1/telemetry.',
  options: {
    mqttUrl: {
      type: 'string',
      description: 'MQTT broker URL; TLS only (mqtts://)',
      default: 'mqtts://127.0.0.1:8883',
      env: 'MQTT_URL',
    },
    kafkaBrokers: {
      type: 'string',
      description: 'Kafka bootstrap brokers, host:port[,host:port]',
      default: '127.0.0.1:9092',
      env: 'KAFKA_BROKERS',
    },
    ...tlsOptionSpecs('gateway'),
    host: { type: 'string', description: 'HTTPS listen address', default: '127.0.0.1', env: 'GATEWAY_HOST' },
    port: { type: 'int', description: 'HTTPS port', default: 8080, min: 0, max: 65535, env: 'GATEWAY_PORT' },
    clientId: {
      type: 'string',
      description: 'MQTT client id; keep it stable across restarts so the broker keeps the session',
      default: `gateway-${os.hostname()}`,
      env: 'GATEWAY_CLIENT_ID',
    },
    receiveMaximum: {
      type: 'int',
      description: 'most unacknowledged MQTT messages in flight (backpressure bound)',
      default: 1000,
      min: 1,
      max: 65535,
      env: 'GATEWAY_RECEIVE_MAXIMUM',
    },
    maxQueued: {
      type: 'int',
      description: 'most messages waiting for Kafka before HTTP ingest is refused',
      default: 10000,
      min: 1,
      env: 'GATEWAY_MAX_QUEUED',
    },
    maxBatch: {
      type: 'int',
      description: 'most messages per Kafka write',
      default: 1000,
      min: 1,
      max: 100000,
      env: 'GATEWAY_MAX_BATCH',
    },
  },
} as const satisfies CommandSpec<OptionSpecs>

export function kafkaBrokerList(text: string): string[] {
  return parseHostPortList(text, '--kafka-brokers (KAFKA_BROKERS)')
}
