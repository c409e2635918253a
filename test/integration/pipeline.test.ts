/**
 * End to end on the real brokers, over mutual TLS on every hop: a fleet publishes a known set of records plus malformed
 * payloads; every valid record reaches Kafka exactly as published and is scored by the detector,
 * every malformed one is in the DLQ with its reason, and stopping the stack leaves no process.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { after, before, test } from 'node:test'
import mqtt from 'mqtt'
import { TelemetryCodec } from '@drone-pipeline/shared/codec.ts'
import type { DroneTelemetry } from '@drone-pipeline/shared/generated/drone-telemetry.ts'
import { httpsRequest } from '@drone-pipeline/shared/tls.ts'
import { KAFKA_TOPICS, telemetryTopic } from '@drone-pipeline/shared/topics.ts'
import { mqttUrl, type StackConfig } from '../../runner/src/config.ts'
import { isAlive } from '../../runner/src/procs.ts'
import { readTopic } from '../../runner/src/kafka.ts'
import { Stack, startPipeline, startSimulator } from '../../runner/src/stack.ts'
import {
  header,
  identity as identityOf,
  log,
  readLines,
  recordNow,
  testStackConfig,
  waitFor,
} from './helpers.ts'

const DRONES = 4
const PER_DRONE = 25

let config: StackConfig
let stack: Stack
let runDir: string
const identity = (name: string, isDrone = false) => identityOf(config, name, isDrone)
const validRecord = recordNow

before(async () => {
  config = await testStackConfig('e2e')
  runDir = config.runDir
  stack = new Stack(config)
  await startPipeline(stack, { log, predictionsOut: path.join(runDir, 'predictions.jsonl') })
})

after(async () => {
  await stack?.stop(log)
  fs.rmSync(runDir, { recursive: true, force: true })
})

test('every valid record is delivered as published and scored; every malformed one is dead-lettered', async () => {
  const published = path.join(runDir, 'published.jsonl')
  const simulator = startSimulator(
    stack,
    { drones: DRONES, rateHz: 20, seed: 5, durationS: PER_DRONE / 20, datasetOut: published },
    { log },
  )
  assert.equal(await simulator.exited, 0, 'simulator exits cleanly')

  // Each malformed payload is published by a drone on its own topic, as the broker's ACL requires.
  const malformed: Array<{ drone: string; payload: string; reason: string }> = [
    { drone: 'drone-0001', payload: '{"drone_id": "drone-0001", ', reason: 'invalid_json' },
    { drone: 'drone-0001', payload: '{"drone_id": "drone-0001", "seq": 1}', reason: 'schema_violation' },
    {
      drone: 'drone-0002',
      payload: JSON.stringify(validRecord('drone-0002', { latitude: 123 })),
      reason: 'out_of_range',
    },
    // A drone speaking for another one.
    { drone: 'drone-0003', payload: JSON.stringify(validRecord('drone-0004')), reason: 'identity_mismatch' },
  ]
  for (const m of malformed) {
    const tls = identity(m.drone, true)
    const client = await mqtt.connectAsync(mqttUrl(config), {
      protocolVersion: 5,
      clientId: `e2e-${m.drone}-malformed`,
      ca: tls.ca,
      cert: tls.cert,
      key: tls.key,
    })
    await client.publishAsync(telemetryTopic(m.drone), m.payload, { qos: 1 })
    await client.endAsync()
  }

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
  const validated = await readTopic(config, KAFKA_TOPICS.validated, {
    enough: (ms) => ms.length >= sent.length,
  })
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
  const dlq = await readTopic(config, KAFKA_TOPICS.dlq, { enough: (ms) => ms.length >= malformed.length })
  for (const m of malformed) {
    const entry = dlq.find(
      (d) => d.value.toString() === m.payload && header(d, 'dlq-source-topic') === telemetryTopic(m.drone),
    )
    assert.ok(entry, `${m.reason} payload is in the DLQ`)
    assert.equal(header(entry, 'dlq-reason'), m.reason)
    assert.ok(header(entry, 'dlq-detail'), 'with a detail')
  }
})

test("HTTPS ingest takes the same validation path, as the caller's own identity", async () => {
  const drone = identity('drone-0005', true)
  const res = await httpsRequest(`https://${config.host}:${config.ports.gateway}/v1/telemetry`, {
    method: 'POST',
    ca: drone.ca,
    client: drone,
    json: [
      validRecord('drone-0005', { seq: 0 }),
      validRecord('drone-0005', { velocity: -3 }),
      validRecord('drone-0006', { seq: 0 }),
    ],
  })
  assert.equal(res.status, 200, res.body)
  const body = JSON.parse(res.body) as {
    accepted: number
    rejected: number
    results: Array<{ reason?: string }>
  }
  assert.equal(body.accepted, 1)
  assert.equal(body.rejected, 2)
  assert.equal(body.results[1]?.reason, 'out_of_range')
  assert.equal(body.results[2]?.reason, 'identity_mismatch')
  const openapi = await httpsRequest(`https://${config.host}:${config.ports.gateway}/openapi.json`, {
    ca: drone.ca,
  })
  assert.ok((JSON.parse(openapi.body) as { paths: Record<string, unknown> }).paths['/v1/telemetry'])
})

test('stopping the stack leaves no process behind', async () => {
  const pids = stack.processes.map((p) => p.pid)
  assert.ok(pids.length >= 4)
  await stack.stop(log)
  for (const pid of pids) assert.equal(isAlive(pid), false, `pid ${pid} stopped`)
})
