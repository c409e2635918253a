import assert from 'node:assert/strict'
import fs from 'node:fs'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import pino from 'pino'
import { Registry } from 'prom-client'
import { createServiceHttp } from '@drone-pipeline/shared/service-http.ts'
import { httpsRequest, loadTlsMaterial, tlsFilesFor, type TlsMaterial } from '@drone-pipeline/shared/tls.ts'
import { ensureCertificates } from '../../runner/src/certs.ts'
import { registerSlowdownRoute, Slowdown } from '../src/slowdown.ts'

/** A throwaway CA with the identities the tests present. */
const certsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'detector-slowdown-'))
ensureCertificates(certsDir, ['drone-0001'])
const identity = (name: string, isDrone = false) => loadTlsMaterial(tlsFilesFor(certsDir, name, isDrone))
const ADMIN = identity('admin')

describe('Slowdown', () => {
  it('delays each record for the time asked, then stops', () => {
    let now = 1_000
    const slowdown = new Slowdown(() => now)
    assert.equal(slowdown.delayNow(), 0)
    assert.deepEqual(slowdown.set(40, 2), { delayMs: 40, until: new Date(3_000).toISOString() })
    now = 2_999
    assert.equal(slowdown.delayNow(), 40)
    now = 3_000
    assert.equal(slowdown.delayNow(), 0)
  })
})

describe('PUT /debug/slowdown', () => {
  const slowdown = new Slowdown()
  let app: Awaited<ReturnType<typeof createServiceHttp>>
  let base: string

  before(async () => {
    app = await createServiceHttp({
      logger: pino({ level: 'silent' }),
      tls: identity('anomaly-detector'),
      registry: new Registry(),
      notReadyReason: () => undefined,
    })
    registerSlowdownRoute(app, slowdown)
    await app.listen({ host: '127.0.0.1', port: 0 })
    base = `https://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  })
  after(async () => {
    await app.close()
    fs.rmSync(certsDir, { recursive: true, force: true })
  })

  const put = (json: unknown, as?: TlsMaterial) =>
    httpsRequest(`${base}/debug/slowdown`, { method: 'PUT', ca: ADMIN.ca, client: as, json })

  it('refuses a caller without a certificate (401) and every identity but admin (403)', async () => {
    assert.equal((await put({ delayMs: 50, seconds: 60 })).status, 401)
    for (const name of ['prometheus', 'gateway', 'anomaly-detector']) {
      const res = await put({ delayMs: 50, seconds: 60 }, identity(name))
      assert.equal(res.status, 403, name)
      assert.match(res.body, new RegExp(`${name} may not use /debug/slowdown`))
    }
    assert.equal((await put({ delayMs: 50, seconds: 60 }, identity('drone-0001', true))).status, 403)
    // Refused before the body is even looked at.
    assert.equal((await put({ nonsense: true })).status, 401)
    assert.equal(slowdown.delayNow(), 0, 'no refused request slowed the detector')
  })

  it("slows the detector down for admin's certificate", async () => {
    const res = await put({ delayMs: 50, seconds: 60 }, ADMIN)
    assert.equal(res.status, 200)
    assert.equal(JSON.parse(res.body).delayMs, 50)
    assert.equal(slowdown.delayNow(), 50)
    assert.equal((await put({ delayMs: 0, seconds: 0 }, ADMIN)).status, 200)
    assert.equal(slowdown.delayNow(), 0)
  })

  it('rejects a malformed request from admin with 400', async () => {
    for (const body of [{ delayMs: -1, seconds: 5 }, { delayMs: 10 }, { delayMs: 10, seconds: 4_000 }, []]) {
      assert.equal((await put(body, ADMIN)).status, 400, JSON.stringify(body))
    }
  })
})
