/**
 * Each attack on the running pipeline, as its own test, against the real brokers and services:
 * every one must be refused. Each refusal is paired with the same attempt done right succeeding,
 * so a test cannot pass because the door is shut for everyone.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import tls from 'node:tls'
import { after, before, describe, test } from 'node:test'
import mqtt, { type IClientOptions } from 'mqtt'
import { Admin, Producer } from '@platformatic/kafka'
import { kafkaConnection } from '@drone-pipeline/shared/kafka.ts'
import { httpsRequest, type TlsMaterial } from '@drone-pipeline/shared/tls.ts'
import { KAFKA_TOPICS, telemetryTopic } from '@drone-pipeline/shared/topics.ts'
import { createCa, droneIdentity, issueCertificate, certPaths } from '../../runner/src/certs.ts'
import { kafkaBootstrap, mqttUrl, type StackConfig } from '../../runner/src/config.ts'
import { readTopic } from '../../runner/src/kafka.ts'
import { Stack, startPipeline } from '../../runner/src/stack.ts'
import { header, identity, log, recordNow, testStackConfig, waitFor } from './helpers.ts'

let config: StackConfig
let stack: Stack
/** Certificates an attacker could hold: one from a foreign CA, one from ours but expired. */
let rogueDir: string
let foreign: TlsMaterial
let expired: TlsMaterial

function material(dir: string, ca: string): TlsMaterial {
  const files = certPaths(dir, droneIdentity('drone-0001'))
  return {
    ca: fs.readFileSync(ca),
    cert: fs.readFileSync(files.cert),
    key: fs.readFileSync(files.key),
    identity: 'drone-0001',
    expiresAt: new Date(0),
    files: { ca, ...files },
  }
}

before(async () => {
  config = await testStackConfig('security')
  stack = new Stack(config)
  await startPipeline(stack, { log })
  rogueDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rogue-'))
  const foreignCa = path.join(rogueDir, 'foreign')
  createCa(foreignCa)
  issueCertificate(foreignCa, droneIdentity('drone-0001'))
  foreign = material(foreignCa, path.join(config.certsDir, 'ca.crt'))
  const expiredDir = path.join(rogueDir, 'expired')
  issueCertificate(expiredDir, droneIdentity('drone-0001'), { caDir: config.certsDir, days: -1 })
  expired = material(expiredDir, path.join(config.certsDir, 'ca.crt'))
})

after(async () => {
  await stack?.stop(log)
  fs.rmSync(config.runDir, { recursive: true, force: true })
  fs.rmSync(rogueDir, { recursive: true, force: true })
})

const drone = (id: string) => identity(config, id, true)

// ---------------------------------------------------------------- transport-level probes

/** A TLS handshake with the given client settings: 'ok', or the error's message. */
function handshake(port: number, options: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...options })
    const done = (outcome: string) => {
      socket.destroy()
      resolve(outcome)
    }
    socket.setTimeout(5_000, () => done('timeout'))
    socket.once('secureConnect', () => done('ok'))
    socket.once('error', (err) => done(err.message))
  })
}

/**
 * TLS 1.1 only, with the security level lowered so that the client really offers it; the refusal
 * must then be the server's protocol_version alert, not the client's own.
 */
const TLS_1_1: tls.ConnectionOptions = {
  minVersion: 'TLSv1.1',
  maxVersion: 'TLSv1.1',
  ciphers: 'DEFAULT@SECLEVEL=0',
}
const TLS_1_2: tls.ConnectionOptions = { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' }
const SERVER_REFUSES_VERSION = /alert protocol version/

/** A plaintext HTTP GET: the status, or the error. A TLS-only server must never answer 200. */
function plainHttpGet(port: number, url: string): Promise<string> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: url, timeout: 5_000 }, (res) => {
      res.resume()
      resolve(`status ${res.statusCode}`)
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', (err) => resolve(err.message))
  })
}

// ---------------------------------------------------------------- MQTT

/** Connects to Mosquitto once, no retries: resolves 'connected' or the error's message. */
async function mqttConnect(url: string, options: IClientOptions): Promise<string> {
  try {
    const client = await mqtt.connectAsync(url, {
      protocolVersion: 5,
      reconnectPeriod: 0,
      connectTimeout: 5_000,
      ...options,
    })
    await client.endAsync()
    return 'connected'
  } catch (err) {
    return (err as Error).message || String(err)
  }
}

const asDrone = (material: TlsMaterial): IClientOptions => ({
  clientId: `attack-${Math.random().toString(36).slice(2, 8)}`,
  ca: material.ca,
  cert: material.cert,
  key: material.key,
})

describe('MQTT (Mosquitto)', () => {
  test('a drone with its own certificate connects (the control for every refusal below)', async () => {
    assert.equal(await mqttConnect(mqttUrl(config), asDrone(drone('drone-0001'))), 'connected')
  })

  test('plaintext MQTT is refused', async () => {
    const plain = mqttUrl(config).replace('mqtts://', 'mqtt://')
    assert.notEqual(await mqttConnect(plain, { clientId: 'attack-plain' }), 'connected')
  })

  test('TLS without a client certificate is refused', async () => {
    const ca = drone('drone-0001').ca
    assert.notEqual(await mqttConnect(mqttUrl(config), { clientId: 'attack-nocert', ca }), 'connected')
  })

  test('a certificate signed by another CA is refused', async () => {
    assert.notEqual(await mqttConnect(mqttUrl(config), asDrone(foreign)), 'connected')
  })

  test('an expired certificate is refused', async () => {
    assert.notEqual(await mqttConnect(mqttUrl(config), asDrone(expired)), 'connected')
  })

  test('TLS 1.1 is refused; TLS 1.2 is accepted', async () => {
    const client = {
      cert: drone('drone-0001').cert,
      key: drone('drone-0001').key,
      ca: drone('drone-0001').ca,
    }
    assert.equal(await handshake(config.ports.mqtt, { ...client, ...TLS_1_2 }), 'ok')
    assert.match(await handshake(config.ports.mqtt, { ...client, ...TLS_1_1 }), SERVER_REFUSES_VERSION)
  })

  test("drone A publishing to drone B's topic is refused and not delivered", async () => {
    const admin = await mqtt.connectAsync(mqttUrl(config), {
      protocolVersion: 5,
      ...asDrone(identity(config, 'admin')),
    })
    const seen: string[] = []
    admin.on('message', (topic, payload) => seen.push(`${topic} ${payload.toString()}`))
    await admin.subscribeAsync('drones/+/telemetry', { qos: 1 })
    const a = await mqtt.connectAsync(mqttUrl(config), {
      protocolVersion: 5,
      ...asDrone(drone('drone-0001')),
    })
    const b = await mqtt.connectAsync(mqttUrl(config), {
      protocolVersion: 5,
      ...asDrone(drone('drone-0002')),
    })
    try {
      await assert.rejects(
        a.publishAsync(telemetryTopic('drone-0002'), 'spoofed by drone-0001', { qos: 1 }),
        /authori/i,
      )
      // The control: drone B on its own topic is delivered, so the admin would have seen the spoof.
      await b.publishAsync(telemetryTopic('drone-0002'), 'from drone-0002', { qos: 1 })
      await waitFor('the control message', () => (seen.length > 0 ? true : undefined), 10_000)
      assert.deepEqual(seen, ['drones/drone-0002/telemetry from drone-0002'])
    } finally {
      await Promise.all([a.endAsync(), b.endAsync(), admin.endAsync()])
    }
  })

  test("a payload claiming another drone's id goes to the DLQ as identity_mismatch", async () => {
    const payload = JSON.stringify(recordNow('drone-0002', { seq: 424242 }))
    const a = await mqtt.connectAsync(mqttUrl(config), {
      protocolVersion: 5,
      ...asDrone(drone('drone-0001')),
    })
    await a.publishAsync(telemetryTopic('drone-0001'), payload, { qos: 1 })
    await a.endAsync()
    const dlq = await readTopic(config, KAFKA_TOPICS.dlq, {
      enough: (ms) => ms.some((m) => m.value.toString() === payload),
    })
    const entry = dlq.find((m) => m.value.toString() === payload)
    assert.ok(entry, 'in the DLQ')
    assert.equal(header(entry, 'dlq-reason'), 'identity_mismatch')
    assert.equal(header(entry, 'dlq-source-topic'), telemetryTopic('drone-0001'))
  })
})

// ---------------------------------------------------------------- Kafka

/** One metadata request with the given connection settings: 'ok' or the error's message. */
async function kafkaProbe(material?: Partial<TlsMaterial>, withTls = true): Promise<string> {
  const client = new Admin({
    clientId: 'attack',
    bootstrapBrokers: [kafkaBootstrap(config)],
    ...(withTls ? { tls: { ca: material?.ca, cert: material?.cert, key: material?.key } } : {}),
    timeout: 5_000,
    retries: 0,
  })
  try {
    await client.listTopics()
    return 'ok'
  } catch (err) {
    return (err as Error).message
  } finally {
    await client.close().catch(() => {})
  }
}

describe('Kafka', () => {
  test('the admin identity gets through (the control for every refusal below)', async () => {
    assert.equal(await kafkaProbe(identity(config, 'admin')), 'ok')
  })

  test('plaintext Kafka is refused', async () => {
    assert.notEqual(await kafkaProbe(undefined, false), 'ok')
  })

  test('TLS without a client certificate is refused', async () => {
    assert.notEqual(await kafkaProbe({ ca: identity(config, 'admin').ca }), 'ok')
  })

  test('a certificate signed by another CA is refused', async () => {
    assert.notEqual(await kafkaProbe(foreign), 'ok')
  })

  test('an expired certificate is refused', async () => {
    assert.notEqual(await kafkaProbe(expired), 'ok')
  })

  test('TLS 1.1 is refused; TLS 1.2 is accepted', async () => {
    const admin = identity(config, 'admin')
    const client = { cert: admin.cert, key: admin.key, ca: admin.ca }
    assert.equal(await handshake(config.ports.kafka, { ...client, ...TLS_1_2 }), 'ok')
    assert.match(await handshake(config.ports.kafka, { ...client, ...TLS_1_1 }), SERVER_REFUSES_VERSION)
  })

  test("the detector's identity producing to telemetry-validated is refused with an authorization error", async () => {
    const producer = new Producer({
      ...kafkaConnection('attack-detector', [kafkaBootstrap(config)], identity(config, 'anomaly-detector')),
      idempotent: true,
      acks: -1,
      retries: 0,
    })
    const message = (topic: string) => ({
      topic,
      key: Buffer.from('drone-0001'),
      value: Buffer.from('forged'),
    })
    try {
      await assert.rejects(producer.send({ messages: [message(KAFKA_TOPICS.validated)] }), (err: Error) => {
        assert.match(JSON.stringify(err, Object.getOwnPropertyNames(err)), /Topic authorization failed/i)
        return true
      })
      // The control: the same producer may write the topic its ACL grants.
      await producer.send({ messages: [message(KAFKA_TOPICS.anomalies)] })
    } finally {
      await producer.close()
    }
  })
})

// ---------------------------------------------------------------- service endpoints

describe('service endpoints (HTTPS)', () => {
  const services = () =>
    [
      ['gateway', config.ports.gateway],
      ['detector', config.ports.detector],
    ] as const

  test('plaintext HTTP is refused by the gateway and the detector', async () => {
    for (const [name, port] of services()) {
      const outcome = await plainHttpGet(port, '/healthz')
      assert.doesNotMatch(outcome, /^status 200/, `${name}: ${outcome}`)
    }
  })

  test('health probes answer over TLS without a client certificate', async () => {
    for (const [name, port] of services()) {
      const res = await httpsRequest(`https://127.0.0.1:${port}/healthz`, {
        ca: identity(config, 'admin').ca,
      })
      assert.equal(res.status, 200, name)
    }
  })

  test("/metrics is refused without Prometheus's certificate, and served with it", async () => {
    const ca = identity(config, 'admin').ca
    for (const [name, port] of services()) {
      const url = `https://127.0.0.1:${port}/metrics`
      assert.equal((await httpsRequest(url, { ca })).status, 401, `${name} without a certificate`)
      assert.equal(
        (await httpsRequest(url, { ca, client: drone('drone-0001') })).status,
        403,
        `${name} as a drone`,
      )
      assert.equal(
        (await httpsRequest(url, { ca, client: identity(config, 'prometheus') })).status,
        200,
        name,
      )
    }
  })

  test('TLS 1.1 is refused by the HTTPS endpoints; TLS 1.2 is accepted', async () => {
    const ca = identity(config, 'admin').ca
    for (const [name, port] of services()) {
      assert.equal(await handshake(port, { ca, ...TLS_1_2 }), 'ok', name)
      assert.match(await handshake(port, { ca, ...TLS_1_1 }), SERVER_REFUSES_VERSION, name)
    }
  })

  test("HTTPS ingest of another drone's record is dead-lettered as identity_mismatch", async () => {
    const caller = drone('drone-0003')
    const res = await httpsRequest(`https://127.0.0.1:${config.ports.gateway}/v1/telemetry`, {
      method: 'POST',
      ca: caller.ca,
      client: caller,
      json: [recordNow('drone-0003', { seq: 1 }), recordNow('drone-0004', { seq: 1 })],
    })
    assert.equal(res.status, 200, res.body)
    const results = (JSON.parse(res.body) as { results: Array<{ status: string; reason?: string }> }).results
    assert.deepEqual(
      results.map((r) => r.reason ?? r.status),
      ['accepted', 'identity_mismatch'],
    )
  })
})
