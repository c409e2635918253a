import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ConfigError, parseCommand } from '@drone-pipeline/shared/cli.ts'
import { readDataset } from '@drone-pipeline/shared/dataset.ts'
import { FAULT_TYPES } from '../src/faults.ts'
import { FLIGHT_PROFILES } from '../src/flight.ts'
import {
  expectPositionals,
  flightProfiles,
  formatFaultCatalogue,
  generateSpec,
  parseStartTime,
  replaySpec,
  runSpec,
  samplesPerDrone,
  selectCommand,
} from '../src/options.ts'

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url))

describe('command options', () => {
  it('flies every profile in turn with --profile all, delivery and inspection with mixed', () => {
    const { survey, delivery, inspection } = FLIGHT_PROFILES
    assert.deepEqual(flightProfiles('all'), [survey, delivery, inspection])
    assert.deepEqual(flightProfiles('mixed'), [delivery, inspection])
    assert.deepEqual(flightProfiles('survey'), [survey])
  })

  it('has documented defaults', () => {
    const { options } = parseCommand(runSpec, [], {})
    assert.equal(options.drones, 10)
    assert.equal(options.rate, 10)
    assert.equal(options.seed, 42)
    assert.equal(options.mqttUrl, 'mqtts://127.0.0.1:8883')
    assert.equal(options.metricsPort, 0)
    assert.equal(options.connectTimeout, 10)
    assert.equal(options.duration, undefined)
    assert.equal(options.profile, 'survey')
    assert.equal(options.faults, 'none')
    assert.equal(parseCommand(replaySpec, ['data.jsonl'], {}).options.speed, 1)
  })

  it('reads environment variables, and a flag wins over them', () => {
    const env = { SIM_DRONES: '3', MQTT_URL: 'mqtts://broker:8883', SIM_METRICS_PORT: '9464' }
    const fromEnv = parseCommand(runSpec, [], env).options
    assert.equal(fromEnv.drones, 3)
    assert.equal(fromEnv.mqttUrl, 'mqtts://broker:8883')
    assert.equal(fromEnv.metricsPort, 9464)
    assert.equal(parseCommand(runSpec, ['--drones', '7'], env).options.drones, 7)
  })

  it('names the flag in every error', () => {
    const cases: [string[], RegExp][] = [
      [['--drones', '0'], /--drones must be at least 1, got 0$/],
      [['--rate', 'abc'], /--rate must be a number, got "abc"$/],
      [['--rate', '0'], /--rate must be at least 0.1/],
      [['--drones', '2.5'], /--drones must be a whole number/],
      [['--count', '0'], /--count must be at least 1/],
      [['--metrics-port', '70000'], /--metrics-port must be at most 65535/],
      [
        ['--profile', 'racing'],
        /--profile must be one of survey, delivery, inspection, mixed, all, got "racing"/,
      ],
      [['--bogus'], /Unknown option '--bogus'/],
    ]
    for (const [argv, message] of cases)
      assert.throws(() => parseCommand(runSpec, argv, {}), message, argv.join(' '))
    assert.throws(
      () => parseCommand(runSpec, [], { SIM_DRONES: 'many' }),
      /SIM_DRONES \(environment\) must be a number/,
    )
    assert.throws(() => parseCommand(generateSpec, ['--duration', '0'], {}), /--duration must be at least/)
    assert.throws(() => parseCommand(replaySpec, ['--speed=-1'], {}), /--speed must be at least 0/)
  })

  it('selects the command, with run as the default', () => {
    assert.deepEqual(selectCommand([]), { command: 'run', args: [] })
    assert.deepEqual(selectCommand(['--drones', '3']), { command: 'run', args: ['--drones', '3'] })
    assert.deepEqual(selectCommand(['generate', '--out', 'x']), { command: 'generate', args: ['--out', 'x'] })
    assert.equal(selectCommand(['--help']), 'help')
    assert.throws(
      () => selectCommand(['fly']),
      (err) => err instanceof ConfigError && /unknown command "fly"/.test(err.message),
    )
  })

  it('takes exactly the positional arguments a command names', () => {
    assert.deepEqual(expectPositionals(['data.jsonl'], ['<file>']), ['data.jsonl'])
    assert.throws(() => expectPositionals(['5'], []), /unexpected argument "5"/)
    assert.throws(() => expectPositionals([], ['<file>']), /missing <file>/)
  })

  it('stops at the first of --count and --duration', () => {
    assert.equal(samplesPerDrone({ rate: 10 }), Infinity)
    assert.equal(samplesPerDrone({ rate: 10, duration: 0 }), Infinity)
    assert.equal(samplesPerDrone({ rate: 10, duration: 0.3 }), 3)
    assert.equal(samplesPerDrone({ rate: 10, duration: 5, count: 20 }), 20)
    assert.equal(samplesPerDrone({ rate: 3, duration: 1.5, count: 20 }), 5)
  })

  it('takes the start time as ISO 8601 or epoch milliseconds', () => {
    assert.equal(parseStartTime('2025-01-01T00:00:00Z'), 1735689600000)
    assert.equal(parseStartTime('1735689600000'), 1735689600000)
    assert.throws(() => parseStartTime('yesterday'), /--start-time must be/)
  })
})

interface Outcome {
  code: number | null
  stdout: string
  stderr: string
}

function simulator(args: string[]): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', MAIN, ...args],
      { env: { ...process.env, LOG_FORMAT: 'json' }, timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err.code as number | undefined) ?? null) : 0, stdout, stderr }),
    )
  })
}

async function closedPort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('simulator command line', () => {
  it('rejects a bad flag with one line naming it, exit code 2', async () => {
    const outcome = await simulator(['run', '--drones', '0'])
    assert.equal(outcome.code, 2)
    assert.match(outcome.stderr, /^error: --drones must be at least 1, got 0\n/)
    assert.doesNotMatch(outcome.stderr, /\n\s+at /)
  })

  it('rejects an unknown command, exit code 2', async () => {
    const outcome = await simulator(['fly'])
    assert.equal(outcome.code, 2)
    assert.match(outcome.stderr, /unknown command "fly"/)
  })

  it('lists the commands for --help', async () => {
    const outcome = await simulator(['--help'])
    assert.equal(outcome.code, 0)
    for (const command of ['run', 'generate', 'replay'])
      assert.match(outcome.stdout, new RegExp(`^  ${command} `, 'm'))
  })

  it('generates a labeled dataset', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'simulator-cli-'))
    const file = path.join(dir, 'out.jsonl')
    try {
      const outcome = await simulator([
        'generate',
        '--drones',
        '2',
        '--rate',
        '5',
        '--duration',
        '3',
        '--out',
        file,
      ])
      assert.equal(outcome.code, 0, outcome.stderr)
      const rows = []
      for await (const row of readDataset(file)) rows.push(row)
      assert.equal(rows.length, 30)
      assert.deepEqual(new Set(rows.map((r) => r.drone_id)), new Set(['drone-0001', 'drone-0002']))
      assert.equal(rows[0]!.timestamp, Date.parse('2025-01-01T00:00:00Z'))
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('generates the same faults for a seed, byte for byte, and leaves the rest of the flight as it was', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'simulator-cli-'))
    const generate = async (name: string, faults: string) => {
      const file = path.join(dir, name)
      const args = ['generate', '--drones', '2', '--rate', '5', '--duration', '600', '--seed', '5']
      const outcome = await simulator([...args, '--faults', faults, '--profile', 'inspection', '--out', file])
      assert.equal(outcome.code, 0, outcome.stderr)
      return fs.readFileSync(file, 'utf8').split('\n')
    }
    try {
      const [faulty, again, healthy] = await Promise.all([
        generate('faulty.jsonl', 'random:60'),
        generate('again.jsonl', 'random:60'),
        generate('healthy.jsonl', 'none'),
      ])
      assert.deepEqual(again, faulty)
      assert.equal(faulty.length, healthy.length)
      const rows = faulty
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { label: number; fault: string | null })
      const labeled = rows.filter((row) => row.label === 1)
      assert.ok(labeled.length > 100, `${labeled.length} faulty records`)
      assert.ok(
        labeled.every((row) => (FAULT_TYPES as readonly (string | null)[]).includes(row.fault)),
        'each faulty record names its fault',
      )
      for (const [i, row] of rows.entries()) {
        if (row.label === 0) assert.equal(faulty[i], healthy[i], `line ${i + 1} is the healthy record`)
        else assert.notEqual(faulty[i], healthy[i])
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('rejects a bad --faults spec with one line naming the bad part, exit code 2', async () => {
    const outcome = await simulator([
      'generate',
      '--duration',
      '1',
      '--out',
      'never.jsonl',
      '--faults',
      'spike@drone-0042:t=5',
    ])
    assert.equal(outcome.code, 2)
    assert.match(
      outcome.stderr,
      /^error: --faults: "spike@drone-0042:t=5": "drone-0042" is not a drone of the fleet \(drone-0001..drone-0010\)\n/,
    )
    assert.doesNotMatch(outcome.stderr, /\n\s+at /)
    assert.ok(!fs.existsSync('never.jsonl'), 'nothing written')
  })

  it('documents the --faults grammar and the profiles in --help', async () => {
    for (const command of ['run', 'generate']) {
      const outcome = await simulator([command, '--help'])
      assert.equal(outcome.code, 0)
      for (const text of [
        'random[:<per hour>]',
        '<type>@<drone_id>:t=<s>',
        ...formatFaultCatalogue(),
        'inspection  ',
      ])
        assert.ok(outcome.stdout.includes(text), `${command} --help shows ${text}`)
    }
  })

  it('refuses a plaintext broker URL: MQTT is TLS only', async () => {
    const outcome = await simulator(['run', '--drones', '1', '--mqtt-url', 'mqtt://127.0.0.1:1883'])
    assert.equal(outcome.code, 2)
    assert.match(outcome.stderr, /--mqtt-url \(MQTT_URL\) must be an mqtts:\/\/ URL/)
  })

  it('gives up on an unreachable broker after the connect timeout, exit code 1, no stack trace', async () => {
    const port = await closedPort()
    const started = Date.now()
    const outcome = await simulator([
      'run',
      '--drones',
      '2',
      '--mqtt-url',
      `mqtts://127.0.0.1:${port}`,
      '--connect-timeout',
      '1',
    ])
    assert.equal(outcome.code, 1)
    assert.match(outcome.stdout, new RegExp(`cannot connect to mqtts://127.0.0.1:${port} within 1 s`))
    assert.doesNotMatch(outcome.stdout + outcome.stderr, /\n\s+at /)
    assert.ok(Date.now() - started < 20_000, 'bounded wait')
  })
})
