import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'
import { DEPLOY_DIR } from '@drone-pipeline/shared/paths.ts'
import { stackConfigFrom, STACK_OPTIONS } from '../src/config.ts'
import { defaultOptions } from '@drone-pipeline/shared/cli.ts'
import { kafkaOverrides } from '../src/kafka.ts'
import { renderMosquittoConf, type MosquittoSettings } from '../src/mosquitto.ts'

const TEMPLATE = fs.readFileSync(path.join(DEPLOY_DIR, 'mosquitto', 'mosquitto.conf'), 'utf8')
const USER = os.userInfo().username

function settings(overrides: Partial<MosquittoSettings> = {}): MosquittoSettings {
  return {
    listener: '1884 127.0.0.1',
    cafile: '/certs/ca.crt',
    certfile: '/certs/mosquitto.crt',
    keyfile: '/certs/mosquitto.key',
    acl_file: '/deploy/acl',
    persistence_location: '/tmp/run-x/mosquitto/data/',
    ...overrides,
  }
}

describe('renderMosquittoConf', () => {
  const rendered = renderMosquittoConf(TEMPLATE, settings())
  const lines = rendered.split('\n')

  it('keeps the security settings of the shared config: TLS only, certificates required, ACL', () => {
    for (const line of [
      'tls_version tlsv1.2',
      'require_certificate true',
      'use_identity_as_username true',
      'allow_anonymous false',
    ]) {
      assert.ok(lines.includes(line), line)
    }
    assert.deepEqual(
      lines.filter((l) => /^(cafile|certfile|keyfile|acl_file) /.test(l)),
      [
        'cafile /certs/ca.crt',
        'certfile /certs/mosquitto.crt',
        'keyfile /certs/mosquitto.key',
        'acl_file /deploy/acl',
      ],
    )
  })

  it('sets the listener to this run port and loopback address', () => {
    assert.deepEqual(
      lines.filter((l) => l.startsWith('listener')),
      ['listener 1884 127.0.0.1'],
    )
  })

  it('puts persistence in the run directory', () => {
    assert.deepEqual(
      lines.filter((l) => l.startsWith('persistence_location')),
      ['persistence_location /tmp/run-x/mosquitto/data/'],
    )
  })

  it('appends the runner user and leaves every other line as it was', () => {
    assert.ok(rendered.endsWith(`\nuser ${USER}\n`), rendered.slice(-80))
    const untouched = (text: string) =>
      text
        .split('\n')
        .filter(
          (l) =>
            !/^(listener|persistence_location|cafile|certfile|keyfile|acl_file|user)\b/.test(l) && l !== '',
        )
    assert.deepEqual(untouched(rendered), untouched(TEMPLATE))
    assert.ok(lines.includes('persistence true'))
    assert.ok(lines.includes('max_queued_messages 1000000'))
  })

  it('refuses a template without a listener or persistence_location line', () => {
    const noListener = TEMPLATE.replace(/^listener.*$/m, '# listener removed')
    assert.throws(() => renderMosquittoConf(noListener, settings()), {
      message: 'mosquitto.conf has no listener line to set',
    })
    const noPersistence = TEMPLATE.replace(/^persistence_location.*$/m, '')
    assert.throws(() => renderMosquittoConf(noPersistence, settings()), {
      message: 'mosquitto.conf has no persistence_location line to set',
    })
  })

  it('writes a data directory containing $ literally', () => {
    const text = renderMosquittoConf(TEMPLATE, settings({ persistence_location: '/tmp/a$&b/' }))
    const line = text.split('\n').find((l) => l.startsWith('persistence_location'))
    assert.equal(line, 'persistence_location /tmp/a$&b/')
  })
})

describe('kafkaOverrides', () => {
  it('overrides quorum, TLS listeners, certificate paths, log dirs and partitions for this run', () => {
    const config = stackConfigFrom({
      ...defaultOptions(STACK_OPTIONS),
      portOffset: 10,
      partitions: 12,
      certsDir: '/c',
    })
    assert.deepEqual(kafkaOverrides(config, '/tmp/run-x/kafka/data'), [
      '--override',
      'controller.quorum.voters=1@127.0.0.1:9103',
      '--override',
      'listeners=SSL://127.0.0.1:9102,CONTROLLER://127.0.0.1:9103',
      '--override',
      'advertised.listeners=SSL://127.0.0.1:9102',
      '--override',
      'ssl.keystore.location=/c/kafka.keystore.pem',
      '--override',
      'ssl.truststore.location=/c/ca.crt',
      '--override',
      'log.dirs=/tmp/run-x/kafka/data',
      '--override',
      'num.partitions=12',
    ])
  })
})

describe('the shared Kafka configuration', () => {
  const props = fs.readFileSync(path.join(DEPLOY_DIR, 'kafka', 'server.properties'), 'utf8')
  const settings = new Map(
    props
      .split('\n')
      .filter((l) => l.includes('=') && !l.startsWith('#'))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const),
  )
  it('has only TLS listeners, client certificates required, and the standard authorizer', () => {
    assert.equal(settings.get('listener.security.protocol.map'), 'SSL:SSL,CONTROLLER:SSL')
    assert.equal(settings.get('ssl.client.auth'), 'required')
    assert.equal(
      settings.get('authorizer.class.name'),
      'org.apache.kafka.metadata.authorizer.StandardAuthorizer',
    )
    assert.equal(settings.get('allow.everyone.if.no.acl.found'), 'false')
    assert.equal(settings.get('super.users'), 'User:admin;User:kafka')
  })
})
