/**
 * The simulator's commands and their options, parsed once at start-up (shared/cli.ts). Kept apart from
 * main.ts so tests can parse argument lists without starting anything.
 */
import { DEFAULT_CERTS_DIR } from '@drone-pipeline/shared/tls.ts'
import { ConfigError, type CommandSpec, type OptionSpecs } from '@drone-pipeline/shared/cli.ts'
import {
  DEFAULT_FAULTS_PER_HOUR,
  canHit,
  FAULT_CATALOGUE,
  FAULT_TYPES,
  faultWindow,
  groupOf,
  isSensor,
  magnitudeUnit,
  MAX_FAULTS_PER_HOUR,
  SENSOR_FIELDS,
  SENSOR_GROUPS,
  WARMUP_S,
  type FaultPlan,
  type FaultRequest,
  type PlannedFault,
  type FaultType,
  type Range,
  type Sensor,
  type SensorGroup,
} from './faults.ts'
import { FLIGHT_PROFILES, type FlightProfile, type FlightProfileName } from './flight.ts'

const USAGE = 'npm run simulator --'

/** A fleet of several kinds of drone: the profiles it cycles through, one per drone. */
export const MIXED_PROFILE = 'mixed'
/** A fleet flying every kind of mission, one profile per drone in turn: what a detector trains on. */
export const ALL_PROFILES = 'all'

export const fleetOptionSpecs = {
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
    description: 'random seed: the same seed flies the same missions and injects the same faults',
  },
  profile: {
    type: 'string',
    default: 'survey',
    choices: [...Object.keys(FLIGHT_PROFILES), MIXED_PROFILE, ALL_PROFILES],
    env: 'SIM_PROFILE',
    description: 'the kind of missions the drones fly (see above)',
  },
  faults: {
    type: 'string',
    default: 'none',
    env: 'SIM_FAULTS',
    description: 'sensor faults to inject, labeled in the dataset (see above)',
  },
} satisfies OptionSpecs

const PROFILE_HELP: Record<FlightProfileName | typeof MIXED_PROFILE | typeof ALL_PROFILES, string> = {
  survey: 'mapping around home: 4-15 m/s, 20-120 m, 3-5 waypoints, one hover at the end',
  delivery: 'parcel drops: 12-20 m/s, 80-120 m, 1-2 legs of 500 m to 2 km, a short hover at the drop',
  inspection: 'close inspection: 1-4 m/s, 5-30 m, 4-8 short legs, a hover and camera pan at every waypoint',
  mixed: 'delivery and inspection drones in turn (drone-0001 delivery, drone-0002 inspection, ...)',
  all: 'every profile in turn (drone-0001 survey, drone-0002 delivery, drone-0003 inspection, ...)',
}

const formatRange = ([min, max]: Range, unit: string): string =>
  unit === '×' ? `×${min}..${max}` : `${min}..${max} ${unit}`

/** One line per fault type: its durations, and the sensors it hits with the range of its magnitude on each. */
export function formatFaultCatalogue(): string[] {
  return FAULT_TYPES.map((type) => {
    const kind = FAULT_CATALOGUE[type]
    const duration = `dur ${formatRange(kind.durationS, 's')} (default ${kind.defaultDurationS})`
    const ranges = Object.entries(kind.sensors)
    const sensors = ranges.every(([, range]) => range === null)
      ? `sensor ${ranges.map(([group]) => group).join(', ')} (no mag)`
      : `mag on ${ranges.map(([group, range]) => `${group} ${formatRange(range!, magnitudeUnit(type, group as SensorGroup))}`).join(', ')}`
    const excluded = kind.excluded ? ` (not ${kind.excluded.join(', ')})` : ''
    return `${type.padEnd(12)}${duration}; ${sensors}${excluded}`
  })
}

const FAULT_ITEM = '<type>@<drone_id>:t=<s>[:dur=<s>][:sensor=<name>][:mag=<x>]'

const FLEET_HELP = [
  '',
  'Flight profiles (--profile):',
  ...Object.entries(PROFILE_HELP).map(([name, text]) => `  ${name.padEnd(12)}${text}`),
  '',
  'Faults (--faults; docs/fault-catalogue.md): records a fault affects get label 1 and fault <type>.',
  '  none                  healthy flight (default)',
  `  random[:<per hour>]   faults at random times on every drone, ${DEFAULT_FAULTS_PER_HOUR} per drone-hour unless`,
  `                        given (at most ${MAX_FAULTS_PER_HOUR}); none in the first ${WARMUP_S} s, healthy gaps between them`,
  `  ${FAULT_ITEM}[,...]`,
  "                        explicit faults; t and dur in seconds since the drone's first sample",
  '  sensors: accel, gyro (an axis at random), accel_x|y|z, gyro_x|y|z, altitude, velocity, gps',
  '  a left-out sensor or mag is drawn from the seed; a negative mag offsets a scalar sensor downwards',
  ...formatFaultCatalogue().map((line) => `  ${line}`),
  '  e.g. spike@drone-0002:t=60:sensor=gyro_x:mag=2,freeze@drone-0003:t=120:dur=10:sensor=altitude',
].join('\n')

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
    'paced by the wall clock; the drones are not in lockstep (each period, drone j of n publishes j/n of the period after the first). Stops after --duration or --count, or on Ctrl-C.\n' +
    FLEET_HELP,
  options: {
    ...fleetOptionSpecs,
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
  summary:
    'Simulates the fleet without a broker, as fast as possible, and writes a labeled JSONL dataset.\n' +
    FLEET_HELP,
  options: {
    ...fleetOptionSpecs,
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

/** The profiles of a fleet, one per drone in turn. */
export const flightProfiles = (name: string): FlightProfile[] =>
  name === MIXED_PROFILE
    ? [FLIGHT_PROFILES.delivery, FLIGHT_PROFILES.inspection]
    : name === ALL_PROFILES
      ? [FLIGHT_PROFILES.survey, FLIGHT_PROFILES.delivery, FLIGHT_PROFILES.inspection]
      : [FLIGHT_PROFILES[name as FlightProfileName]]

const faultsError = (message: string): ConfigError => new ConfigError(`--faults: ${message}`)

function parseNumber(text: string, what: string): number {
  const value = Number(text)
  if (text.trim() === '' || !Number.isFinite(value))
    throw faultsError(`${what} must be a number, got "${text}"`)
  return value
}

function checkRange(value: number, range: Range, unit: string, what: string): void {
  if (value < range[0] || value > range[1])
    throw faultsError(`${what} is outside ${formatRange(range, unit)}`)
}

const SENSOR_NAMES: readonly string[] = [...SENSOR_GROUPS, ...Object.keys(SENSOR_FIELDS)]
const groupOfTarget = (target: Sensor | SensorGroup): SensorGroup =>
  isSensor(target) ? groupOf(target) : target

/** `mag`, checked against the range of the named sensor, or when none is named, the range all the type's sensors share. */
function parseMagnitude(mag: string, request: FaultRequest, item: string): number {
  const { type, sensor } = request
  const groups = sensor
    ? [groupOfTarget(sensor)]
    : (Object.keys(FAULT_CATALOGUE[type].sensors) as SensorGroup[])
  const ranges = new Set(groups.map((group) => FAULT_CATALOGUE[type].sensors[group]))
  const [range] = ranges
  if (!range) throw faultsError(`"${item}": ${type} takes no mag`)
  if (ranges.size > 1) throw faultsError(`"${item}": mag needs a sensor=, as its unit depends on the sensor`)
  const magnitude = parseNumber(mag, `"${item}": mag`)
  const what = sensor ? `${type} on ${groups[0]}` : type
  // Only an offset on a scalar sensor has a sign; a GPS offset has a bearing, a noise factor none.
  const signed = (type === 'spike' || type === 'drift') && !groups.includes('gps')
  if (magnitude < 0 && !signed) throw faultsError(`"${item}": mag must be positive for ${what}`)
  checkRange(Math.abs(magnitude), range, magnitudeUnit(type, groups[0]!), `"${item}": mag=${mag} for ${what}`)
  return magnitude
}

function parseFaultItem(item: string, droneIds: readonly string[]): PlannedFault {
  const [head = '', ...params] = item.split(':')
  const at = head.indexOf('@')
  if (at < 0) throw faultsError(`"${item}" is not ${FAULT_ITEM}`)
  const type = head.slice(0, at) as FaultType
  const droneId = head.slice(at + 1)
  if (!FAULT_TYPES.includes(type))
    throw faultsError(`"${item}": unknown fault type "${type}" (expected ${FAULT_TYPES.join(', ')})`)
  if (!droneIds.includes(droneId)) {
    const fleet = `${droneIds[0]}..${droneIds[droneIds.length - 1]}`
    throw faultsError(`"${item}": "${droneId}" is not a drone of the fleet (${fleet})`)
  }
  const kind = FAULT_CATALOGUE[type]
  const values = new Map<string, string>()
  for (const param of params) {
    const separator = param.indexOf('=')
    const key = param.slice(0, separator)
    if (separator < 0) throw faultsError(`"${item}": "${param}" is not key=value`)
    if (!['t', 'dur', 'sensor', 'mag'].includes(key))
      throw faultsError(`"${item}": unknown parameter "${key}" (expected t, dur, sensor, mag)`)
    if (values.has(key)) throw faultsError(`"${item}": ${key} is given twice`)
    values.set(key, param.slice(separator + 1))
  }
  const t = values.get('t')
  if (t === undefined) throw faultsError(`"${item}": t=<seconds> is required`)
  const startS = parseNumber(t, `"${item}": t`)
  if (startS < 0) throw faultsError(`"${item}": t must be at least 0, got ${t}`)
  const request: PlannedFault = {
    droneId,
    type,
    startS,
    durationS: kind.defaultDurationS,
  }
  const dur = values.get('dur')
  if (dur !== undefined) {
    request.durationS = parseNumber(dur, `"${item}": dur`)
    checkRange(request.durationS, kind.durationS, 's', `"${item}": dur=${dur} for ${type}`)
  }
  const sensor = values.get('sensor')
  if (sensor !== undefined) {
    if (!SENSOR_NAMES.includes(sensor))
      throw faultsError(`"${item}": unknown sensor "${sensor}" (expected ${SENSOR_NAMES.join(', ')})`)
    request.sensor = sensor as Sensor | SensorGroup
    if (
      !(groupOfTarget(request.sensor) in kind.sensors) ||
      (isSensor(request.sensor) && !canHit(kind, request.sensor))
    ) {
      const allowed =
        Object.keys(kind.sensors).join(', ') + (kind.excluded ? `, not ${kind.excluded.join(', ')}` : '')
      throw faultsError(`"${item}": ${type} cannot hit ${sensor} (it hits ${allowed})`)
    }
  }
  const mag = values.get('mag')
  if (mag !== undefined) request.magnitude = parseMagnitude(mag, request, item)
  return request
}

/**
 * The --faults option into a plan for a fleet of `droneIds` sampled at `rateHz`. Explicit faults on one
 * drone may not share a sample: each record carries a single fault label.
 */
export function parseFaults(text: string, droneIds: readonly string[], rateHz: number): FaultPlan {
  if (text === 'none') return { kind: 'none' }
  const random = /^random(?::(.*))?$/.exec(text)
  if (random) {
    const perHour = random[1] === undefined ? DEFAULT_FAULTS_PER_HOUR : Number(random[1])
    if (!(perHour > 0 && perHour <= MAX_FAULTS_PER_HOUR))
      throw faultsError(
        `"${text}": faults per drone-hour must be a number above 0 and at most ${MAX_FAULTS_PER_HOUR}`,
      )
    return { kind: 'random', perHour }
  }
  const faults = text.split(',').map((item, i) => {
    if (item === '') throw faultsError(`fault ${i + 1} of "${text}" is empty`)
    return { item, ...parseFaultItem(item, droneIds) }
  })
  const byStart = [...faults].sort((a, b) => a.startS - b.startS)
  for (const [i, fault] of byStart.entries()) {
    const clash = byStart
      .slice(0, i)
      .find(
        (earlier) =>
          earlier.droneId === fault.droneId &&
          faultWindow(earlier, rateHz).end > faultWindow(fault, rateHz).first,
      )
    if (clash) throw faultsError(`"${clash.item}" and "${fault.item}" overlap on ${fault.droneId}`)
  }
  return { kind: 'list', faults: faults.map(({ item: _item, ...request }) => request) }
}
