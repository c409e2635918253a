/**
 * Per-drone, order-aware features. A fault shows up less in one reading than in how a reading
 * relates to the same drone's previous one and to its own recent behaviour, so each feature compares
 * the record with the drone's state, and `nextFeatures` is a pure step (state, record) ->
 * (next state, features) that the live detector and the offline commands share.
 *
 * Every feature is >= 0 and finite. A feature that a record gives no basis for (a drone's first
 * record, one after a long gap, a redelivered one, running statistics still warming up) is 0 and
 * marked unknown, and `fillUnknown` replaces it with a typical value before scoring.
 */
import type { DroneTelemetry } from '@drone-pipeline/shared/generated/drone-telemetry.ts'

const INERTIAL = ['acceleration_x', 'acceleration_y', 'acceleration_z', 'gyro_x', 'gyro_y', 'gyro_z'] as const
const SENSORS = ['latitude', 'longitude', 'altitude', 'velocity', ...INERTIAL] as const
const FIRST_INERTIAL = SENSORS.length - INERTIAL.length
const LATITUDE = SENSORS.indexOf('latitude')
const LONGITUDE = SENSORS.indexOf('longitude')
const ALTITUDE = SENSORS.indexOf('altitude')
const VELOCITY = SENSORS.indexOf('velocity')
const ACCELERATION_X = SENSORS.indexOf('acceleration_x')
const GYRO_X = SENSORS.indexOf('gyro_x')

/**
 * Signals whose running mean and variance the state tracks, in the order they become observable:
 * each inertial axis's reading (always); the change of altitude and of velocity since the previous
 * sample (when the record follows on from it; differenced, because a climb or a speed-up moves the
 * level but not the size of the steps); and the two consistency errors (when time has also passed).
 */
const TRACKED = [
  ...INERTIAL,
  'altitude_change',
  'velocity_change',
  'gps_speed_error',
  'accel_speed_error',
] as const
const ALTITUDE_CHANGE = TRACKED.indexOf('altitude_change')
const VELOCITY_CHANGE = TRACKED.indexOf('velocity_change')
const GPS_SPEED_ERROR = TRACKED.indexOf('gps_speed_error')
const ACCEL_SPEED_ERROR = TRACKED.indexOf('accel_speed_error')
/**
 * Typical noise of each TRACKED signal in its unit (m/s^2, rad/s, m, m/s): after an unusually quiet
 * spell, ordinary noise should not become a huge z-score.
 */
const STD_FLOOR = [0.01, 0.01, 0.01, 0.001, 0.001, 0.001, 0.01, 0.01, 0.1, 0.01] as const

/**
 * Feature names in vector order; a model records them and refuses to load if they change.
 *
 * An Isolation Forest draws split attributes uniformly, and a value beyond the training range is
 * isolated no faster than the most extreme training value of that attribute. A fault is therefore
 * found when it is extreme in several features at once, while ordinary noise is extreme in one at a
 * time. So each sensor is seen several ways (its change, its deviation from the drone's own
 * history, its agreement with other sensors), a three-axis sensor is one sensor rather than three
 * attributes that would each carry a third of its weight, and zscore_max carries every deviation.
 */
export const FEATURE_NAMES = [
  // |change| since the previous sample (vector norm for three-axis sensors): spikes and jumps.
  'delta_position_m',
  'delta_altitude_m',
  'delta_velocity_mps',
  'delta_acceleration_mps2',
  'delta_gyro_radps',
  // Physical consistency, m/s: GPS-derived speed vs reported speed, and the change of speed vs
  // what the forward accelerometer implies. A lying sensor disagrees with the others.
  'gps_speed_error_mps',
  'accel_speed_error_mps',
  // |signal - recent mean| / recent std against the drone's own exponentially weighted history
  // (the largest over a three-axis sensor's axes), and the largest of them all.
  'zscore_acceleration',
  'zscore_gyro',
  'zscore_altitude_change',
  'zscore_velocity_change',
  'zscore_gps_speed_error',
  'zscore_accel_speed_error',
  'zscore_max',
  // Consecutive samples that repeated the previous value exactly: real sensors are never that still.
  'repeat_position',
  'repeat_altitude',
  'repeat_velocity',
  'repeat_acceleration',
  'repeat_gyro',
] as const

export type FeatureName = (typeof FEATURE_NAMES)[number]

const feature = (name: FeatureName): number => FEATURE_NAMES.indexOf(name)
const DELTA_POSITION = feature('delta_position_m')
const DELTA_ALTITUDE = feature('delta_altitude_m')
const DELTA_VELOCITY = feature('delta_velocity_mps')
const DELTA_ACCELERATION = feature('delta_acceleration_mps2')
const DELTA_GYRO = feature('delta_gyro_radps')
const GPS_SPEED_ERROR_FEATURE = feature('gps_speed_error_mps')
const ACCEL_SPEED_ERROR_FEATURE = feature('accel_speed_error_mps')
const ZSCORE_MAX = feature('zscore_max')
/** The feature each TRACKED signal's z-score goes to, in TRACKED order. */
const ZSCORE_OF_TRACKED = (
  [
    'zscore_acceleration',
    'zscore_acceleration',
    'zscore_acceleration',
    'zscore_gyro',
    'zscore_gyro',
    'zscore_gyro',
    'zscore_altitude_change',
    'zscore_velocity_change',
    'zscore_gps_speed_error',
    'zscore_accel_speed_error',
  ] as const
).map(feature)
const REPEAT_POSITION = feature('repeat_position')
const REPEAT_ALTITUDE = feature('repeat_altitude')
const REPEAT_VELOCITY = feature('repeat_velocity')
const REPEAT_ACCELERATION = feature('repeat_acceleration')
const REPEAT_GYRO = feature('repeat_gyro')
const DELTAS = [DELTA_POSITION, DELTA_ALTITUDE, DELTA_VELOCITY, DELTA_ACCELERATION, DELTA_GYRO]
const REPEATS = [REPEAT_POSITION, REPEAT_ALTITUDE, REPEAT_VELOCITY, REPEAT_ACCELERATION, REPEAT_GYRO]

/**
 * Past this gap the previous sample says nothing about the next one (a restart, a link outage), so
 * the stream is treated as starting afresh. Far longer than any telemetry interval.
 */
export const MAX_GAP_MS = 10_000

/** Weight of the newest value in the running mean and variance: a memory of about 20 samples. */
const EW_ALPHA = 0.1
/** A z-score stays 0 until its running variance has seen enough values to mean something. */
const WARMUP_SAMPLES = 10
/** Upper bound on any feature, so garbage input still yields a finite (and extreme) vector. */
const FEATURE_CAP = 1e9
const EARTH_RADIUS_M = 6_371_008.8
const RADIANS = Math.PI / 180

export interface DroneState {
  readonly seq: number
  readonly timestamp: number
  /** The last reading of each of SENSORS. */
  readonly last: Float64Array
  /** How many consecutive samples each of SENSORS has repeated exactly, up to the last reading. */
  readonly repeats: Float64Array
  /** Exponentially weighted mean and variance of each TRACKED signal, and how many values each has seen. */
  readonly mean: Float64Array
  readonly variance: Float64Array
  readonly count: Float64Array
}

export interface FeatureStep {
  state: DroneState
  /** One value per FEATURE_NAMES entry; 0 where not known. */
  features: Float64Array
  /** 1 where the feature was computed, 0 where the record gave no basis for it. */
  known: Uint8Array
}

/**
 * Replaces the step's unknown features with `typical` values (the model's training medians) and
 * returns its features. 0 would be a poor stand-in: an Isolation Forest isolates a vector that is
 * at the bottom of every feature's range at once, so every drone's first record would be an anomaly.
 */
export function fillUnknown(step: FeatureStep, typical: ArrayLike<number>): Float64Array {
  for (let i = 0; i < FEATURE_NAMES.length; i++) if (step.known[i] === 0) step.features[i] = typical[i]!
  return step.features
}

/** Features of `record` given the drone's state before it, and the state after it. Pure. */
export function nextFeatures(state: DroneState | undefined, record: DroneTelemetry): FeatureStep {
  const reading = new Float64Array(SENSORS.length)
  for (let i = 0; i < SENSORS.length; i++) reading[i] = record[SENSORS[i]!]
  const elapsedMs = state ? record.timestamp - state.timestamp : 0
  const follows = state !== undefined && record.seq === state.seq + 1 && elapsedMs <= MAX_GAP_MS

  const signals = new Float64Array(TRACKED.length)
  signals.set(reading.subarray(FIRST_INERTIAL))
  // TRACKED signals [0, observed) have a value for this record.
  let observed: number = INERTIAL.length
  let distanceM = 0
  if (follows) {
    const last = state.last
    distanceM = groundDistanceM(last[LATITUDE]!, last[LONGITUDE]!, reading[LATITUDE]!, reading[LONGITUDE]!)
    signals[ALTITUDE_CHANGE] = reading[ALTITUDE]! - last[ALTITUDE]!
    signals[VELOCITY_CHANGE] = reading[VELOCITY]! - last[VELOCITY]!
    observed = GPS_SPEED_ERROR
    // Rates need time to have passed; a repeated or backwards timestamp leaves them neutral.
    if (elapsedMs > 0) {
      const dt = elapsedMs / 1000
      signals[GPS_SPEED_ERROR] = Math.abs(distanceM / dt - (last[VELOCITY]! + reading[VELOCITY]!) / 2)
      // Near-level flight along the heading: forward specific force is the rate of change of speed.
      const forwardAcceleration = (last[ACCELERATION_X]! + reading[ACCELERATION_X]!) / 2
      signals[ACCEL_SPEED_ERROR] = Math.abs(signals[VELOCITY_CHANGE]! - forwardAcceleration * dt)
      observed = TRACKED.length
    }
  }

  const features = new Float64Array(FEATURE_NAMES.length)
  const known = new Uint8Array(FEATURE_NAMES.length)
  if (state) writeZScores(state, signals, observed, features, known)
  // At-least-once delivery can hand us a record again; it neither compares with nor moves the
  // state. A lower seq with a later timestamp is a restarted drone instead, and starts afresh.
  if (state && record.seq <= state.seq && record.timestamp <= state.timestamp) {
    return { state, features: bounded(features), known }
  }

  const repeats = new Float64Array(SENSORS.length)
  if (follows) {
    const last = state.last
    features[DELTA_POSITION] = distanceM
    features[DELTA_ALTITUDE] = Math.abs(signals[ALTITUDE_CHANGE]!)
    features[DELTA_VELOCITY] = Math.abs(signals[VELOCITY_CHANGE]!)
    features[DELTA_ACCELERATION] = changeNorm(last, reading, ACCELERATION_X)
    features[DELTA_GYRO] = changeNorm(last, reading, GYRO_X)
    features[GPS_SPEED_ERROR_FEATURE] = signals[GPS_SPEED_ERROR]!
    features[ACCEL_SPEED_ERROR_FEATURE] = signals[ACCEL_SPEED_ERROR]!
    for (const i of DELTAS) known[i] = 1
    if (observed === TRACKED.length) known[GPS_SPEED_ERROR_FEATURE] = known[ACCEL_SPEED_ERROR_FEATURE] = 1
    for (let i = 0; i < SENSORS.length; i++) repeats[i] = reading[i] === last[i] ? state.repeats[i]! + 1 : 0
  }
  features[REPEAT_POSITION] = Math.max(repeats[LATITUDE]!, repeats[LONGITUDE]!)
  features[REPEAT_ALTITUDE] = repeats[ALTITUDE]!
  features[REPEAT_VELOCITY] = repeats[VELOCITY]!
  features[REPEAT_ACCELERATION] = Math.max(
    repeats[ACCELERATION_X]!,
    repeats[ACCELERATION_X + 1]!,
    repeats[ACCELERATION_X + 2]!,
  )
  features[REPEAT_GYRO] = Math.max(repeats[GYRO_X]!, repeats[GYRO_X + 1]!, repeats[GYRO_X + 2]!)
  // With nothing before it a reading has repeated nothing, so repeat counts are always known.
  for (const i of REPEATS) known[i] = 1

  return {
    state: {
      seq: record.seq,
      timestamp: record.timestamp,
      last: reading,
      repeats,
      ...foldSignals(state, signals, observed),
    },
    features: bounded(features),
    known,
  }
}

/**
 * z-scores of the observed TRACKED signals against the running statistics from before this
 * record, so a spike cannot hide in itself; each feature keeps the largest that maps to it.
 */
function writeZScores(
  state: DroneState,
  signals: Float64Array,
  observed: number,
  features: Float64Array,
  known: Uint8Array,
): void {
  let computed = 0
  for (let k = 0; k < observed; k++) {
    if (state.count[k]! < WARMUP_SAMPLES) continue
    const floor = STD_FLOOR[k]!
    const z = Math.abs(signals[k]! - state.mean[k]!) / Math.sqrt(state.variance[k]! + floor * floor)
    raise(features, ZSCORE_OF_TRACKED[k]!, z)
    raise(features, ZSCORE_MAX, z)
    known[ZSCORE_OF_TRACKED[k]!] = 1
    computed++
  }
  // The largest of some z-scores is typically smaller than the largest of all of them.
  if (computed === TRACKED.length) known[ZSCORE_MAX] = 1
}

/** Keeps the larger value, and NaN once seen: a broken axis must not hide behind a healthy one. */
function raise(features: Float64Array, at: number, value: number): void {
  if (value > features[at]! || Number.isNaN(value)) features[at] = value
}

/** Exponentially weighted mean and variance (Finch, 2009) with the observed signals folded in. */
function foldSignals(
  state: DroneState | undefined,
  signals: Float64Array,
  observed: number,
): Pick<DroneState, 'mean' | 'variance' | 'count'> {
  const mean = state?.mean.slice() ?? new Float64Array(TRACKED.length)
  const variance = state?.variance.slice() ?? new Float64Array(TRACKED.length)
  const count = state?.count.slice() ?? new Float64Array(TRACKED.length)
  for (let k = 0; k < observed; k++) {
    const x = signals[k]!
    // A non-finite value would poison the statistics for good; the features flag it anyway.
    if (!Number.isFinite(x)) continue
    if (count[k] === 0) {
      mean[k] = x
    } else {
      const diff = x - mean[k]!
      const increment = EW_ALPHA * diff
      mean[k] = mean[k]! + increment
      variance[k] = (1 - EW_ALPHA) * (variance[k]! + diff * increment)
    }
    count[k] = count[k]! + 1
  }
  return { mean, variance, count }
}

/** Euclidean norm of the change of the three-axis sensor whose x axis is at index `x`. */
function changeNorm(last: Float64Array, reading: Float64Array, x: number): number {
  return Math.hypot(reading[x]! - last[x]!, reading[x + 1]! - last[x + 1]!, reading[x + 2]! - last[x + 2]!)
}

/** Great-circle distance in metres (haversine: accurate at the few-metre scale of one sample). */
function groundDistanceM(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const sinHalfLat = Math.sin(((lat2 - lat1) * RADIANS) / 2)
  const sinHalfLon = Math.sin(((lon2 - lon1) * RADIANS) / 2)
  const a =
    sinHalfLat * sinHalfLat + Math.cos(lat1 * RADIANS) * Math.cos(lat2 * RADIANS) * sinHalfLon * sinHalfLon
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(a)))
}

function bounded(features: Float64Array): Float64Array {
  for (let i = 0; i < features.length; i++) {
    const v = features[i]!
    features[i] = Number.isFinite(v) ? Math.min(v, FEATURE_CAP) : FEATURE_CAP
  }
  return features
}
