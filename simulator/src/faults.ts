/**
 * Sensor faults with ground truth: a drone's clean samples go in, in order from seq 0, and come out
 * labeled, those inside a fault's window distorted. Pure: no clock, no I/O, randomness only from the
 * Random passed in. docs/fault-catalogue.md explains each fault and why its ranges are what they are.
 *
 * Times are seconds since the drone's first sample, and a fault covers whole samples: those whose
 * sample time lies in [start, start + duration), or the first sample after the start when that
 * interval holds none. Exactly those records are labeled 1 with the fault's type.
 */
import type { DroneTelemetry } from '@drone-pipeline/shared/generated/drone-telemetry.ts'
import type { Random } from '@drone-pipeline/shared/random.ts'
import { offsetGeoPoint, SENSOR_NOISE, type Measurements } from './flight.ts'

export const FAULT_TYPES = ['spike', 'freeze', 'drift', 'gps_jump', 'noise_burst'] as const
export type FaultType = (typeof FAULT_TYPES)[number]

/** What a fault can hit: one axis of a three-axis sensor, or one whole sensor. */
export const SENSOR_FIELDS = {
  accel_x: ['acceleration_x'],
  accel_y: ['acceleration_y'],
  accel_z: ['acceleration_z'],
  gyro_x: ['gyro_x'],
  gyro_y: ['gyro_y'],
  gyro_z: ['gyro_z'],
  altitude: ['altitude'],
  velocity: ['velocity'],
  gps: ['latitude', 'longitude'],
} as const satisfies Record<string, readonly (keyof Measurements)[]>
export type Sensor = keyof typeof SENSOR_FIELDS

export const SENSOR_GROUPS = ['accel', 'gyro', 'altitude', 'velocity', 'gps'] as const
export type SensorGroup = (typeof SENSOR_GROUPS)[number]

/** The unit of an offset on each sensor group; on gps, metres over the ground. */
const GROUP_UNITS: Record<SensorGroup, string> = {
  accel: 'm/s²',
  gyro: 'rad/s',
  altitude: 'm',
  velocity: 'm/s',
  gps: 'm',
}

export const isSensor = (name: string): name is Sensor => Object.hasOwn(SENSOR_FIELDS, name)
export const groupOf = (sensor: Sensor): SensorGroup => sensor.replace(/_[xyz]$/, '') as SensorGroup
const sensorsIn = (group: SensorGroup): Sensor[] =>
  (Object.keys(SENSOR_FIELDS) as Sensor[]).filter((sensor) => groupOf(sensor) === group)

/** Inclusive bounds of a parameter; random faults draw it log-uniformly between them. */
export type Range = readonly [min: number, max: number]

interface FaultKind {
  /** The sensor groups it hits, each with the range of the fault's magnitude there (null: none). */
  sensors: Partial<Record<SensorGroup, Range | null>>
  durationS: Range
  /** Duration of an explicitly requested fault that names none. */
  defaultDurationS: number
  /** Axes of those groups it never hits. */
  excluded?: readonly Sensor[]
}

/** A noise burst's magnitude is the factor on the noise's standard deviation, the same on any sensor. */
const NOISE_FACTOR: Range = [2, 20]

export const FAULT_CATALOGUE: Record<FaultType, FaultKind> = {
  spike: {
    sensors: { accel: [1, 15], gyro: [0.5, 3], altitude: [0.5, 20], velocity: [1, 10] },
    durationS: [0.1, 0.5],
    defaultDurationS: 0.2,
  },
  freeze: {
    sensors: { accel: null, gyro: null, altitude: null, velocity: null, gps: null },
    durationS: [1, 60],
    defaultDurationS: 10,
  },
  drift: {
    sensors: { accel: [1, 10], gyro: [0.05, 0.5], velocity: [1, 5] },
    durationS: [20, 300],
    defaultDurationS: 60,
    excluded: ['gyro_z'],
  },
  gps_jump: {
    sensors: { gps: [3, 300] },
    durationS: [2, 60],
    defaultDurationS: 10,
  },
  noise_burst: {
    sensors: {
      accel: NOISE_FACTOR,
      gyro: NOISE_FACTOR,
      altitude: NOISE_FACTOR,
      velocity: NOISE_FACTOR,
      gps: NOISE_FACTOR,
    },
    durationS: [2, 60],
    defaultDurationS: 10,
  },
}

export const magnitudeUnit = (type: FaultType, group: SensorGroup): string =>
  type === 'noise_burst' ? '×' : GROUP_UNITS[group]

/** One fault, every parameter fixed. */
export interface Fault {
  type: FaultType
  sensor: Sensor
  startS: number
  durationS: number
  /**
   * Size, >= 0, in the unit of the sensor's group: the offset of a spike or a GPS jump, the offset a
   * drift reaches on its last sample, the factor on the noise of a noise burst; 0 for a freeze.
   */
  magnitude: number
  /** Which way an offset points: +1 or -1 on a scalar sensor, a bearing on gps (rad clockwise from north). */
  direction: number
}

/** A fault as asked for; what it leaves out is drawn from the catalogue. */
export interface FaultRequest {
  type: FaultType
  startS: number
  durationS?: number
  /** A group leaves the axis to chance. */
  sensor?: Sensor | SensorGroup
  /** Signed on a scalar sensor, where the sign is the direction. */
  magnitude?: number
}

/** An explicitly requested fault: on one drone, for a stated time. */
export interface PlannedFault extends FaultRequest {
  droneId: string
  durationS: number
}

export type FaultPlan =
  | { kind: 'none' }
  /** Every drone gets faults at random times, `perHour` per hour of flight on average. */
  | { kind: 'random'; perHour: number }
  | { kind: 'list'; faults: readonly PlannedFault[] }

const pick = <T>(random: Random, items: readonly T[]): T => items[random.int(items.length)]!

// Log-uniform, so that every factor of ten in a range gets as many faults: the small, hard-to-see end
// is as well represented as the obvious one.
const logUniform = (random: Random, [min, max]: Range): number =>
  Math.exp(random.uniform(Math.log(min), Math.log(max)))

/** Whether a fault of this kind can hit the sensor (axis). */
export const canHit = (kind: FaultKind, sensor: Sensor): boolean =>
  groupOf(sensor) in kind.sensors && !kind.excluded?.includes(sensor)

export function resolveFault(request: FaultRequest, random: Random): Fault {
  const kind = FAULT_CATALOGUE[request.type]
  const target = request.sensor ?? pick(random, Object.keys(kind.sensors) as SensorGroup[])
  const sensor = isSensor(target)
    ? target
    : pick(
        random,
        sensorsIn(target).filter((s) => canHit(kind, s)),
      )
  const range = kind.sensors[groupOf(sensor)] ?? null
  const durationS = request.durationS ?? logUniform(random, kind.durationS)
  const asked = request.magnitude
  const magnitude = asked !== undefined ? Math.abs(asked) : range ? logUniform(random, range) : 0
  let direction: number
  if (sensor === 'gps') direction = random.uniform(-Math.PI, Math.PI)
  else if (asked !== undefined) direction = asked < 0 ? -1 : 1
  else direction = random.next() < 0.5 ? -1 : 1
  return { type: request.type, sensor, startS: request.startS, durationS, magnitude, direction }
}

/** Random faults never start earlier, so per-drone history (the detector's, for one) can warm up, s. */
export const WARMUP_S = 30
/** The shortest healthy flight between two random faults of a drone, s. */
export const MIN_HEALTHY_GAP_S = 10

const logUniformMean = ([min, max]: Range): number => (max - min) / Math.log(max / min)
const MEAN_DURATION_S =
  FAULT_TYPES.reduce((sum, type) => sum + logUniformMean(FAULT_CATALOGUE[type].durationS), 0) /
  FAULT_TYPES.length

export const DEFAULT_FAULTS_PER_HOUR = 12
/** As many random faults per drone-hour as fit, on average, with the healthy gaps between them. */
export const MAX_FAULTS_PER_HOUR = Math.floor(3600 / (MEAN_DURATION_S + MIN_HEALTHY_GAP_S))

/**
 * A drone's random faults, in time order and without end (a live fleet flies until stopped). Types are
 * drawn uniformly. Starts are on average 3600 / perHour s apart: a fault, the minimum healthy gap and an
 * exponentially distributed rest, which keeps them from coming at a regular beat.
 */
export function* randomFaults(random: Random, perHour: number): Generator<Fault> {
  const meanRest = Math.max(0, 3600 / perHour - MEAN_DURATION_S - MIN_HEALTHY_GAP_S)
  const rest = (): number => -meanRest * Math.log(1 - random.next())
  let startS = WARMUP_S + rest()
  for (;;) {
    const fault = resolveFault({ type: pick(random, FAULT_TYPES), startS }, random)
    yield fault
    startS += fault.durationS + MIN_HEALTHY_GAP_S + rest()
  }
}

/** The faults `plan` gives one drone, in time order. */
export function faultsFor(plan: FaultPlan, droneId: string, random: Random): Iterable<Fault> {
  switch (plan.kind) {
    case 'none':
      return []
    case 'random':
      return randomFaults(random, plan.perHour)
    case 'list':
      return plan.faults
        .filter((request) => request.droneId === droneId)
        .sort((a, b) => a.startS - b.startS)
        .map((request) => resolveFault(request, random))
  }
}

/** The samples a fault covers: seq `first` up to, not including, `end`. */
export interface FaultWindow {
  first: number
  end: number
}

export function faultWindow(fault: Pick<Fault, 'startS' | 'durationS'>, rateHz: number): FaultWindow {
  // The tolerance keeps a start on a sample time, such as 60.2 s at 10 Hz, from rounding past it.
  const sampleAtOrAfter = (seconds: number): number => Math.ceil(seconds * rateHz - 1e-9)
  const first = sampleAtOrAfter(fault.startS)
  return { first, end: Math.max(first + 1, sampleAtOrAfter(fault.startS + fault.durationS)) }
}

export interface LabeledSample {
  record: DroneTelemetry
  label: 0 | 1
  fault: FaultType | null
}

/** Turns one drone's clean samples, every one in seq order, into labeled ones. */
export type FaultInjector = (clean: DroneTelemetry) => LabeledSample

/** The white part of each sensor's noise in flight.ts: the part a noise burst multiplies. */
const WHITE_NOISE: Record<SensorGroup, number> = {
  accel: SENSOR_NOISE.accel,
  gyro: SENSOR_NOISE.gyro,
  altitude: SENSOR_NOISE.altitudeJitter,
  velocity: SENSOR_NOISE.speed,
  gps: SENSOR_NOISE.gpsJitter,
}

/** `record` with the fields of `sensor` moved by `size` in the fault's direction. */
function offset(record: DroneTelemetry, fault: Fault, size: number): DroneTelemetry {
  if (fault.sensor === 'gps') {
    const east = size * Math.sin(fault.direction)
    const north = size * Math.cos(fault.direction)
    return { ...record, ...offsetGeoPoint(record, east, north) }
  }
  const [field] = SENSOR_FIELDS[fault.sensor]
  const value = record[field] + fault.direction * size
  // A ground speed is the length of a velocity vector: an offset that would make it negative folds back.
  return { ...record, [field]: fault.sensor === 'velocity' ? Math.abs(value) : value }
}

/** `record` with extra white noise, so the sensor's noise has `factor` times its usual deviation. */
function addNoise(record: DroneTelemetry, sensor: Sensor, factor: number, random: Random): DroneTelemetry {
  const sd = WHITE_NOISE[groupOf(sensor)] * Math.sqrt(factor ** 2 - 1)
  if (sensor === 'gps')
    return { ...record, ...offsetGeoPoint(record, random.normal(0, sd), random.normal(0, sd)) }
  // As in flight.ts, speed is the length of a noisy velocity: noise along the track and across it.
  if (sensor === 'velocity')
    return { ...record, velocity: Math.hypot(record.velocity + random.normal(0, sd), random.normal(0, sd)) }
  const [field] = SENSOR_FIELDS[sensor]
  return { ...record, [field]: record[field] + random.normal(0, sd) }
}

function copyFields(from: DroneTelemetry, to: DroneTelemetry, sensor: Sensor): DroneTelemetry {
  const copy = { ...to }
  for (const field of SENSOR_FIELDS[sensor]) copy[field] = from[field]
  return copy
}

/**
 * `faults` must come in time order without overlapping. `random` feeds the noise of noise bursts; the
 * clean samples' own streams are never touched, so records outside fault windows stay exactly as they
 * would be without faults.
 */
export function createFaultInjector(faults: Iterable<Fault>, random: Random, rateHz: number): FaultInjector {
  const upcoming = faults[Symbol.iterator]()
  const nextFault = (): (Fault & FaultWindow) | undefined => {
    const step = upcoming.next()
    return step.done ? undefined : { ...step.value, ...faultWindow(step.value, rateHz) }
  }
  let active = nextFault()
  /** The record published last. */
  let previous: DroneTelemetry | undefined
  /** What the active freeze keeps repeating: the record published just before it began. */
  let frozen: DroneTelemetry | undefined

  function distort(fault: Fault & FaultWindow, clean: DroneTelemetry): DroneTelemetry {
    switch (fault.type) {
      case 'spike':
      case 'gps_jump':
        return offset(clean, fault, fault.magnitude)
      case 'drift':
        // From 0 just before the window to the full magnitude on its last sample.
        return offset(
          clean,
          fault,
          (fault.magnitude * (clean.seq - fault.first + 1)) / (fault.end - fault.first),
        )
      case 'freeze':
        frozen ??= previous ?? clean
        return copyFields(frozen, clean, fault.sensor)
      case 'noise_burst':
        return addNoise(clean, fault.sensor, fault.magnitude, random)
    }
  }

  return (clean) => {
    while (active && clean.seq >= active.end) {
      active = nextFault()
      frozen = undefined
    }
    const fault = active && clean.seq >= active.first ? active : undefined
    const record = fault ? distort(fault, clean) : clean
    previous = record
    return fault ? { record, label: 1, fault: fault.type } : { record, label: 0, fault: null }
  }
}
