import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ConfigError } from '../src/cli.ts'
import { commonName, loadTlsMaterial, requireMqttsUrl, tlsFilesFor, type TlsFiles } from '../src/tls.ts'
import { createCa, droneIdentity, ensureCertificates, issueCertificate } from '../../runner/src/certs.ts'

let dir: string
let good: TlsFiles

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-test-'))
  ensureCertificates(dir, ['drone-0001'])
  good = tlsFilesFor(dir, 'gateway')
})
after(() => fs.rmSync(dir, { recursive: true, force: true }))

const refuses = (files: TlsFiles, message: RegExp) =>
  assert.throws(
    () => loadTlsMaterial(files),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `a ConfigError, got ${String(err)}`)
      assert.match(err.message, message)
      return true
    },
  )

describe('tlsFilesFor', () => {
  it('finds services at certs/<name> and drones at certs/drones/<id>', () => {
    assert.deepEqual(tlsFilesFor('/c', 'gateway'), {
      ca: '/c/ca.crt',
      cert: '/c/gateway.crt',
      key: '/c/gateway.key',
    })
    assert.equal(tlsFilesFor('/c', 'drone-0001', true).cert, '/c/drones/drone-0001.crt')
  })
})

describe('loadTlsMaterial', () => {
  it('loads a good identity and names it by its CN', () => {
    const material = loadTlsMaterial(good)
    assert.equal(material.identity, 'gateway')
    assert.equal(loadTlsMaterial(tlsFilesFor(dir, 'drone-0001', true)).identity, 'drone-0001')
    assert.ok(material.expiresAt.getTime() > Date.now())
  })

  it('names a missing file and says how to create it', () => {
    refuses(
      { ...good, cert: '/nowhere/gateway.crt' },
      /^certificate \/nowhere\/gateway\.crt does not exist \(create certificates with: npm run certs\)$/,
    )
    refuses({ ...good, key: '/nowhere/gateway.key' }, /^private key \/nowhere\/gateway\.key does not exist/)
    refuses({ ...good, ca: '/nowhere/ca.crt' }, /^CA certificate \/nowhere\/ca\.crt does not exist/)
  })

  it('names a file that is not PEM', () => {
    const junk = path.join(dir, 'junk.pem')
    fs.writeFileSync(junk, 'not a certificate')
    refuses({ ...good, cert: junk }, /^certificate .*junk\.pem is not a PEM certificate$/)
    refuses({ ...good, key: junk }, /^private key .*junk\.pem is not a PEM private key$/)
  })

  it("refuses a key that is not the certificate's", () => {
    refuses(
      { ...good, key: tlsFilesFor(dir, 'admin').key },
      /^private key .*admin\.key does not belong to certificate .*gateway\.crt$/,
    )
  })

  it('refuses an expired certificate, with the date', () => {
    const expired = path.join(dir, 'expired')
    issueCertificate(expired, droneIdentity('drone-0001'), { caDir: dir, days: -1 })
    refuses(
      { ...tlsFilesFor(expired, 'drone-0001', true), ca: good.ca },
      /drone-0001\.crt expired on \d{4}-\d\d-\d\dT/,
    )
  })

  it('refuses a certificate another CA signed', () => {
    const foreign = path.join(dir, 'foreign')
    createCa(foreign)
    issueCertificate(foreign, droneIdentity('drone-0001'))
    refuses({ ...tlsFilesFor(foreign, 'drone-0001', true), ca: good.ca }, /is not signed by the CA in/)
  })
})

describe('commonName', () => {
  it("reads the CN of Node's subject format", () => {
    assert.equal(commonName('O=Drone Telemetry Pipeline\nOU=drones\nCN=drone-0001'), 'drone-0001')
    assert.equal(commonName('O=No CN here'), undefined)
  })
})

describe('requireMqttsUrl', () => {
  it('accepts mqtts:// and refuses plaintext or junk, naming the flag', () => {
    assert.equal(requireMqttsUrl('mqtts://127.0.0.1:8883', '--mqtt-url'), 'mqtts://127.0.0.1:8883')
    assert.throws(
      () => requireMqttsUrl('mqtt://127.0.0.1:1883', '--mqtt-url'),
      /--mqtt-url must be an mqtts:\/\/ URL/,
    )
    assert.throws(() => requireMqttsUrl('not a url', '--mqtt-url'), /--mqtt-url: "not a url" is not a URL/)
  })
})
