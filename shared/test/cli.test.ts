import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  ConfigError,
  formatHelp,
  parseCommand,
  parseHostPortList,
  type CommandSpec,
  type OptionSpecs,
} from '../src/cli.ts'

const SPEC = {
  usage: 'npm run demo --',
  summary: 'A demo command.',
  positionals: '<file>',
  options: {
    port: { type: 'int', description: 'HTTP port', default: 8080, min: 1, max: 65535, env: 'DEMO_PORT' },
    rate: { type: 'number', description: 'messages per second', default: 10, min: 0.5, max: 1000 },
    drones: { type: 'int', description: 'number of drones', env: 'DEMO_DRONES' },
    mode: {
      type: 'string',
      description: 'what to do',
      default: 'run',
      choices: ['run', 'check'],
      env: 'DEMO_MODE',
    },
    logFile: { type: 'string', description: 'where to log' },
    verbose: { type: 'boolean', description: 'say more', env: 'DEMO_VERBOSE' },
  },
} as const satisfies CommandSpec<OptionSpecs>

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseCommand(SPEC, argv, env)

describe('parseCommand', () => {
  it('gives every default when nothing is set', () => {
    const { options, positionals, help } = parse([])
    assert.deepEqual(options, {
      port: 8080,
      rate: 10,
      drones: undefined,
      mode: 'run',
      logFile: undefined,
      verbose: false,
    })
    assert.deepEqual(positionals, [])
    assert.equal(help, false)
  })

  it('parses int, number, string, choices and boolean flags (camelCase keys as kebab-case flags)', () => {
    const { options, positionals } = parse([
      '--port',
      '9000',
      '--rate=2.5',
      '--drones',
      '7',
      '--mode',
      'check',
      '--log-file',
      '/tmp/x.log',
      '--verbose',
      'data.jsonl',
    ])
    assert.deepEqual(options, {
      port: 9000,
      rate: 2.5,
      drones: 7,
      mode: 'check',
      logFile: '/tmp/x.log',
      verbose: true,
    })
    assert.deepEqual(positionals, ['data.jsonl'])
  })

  it('reports --help', () => {
    assert.equal(parse(['--help']).help, true)
  })

  it('rejects a value below min or above max, naming the flag', () => {
    assert.throws(() => parse(['--port', '0']), {
      name: 'ConfigError',
      message: '--port must be at least 1, got 0',
    })
    assert.throws(() => parse(['--port', '70000']), { message: '--port must be at most 65535, got 70000' })
    assert.throws(() => parse(['--rate', '0.1']), { message: '--rate must be at least 0.5, got 0.1' })
  })

  it('rejects non-numbers and fractions for int options', () => {
    assert.throws(() => parse(['--port', 'eighty']), { message: '--port must be a number, got "eighty"' })
    assert.throws(() => parse(['--port', '80.5']), { message: '--port must be a whole number, got "80.5"' })
    assert.throws(() => parse(['--rate', 'Infinity']), /--rate must be a number/)
    assert.throws(() => parse(['--port', '']), /--port must be a number, got ""/)
  })

  it('rejects a value outside choices, listing them', () => {
    assert.throws(() => parse(['--mode', 'fly']), {
      message: '--mode must be one of run, check, got "fly"',
    })
  })

  it('falls back to the environment variable', () => {
    const { options } = parse([], {
      DEMO_PORT: '9100',
      DEMO_DRONES: '3',
      DEMO_MODE: 'check',
      DEMO_VERBOSE: 'yes',
    })
    assert.equal(options.port, 9100)
    assert.equal(options.drones, 3)
    assert.equal(options.mode, 'check')
    assert.equal(options.verbose, true)
    assert.equal(parse([], { DEMO_VERBOSE: '0' }).options.verbose, false)
    assert.equal(parse([], { DEMO_VERBOSE: 'TRUE' }).options.verbose, true)
  })

  it('names the environment variable when its value is bad', () => {
    assert.throws(() => parse([], { DEMO_PORT: '99999' }), {
      name: 'ConfigError',
      message: 'DEMO_PORT (environment) must be at most 65535, got 99999',
    })
    assert.throws(() => parse([], { DEMO_DRONES: 'many' }), {
      message: 'DEMO_DRONES (environment) must be a number, got "many"',
    })
    assert.throws(
      () => parse([], { DEMO_MODE: 'fly' }),
      /^ConfigError: DEMO_MODE \(environment\) must be one of/,
    )
    assert.throws(() => parse([], { DEMO_VERBOSE: 'maybe' }), {
      message: 'DEMO_VERBOSE (environment) must be true or false, got "maybe"',
    })
  })

  it('lets a flag beat the environment variable (and skips checking the variable)', () => {
    assert.equal(parse(['--port', '9200'], { DEMO_PORT: '9100' }).options.port, 9200)
    assert.equal(parse(['--port', '9200'], { DEMO_PORT: 'garbage' }).options.port, 9200)
  })

  it('rejects an unknown flag as a ConfigError without the positional-argument hint', () => {
    assert.throws(
      () => parse(['--bogus']),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError)
        assert.match(err.message, /Unknown option '--bogus'/)
        assert.doesNotMatch(err.message, /positional/)
        return true
      },
    )
  })

  it('rejects a string flag without a value', () => {
    assert.throws(() => parse(['--mode']), ConfigError)
  })
})

describe('formatHelp', () => {
  const help = formatHelp(SPEC)
  const lines = help.split('\n')

  it('starts with usage and summary', () => {
    assert.equal(lines[0], 'Usage: npm run demo -- <file> [options]')
    assert.equal(lines[2], 'A demo command.')
    assert.equal(lines[4], 'Options:')
  })

  it('lists every flag with its value type, default, choices and environment variable', () => {
    const row = (flag: string) => {
      const found = lines.find((l) => l.trimStart().startsWith(flag + ' '))
      assert.ok(found, `no row for ${flag} in:\n${help}`)
      return found.trim()
    }
    assert.match(row('--port'), /^--port <n>\s+HTTP port \(default 8080; env DEMO_PORT\)$/)
    assert.match(row('--rate'), /^--rate <number>\s+messages per second \(default 10\)$/)
    assert.match(row('--drones'), /^--drones <n>\s+number of drones \(env DEMO_DRONES\)$/)
    assert.match(
      row('--mode'),
      /^--mode <string>\s+what to do \(one of: run, check; default run; env DEMO_MODE\)$/,
    )
    assert.match(row('--log-file'), /^--log-file <string>\s+where to log$/)
    assert.match(row('--verbose'), /^--verbose\s+say more \(env DEMO_VERBOSE\)$/)
    assert.match(row('--help'), /^--help\s+show this help$/)
  })

  it('aligns the descriptions in one column', () => {
    const optionRows = lines.slice(5).filter((l) => l.startsWith('  --'))
    assert.equal(optionRows.length, 7)
    const columns = new Set(optionRows.map((l) => l.search(/(?<=\S {2,})\S/)))
    assert.equal(columns.size, 1, help)
  })
})

describe('parseHostPortList', () => {
  it('splits, trims and drops empty items', () => {
    assert.deepEqual(parseHostPortList('kafka-1:9092, kafka-2:9092,,[::1]:9093 ', '--kafka'), [
      'kafka-1:9092',
      'kafka-2:9092',
      '[::1]:9093',
    ])
  })

  it('needs at least one item', () => {
    assert.throws(() => parseHostPortList(' , ', '--kafka'), {
      name: 'ConfigError',
      message: '--kafka must list at least one host:port',
    })
  })

  it('names the bad item', () => {
    assert.throws(() => parseHostPortList('a:1,broker', '--kafka'), {
      message: '--kafka: "broker" is not host:port',
    })
    assert.throws(() => parseHostPortList('a:0', '--kafka'), /"a:0" is not host:port/)
    assert.throws(() => parseHostPortList('a:65536', '--kafka'), /"a:65536" is not host:port/)
    assert.throws(() => parseHostPortList(':9092', '--kafka'), /":9092" is not host:port/)
  })
})
