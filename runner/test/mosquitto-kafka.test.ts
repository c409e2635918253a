import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'
import { DEPLOY_DIR } from '@drone-pipeline/shared/paths.ts'
import { stackConfigFrom, STACK_OPTIONS } from '../src/config.ts'
import { parseCommand } from '@drone-pipeline/shared/cli.ts'
import { kafkaOverrides } from '../src/kafka.ts'
import { renderMosquittoConf } from '../src/mosquitto.ts'

const TEMPLATE = fs.readFileSync(path.join(DEPLOY_DIR, 'mosquitto', 'mosquitto.conf'), 'utf8')
const USER = os.userInfo().username

describe('renderMosquittoConf', () => {
  const rendered = renderMosquittoConf(TEMPLATE, '127.0.0.1', 1884, '/tmp/run-x/mosquitto/data')
  const lines = rendered.split('\n')

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
      text.split('\n').filter((l) => !/^(listener|persistence_location|user)\b/.test(l) && l !== '')
    assert.deepEqual(untouched(rendered), untouched(TEMPLATE))
    assert.ok(lines.includes('persistence true'))
    assert.ok(lines.includes('max_queued_messages 200000'))
  })

  it('refuses a template without a listener or persistence_location line', () => {
    const noListener = TEMPLATE.replace(/^listener.*$/m, '# listener removed')
    assert.throws(() => renderMosquittoConf(noListener, '127.0.0.1', 1884, '/d'), {
      message: 'mosquitto.conf has no listener line to set',
    })
    const noPersistence = TEMPLATE.replace(/^persistence_location.*$/m, '')
    assert.throws(() => renderMosquittoConf(noPersistence, '127.0.0.1', 1884, '/d'), {
      message: 'mosquitto.conf has no persistence_location line to set',
    })
  })

  it('writes a data directory containing $ literally', () => {
    const text = renderMosquittoConf(TEMPLATE, '127.0.0.1', 1884, '/tmp/a$&b')
    const line = text.split('\n').find((l) => l.startsWith('persistence_location'))
    assert.equal(line, 'persistence_location /tmp/a$&b/')
  })
})

describe('kafkaOverrides', () => {
  it('overrides quorum, listeners, log dirs and partitions for this run', () => {
    const config = stackConfigFrom({
      ...parseCommand({ usage: 'x', summary: 'x', options: STACK_OPTIONS }, [], {}).options,
      portOffset: 10,
      partitions: 12,
    })
    assert.deepEqual(kafkaOverrides(config, '/tmp/run-x/kafka/data'), [
      '--override',
      'controller.quorum.voters=1@127.0.0.1:9103',
      '--override',
      'listeners=PLAINTEXT://127.0.0.1:9102,CONTROLLER://127.0.0.1:9103',
      '--override',
      'advertised.listeners=PLAINTEXT://127.0.0.1:9102',
      '--override',
      'log.dirs=/tmp/run-x/kafka/data',
      '--override',
      'num.partitions=12',
    ])
  })
})
