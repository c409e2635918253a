import assert from 'node:assert/strict'
import fs from 'node:fs'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import pino from 'pino'
import { Counter, Registry } from 'prom-client'
import { TelemetryCodec } from '@drone-pipeline/shared/codec.ts'
import type { DroneTelemetry } from '@drone-pipeline/shared/generated/drone-telemetry.ts'
import { sampleRecord } from './fixtures.ts'
import { readRecordSchema } from '@drone-pipeline/shared/schema.ts'
import { SCHEMAS_DIR } from '@drone-pipeline/shared/paths.ts'
import { httpsRequest, loadTlsMaterial, tlsFilesFor, type TlsMaterial } from '@drone-pipeline/shared/tls.ts'
import { ensureCertificates } from '../../runner/src/certs.ts'
import { buildHttpApp, MAX_BATCH, type HttpDeps } from '../src/http.ts'
import { validateRecord, type Verdict } from '../src/validate.ts'

const codec = new TelemetryCodec()
const telemetrySchema = readRecordSchema(`${SCHEMAS_DIR}/drone_telemetry.avsc`)

const RECORD: DroneTelemetry = sampleRecord()

/** Controllable stand-ins for the gateway's shell; ingest runs the real validator. */
/** A throwaway CA with the identities the tests present. */
const certsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gateway-http-'))
ensureCertificates(certsDir, ['drone-0001'])
const identity = (name: string, isDrone = false) => loadTlsMaterial(tlsFilesFor(certsDir, name, isDrone))
const DRONE = identity('drone-0001', true)
const PROMETHEUS = identity('prometheus')

class FakeGateway {
  notReady: string | undefined = undefined
  room = true
  roomAsked: number[] = []
  ingested: unknown[] = []
  readonly registry = new Registry()

  constructor() {
    new Counter({
      name: 'test_items_total',
      help: 'Items seen by the test.',
      registers: [this.registry],
    }).inc(3)
  }

  deps(): HttpDeps {
    return {
      logger: pino({ level: 'silent' }),
      tls: identity('gateway'),
      registry: this.registry,
      telemetrySchema,
      notReadyReason: () => this.notReady,
      hasRoom: (count) => {
        this.roomAsked.push(count)
        return this.room
      },
      ingest: async (item, caller): Promise<Verdict> => {
        this.ingested.push(item)
        return validateRecord(item, codec.writer.type, caller)
      },
    }
  }
}

describe('gateway HTTP API', () => {
  const gateway = new FakeGateway()
  let app: Awaited<ReturnType<typeof buildHttpApp>>

  let base: string

  before(async () => {
    app = await buildHttpApp(gateway.deps())
    await app.listen({ host: '127.0.0.1', port: 0 })
    base = `https://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  })
  after(async () => {
    await app.close()
    fs.rmSync(certsDir, { recursive: true, force: true })
  })

  /** Over real TLS: `as` is the certificate the caller presents, if any. */
  const request = async (url: string, as?: TlsMaterial, json?: unknown, method: 'GET' | 'POST' = 'GET') => {
    const res = await httpsRequest(base + url, { method, ca: DRONE.ca, client: as, json })
    return { statusCode: res.status, body: res.body, json: () => JSON.parse(res.body), headers: res.headers }
  }
  const post = (payload: unknown, as: TlsMaterial | null = DRONE) =>
    request('/v1/telemetry', as ?? undefined, payload, 'POST')

  it('GET /healthz answers 200 ok', async () => {
    const res = await request('/healthz')
    assert.equal(res.statusCode, 200)
    assert.deepEqual(res.json(), { status: 'ok' })
  })

  it('GET /readyz is 503 with the reason, then 200 once ready', async () => {
    gateway.notReady = 'Kafka not connected'
    const down = await request('/readyz')
    assert.equal(down.statusCode, 503)
    assert.deepEqual(down.json(), { status: 'not ready', reason: 'Kafka not connected' })
    gateway.notReady = undefined
    const up = await request('/readyz')
    assert.equal(up.statusCode, 200)
    assert.deepEqual(up.json(), { status: 'ready' })
  })

  it('GET /metrics refuses a caller without a certificate (401) and any identity but Prometheus (403)', async () => {
    assert.equal((await request('/metrics')).statusCode, 401)
    const drone = await request('/metrics', DRONE)
    assert.equal(drone.statusCode, 403)
    assert.match(drone.body, /drone-0001 may not use \/metrics/)
  })

  it("GET /metrics serves the registry in the Prometheus text format to Prometheus's certificate", async () => {
    const res = await request('/metrics', PROMETHEUS)
    assert.equal(res.statusCode, 200)
    assert.equal(res.headers['content-type'], gateway.registry.contentType)
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/)
    assert.match(res.body, /^# HELP test_items_total Items seen by the test\.$/m)
    assert.match(res.body, /^test_items_total 3$/m)
  })

  describe('POST /v1/telemetry', () => {
    it('refuses a caller without a client certificate with 401, ingesting nothing', async () => {
      gateway.ingested = []
      const res = await post([RECORD], null)
      assert.equal(res.statusCode, 401)
      assert.equal(gateway.ingested.length, 0)
    })

    it("rejects a record for another drone than the caller's certificate as identity_mismatch", async () => {
      const res = await post([RECORD, { ...RECORD, drone_id: 'drone-0002' }])
      assert.equal(res.statusCode, 200)
      assert.deepEqual(res.json().results[1], {
        index: 1,
        status: 'rejected',
        reason: 'identity_mismatch',
        detail: 'drone_id drone-0002 published as drone-0001',
      })
    })

    it('rejects a body that is not an array with 400', async () => {
      const res = await post(RECORD)
      assert.equal(res.statusCode, 400)
      assert.deepEqual(res.json(), { error: 'body must be a JSON array of records' })
    })

    it(`rejects more than ${MAX_BATCH} items with 413, ingesting none`, async () => {
      gateway.ingested = []
      const res = await post(Array.from({ length: MAX_BATCH + 1 }, (_, seq) => ({ ...RECORD, seq })))
      assert.equal(res.statusCode, 413)
      assert.deepEqual(res.json(), { error: `at most ${MAX_BATCH} records per request` })
      assert.equal(gateway.ingested.length, 0)
    })

    it('answers 503 with the reason while not ready', async () => {
      gateway.notReady = 'MQTT not connected'
      gateway.ingested = []
      try {
        const res = await post([RECORD])
        assert.equal(res.statusCode, 503)
        assert.deepEqual(res.json(), { error: 'not ready: MQTT not connected' })
        assert.equal(gateway.ingested.length, 0)
      } finally {
        gateway.notReady = undefined
      }
    })

    it('answers 503 with retry-after when the Kafka queue has no room for the batch', async () => {
      gateway.room = false
      gateway.roomAsked = []
      gateway.ingested = []
      try {
        const res = await post([RECORD, { ...RECORD, seq: 1 }, { ...RECORD, seq: 2 }])
        assert.equal(res.statusCode, 503)
        assert.equal(res.headers['retry-after'], '1')
        assert.deepEqual(res.json(), { error: 'Kafka queue full, retry later' })
        assert.deepEqual(gateway.roomAsked, [3])
        assert.equal(gateway.ingested.length, 0)
      } finally {
        gateway.room = true
      }
    })

    it('validates each item of a mixed batch on its own and reports every outcome', async () => {
      gateway.ingested = []
      const batch = [
        RECORD,
        { ...RECORD, seq: 1, latitude: 95 },
        { ...RECORD, seq: 2, battery: 12 },
        'not a record',
        { ...RECORD, seq: 4 },
      ]
      const res = await post(batch)
      assert.equal(res.statusCode, 200)
      assert.deepEqual(res.json(), {
        accepted: 2,
        rejected: 3,
        results: [
          { index: 0, status: 'accepted' },
          { index: 1, status: 'rejected', reason: 'out_of_range', detail: 'latitude: 95 outside [-90, 90]' },
          { index: 2, status: 'rejected', reason: 'schema_violation', detail: 'unknown field(s): battery' },
          {
            index: 3,
            status: 'rejected',
            reason: 'schema_violation',
            detail: 'payload is not a JSON object',
          },
          { index: 4, status: 'accepted' },
        ],
      })
      // The documented body schema must not filter items before the Avro validator sees them.
      assert.deepEqual(gateway.ingested, batch)
    })

    it('accepts an empty batch', async () => {
      const res = await post([])
      assert.equal(res.statusCode, 200)
      assert.deepEqual(res.json(), { accepted: 0, rejected: 0, results: [] })
    })
  })

  it('GET /openapi.json documents /v1/telemetry with the Avro docs as descriptions', async () => {
    const res = await request('/openapi.json')
    assert.equal(res.statusCode, 200)
    const doc = res.json()
    assert.ok(doc.openapi, 'an OpenAPI document')
    assert.ok(doc.paths['/v1/telemetry']?.post, `paths: ${Object.keys(doc.paths).join(', ')}`)
    assert.ok(doc.paths['/healthz'] && doc.paths['/readyz'] && doc.paths['/metrics'])
    assert.equal(doc.paths['/openapi.json'], undefined)
    const body = doc.paths['/v1/telemetry'].post.requestBody.content['application/json'].schema
    assert.equal(body.type, 'array')
    assert.equal(body.maxItems, MAX_BATCH)
    const item = body.items
    assert.deepEqual(
      Object.keys(item.properties),
      telemetrySchema.fields.map((f) => f.name),
    )
    assert.deepEqual(
      item.required,
      telemetrySchema.fields.map((f) => f.name),
    )
    assert.equal(item.additionalProperties, false)
    for (const field of telemetrySchema.fields) {
      assert.equal(item.properties[field.name].description, field.doc, field.name)
    }
    assert.equal(item.properties.drone_id.type, 'string')
    assert.equal(item.properties.seq.type, 'integer')
    assert.equal(item.properties.timestamp.type, 'integer')
    assert.equal(item.properties.latitude.type, 'number')
    assert.match(item.properties.latitude.description, /degrees/)
  })
})
