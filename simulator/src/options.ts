/**
 * The simulator's commands and their options, parsed once at start-up (shared/cli.ts). Kept apart from
 * main.ts so tests can parse argument lists without starting anything.
 */
import { DEFAULT_CERTS_DIR } from '@drone-pipeline/shared/tls.ts'
import { ConfigError, type CommandSpec, type OptionSpecs } from '@drone-pipeline/shared/cli.ts'

const USAGE = 'npm run simulator --'

const fleetOptions = {
  drones: {
    type: 'int',
    default: 10,
    min: 1,
    max: 10000,
    env: 'SIM_DRONES',
    description: 'number of drones',
  },
  rate: {
    type: 'number',
    default: 10,
    min: 0.1,
    max: 1000,
    env: 'SIM_RATE',
    description: 'samples per second per drone (Hz)',
  },
  seed: {
    type: 'int',
    default: 42,
    env: 'SIM_SEED',
    description: 'random seed: the same seed flies the same missions',
  },
} satisfies OptionSpecs

const publishingOptions = {
  mqttUrl: {
    type: 'string',
    default: 'mqtts://127.0.0.1:8883',
    env: 'MQTT_URL',
    description: 'MQTT broker URL; TLS only (mqtts://)',
  },
  certsDir: {
    type: 'string',
    default: DEFAULT_CERTS_DIR,
    env: 'PIPELINE_CERTS_DIR',
    description:
      "certificates: ca.crt, each drone's drones/<id>.crt and .key, and simulator.crt/.key for the metrics endpoint",
  },
  connectTimeout: {
    type: 'number',
    default: 10,
    min: 0.1,
    description: 'seconds to wait for every drone to connect before giving up',
  },
  drainTimeout: {
    type: 'number',
    default: 10,
    min: 0,
    description: 'seconds to wait for outstanding acknowledgements when stopping',
  },
  metricsPort: {
    type: 'int',
    default: 0,
    min: 0,
    max: 65535,
    env: 'SIM_METRICS_PORT',
    description: 'serve Prometheus metrics on this port (0 = off)',
  },
  metricsHost: {
    type: 'string',
    default: '127.0.0.1',
    env: 'SIM_METRICS_HOST',
    description: 'address the HTTPS metrics endpoint listens on',
  },
  summaryJson: { type: 'string', description: 'also write the final summary as JSON to this file' },
  quiet: { type: 'boolean', description: 'no periodic progress lines' },
} satisfies OptionSpecs

export const runSpec = {
  usage: `${USAGE} run`,
  summary:
    'Flies a fleet of simulated drones and publishes their telemetry to MQTT (QoS 1, one connection per drone), ' +
    'paced by the wall clock. Stops after --duration or --count, or on Ctrl-C.',
  options: {
    ...fleetOptions,
    duration: { type: 'number', min: 0, description: 'seconds to run (default: until Ctrl-C; 0 = forever)' },
    count: { type: 'int', min: 1, description: 'stop after this many messages per drone' },
    datasetOut: { type: 'string', description: 'also write every published record to this labeled dataset' },
    ...publishingOptions,
  },
} satisfies CommandSpec<OptionSpecs>

/** Default first sample time of `generate`: fixed, so the same seed writes the same file. */
export const DEFAULT_START_TIME = '2025-01-01T00:00:00Z'

export const generateSpec = {
  usage: `${USAGE} generate`,
  summary: 'Simulates the fleet without a broker, as fast as possible, and writes a labeled JSONL dataset.',
  options: {
    ...fleetOptions,
    duration: { type: 'number', min: 0.001, description: 'simulated seconds (required)' },
    out: { type: 'string', description: 'dataset file to write (required)' },
    startTime: {
      type: 'string',
      default: DEFAULT_START_TIME,
      description: 'sample time of the first records, ISO 8601 or ms since the epoch',
    },
  },
} satisfies CommandSpec<OptionSpecs>

export const replaySpec = {
  usage: `${USAGE} replay`,
  positionals: '<file>',
  summary:
    'Publishes a labeled dataset to MQTT without its labels, each record on its own drone connection, ' +
    'at the pacing of its timestamps.',
  options: {
    speed: {
      type: 'number',
      default: 1,
      min: 0,
      description: 'playback speed factor (2 = twice as fast; 0 = as fast as the broker acknowledges)',
    },
    ...publishingOptions,
  },
} satisfies CommandSpec<OptionSpecs>

export const COMMANDS = {
  run: runSpec,
  generate: generateSpec,
  replay: replaySpec,
} as const
export type CommandName = keyof typeof COMMANDS

export function formatTopLevelHelp(): string {
  return [
    `Usage: ${USAGE} <command> [options]`,
    '',
    'Commands:',
    '  run        fly simulated drones and publish their telemetry to MQTT (default)',
    '  generate   write a labeled dataset without a broker, as fast as possible',
    '  replay     publish a recorded dataset at its original pacing',
    '',
    `Run ${USAGE} <command> --help for a command's options.`,
    '',
  ].join('\n')
}

/** Which command argv names, and the arguments left for it; `run` when argv starts with an option. */
export function selectCommand(argv: string[]): { command: CommandName; args: string[] } | 'help' {
  const [first, ...rest] = argv
  if (first === undefined) return { command: 'run', args: [] }
  if (first === '--help' || first === '-h' || first === 'help') return 'help'
  if (first.startsWith('-')) return { command: 'run', args: argv }
  if (first in COMMANDS) return { command: first as CommandName, args: rest }
  throw new ConfigError(`unknown command "${first}" (expected ${Object.keys(COMMANDS).join(', ')})`)
}

export function requireOption<T>(value: T | undefined, flag: string): T {
  if (value === undefined) throw new ConfigError(`${flag} is required`)
  return value
}

export function parseStartTime(text: string): number {
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text)
  if (!Number.isFinite(ms)) {
    throw new ConfigError(
      `--start-time must be an ISO 8601 time or milliseconds since the epoch, got "${text}"`,
    )
  }
  return ms
}

/** Exactly the positional arguments a command names; a stray word (a typo such as `run 5`) is an error. */
export function expectPositionals(positionals: string[], names: readonly string[]): string[] {
  if (positionals.length > names.length)
    throw new ConfigError(`unexpected argument "${positionals[names.length]}"`)
  if (positionals.length < names.length) throw new ConfigError(`missing ${names[positionals.length]}`)
  return positionals
}

/** Samples each drone sends before stopping: the smaller of --count and --duration × --rate. */
export function samplesPerDrone(options: { count?: number; duration?: number; rate: number }): number {
  const byDuration = options.duration ? Math.ceil(options.duration * options.rate - 1e-9) : Infinity
  return Math.min(options.count ?? Infinity, byDuration)
}
