/**
 * A service with a missing, unreadable, expired or foreign certificate stops at start-up with one
 * line naming the file and the problem: never a hang, never a stack trace. No broker is needed:
 * the check comes before any connection.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { REPO_ROOT } from '@drone-pipeline/shared/paths.ts'
import { createCa, ensureCertificates, issueCertificate } from '../../runner/src/certs.ts'

let dir: string
let certs: string

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'startup-'))
  certs = path.join(dir, 'certs')
  ensureCertificates(certs, [])
})
after(() => fs.rmSync(dir, { recursive: true, force: true }))

const SERVICES = [
  ['gateway', 'gateway/src/main.ts', 'gateway'],
  ['anomaly detector', 'anomaly_detector/src/main.ts', 'anomaly-detector'],
] as const

function start(entry: string, env: NodeJS.ProcessEnv) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, entry)], {
    cwd: REPO_ROOT,
    env: { ...process.env, LOG_FORMAT: 'json', DETECTOR_MODEL: path.join(dir, 'unused-model.json'), ...env },
    encoding: 'utf8',
    timeout: 30_000,
  })
  return { code: result.status, stderr: result.stderr, signal: result.signal }
}

for (const [name, entry, identity] of SERVICES) {
  describe(`the ${name} refuses to start`, () => {
    const files = () => ({
      TLS_CA: path.join(certs, 'ca.crt'),
      TLS_CERT: path.join(certs, `${identity}.crt`),
      TLS_KEY: path.join(certs, `${identity}.key`),
    })

    test('with a missing certificate, naming the file', () => {
      const missing = path.join(dir, 'nowhere', `${identity}.crt`)
      const run = start(entry, { ...files(), TLS_CERT: missing })
      assert.equal(run.code, 2, run.stderr)
      assert.equal(
        run.stderr.split('\n')[0],
        `error: certificate ${missing} does not exist (create certificates with: npm run certs)`,
      )
      assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace')
    })

    test('with an unreadable key, naming the file', () => {
      // A directory stands in for an unreadable file: tests run as root, who reads any mode.
      const unreadable = path.join(dir, 'a-directory.key')
      fs.mkdirSync(unreadable, { recursive: true })
      const run = start(entry, { ...files(), TLS_KEY: unreadable })
      assert.equal(run.code, 2, run.stderr)
      assert.match(run.stderr, new RegExp(`^error: private key ${unreadable} `))
    })

    test('with an expired certificate, saying so', () => {
      const expired = path.join(dir, `expired-${identity}`)
      issueCertificate(
        expired,
        { name: identity, usage: ['serverAuth', 'clientAuth'] },
        { caDir: certs, days: -1 },
      )
      const run = start(entry, {
        ...files(),
        TLS_CERT: path.join(expired, `${identity}.crt`),
        TLS_KEY: path.join(expired, `${identity}.key`),
      })
      assert.equal(run.code, 2, run.stderr)
      assert.match(
        run.stderr,
        new RegExp(`^error: certificate ${expired}/${identity}.crt expired on \\d{4}-`),
      )
    })

    test('with a certificate from another CA', () => {
      const foreign = path.join(dir, `foreign-${identity}`)
      createCa(foreign)
      issueCertificate(foreign, { name: identity, usage: ['serverAuth', 'clientAuth'] })
      const run = start(entry, {
        ...files(),
        TLS_CERT: path.join(foreign, `${identity}.crt`),
        TLS_KEY: path.join(foreign, `${identity}.key`),
      })
      assert.equal(run.code, 2, run.stderr)
      assert.match(run.stderr, /is not signed by the CA in/)
    })
  })
}
