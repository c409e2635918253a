import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  certPaths,
  droneIdentity,
  ensureCertificates,
  issueCertificate,
  kafkaKeystorePath,
  leafExtensions,
  SERVICE_IDENTITIES,
} from '../src/certs.ts'

const read = (file: string) => new X509Certificate(fs.readFileSync(file))
const mode = (file: string) => fs.statSync(file).mode & 0o777

describe('leafExtensions', () => {
  it('gives a server certificate the loopback and compose names, and a client none', () => {
    const gateway = leafExtensions(SERVICE_IDENTITIES.find((s) => s.name === 'gateway')!)
    assert.match(gateway, /^subjectAltName = DNS:localhost, IP:127\.0\.0\.1, IP:::1, DNS:gateway$/m)
    assert.match(gateway, /^extendedKeyUsage = serverAuth, clientAuth$/m)
    const drone = leafExtensions(droneIdentity('drone-0001'))
    assert.doesNotMatch(drone, /subjectAltName/)
    assert.match(drone, /^extendedKeyUsage = clientAuth$/m)
    assert.match(drone, /^basicConstraints = critical, CA:FALSE$/m)
  })
})

describe('ensureCertificates', () => {
  let dir: string
  let first: string[]
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certs-test-'))
    first = ensureCertificates(dir, ['drone-0001', 'drone-0002']).issued
  })
  after(() => fs.rmSync(dir, { recursive: true, force: true }))

  it('creates the CA, every service identity and each drone', () => {
    assert.deepEqual(first, ['ca', ...SERVICE_IDENTITIES.map((s) => s.name), 'drone-0001', 'drone-0002'])
    const ca = read(path.join(dir, 'ca.crt'))
    for (const spec of [...SERVICE_IDENTITIES, droneIdentity('drone-0001')]) {
      const { cert, key } = certPaths(dir, spec)
      const x509 = read(cert)
      assert.ok(x509.checkIssued(ca) && x509.verify(ca.publicKey), `${spec.name} signed by the CA`)
      assert.match(x509.subject, new RegExp(`CN=${spec.name}$`, 'm'))
      assert.equal(x509.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1', 'ECDSA P-256')
      assert.equal(mode(key), 0o600, `${key} readable by the owner only`)
    }
    assert.equal(mode(kafkaKeystorePath(dir)), 0o600)
  })

  it('keeps what is current (idempotent)', () => {
    const before = fs.readFileSync(certPaths(dir, { name: 'gateway' }).cert)
    assert.deepEqual(ensureCertificates(dir, ['drone-0001', 'drone-0002']).issued, [])
    assert.deepEqual(fs.readFileSync(certPaths(dir, { name: 'gateway' }).cert), before)
  })

  it('issues a certificate for a new drone only', () => {
    assert.deepEqual(ensureCertificates(dir, ['drone-0001', 'drone-0002', 'drone-0003']).issued, [
      'drone-0003',
    ])
  })

  it('renews a certificate that expires within 30 days', () => {
    issueCertificate(dir, droneIdentity('drone-0002'), { days: 10 })
    assert.deepEqual(ensureCertificates(dir, ['drone-0002']).issued, ['drone-0002'])
    const renewed = read(certPaths(dir, droneIdentity('drone-0002')).cert)
    assert.ok(new Date(renewed.validTo).getTime() - Date.now() > 300 * 86_400_000, 'valid for a year again')
  })

  it('re-issues a certificate that another CA signed', () => {
    const other = fs.mkdtempSync(path.join(os.tmpdir(), 'certs-other-'))
    try {
      ensureCertificates(other, [])
      issueCertificate(dir, droneIdentity('drone-0001'), { caDir: other })
      assert.deepEqual(ensureCertificates(dir, ['drone-0001']).issued, ['drone-0001'])
    } finally {
      fs.rmSync(other, { recursive: true, force: true })
    }
  })

  it('re-issues a certificate whose identity now needs other usages or host names', () => {
    issueCertificate(dir, { name: 'prometheus', usage: ['clientAuth'] })
    assert.deepEqual(ensureCertificates(dir, []).issued, ['prometheus'])
    const renewed = read(certPaths(dir, { name: 'prometheus' }).cert)
    assert.match(renewed.subjectAltName ?? '', /DNS:prometheus/)
    issueCertificate(dir, { name: 'gateway', usage: ['serverAuth', 'clientAuth'] })
    assert.deepEqual(ensureCertificates(dir, []).issued, ['gateway'])
  })

  it('rotates one identity on request, and everything with a new CA', () => {
    assert.deepEqual(ensureCertificates(dir, [], new Date(), ['admin']).issued, ['admin'])
    const rotated = ensureCertificates(dir, ['drone-0001'], new Date(), ['ca']).issued
    assert.deepEqual(rotated, ['ca', ...SERVICE_IDENTITIES.map((s) => s.name), 'drone-0001'])
  })

  it('rebuilds the Kafka keystore from the Kafka key and certificate', () => {
    const keystore = fs.readFileSync(kafkaKeystorePath(dir), 'utf8')
    const { cert, key } = certPaths(dir, { name: 'kafka' })
    assert.equal(keystore, fs.readFileSync(key, 'utf8') + fs.readFileSync(cert, 'utf8'))
  })
})
