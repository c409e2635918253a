/**
 * `run` and `replay` against a real Mosquitto on loopback, started by the native runner's code
 * with the project's own mosquitto.conf (`npm test` installs Mosquitto first).
 */
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { connectAsync, type MqttClient } from 'mqtt'
import { readDataset, stripLabels } from '@drone-pipeline/shared/dataset.ts'
import type { DroneTelemetry } from '@drone-pipeline/shared/generated/drone-telemetry.ts'
import { MQTT_TOPIC_FILTER, droneIdFromTopic } from '@drone-pipeline/shared/topics.ts'
import { defaultOptions } from '@drone-pipeline/shared/cli.ts'
import { mqttUrl, stackConfigFrom, STACK_OPTIONS } from '../../runner/src/config.ts'
import { startMosquitto } from '../../runner/src/mosquitto.ts'
import { freePort } from '../../runner/src/procs.ts'
import { ensureStackCertificates, Stack } from '../../runner/src/stack.ts'
import { loadTlsMaterial, tlsFilesFor } from '@drone-pipeline/shared/tls.ts'

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url))

function simulator(args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', MAIN, ...args],
      { env: { ...process.env, LOG_FORMAT: 'json' }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, output: stdout + stderr }),
    )
  })
}

describe('publishing to Mosquitto', () => {
  let stack: Stack
  let subscriber: MqttClient
  let url: string
  let dir: string
  const received: { topic: string; record: DroneTelemetry }[] = []

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'simulator-mqtt-'))
    const config = stackConfigFrom({
      ...defaultOptions(STACK_OPTIONS),
      runDir: dir,
      mqttPort: await freePort(),
    })
    ensureStackCertificates(config, () => {})
    stack = new Stack(config)
    stack.add(await startMosquitto(config))
    url = mqttUrl(config)
    // The operator's identity may watch every drone's telemetry (deploy/mosquitto/acl).
    const admin = loadTlsMaterial(tlsFilesFor(config.certsDir, 'admin'))
    subscriber = await connectAsync(url, {
      protocolVersion: 5,
      clientId: 'simulator-test-subscriber',
      ca: admin.ca,
      cert: admin.cert,
      key: admin.key,
    })
    subscriber.on('message', (topic, payload) =>
      received.push({ topic, record: JSON.parse(payload.toString()) }),
    )
    await subscriber.subscribeAsync(MQTT_TOPIC_FILTER, { qos: 1 })
  })

  after(async () => {
    await subscriber?.endAsync()
    await stack?.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  })

  async function receivedAtLeast(count: number): Promise<void> {
    const deadline = Date.now() + 5000
    while (received.length < count && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20))
  }

  it('run publishes every sample on its drone’s topic, acknowledged, and records what it sent', async () => {
    const summaryFile = path.join(dir, 'summary.json')
    const datasetFile = path.join(dir, 'sent.jsonl')
    const before = Date.now() * 1000
    const outcome = await simulator(
      ['run', '--drones', '3', '--rate', '20', '--count', '10', '--mqtt-url', url, '--quiet'].concat([
        '--summary-json',
        summaryFile,
        '--dataset-out',
        datasetFile,
      ]),
    )
    assert.equal(outcome.code, 0, outcome.output)
    const summary = JSON.parse(fs.readFileSync(summaryFile, 'utf8'))
    assert.deepEqual(
      { ...summary, duration_s: undefined, msg_per_s: undefined },
      {
        drones: 3,
        rate_hz: 20,
        published: 30,
        acked: 30,
        errors: 0,
        retried: 0,
        duration_s: undefined,
        msg_per_s: undefined,
      },
    )

    await receivedAtLeast(30)
    assert.equal(received.length, 30)
    for (const { topic, record } of received) {
      assert.equal(droneIdFromTopic(topic), record.drone_id)
      assert.ok(
        record.publish_timestamp >= before && record.publish_timestamp <= Date.now() * 1000,
        'publish time µs',
      )
      assert.ok(record.publish_timestamp >= record.timestamp * 1000 - 1000, 'published after sampling')
    }
    const seqs = received.filter((m) => m.record.drone_id === 'drone-0002').map((m) => m.record.seq)
    assert.deepEqual(seqs, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])

    // Each connection keeps its order, but the broker may interleave drones differently than they were sent.
    const sent = []
    for await (const row of readDataset(datasetFile)) sent.push(stripLabels(row))
    const byDroneAndSeq = (a: DroneTelemetry, b: DroneTelemetry) =>
      a.drone_id.localeCompare(b.drone_id) || a.seq - b.seq
    assert.deepEqual(sent.sort(byDroneAndSeq), received.map((m) => m.record).sort(byDroneAndSeq))
  })

  it('keeps publishing a message the broker had no subscriber for, until one subscribes', async () => {
    // A broker of its own that nobody has subscribed to yet, as when the fleet starts before the
    // gateways, or flies on while they subscribe again after a broker restart.
    const config = stackConfigFrom({
      ...defaultOptions(STACK_OPTIONS),
      runDir: path.join(dir, 'unrouted'),
      mqttPort: await freePort(),
    })
    stack.add(await startMosquitto(config))
    const summaryFile = path.join(dir, 'unrouted.json')
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', MAIN, 'run', '--drones', '1', '--rate', '20', '--count', '5', '--quiet'].concat([
        '--mqtt-url',
        mqttUrl(config),
        '--summary-json',
        summaryFile,
      ]),
      { env: { ...process.env, LOG_FORMAT: 'json' } },
    )
    let output = ''
    const connected = new Promise<void>((resolve) =>
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString()
        if (output.includes('all drones connected')) resolve()
      }),
    )
    const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)))
    await connected
    // The five messages go out within 0.25 s; for a second every PUBACK says "no matching
    // subscribers", and each message must be kept and published again, not counted as done.
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const admin = loadTlsMaterial(tlsFilesFor(config.certsDir, 'admin'))
    const late = await connectAsync(mqttUrl(config), {
      protocolVersion: 5,
      clientId: 'simulator-test-late-subscriber',
      ca: admin.ca,
      cert: admin.cert,
      key: admin.key,
    })
    const seqs: number[] = []
    late.on('message', (_topic, payload) => seqs.push((JSON.parse(payload.toString()) as DroneTelemetry).seq))
    await late.subscribeAsync(MQTT_TOPIC_FILTER, { qos: 1 })
    assert.equal(await exited, 0, output)
    const summary = JSON.parse(fs.readFileSync(summaryFile, 'utf8'))
    assert.equal(summary.acked, 5)
    assert.ok(summary.retried >= 5, `each message was published again (${summary.retried} retries)`)
    const deadline = Date.now() + 5000
    while (seqs.length < 5 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    await late.endAsync()
    assert.deepEqual(
      seqs.sort((a, b) => a - b),
      [0, 1, 2, 3, 4],
    )
  })

  it('replay republishes a dataset without its labels, stamping a new publish time', async () => {
    const datasetFile = path.join(dir, 'sent.jsonl')
    const original = []
    for await (const row of readDataset(datasetFile)) original.push(stripLabels(row))
    received.length = 0
    const outcome = await simulator(['replay', datasetFile, '--speed', '0', '--mqtt-url', url, '--quiet'])
    assert.equal(outcome.code, 0, outcome.output)
    await receivedAtLeast(30)
    assert.equal(received.length, 30)
    const byKey = new Map(received.map((m) => [`${m.record.drone_id}/${m.record.seq}`, m.record]))
    for (const record of original) {
      const replayed = byKey.get(`${record.drone_id}/${record.seq}`)
      assert.ok(replayed, `${record.drone_id}/${record.seq} replayed`)
      assert.ok(!('label' in replayed) && !('fault' in replayed), 'labels stripped')
      assert.ok(replayed.publish_timestamp > record.publish_timestamp, 'new publish time')
      assert.deepEqual({ ...replayed, publish_timestamp: 0 }, { ...record, publish_timestamp: 0 })
    }
  })
})
