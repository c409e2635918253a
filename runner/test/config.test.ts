import assert from 'node:assert/strict'
import path from 'node:path'
import { describe, it } from 'node:test'
import { ConfigError, parseCommand } from '@drone-pipeline/shared/cli.ts'
import { REPO_ROOT } from '@drone-pipeline/shared/paths.ts'
import { kafkaBootstrap, mqttUrl, STACK_OPTIONS, stackConfigFrom } from '../src/config.ts'

const SPEC = { usage: 'npm run stack --', summary: 'test', options: STACK_OPTIONS }
const configFor = (argv: string[], env: NodeJS.ProcessEnv = {}) =>
  stackConfigFrom(parseCommand(SPEC, argv, env).options)

describe('stackConfigFrom', () => {
  it('uses the default loopback ports and run directory', () => {
    const config = configFor([])
    assert.deepEqual(config, {
      runDir: path.join(REPO_ROOT, '.run', 'default'),
      cacheDir: path.join(REPO_ROOT, '.run', 'cache'),
      certsDir: path.join(REPO_ROOT, 'certs'),
      drones: 10,
      host: '127.0.0.1',
      ports: {
        mqtt: 8883,
        kafka: 9092,
        controller: 9093,
        gateway: 8080,
        detector: 8081,
        simulatorMetrics: 9464,
        prometheus: 9090,
      },
      partitions: 6,
    })
    assert.equal(kafkaBootstrap(config), '127.0.0.1:9092')
    assert.equal(mqttUrl(config), 'mqtts://127.0.0.1:8883')
  })

  it('adds the port offset to every default port (flag or environment)', () => {
    const expected = {
      mqtt: 8983,
      kafka: 9192,
      controller: 9193,
      gateway: 8180,
      detector: 8181,
      simulatorMetrics: 9564,
      prometheus: 9190,
    }
    assert.deepEqual(configFor(['--port-offset', '100']).ports, expected)
    assert.deepEqual(configFor([], { PIPELINE_PORT_OFFSET: '100' }).ports, expected)
  })

  it('lets an explicit port win over the offset', () => {
    const ports = configFor(['--port-offset', '100', '--gateway-port', '18080', '--mqtt-port', '21883']).ports
    assert.equal(ports.gateway, 18080)
    assert.equal(ports.mqtt, 21883)
    assert.equal(ports.kafka, 9192)
  })

  it('resolves a relative run directory against the repository root', () => {
    assert.equal(configFor(['--run-dir', '.run/smoke']).runDir, path.join(REPO_ROOT, '.run', 'smoke'))
    assert.equal(configFor([], { PIPELINE_RUN_DIR: '/tmp/elsewhere' }).runDir, '/tmp/elsewhere')
  })

  it('refuses two services on one port, naming both', () => {
    assert.throws(() => configFor(['--gateway-port', '9092']), {
      name: 'ConfigError',
      message: 'the gateway and kafka ports are both 9092',
    })
    assert.throws(() => configFor(['--port-offset', '1', '--detector-port', '8081']), {
      message: 'the detector and gateway ports are both 8081',
    })
  })

  it('refuses an offset that pushes a port past 65535', () => {
    const options = { ...parseCommand(SPEC, [], {}).options, portOffset: 57000 }
    // 8883 + 57000 is the first past the limit.
    assert.throws(
      () => stackConfigFrom(options),
      (err: unknown) =>
        err instanceof ConfigError && err.message === '--port-offset 57000 puts the mqtt port past 65535',
    )
  })

  it('keeps the offset within range at the command line', () => {
    assert.throws(() => configFor(['--port-offset', '50001']), /--port-offset must be at most 50000/)
    assert.throws(() => configFor(['--partitions', '0']), /--partitions must be at least 1/)
  })
})
