/**
 * End to end on the real brokers: a fleet publishes a known set of records plus malformed
 * payloads; every valid record reaches Kafka exactly as published and is scored by the detector,
 * every malformed one is in the DLQ with its reason, and stopping the stack leaves no process.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, test } from 'node:test'
import mqtt from 'mqtt'
import { Consumer, type Message } from '@platformatic/kafka'
import { TelemetryCodec } from '@drone-pipeline/shared/codec.ts'
import type { DroneTelemetry } from '@drone-pipeline/shared/generated/drone-telemetry.ts'
import { KAFKA_TOPICS, telemetryTopic } from '@drone-pipeline/shared/topics.ts'
import { sampleRecord } from '../../gateway/test/fixtures.ts'
import { kafkaBootstrap, mqttUrl, type StackConfig } from '../../runner/src/config.ts'
import { freePort, isAlive } from '../../runner/src/procs.ts'
import { Stack, startPipeline, startSimulator } from '../../runner/src/stack.ts'

const DRONES = 4
const PER_DRONE = 25
const log = (m: string) => console.error(`# ${m}`)

let config: StackConfig
let stack: Stack
let runDir: string

before(async () => {
  runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pipeline-e2e-'))
  config = {
    runDir,
    cacheDir: path.resolve('.run', 'cache'),
    host: '127.0.0.1',
    ports: {
      mqtt: await freePort(),
      kafka: await freePort(),
      controller: await freePort(),
      gateway: await freePort(),
      detector: await freePort(),
      simulatorMetrics: await freePort(),
    },
    partitions: 3,
  }
  stack = new Stack(config)
  await startPipeline(stack, { log, predictionsOut: path.join(runDir, 'predictions.jsonl') })
})

after(async () => {
  await stack?.stop(log)
  fs.rmSync(runDir, { recursive: true, force: true })
})

function readLines<T>(file: string): T[] {
  if (!fs.existsSync(file)) return []
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T)
}

async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

/** Reads a topic from the beginning until `enough` says the messages suffice. */
async function readTopic(topic: string, enough: (messages: Message[]) => boolean): Promise<Message[]> {
  const consumer = new Consumer({
    clientId: 'e2e-reader',
    groupId: `e2e-${topic}-${Date.now()}`,
    bootstrapBrokers: [kafkaBootstrap(config)],
    autocommit: false,
    maxWaitTime: 100,
  })
  const stream = await consumer.consume({ topics: [topic], mode: 'earliest' })
  const messages: Message[] = []
  const timer = setTimeout(() => void stream.close(), 30_000)
  try {
    for await (const message of stream) {
      messages.push(message)
      if (enough(messages)) break
    }
  } finally {
    clearTimeout(timer)
    await stream.close().catch(() => {})
    await consumer.close().catch(() => {})
  }
  return messages
}

test('every valid record is delivered as published and scored; every malformed one is dead-lettered', async () => {
  const published = path.join(runDir, 'published.jsonl')
  const simulator = startSimulator(
    stack,
    { drones: DRONES, rateHz: 20, seed: 5, durationS: PER_DRONE / 20, datasetOut: published },
    { log },
  )
  assert.equal(await simulator.exited, 0, 'simulator exits cleanly')

  const malformed: Array<{ topic: string; payload: string; reason: string }> = [
    { topic: telemetryTopic('drone-0001'), payload: '{"drone_id": "drone-0001", ', reason: 'invalid_json' },
    {
      topic: telemetryTopic('drone-0001'),
      payload: '{"drone_id": "drone-0001", "seq": 1}',
      reason: 'schema_violation',
    },
    {
      topic: telemetryTopic('drone-0002'),
      payload: JSON.stringify(validRecord('drone-0002', { latitude: 123 })),
      reason: 'out_of_range',
    },
    {
      topic: telemetryTopic('drone-0003'),
      payload: JSON.stringify(validRecord('drone-0004')),
      reason: 'identity_mismatch',
    },
    {
      topic: 'drones/not.a.drone.id/telemetry',
      payload: JSON.stringify(validRecord('drone-0001')),
      reason: 'invalid_topic',
    },
  ]
  const client = await mqtt.connectAsync(mqttUrl(config), { protocolVersion: 5, clientId: 'e2e-malformed' })
  for (const m of malformed) await client.publishAsync(m.topic, m.payload, { qos: 1 })
  await client.endAsync()

  const sent = readLines<DroneTelemetry & { label: number; fault: null }>(published)
  assert.equal(sent.length, DRONES * PER_DRONE, 'the simulator published the planned records')

  // The detector scored every record, once.
  const predictionsFile = path.join(runDir, 'predictions.jsonl')
  const scored = await waitFor('the detector to score every record', () => {
    const lines = readLines<{ drone_id: string; seq: number; score: number; anomaly: boolean }>(
      predictionsFile,
    )
    return lines.length >= sent.length ? lines : undefined
  })
  const key = (r: { drone_id: string; seq: number }) => `${r.drone_id}/${r.seq}`
  assert.deepEqual(new Set(scored.map(key)), new Set(sent.map(key)))
  assert.equal(scored.length, sent.length, 'no record scored twice')
  for (const p of scored) assert.ok(p.score > 0 && p.score <= 1, `score ${p.score} in (0, 1]`)

  // Kafka holds each record exactly as it was published.
  const codec = new TelemetryCodec()
  const validated = await readTopic(KAFKA_TOPICS.validated, (ms) => ms.length >= sent.length)
  const fromKafka = new Map(
    validated.map((m) => {
      const record = codec.decode(m.value)
      assert.equal(m.key.toString(), record.drone_id, 'keyed by drone_id')
      return [key(record), record]
    }),
  )
  for (const row of sent) {
    const { label: _l, fault: _f, ...record } = row
    assert.deepEqual({ ...fromKafka.get(key(record)) }, record, `record ${key(record)} as published`)
  }

  // Every malformed payload is in the DLQ, with its original bytes and reason.
  const dlq = await readTopic(KAFKA_TOPICS.dlq, (ms) => ms.length >= malformed.length)
  const header = (m: Message, name: string) => {
    for (const [k, v] of m.headers) if (k.toString() === name) return v.toString()
    return undefined
  }
  for (const m of malformed) {
    const entry = dlq.find(
      (d) => d.value.toString() === m.payload && header(d, 'dlq-source-topic') === m.topic,
    )
    assert.ok(entry, `${m.reason} payload is in the DLQ`)
    assert.equal(header(entry, 'dlq-reason'), m.reason)
    assert.ok(header(entry, 'dlq-detail'), 'with a detail')
  }
})

test('HTTP ingest takes the same validation path', async () => {
  const res = await fetch(`http://${config.host}:${config.ports.gateway}/v1/telemetry`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify([
      validRecord('drone-0100', { seq: 0 }),
      validRecord('drone-0100', { velocity: -3 }),
    ]),
  })
  assert.equal(res.status, 200)
  const body = (await res.json()) as {
    accepted: number
    rejected: number
    results: Array<{ reason?: string }>
  }
  assert.equal(body.accepted, 1)
  assert.equal(body.rejected, 1)
  assert.equal(body.results[1]?.reason, 'out_of_range')
  const openapi = (await (
    await fetch(`http://${config.host}:${config.ports.gateway}/openapi.json`)
  ).json()) as {
    paths: Record<string, unknown>
  }
  assert.ok(openapi.paths['/v1/telemetry'], 'OpenAPI describes the ingest endpoint')
})

test('stopping the stack leaves no process behind', async () => {
  const pids = stack.processes.map((p) => p.pid)
  assert.ok(pids.length >= 4)
  await stack.stop(log)
  for (const pid of pids) assert.equal(isAlive(pid), false, `pid ${pid} stopped`)
})

/** A record stamped now, so the detector's latency figures stay sane. */
function validRecord(droneId: string, overrides: Partial<DroneTelemetry> = {}): DroneTelemetry {
  const now = Date.now()
  return sampleRecord({
    drone_id: droneId,
    seq: 999,
    timestamp: now,
    publish_timestamp: now * 1000,
    ...overrides,
  })
}
