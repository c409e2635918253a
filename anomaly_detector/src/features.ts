/**
 * Per-drone, order-aware checks: how far each reading departs from what the same drone's other
 * sensors and its own recent readings say it should be.
 *
 * A faulty sensor is seldom out of range; it disagrees. So every check is a residual between two
 * estimates of one quantity, and each is expressed as a z value: the residual divided by that
 * drone's own typical residual for the check (a slow running mean of its size, fed only with
 * readings that looked healthy). A fleet that flies faster, higher or more aggressively therefore
 * has larger typical residuals, not more alarms.
 *
 * - step checks: a reading against a prediction from the last trusted readings of the same sensor
 *   (spikes, jumps). A reading far off the prediction is not trusted: the reference stays where it
 *   was, so the record after a spike is compared with the last good value, not with the spike.
 *   GPS keeps the part of each position step no motion explains (`gps_offset`), so a position that
 *   leaps and stays offset is flagged until it leaps back.
 * - noise checks: the spread of each sensor's third differences over the last 1 s, 3 s and 10 s,
 *   against its long-run spread (noise bursts).
 * - repeat checks: how many samples in a row a sensor has repeated its value exactly. A noisy
 *   sensor never does (a frozen one always does).
 * - consistency checks: physics between sensors, over windows of 1 to 6 s so that a slowly growing
 *   bias (drift) accumulates into a visible residual: reported speed against GPS-derived speed,
 *   horizontal and vertical specific force against GPS and altitude acceleration, roll and pitch
 *   rates against the tilt the accelerometer implies.
 * - sustained checks: each consistency check's lower quartile over the last 5 s, so a residual that
 *   stays raised (a drift) stands apart from a manoeuvre's brief disagreements.
 *
 * `DroneTracker` keeps one drone's history; `push` computes a record's checks and moves the history
 * on, `peek` computes them without moving it (a late or repeated record). The same records in the
 * same order always give the same checks: the live detector and the offline commands share this.
 */
import type { DroneTelemetry } from '@drone-pipeline/shared/generated/drone-telemetry.ts'

/** Standard gravity, m/s². */
const GRAVITY = 9.80665
const EARTH_RADIUS_M = 6_371_008.8
const RADIANS = Math.PI / 180

/**
 * Past this gap the previous sample says nothing about the next one (a restart, a link outage), so
 * the drone's history starts afresh. Far longer than any telemetry interval.
 */
export const MAX_GAP_MS = 10_000

/** The sensors a reading is checked on, each with its own reference, noise level and repeat count. */
const SCALARS = [
  'acceleration_x',
  'acceleration_y',
  'acceleration_z',
  'gyro_x',
  'gyro_y',
  'gyro_z',
  'altitude',
  'velocity',
] as const
const SENSOR_LABELS = [
  'accel_x',
  'accel_y',
  'accel_z',
  'gyro_x',
  'gyro_y',
  'gyro_z',
  'altitude',
  'velocity',
  'gps',
]
const GPS = SCALARS.length
const SENSOR_COUNT = SCALARS.length + 1

/**
 * The noise checks' windows, in seconds: each sensor's noise over the last 1 s (lower quartile), 3 s
 * and 10 s (medians). The longer the window, the smaller the healthy spread of its median: a burst
 * that doubles or triples a sensor's noise is within what 3 s of healthy flight show now and then,
 * and not within what 10 s show.
 */
const NOISE_WINDOWS_S = [1, 3, 10]
/** The longest window (10 s), reported only as far as the one before it (3 s), times this, confirms it. */
const LONG_NOISE = NOISE_WINDOWS_S.length - 1
const LONG_NOISE_CONFIRM = 1.2
/**
 * The 3 s window's median is reported only as far as the largest third difference of the last
 * RECENT_NOISE samples (0.5 s), times RECENT_NOISE_CONFIRM, confirms it (both in the 3 s check's
 * typical units). After a burst the median stays up for 1.5 s, until half the window is quiet; the
 * largest of the last five falls back within 0.8 s, once no third difference spans a noisy reading.
 * In a burst the largest of five is about twice the median, so the bound seldom holds it down.
 */
const MEDIUM_NOISE = 1
const RECENT_NOISE = 5
const RECENT_NOISE_CONFIRM = 0.7
/**
 * The 3 s and 10 s windows' usual levels learn only from values under twice themselves. Each is a
 * running mean over about two minutes: under the general gate of 3, a burst that doubles or triples
 * a sensor's noise for tens of seconds taught it its own level, and faded from the check (a 48 s
 * burst of 2.3 times an accelerometer's noise was found for a quarter of its records). The 3 s one
 * kept the general gate until 2026-12-01, so that a level risen for good would not hold the checks
 * up for ever; but it then capped the 10 s check as it learned a long burst (a 57 s burst of 2.6
 * times a gyro's noise was found for half its records). A sensor whose noise rises for good to
 * well over twice its level is now flagged for as long as it flies, as a burst that does not end;
 * the 1 s check keeps the general gate.
 */
const SLOW_NOISE_LEARN_GATE = 2
/**
 * The sustained checks' window, in seconds: each consistency check's lower quartile over the last
 * 5 s. A drift's residual grows slowly and stays, below the consistency checks' tails (set by a
 * manoeuvre's brief disagreements) for most of a drift's early part; three quarters of 5 s above a
 * level is something a manoeuvre seldom holds. Longer windows lag the drift by more than they gain.
 */
const SUSTAINED_S = 5
/** The check families the model sees, one feature each (see `toFeatures`). */
export const FAMILIES = ['step', 'noise', 'consistency', 'sustained'] as const
export type Family = (typeof FAMILIES)[number]

interface CheckSpec {
  name: string
  family: Family | 'repeat'
}

const CONSISTENCY_CHECKS = [
  'velocity_vs_gps_speed_1s',
  'velocity_vs_gps_speed_5s',
  'horizontal_accel_vs_gps_2s',
  'vertical_accel_vs_altitude_2s',
  'vertical_accel_vs_altitude_6s',
  'roll_rate_vs_accel_tilt_1s',
  'roll_rate_vs_accel_tilt_3s',
  'pitch_rate_vs_accel_tilt_1s',
  'pitch_rate_vs_accel_tilt_3s',
] as const
type ConsistencyCheck = (typeof CONSISTENCY_CHECKS)[number]
// Checks of one quantity over a short window and a long one (see `setBiasedPair`).
const VERTICAL_PAIR = ['vertical_accel_vs_altitude_2s', 'vertical_accel_vs_altitude_6s'] as const
const ROLL_PAIR = ['roll_rate_vs_accel_tilt_1s', 'roll_rate_vs_accel_tilt_3s'] as const
const PITCH_PAIR = ['pitch_rate_vs_accel_tilt_1s', 'pitch_rate_vs_accel_tilt_3s'] as const

/** Every check, in the order of a checks vector. */
export const CHECKS: readonly CheckSpec[] = [
  ...SENSOR_LABELS.map((s) => ({ name: `${s}_step`, family: 'step' as const })),
  { name: 'gps_offset', family: 'step' },
  ...SENSOR_LABELS.flatMap((s) =>
    NOISE_WINDOWS_S.map((w) => ({ name: `${s}_noise_${w}s`, family: 'noise' as const })),
  ),
  ...SENSOR_LABELS.map((s) => ({ name: `${s}_repeats`, family: 'repeat' as const })),
  ...CONSISTENCY_CHECKS.map((name) => ({ name, family: 'consistency' as const })),
  ...CONSISTENCY_CHECKS.map((name) => ({ name: `${name}_sustained`, family: 'sustained' as const })),
]
export const CHECK_NAMES = CHECKS.map((c) => c.name)
const checkIndex = (name: string): number => CHECK_NAMES.indexOf(name)
const STEP = 0
const GPS_OFFSET = checkIndex('gps_offset')
const NOISE = checkIndex('accel_x_noise_1s')
const REPEAT = checkIndex('accel_x_repeats')
const CONSISTENCY = checkIndex(CONSISTENCY_CHECKS[0])
const SUSTAINED = checkIndex(`${CONSISTENCY_CHECKS[0]}_sustained`)
const IS_SLOW_NOISE = CHECKS.map((c) => NOISE_WINDOWS_S.slice(1).some((w) => c.name.endsWith(`_noise_${w}s`)))
const CONSISTENCY_INDEX = Object.fromEntries(
  CONSISTENCY_CHECKS.map((name, i) => [name, CONSISTENCY + i]),
) as Record<ConsistencyCheck, number>

/** Beyond this z a reading is not trusted as a reference. */
const TRUST_GATE = 6
/**
 * The same for an accelerometer axis. A take-off's first jolt of thrust reaches z 6 to 7 against the
 * sensor's noise on the pad (the vertical jerk limit moves the specific force by up to 0.5 m/s² a
 * sample, several times the step's typical residual of 0.11); not trusted, the climb's next readings
 * were compared with the pad's for 0.55 s, and two take-offs were the most extreme moments of the
 * held-out healthy flight, which set the threshold. The smallest spike of the fault catalogue,
 * 1 m/s², is z 9.
 */
const ACCEL_TRUST_GATE = 8
/** Each scalar's trust gate, in SCALARS order. */
const TRUST_GATES = SCALARS.map((s) => (s.startsWith('acceleration_') ? ACCEL_TRUST_GATE : TRUST_GATE))
/**
 * Only residuals below this z feed the typical residual, so a slowly growing one (a drift) stops
 * teaching the drone's typical size soon after it grows past the ordinary.
 */
const LEARN_GATE = 3
/**
 * A reference older than this is replaced by the current reading rather than trusted further: just
 * over the longest spike in the fault catalogue (0.5 s, five readings, each compared with the last
 * good one). A level that stays, such as a drift snapping back to the truth, is flagged for that
 * long and no longer (it was 1 s, which flagged the five readings after every drift's end too). The
 * body rates get less: a manoeuvre changes them by more in one sample than their noise, and a
 * reference held after it would flag every sample until it is let go.
 */
const STALE_REFERENCE_S = 0.55
const STALE_RATE_REFERENCE_S = 0.3
/** A reference older than this many sample intervals is held: readings since were not trusted. */
const HELD_REFERENCE = 1.5
/**
 * Residuals a check learns from before its z counts. A typical size from n residuals is off by about
 * 1/√n: from 20 (the value before), by a fifth, and a drone's first seconds gave the false alarms
 * that no held-out stretch of training flight (which never starts a drone) could price in; from 50,
 * by a seventh. A drone's first 5 s, or its first after a gap or a restart, go unchecked.
 */
export const WARMUP = 50
/**
 * Residuals a typical size learns from before it starts setting the large ones aside. A few dozen
 * samples can make it several times too small (a second of a quiet sensor on the ground); gating at
 * once would lock it there, every ordinary residual after counting as too large to learn from, and
 * the check would keep firing for as long as the drone flies. So the first ones are all learned.
 */
const GATE_AFTER = 100
/**
 * The same for the consistency checks: 600 residuals (a minute at 10 Hz). Their errors are
 * correlated over tens of seconds (the GPS's wandering error over about a minute), so 100 residuals
 * see one moment of it, often a drone's seconds on the pad, where its speed and the GPS track agree
 * to a few mm/s. Gated at three times that, every residual of flight was set aside: the check locked,
 * and a drone whose GPS wandered fast fired for its whole flight (23 false alarms in 9 drone-hours of
 * flights' first three minutes; the typical size crept from 0.005 m/s to 0.009 in those three
 * minutes, where flight's is about 0.05). A drift in a drone's first minute teaches it too, but the
 * random faults of the fault catalogue start 30 s in at the earliest.
 */
const CONSISTENCY_GATE_AFTER = 600
/** Memory of the typical residuals, in samples (two minutes at 10 Hz): slow, so a drift stands out. */
const SCALE_MEMORY = 1200
/**
 * Memory of a sensor's constant bias (see `constantBias`), in samples: ten minutes. A
 * drift that grows past BIAS_GATE typical residuals within a minute teaches it a few thousandths
 * of its size.
 */
const BIAS_MEMORY = 6000
/** Only residuals within this many typical residuals of the bias learned so far teach it. */
const BIAS_GATE = 2
/**
 * The horizontal bias is learned only from windows whose GPS track's acceleration is below this
 * (m/s²), steady flight or rest, where the force the accelerometer reads is its bias and noise.
 */
const STEADY_ACCEL = 0.1
/** ... and whose x axis, turned into the middle sample's heading, averages over this (about 2.5°). */
const STRAIGHT = 0.999
// The constant biases a drone's tracker learns (see `constantBias`): the vertical accelerometer's
// (from the 6 s vertical check), the roll and pitch rates' (from the 3 s tilt checks), and the
// horizontal accelerometer's, x and y in the body frame (from the horizontal check's force).
const VERTICAL_BIAS = 0
const ROLL_BIAS = 1
const PITCH_BIAS = 2
const HORIZONTAL_BIAS_X = 3
const HORIZONTAL_BIAS_Y = 4
const CONSTANT_BIASES = 5
/** Weight of the newest difference in the slope of a step check's prediction. */
const SLOPE_ALPHA = 0.5
/**
 * An unexplained GPS step implying more than this acceleration (m/s²; 1 m in 0.1 s) is no flight: a
 * candidate position jump. It becomes the offset only if the next two steps are ordinary flight
 * again from where it landed; a step that is followed by another wild one is noise, or a spike.
 */
const GPS_JUMP_ACCELERATION = 100
/**
 * An unexplained GPS offset is held this long (s) after the step that made it, then accepted as the
 * new truth, so an error is not held for ever. Longer than any position jump we expect to resolve.
 */
const GPS_OFFSET_HOLD_S = 90
/** A step that takes the offset below this fraction of its size cancels it (the position leapt back). */
const GPS_OFFSET_CANCEL = 0.2
/**
 * A step no motion explains that cancels the bias the sensor's consistency check was showing (what
 * it leaves is under this fraction of the step) is the sensor coming back to the truth: a drift's
 * end. It is judged by what it leaves, and the reading becomes the reference at once.
 */
const RETURN_LEFT = 0.3
// The horizontal check's window as `leftAfter` needs it (see `turnedForce`): the turned force (east,
// north), the x axis's turned direction averaged with the same weights (east, north), and the length
// of the GPS track's acceleration.
const HORIZONTAL_FORCE_EAST = 0
const HORIZONTAL_FORCE_NORTH = 1
const HORIZONTAL_X_EAST = 2
const HORIZONTAL_X_NORTH = 3
const HORIZONTAL_GPS = 4
const HORIZONTAL_SIZE = 5
/** Half the GPS chord a speed is compared with (see `speedResidual`), s. */
const CHORD_HALF_S = 0.2
/** Below this ground speed (m/s) the course is not defined well enough to check speed change or yaw rate. */
const MIN_COURSE_SPEED = 3

/** Samples of history kept per drone: 11 s at 10 Hz, enough for the longest window (10 s noise). */
const CAPACITY = 110
// One history slot: the time (s), then each sensor twice, as trusted (a reading its step check did
// not trust is replaced by its prediction, and GPS has its unexplained offset removed) and as read,
// then the roll and pitch the trusted specific force implies. Windowed consistency checks read the
// trusted values, so a spike does not echo through every window that still holds it; the noise
// checks read the raw ones, since noise is what they measure.
const T = 0
const TRUSTED = 1
const RAW = TRUSTED + SENSOR_COUNT + 1
// Sensor offsets within a block of SENSOR_COUNT + 1 values: the eight scalars, then GPS east, north.
const ALT = SCALARS.indexOf('altitude')
const VEL = SCALARS.indexOf('velocity')
const AX = SCALARS.indexOf('acceleration_x')
const AY = SCALARS.indexOf('acceleration_y')
const AZ = SCALARS.indexOf('acceleration_z')
const GX = SCALARS.indexOf('gyro_x')
const GY = SCALARS.indexOf('gyro_y')
const GZ = SCALARS.indexOf('gyro_z')
const EAST = GPS
const NORTH = GPS + 1
const ROLL = RAW + SENSOR_COUNT + 1
const PITCH = ROLL + 1
/**
 * The size of each sensor's raw third difference ending at this sample (GPS: its length), as the
 * noise checks use it. Raw readings never change once stored, so it is computed once, when the
 * sample arrives, rather than again for every window that holds it.
 */
const NOISE_SIZE = PITCH + 1
/**
 * The change of roll, and of pitch, the body rates imply between this sample and the one before
 * (see `tiltRateResidual`). Computed once, when the sample arrives: its trusted values are final by
 * then, and every tilt window that holds the pair would otherwise work it out again.
 */
const ROLL_RATE_TERM = NOISE_SIZE + SENSOR_COUNT
const PITCH_RATE_TERM = ROLL_RATE_TERM + 1
/**
 * The reported speed at this sample less the GPS track's over the chord centred on it (see
 * `speedResidual`). Stored once the chord's newer end arrives (CHORD_HALF_S later), when every value
 * it needs is final; both speed checks average it over their windows rather than working it out
 * again for every window that holds it.
 */
const SPEED_TERM = PITCH_RATE_TERM + 1
/** Each consistency check's z at this sample (NaN where it was unknown), for the sustained checks. */
const CONSISTENCY_Z = SPEED_TERM + 1
const SLOT = CONSISTENCY_Z + CONSISTENCY_CHECKS.length

/** One record's checks: z per CHECKS entry, NaN where the record gives no basis for it yet. */
export type Checks = Float64Array

/** Running mean of a check's residual size over healthy-looking readings. */
class TypicalResidual {
  private scale = 0
  private count = 0

  /**
   * Only residuals below `gate` typical sizes teach it (see LEARN_GATE), once it has learned from
   * `gateAfter` (see GATE_AFTER).
   */
  constructor(
    private readonly gate = LEARN_GATE,
    private readonly gateAfter = GATE_AFTER,
  ) {}

  /** The typical size, once enough residuals were seen to trust it. */
  get size(): number | undefined {
    return this.count >= WARMUP ? Math.max(this.scale, 1e-9) : undefined
  }

  /**
   * z of `residual`, NaN while warming up; learns from `teach` (by default the residual itself) if
   * that looks healthy.
   */
  z(residual: number, learn: boolean, teach: number = residual): number {
    const typical = this.size
    const z = typical === undefined ? Number.NaN : Math.abs(residual) / typical
    const size = Math.abs(teach)
    if (
      learn &&
      Number.isFinite(size) &&
      !(typical !== undefined && this.count >= this.gateAfter && size / typical >= this.gate)
    ) {
      this.count++
      this.scale += (size - this.scale) / Math.min(this.count, SCALE_MEMORY)
    }
    return z
  }

  clone(): TypicalResidual {
    return Object.assign(new TypicalResidual(this.gate, this.gateAfter), this)
  }
}

/**
 * One drone's history and what it has learned about its own residuals. Fed one drone's records in
 * seq order (the sequencer sees to that live).
 */
export class DroneTracker {
  private seq = -1
  private timestampMs = Number.NaN
  private originTimeMs = Number.NaN
  private originLat = Number.NaN
  private originLon = Number.NaN
  private history = new Float64Array(CAPACITY * SLOT)
  private head = -1
  private length = 0
  /** Consecutive exact repeats of each sensor's reading. */
  private repeats = new Float64Array(SENSOR_COUNT)
  /** Whether each sensor's reading moved again after repeating (a frozen sensor thawing). */
  private thawed = new Uint8Array(SENSOR_COUNT)
  /** Step checks of the scalars: trusted reference value, its slope per second, and its time. */
  private refValue = new Float64Array(SCALARS.length)
  private refSlope = new Float64Array(SCALARS.length)
  private refTime = new Float64Array(SCALARS.length).fill(Number.NaN)
  /** GPS: the velocity of the last explained step (m/s), and the unexplained offset (m). */
  private gpsRate: [number, number] | undefined
  private offset: [number, number] = [0, 0]
  private offsetSince = Number.NaN
  /** The unexplained part of the last step, when it was a candidate jump. */
  private candidate: [number, number] | undefined
  /**
   * A candidate followed by one quiet step: reported as part of the offset, but taken into it only
   * if the step after is quiet too. A noise burst's first wild step can be followed by one quiet
   * step by chance (before the noise checks have risen); two in a row it seldom is.
   */
  private pending: [number, number] | undefined
  /** Whether the record being checked had a reading that was not trusted: other than a body rate. */
  private broken = false
  /** The same for the body rates. */
  private rateBroken = false
  /** The GPS's noise over the last second was well above its usual level (as of the last record). */
  private gpsNoisy = false
  /**
   * The k of the newest sample at which a reading was not trusted (a step no motion explains, or a
   * repeat); Infinity if none since the history started. A window holding such a sample compares
   * across a fault's start or end, so it says nothing and is skipped (see `intact`). Without this,
   * a window would go on seeing a fault for its whole length after it ended.
   */
  private newestBroken = Number.POSITIVE_INFINITY
  /**
   * The same for a body rate not trusted (a step off its prediction). Body rates stay as read, since
   * a manoeuvre's genuine jump in rate looks the same, but a tilt window holding such a sample is
   * skipped: a spike on a gyro would otherwise echo through every window that integrates it.
   */
  private newestRateBroken = Number.POSITIVE_INFINITY
  /**
   * The bias each scalar's consistency check showed as of the last record (the reading less what the
   * other sensors imply, signed), where that check stood above LEARN_GATE; NaN otherwise. See
   * RETURN_LEFT.
   */
  private bias = new Float64Array(SCALARS.length).fill(Number.NaN)
  /**
   * The horizontal check's window at the last record (see HORIZONTAL_FORCE_EAST and the indices
   * after it), where that check stood above LEARN_GATE; NaN otherwise. See `leftAfter`.
   */
  private horizontal = new Float64Array(HORIZONTAL_SIZE).fill(Number.NaN)
  /** Each consistency check's signed residual at the last record (scratch for `standing`). */
  private residuals = new Float64Array(CONSISTENCY_CHECKS.length)
  /**
   * Each sensor's constant bias as a consistency check shows it (see CONSTANT_BIASES), and how many
   * residuals taught it. Each drone's accelerometer reads a few hundredths of a m/s² off on each axis
   * (0.03, σ, in the simulator) and its gyros a few thousandths of a rad/s (0.002): as much as those
   * checks' spread in flight, and a bias left in a check counts against a drift as if it were one.
   * Learned over BIAS_MEMORY samples and kept across gaps and restarts of the history (it belongs to
   * the sensor); taken off the checks' residuals.
   */
  private constantBias = new Float64Array(CONSTANT_BIASES)
  private constantBiasCount = new Float64Array(CONSTANT_BIASES)
  private typical = CHECKS.map(
    (spec, c) =>
      new TypicalResidual(
        IS_SLOW_NOISE[c] ? SLOW_NOISE_LEARN_GATE : LEARN_GATE,
        spec.family === 'consistency' ? CONSISTENCY_GATE_AFTER : GATE_AFTER,
      ),
  )
  /** Each sample's yaw relative to a window's middle (see `turnedForce`); scratch, reused. */
  private readonly yaws = new Float64Array(CAPACITY)
  /**
   * Each sensor's third-difference sizes (NOISE_SIZE) over each noise window, kept sorted as the
   * window slides (see `slideNoiseWindow`): a record changes a window by a sample or two, and
   * moving those costs far less than sorting the whole window again. Window w of sensor i is the
   * CAPACITY values from (w * SENSOR_COUNT + i) * CAPACITY, of which the first noiseCount[w] are
   * in use: the sizes at samples 0..noiseCount[w] - 1, in ascending order.
   */
  private noiseSorted = new Float64Array(NOISE_WINDOWS_S.length * SENSOR_COUNT * CAPACITY)
  private noiseCount = NOISE_WINDOWS_S.map(() => 0)
  /**
   * The sustained checks' windows, kept sorted the same way: check i's known values (NaN left out)
   * at samples 0..sustainedSpan - 1 are the first sustainedCount[i] of the CAPACITY values from
   * i * CAPACITY.
   */
  private sustainedSorted = new Float64Array(CONSISTENCY_CHECKS.length * CAPACITY)
  private sustainedCount = new Int32Array(CONSISTENCY_CHECKS.length)
  private sustainedSpan = 0

  /** The last seq pushed, -1 before the first. */
  get lastSeq(): number {
    return this.seq
  }

  /** A record from before the last one pushed (redelivered or late), rather than a restarted drone. */
  isBehind(record: DroneTelemetry): boolean {
    return record.seq <= this.seq && record.timestamp <= this.timestampMs
  }

  /**
   * Whether `record` continues the history: later in seq and time than the last one pushed, within
   * MAX_GAP_MS of it. Any other record pushed starts the history afresh.
   */
  follows(record: DroneTelemetry): boolean {
    const gapMs = record.timestamp - this.timestampMs
    return gapMs > 0 && gapMs <= MAX_GAP_MS && record.seq > this.seq
  }

  /** The record's checks, moving the history on. */
  push(record: DroneTelemetry): Checks {
    return this.advance(record)
  }

  /**
   * The record's checks, leaving the history unchanged: for a record that arrives after later ones
   * were processed (a late or repeated one). Its neighbours were judged without it, so it is judged
   * without them: as a drone's first record, every check but the repeat counts unknown.
   */
  peek(record: DroneTelemetry): Checks {
    return this.clone().advance(record)
  }

  private clone(): DroneTracker {
    const copy = Object.assign(new DroneTracker(), this)
    copy.history = this.history.slice()
    copy.repeats = this.repeats.slice()
    copy.thawed = this.thawed.slice()
    copy.refValue = this.refValue.slice()
    copy.refSlope = this.refSlope.slice()
    copy.refTime = this.refTime.slice()
    copy.bias = this.bias.slice()
    copy.constantBias = this.constantBias.slice()
    copy.constantBiasCount = this.constantBiasCount.slice()
    copy.horizontal = this.horizontal.slice()
    copy.offset = [...this.offset]
    copy.offsetSince = this.offsetSince
    copy.candidate = this.candidate && [...this.candidate]
    copy.pending = this.pending && [...this.pending]
    copy.gpsRate = this.gpsRate && [...this.gpsRate]
    copy.typical = this.typical.map((t) => t.clone())
    copy.noiseSorted = this.noiseSorted.slice()
    copy.noiseCount = [...this.noiseCount]
    copy.sustainedSorted = this.sustainedSorted.slice()
    copy.sustainedCount = this.sustainedCount.slice()
    return copy
  }

  private advance(record: DroneTelemetry): Checks {
    const checks = new Float64Array(CHECKS.length).fill(Number.NaN)
    this.broken = false
    this.rateBroken = false
    if (!this.follows(record)) this.restart(record)
    this.seq = record.seq
    this.timestampMs = record.timestamp
    const previous = this.slot(0)
    const slot = this.append()
    const h = this.history
    h[slot + T] = (record.timestamp - this.originTimeMs) / 1000
    for (let i = 0; i < SCALARS.length; i++) h[slot + RAW + i] = record[SCALARS[i]!]
    const [east, north] = this.toLocal(record.latitude, record.longitude)
    h[slot + RAW + EAST] = east
    h[slot + RAW + NORTH] = north
    this.storeNoiseSizes(slot)

    this.countRepeats(slot, previous, checks)
    this.stepChecks(slot, checks)
    this.gpsChecks(slot, previous, checks)
    this.newestBroken = this.broken ? 0 : this.newestBroken + 1
    this.newestRateBroken = this.rateBroken ? 0 : this.newestRateBroken + 1
    h[slot + ROLL] = Math.atan2(h[slot + TRUSTED + AY]!, -h[slot + TRUSTED + AZ]!)
    h[slot + PITCH] = -Math.atan2(h[slot + TRUSTED + AX]!, -h[slot + TRUSTED + AZ]!)
    this.storeRateTerms(slot)
    this.storeSpeedTerm()
    this.noiseChecks(checks)
    this.consistencyChecks(checks)
    this.sustainedChecks(slot, checks)
    return checks
  }

  /** Forgets the history: the drone's first record, or one after a gap or a restart. */
  private restart(record: DroneTelemetry): void {
    this.head = -1
    this.length = 0
    this.originTimeMs = record.timestamp
    this.originLat = record.latitude
    this.originLon = record.longitude
    this.refTime.fill(Number.NaN)
    this.bias.fill(Number.NaN)
    this.horizontal.fill(Number.NaN)
    this.repeats.fill(0)
    this.gpsRate = undefined
    this.offset = [0, 0]
    this.candidate = undefined
    this.pending = undefined
    this.noiseCount.fill(0)
    this.sustainedCount.fill(0)
    this.sustainedSpan = 0
    this.newestBroken = Number.POSITIVE_INFINITY
    this.newestRateBroken = Number.POSITIVE_INFINITY
  }

  /** Local east and north metres from the drone's first position (flat earth over a flight). */
  private toLocal(lat: number, lon: number): [number, number] {
    const north = (lat - this.originLat) * RADIANS * EARTH_RADIUS_M
    const east = (lon - this.originLon) * RADIANS * EARTH_RADIUS_M * Math.cos(this.originLat * RADIANS)
    return [east, north]
  }

  private append(): number {
    this.head = (this.head + 1) % CAPACITY
    this.length = Math.min(this.length + 1, CAPACITY)
    return this.head * SLOT
  }

  /** Offset of the k-th newest sample (0 = the newest), or -1 beyond the history. */
  private slot(k: number): number {
    if (k < 0 || k >= this.length) return -1
    // The ring wraps at most once: a branch, where a modulo would cost a division on every read.
    const at = this.head - k
    return (at < 0 ? at + CAPACITY : at) * SLOT
  }

  private value(k: number, field: number): number {
    return this.history[this.slot(k) + field]!
  }

  /** The k of the newest sample at least `seconds` older than the newest, or -1 if history is shorter. */
  private back(seconds: number): number {
    // Walks the ring directly rather than through value(): the checks ask this some fifteen times a
    // record, over up to 60 samples.
    const h = this.history
    const since = h[this.head * SLOT + T]! - seconds + 1e-6
    let at = this.head * SLOT
    for (let k = 1; k < this.length; k++) {
      at = at === 0 ? (CAPACITY - 1) * SLOT : at - SLOT
      if (h[at + T]! <= since) return k
    }
    return -1
  }

  private countRepeats(slot: number, previous: number, checks: Checks): void {
    const h = this.history
    for (let i = 0; i < SENSOR_COUNT; i++) {
      const same =
        previous >= 0 &&
        h[slot + RAW + i] === h[previous + RAW + i] &&
        (i !== GPS || h[slot + RAW + NORTH] === h[previous + RAW + NORTH])
      this.thawed[i] = !same && this.repeats[i]! > 0 ? 1 : 0
      this.repeats[i] = same ? this.repeats[i]! + 1 : 0
      checks[REPEAT + i] = this.repeats[i]!
      if (same) this.broken = true
    }
  }

  /** Each scalar against its trusted reference moved on by its slope. */
  private stepChecks(slot: number, checks: Checks): void {
    const h = this.history
    const t = h[slot + T]!
    const previous = this.slot(1)
    const sampleS = previous < 0 ? 0 : t - h[previous + T]!
    for (let i = 0; i < SCALARS.length; i++) {
      const v = h[slot + RAW + i]!
      h[slot + TRUSTED + i] = v
      const elapsed = t - this.refTime[i]!
      const rate = i === GX || i === GY || i === GZ
      const stale = !(elapsed > 0 && elapsed <= (rate ? STALE_RATE_REFERENCE_S : STALE_REFERENCE_S))
      if (stale || this.thawed[i]) {
        // A sensor that moves again after repeating itself catches up with where it is now: the
        // step is the end of a freeze, not a reading to judge, and windows across it compare
        // across the fault's end.
        if (this.thawed[i]) this.broken = true
        this.rebase(i, v, t)
        continue
      }
      const predicted = this.refValue[i]! + this.slopeOf(i, slot) * elapsed
      const residual = v - predicted
      // A frozen reading would teach the typical residual nothing but its own repetition.
      // The typical size is learned from the point prediction's residual: the range would teach it
      // mostly zeros, and a faulty sensor widening the range (a drifting accelerometer) would
      // shrink it until the fault ended.
      const z = this.typical[STEP + i]!.z(
        this.innovation(i, slot, v, predicted, elapsed, sampleS),
        this.repeats[i] === 0,
        residual,
      )
      checks[STEP + i] = z
      if (z >= TRUST_GATES[i]!) {
        const left = this.leftAfter(i, residual)
        if (Math.abs(left) < RETURN_LEFT * Math.abs(residual)) {
          // Back to the truth: the reading is the reference from now on, and every window across
          // the step compares across the fault's end.
          checks[STEP + i] = this.typical[STEP + i]!.z(left, false)
          this.broken = true
          this.rebase(i, v, t)
          continue
        }
        // Only readings whose prediction is reliable are replaced. Body rates and speed stay as
        // read: a manoeuvre's genuine jump in rate, or a turn right after take-off, would be
        // replaced too, and the windowed checks would then see a fault that is not there.
        if (!rate && i !== VEL) h[slot + TRUSTED + i] = predicted
        if (rate) this.rateBroken = true
        else this.broken = true
        continue
      }
      const slope = (v - this.refValue[i]!) / elapsed
      this.refSlope[i] = this.refSlope[i]! + SLOPE_ALPHA * (slope - this.refSlope[i]!)
      this.refValue[i] = v
      this.refTime[i] = t
    }
  }

  /** Scalar i's reading v at time t becomes its reference, with no slope yet. */
  private rebase(i: number, v: number, t: number): void {
    this.refValue[i] = v
    this.refSlope[i] = 0
    this.refTime[i] = t
  }

  /**
   * What a sensor's consistency check would show if the step of its reading were all a bias going
   * away (see RETURN_LEFT): NaN unless the check stood above LEARN_GATE at the last record. The
   * horizontal check compares lengths, so for an accelerometer's x or y axis the step moves the
   * window's force, as turned into its middle's heading, along that axis's turned direction.
   */
  private leftAfter(i: number, step: number): number {
    if (i !== AX && i !== AY) return step + this.bias[i]!
    const h = this.horizontal
    // The y axis turns as (-north, east) of the x axis's direction, as in `turnedForce`.
    const east = i === AX ? h[HORIZONTAL_X_EAST]! : -h[HORIZONTAL_X_NORTH]!
    const north = i === AX ? h[HORIZONTAL_X_NORTH]! : h[HORIZONTAL_X_EAST]!
    return (
      Math.hypot(h[HORIZONTAL_FORCE_EAST]! + step * east, h[HORIZONTAL_FORCE_NORTH]! + step * north) -
      h[HORIZONTAL_GPS]!
    )
  }

  /**
   * How far the reading is from the range of values its prediction allows (signed; 0 inside it).
   * Speed changes by the forward specific force when the nose follows the course, but by some of the
   * lateral force as well when it does not (after take-off, in a turn), so a speed may move by up to
   * the lateral force either side of the forward one; below MIN_COURSE_SPEED the direction of
   * travel is unknown, and it may move by up to the whole horizontal force either way. A body rate
   * may be anywhere between its last value and its extrapolation: an angular acceleration stops
   * (the rate reaches what the autopilot asked) or reverses within a sample. So may any reading
   * whose reference was held over readings not trusted: the slope is a noisy estimate, which
   * extrapolated over several samples drifts off a steady sensor.
   */
  private innovation(
    i: number,
    slot: number,
    v: number,
    predicted: number,
    elapsed: number,
    sampleS: number,
  ): number {
    const h = this.history
    const ref = this.refValue[i]!
    let low = predicted
    let high = predicted
    if (i === VEL) {
      const ax = h[slot + TRUSTED + AX]!
      const ay = h[slot + TRUSTED + AY]!
      const spread = (ref >= MIN_COURSE_SPEED ? Math.abs(ay) : Math.hypot(ax, ay)) * elapsed
      low -= spread
      high += spread
    }
    if (elapsed > HELD_REFERENCE * sampleS || i === GX || i === GY || i === GZ) {
      low = Math.min(low, ref)
      high = Math.max(high, ref)
    }
    return v < low ? v - low : v > high ? v - high : 0
  }

  /**
   * How fast sensor i is expected to change now. Speed changes at the forward specific force once
   * the drone is moving (its nose follows its course), and the climb rate at the vertical one, so
   * a manoeuvre is predicted rather than mistaken for a spike; the others follow their own recent
   * slope.
   */
  private slopeOf(i: number, slot: number): number {
    const h = this.history
    if (i === VEL) return this.refValue[VEL]! >= MIN_COURSE_SPEED ? h[slot + TRUSTED + AX]! : 0
    if (i === ALT) {
      const previous = this.slot(1)
      const dt = previous < 0 ? 0 : h[slot + T]! - h[previous + T]!
      return this.refSlope[ALT]! - (h[slot + TRUSTED + AZ]! + GRAVITY) * dt
    }
    return this.refSlope[i]!
  }

  /**
   * The GPS step since the last sample against the last explained one. A step no flight can make
   * (an implied acceleration beyond GPS_JUMP_ACCELERATION) adds its unexplained part to the offset,
   * which a jump back cancels; the trusted position is the reading less the offset.
   */
  private gpsChecks(slot: number, previous: number, checks: Checks): void {
    const h = this.history
    const t = h[slot + T]!
    const east = h[slot + RAW + EAST]!
    const north = h[slot + RAW + NORTH]!
    let trusted = true
    if (previous >= 0) {
      const dt = t - h[previous + T]!
      if (t - this.offsetSince > GPS_OFFSET_HOLD_S) this.offset = [0, 0]
      const step: [number, number] = [east - h[previous + RAW + EAST]!, north - h[previous + RAW + NORTH]!]
      const thawing = this.thawed[GPS] === 1
      if (this.gpsRate && !thawing) {
        const unexplained: [number, number] = [step[0] - this.gpsRate[0] * dt, step[1] - this.gpsRate[1] * dt]
        const size = Math.hypot(unexplained[0], unexplained[1])
        // A leap back onto the track the offset was kept from ends the jump: judged by what it
        // leaves unexplained, as the end of a fault rather than a new one.
        const held = Math.hypot(this.offset[0], this.offset[1])
        const left = Math.hypot(this.offset[0] + unexplained[0], this.offset[1] + unexplained[1])
        const back = held > 0 && !this.pending && !this.candidate && left < GPS_OFFSET_CANCEL * held
        checks[STEP + GPS] = back
          ? this.typical[STEP + GPS]!.z(left, false)
          : this.typical[STEP + GPS]!.z(size, this.repeats[GPS] === 0)
        if (back) {
          // The rate the steps are judged by stays; the step itself is not trusted, so no window
          // compares across it.
          this.offset = [0, 0]
          trusted = false
        } else if (size / (dt * dt) <= GPS_JUMP_ACCELERATION) {
          // Ordinary, quiet flight after a candidate: it was a jump, and the position stayed where it
          // leapt. A noisy receiver's wild step is not taken for one.
          const quiet = checks[STEP + GPS]! < LEARN_GATE && !this.gpsNoisy
          // The pending jump needs a second ordinary step, not quite as quiet: a jump can leave the
          // rate the steps are judged by a little off.
          if (this.pending && checks[STEP + GPS]! < TRUST_GATE && !this.gpsNoisy) this.latch(this.pending, t)
          this.pending = undefined
          if (this.candidate && quiet) {
            this.pending = this.candidate
            trusted = false
          }
          this.candidate = undefined
          this.gpsRate = [step[0] / dt, step[1] / dt]
        } else {
          trusted = false
          if (this.pending) {
            // A wild step right after a pending jump: back where it came from, or noise. Either way
            // the position did not stay where it leapt.
            this.pending = undefined
          } else if (!this.candidate) {
            this.candidate = unexplained
          } else {
            // Two wild steps in a row: out and back is a spike, and anything else means the rate
            // the steps are judged by is wrong (after a frozen receiver, say): take the new one.
            const back = Math.hypot(this.candidate[0] + unexplained[0], this.candidate[1] + unexplained[1])
            if (back >= GPS_OFFSET_CANCEL * Math.hypot(...this.candidate))
              this.gpsRate = [step[0] / dt, step[1] / dt]
            this.candidate = undefined
          }
        }
        const typical = this.typical[STEP + GPS]!.size
        const pendingEast = this.pending ? this.pending[0] : 0
        const pendingNorth = this.pending ? this.pending[1] : 0
        if (typical !== undefined)
          checks[GPS_OFFSET] =
            Math.hypot(this.offset[0] + pendingEast, this.offset[1] + pendingNorth) / typical
      } else {
        // The first step, or the receiver catching up after a freeze: it sets the pace, nothing more.
        if (thawing) {
          this.offset = [0, 0]
          this.candidate = undefined
          this.pending = undefined
          trusted = false
        }
        this.gpsRate = [step[0] / dt, step[1] / dt]
        if (thawing) this.gpsRate = undefined
      }
    }
    if (!trusted) this.broken = true
    // A position not trusted (a candidate jump, a catch-up) continues the trusted track instead.
    const rate = this.gpsRate ?? [0, 0]
    const dt = previous < 0 ? 0 : t - h[previous + T]!
    h[slot + TRUSTED + EAST] = trusted ? east - this.offset[0] : h[previous + TRUSTED + EAST]! + rate[0] * dt
    h[slot + TRUSTED + NORTH] = trusted
      ? north - this.offset[1]
      : h[previous + TRUSTED + NORTH]! + rate[1] * dt
  }

  /** Takes a confirmed jump into the offset; one that (nearly) undoes the offset cancels it. */
  private latch(jump: [number, number], t: number): void {
    const before = Math.hypot(this.offset[0], this.offset[1])
    this.offset = [this.offset[0] + jump[0], this.offset[1] + jump[1]]
    if (Math.hypot(this.offset[0], this.offset[1]) < GPS_OFFSET_CANCEL * before) this.offset = [0, 0]
    this.offsetSince = t
  }

  /**
   * The typical size of raw third differences over the last 1 s (their lower quartile) and 3 s
   * (their median), against the sensor's long-run level. Third differences, because a manoeuvre's
   * smooth change of acceleration or of body rate shows in the second ones (of a GPS position, of
   * a body rate) as much as the noise does. A low quantile, because a manoeuvre's few large steps,
   * or a spike (which touches four of a second's eight third differences), must not count as noise.
   */
  private noiseChecks(checks: Checks): void {
    const sorted = this.noiseSorted
    for (let w = 0; w < NOISE_WINDOWS_S.length; w++) {
      const k = this.back(NOISE_WINDOWS_S[w]!)
      // The third differences ending at samples 0..k-3: the ones that lie wholly inside the window.
      const n = k < 3 ? 0 : k - 2
      this.slideNoiseWindow(w, n)
      if (n === 0) continue
      for (let i = 0; i < SENSOR_COUNT; i++) {
        const base = (w * SENSOR_COUNT + i) * CAPACITY
        const check = NOISE + NOISE_WINDOWS_S.length * i + w
        const size = w === 0 ? lowerQuartile(sorted, base, n) : median(sorted, base, n)
        const z = this.typical[check]!.z(size, this.repeats[i] === 0)
        // The 10 s median stays up for 5 s after a burst ends; the 3 s one has fallen back by then.
        if (w === LONG_NOISE) checks[check] = Math.min(z, LONG_NOISE_CONFIRM * checks[check - 1]!)
        else if (w === MEDIUM_NOISE) checks[check] = Math.min(z, this.recentNoise(i, n, check))
        else checks[check] = z
      }
    }
    this.gpsNoisy = checks[NOISE + NOISE_WINDOWS_S.length * GPS]! >= LEARN_GATE
  }

  /**
   * How far the newest third differences of sensor i confirm the noise check `check` (see
   * RECENT_NOISE): the largest of the last RECENT_NOISE (of the n in the window), times
   * RECENT_NOISE_CONFIRM, in the check's typical units. Infinity while the check is warming up.
   */
  private recentNoise(i: number, n: number, check: number): number {
    const typical = this.typical[check]!.size
    if (typical === undefined) return Number.POSITIVE_INFINITY
    let largest = 0
    for (let j = 0; j < RECENT_NOISE && j < n; j++) largest = Math.max(largest, this.value(j, NOISE_SIZE + i))
    return (RECENT_NOISE_CONFIRM * largest) / typical
  }

  /** Moves noise window w on to the sizes at samples 0..n-1 (see `slideSorted`). */
  private slideNoiseWindow(w: number, n: number): void {
    const old = this.noiseCount[w]!
    for (let i = 0; i < SENSOR_COUNT; i++)
      this.slideSorted(this.noiseSorted, (w * SENSOR_COUNT + i) * CAPACITY, old, old, n, NOISE_SIZE + i)
    this.noiseCount[w] = n
  }

  /**
   * Moves a sorted window over a history field on to samples 0..n-1, just after a sample was
   * appended, and returns how many values it holds: its `count` known values (NaN left out) were
   * those at samples 0..old-1 before, now 1..old, so it drops those from n on, and takes in the new
   * sample 0 and any older ones a window longer than before now reaches (old+1..n-1).
   */
  private slideSorted(
    sorted: Float64Array,
    base: number,
    count: number,
    old: number,
    n: number,
    field: number,
  ): number {
    for (let k = Math.max(n, 1); k <= old; k++) {
      const v = this.value(k, field)
      if (!Number.isNaN(v)) count = removeSorted(sorted, base, count, v)
    }
    for (let k = 0; k < n; k = k === 0 ? old + 1 : k + 1) {
      const v = this.value(k, field)
      if (!Number.isNaN(v)) count = insertSorted(sorted, base, count, v)
    }
    return count
  }

  /** Stores the new sample's third-difference sizes (see NOISE_SIZE), once four samples are known. */
  private storeNoiseSizes(slot: number): void {
    if (this.length < 4) return
    for (let i = 0; i < SENSOR_COUNT; i++)
      this.history[slot + NOISE_SIZE + i] = Math.abs(this.thirdDifference(i, 0))
  }

  /** Raw third difference of sensor i (GPS: its length) at the j-th newest sample. */
  private thirdDifference(i: number, j: number): number {
    if (i !== GPS) return this.rawThirdDifference(i, j)
    return Math.hypot(this.rawThirdDifference(EAST, j), this.rawThirdDifference(NORTH, j))
  }

  private rawThirdDifference(field: number, j: number): number {
    return (
      this.value(j, RAW + field) -
      3 * this.value(j + 1, RAW + field) +
      3 * this.value(j + 2, RAW + field) -
      this.value(j + 3, RAW + field)
    )
  }

  // Written out rather than through a local closure: on the hot path, every closure created per
  // record costs more than the arithmetic it wraps.
  private consistencyChecks(checks: Checks): void {
    this.setCheck(checks, 'velocity_vs_gps_speed_1s', this.speedResidual(1))
    this.setCheck(checks, 'velocity_vs_gps_speed_5s', this.speedResidual(5))
    this.setCheck(checks, 'horizontal_accel_vs_gps_2s', this.horizontalAccelResidual(1))
    this.setBiasedPair(
      checks,
      VERTICAL_PAIR,
      VERTICAL_BIAS,
      this.verticalAccelResidual(1),
      this.verticalAccelResidual(3),
    )
    this.setBiasedPair(
      checks,
      ROLL_PAIR,
      ROLL_BIAS,
      this.tiltRateResidual(1, ROLL),
      this.tiltRateResidual(3, ROLL),
    )
    this.setBiasedPair(
      checks,
      PITCH_PAIR,
      PITCH_BIAS,
      this.tiltRateResidual(1, PITCH),
      this.tiltRateResidual(3, PITCH),
    )
    this.bias[VEL] = this.standing(checks, 'velocity_vs_gps_speed_5s', 1)
    this.bias[AZ] = this.standing(checks, 'vertical_accel_vs_altitude_2s', 1)
    this.bias[GX] = this.standing(checks, 'roll_rate_vs_accel_tilt_3s', -1)
    this.bias[GY] = this.standing(checks, 'pitch_rate_vs_accel_tilt_3s', -1)
    if (!(checks[CONSISTENCY_INDEX.horizontal_accel_vs_gps_2s]! >= LEARN_GATE))
      this.horizontal.fill(Number.NaN)
  }

  /**
   * A pair of checks of one quantity, over a short window and a long one, less the sensor's constant
   * bias `b`, which the long one teaches (it is the steadier).
   */
  private setBiasedPair(
    checks: Checks,
    [shortName, longName]: readonly [ConsistencyCheck, ConsistencyCheck],
    b: number,
    short: number | undefined,
    long: number | undefined,
  ): void {
    if (long !== undefined) {
      const typical = this.typical[CONSISTENCY_INDEX[longName]]!.size
      if (typical === undefined || Math.abs(long - this.constantBias[b]!) < BIAS_GATE * typical) {
        this.learnBias(b, long)
      }
    }
    const bias = this.constantBias[b]!
    this.setCheck(checks, shortName, short === undefined ? undefined : short - bias)
    this.setCheck(checks, longName, long === undefined ? undefined : long - bias)
  }

  /** Moves constant bias b towards `value`, as a mean over up to BIAS_MEMORY values. */
  private learnBias(b: number, value: number): void {
    const count = ++this.constantBiasCount[b]!
    this.constantBias[b]! += (value - this.constantBias[b]!) / Math.min(count, BIAS_MEMORY)
  }

  /** The signed bias a consistency check shows, or NaN unless it stands above LEARN_GATE. */
  private standing(checks: Checks, name: ConsistencyCheck, sign: number): number {
    const at = CONSISTENCY_INDEX[name]
    return checks[at]! >= LEARN_GATE ? sign * this.residuals[at - CONSISTENCY]! : Number.NaN
  }

  /**
   * Each consistency check's lower quartile over the last SUSTAINED_S seconds, counting only the
   * samples since the newest untrusted reading: a drift ends in a step that is not trusted, and the
   * elevated values from before it would otherwise hold the check up for seconds after the fault.
   * Unknown until half the window's samples have a known value.
   */
  private sustainedChecks(slot: number, checks: Checks): void {
    const h = this.history
    for (let i = 0; i < CONSISTENCY_CHECKS.length; i++) h[slot + CONSISTENCY_Z + i] = checks[CONSISTENCY + i]!
    const full = this.back(SUSTAINED_S)
    // Before the history reaches back a whole window, the window is all of it.
    const span = Math.min(full < 0 ? this.length : full, this.newestBroken)
    this.slideSustainedWindow(span)
    if (full < 0) return
    for (let i = 0; i < CONSISTENCY_CHECKS.length; i++) {
      const n = this.sustainedCount[i]!
      if (n >= full / 2) checks[SUSTAINED + i] = lowerQuartile(this.sustainedSorted, i * CAPACITY, n)
    }
  }

  /** Moves the sustained windows on to samples 0..span-1 (see `slideSorted`). */
  private slideSustainedWindow(span: number): void {
    for (let i = 0; i < CONSISTENCY_CHECKS.length; i++) {
      const count = this.sustainedCount[i]!
      this.sustainedCount[i] = this.slideSorted(
        this.sustainedSorted,
        i * CAPACITY,
        count,
        this.sustainedSpan,
        span,
        CONSISTENCY_Z + i,
      )
    }
    this.sustainedSpan = span
  }

  private setCheck(checks: Checks, name: ConsistencyCheck, residual: number | undefined): void {
    const at = CONSISTENCY_INDEX[name]
    this.residuals[at - CONSISTENCY] = residual ?? Number.NaN
    if (residual === undefined) return
    checks[at] = this.typical[at]!.z(residual, true)
  }

  /** A trusted value halfway between samples j and j + 1. */
  private midpoint(j: number, field: number): number {
    return (this.trusted(j, field) + this.trusted(j + 1, field)) / 2
  }

  /** Whether samples 0..k are all trusted, so a window over them compares like with like. */
  private intact(k: number): boolean {
    return this.newestBroken > k
  }

  /** Whether the body rates of samples 0..k were all trusted too. */
  private ratesIntact(k: number): boolean {
    return this.newestRateBroken > k && this.intact(k)
  }

  /** A trusted sensor value (or ROLL, PITCH) at the k-th newest sample. */
  private trusted(k: number, field: number): number {
    return this.value(k, field >= ROLL ? field : TRUSTED + field)
  }

  /** Mean of a trusted value over samples k..m (inclusive, k newest). */
  private mean(field: number, k: number, m: number): number {
    let sum = 0
    for (let j = k; j <= m; j++) sum += this.trusted(j, field)
    return sum / (m - k + 1)
  }

  /**
   * Reported speed against the GPS track's over the last `seconds`: the mean of SPEED_TERM over the
   * window's samples whose chord lies inside it. A chord's mean velocity is the velocity at its
   * middle while the acceleration is steady, so this holds through a reversal, where the lengths of
   * half-second chords laid end to end fell short of the path (a survey drone turning back read
   * 0.3 m/s faster than its track, 7 typical residuals).
   */
  private speedResidual(seconds: number): number | undefined {
    const end = this.back(seconds)
    if (end < 0 || !this.intact(end)) return undefined
    const half = Math.max(1, this.back(CHORD_HALF_S))
    if (end < 2 * half) return undefined
    let sum = 0
    for (let j = half; j <= end - half; j++) sum += this.value(j, SPEED_TERM)
    return sum / (end - 2 * half + 1)
  }

  /**
   * Stores SPEED_TERM of the sample CHORD_HALF_S back, whose chord ends at the new sample: its
   * speed less the length of the GPS displacement over the chord, divided by the chord's time.
   */
  private storeSpeedTerm(): void {
    const half = Math.max(1, this.back(CHORD_HALF_S))
    if (2 * half >= this.length) return
    const older = 2 * half
    const track = Math.hypot(
      this.trusted(0, EAST) - this.trusted(older, EAST),
      this.trusted(0, NORTH) - this.trusted(older, NORTH),
    )
    this.history[this.slot(half) + SPEED_TERM] =
      this.trusted(half, VEL) - track / (this.value(0, T) - this.value(older, T))
  }

  /**
   * Horizontal specific force against the GPS track's acceleration over ±h seconds: the second
   * difference of position equals the acceleration averaged with triangular weights, so the
   * accelerometer is averaged with the same weights, each sample turned into one heading first.
   * Compared as magnitudes, since the heading that relates the two frames is not reported.
   */
  private horizontalAccelResidual(h: number): number | undefined {
    const mid = this.back(h)
    if (mid < 1 || this.back(2 * h) !== 2 * mid || !this.intact(2 * mid)) return undefined
    const gps = Math.hypot(this.secondDerivative(EAST, mid), this.secondDerivative(NORTH, mid))
    // The force is turned by the integrated yaw rate: a window holding an untrusted one is skipped.
    if (!this.ratesIntact(2 * mid)) return undefined
    const force = this.unbiasedForce(mid, gps)
    this.horizontal[HORIZONTAL_GPS] = gps
    return force - gps
  }

  /**
   * The length of the turned force (see `turnedForce`) less the horizontal bias, turned the same
   * way; learns the bias from a window in steady flight that hardly turned (its frame is then the
   * body's), unless the force is far from it. The window's force is left without the bias, for
   * `leftAfter`.
   */
  private unbiasedForce(mid: number, gps: number): number {
    this.turnedForce(mid)
    const h = this.horizontal
    const xEast = h[HORIZONTAL_X_EAST]!
    const xNorth = h[HORIZONTAL_X_NORTH]!
    const biasX = this.constantBias[HORIZONTAL_BIAS_X]!
    const biasY = this.constantBias[HORIZONTAL_BIAS_Y]!
    const east = h[HORIZONTAL_FORCE_EAST]! - (biasX * xEast - biasY * xNorth)
    const north = h[HORIZONTAL_FORCE_NORTH]! - (biasX * xNorth + biasY * xEast)
    const force = Math.hypot(east, north)
    const typical = this.typical[CONSISTENCY_INDEX.horizontal_accel_vs_gps_2s]!.size
    if (gps < STEADY_ACCEL && xEast > STRAIGHT && (typical === undefined || force < BIAS_GATE * typical)) {
      // The window's frame is the body's: the force less the bias is the bias's error.
      this.learnBias(HORIZONTAL_BIAS_X, biasX + east)
      this.learnBias(HORIZONTAL_BIAS_Y, biasY + north)
    }
    h[HORIZONTAL_FORCE_EAST] = east
    h[HORIZONTAL_FORCE_NORTH] = north
    return force
  }

  /**
   * The horizontal specific force averaged with triangular weights over 0..2·mid, each sample's
   * turned into the mid sample's heading by the yaw rate integrated in between: in a turn the
   * airframe rotates with the force (a centripetal force stays to the side), while the GPS track's
   * acceleration turns with the course, and the plain average of the body-frame readings would
   * stay as large as one of them. The average, and the x axis's turned direction averaged the same
   * way, are kept in `horizontal` for `unbiasedForce` and `leftAfter`.
   */
  private turnedForce(mid: number): void {
    // Yaw at sample k relative to the mid sample, integrated outward from it both ways.
    const yaws = this.yaws
    yaws[mid] = 0
    for (let k = mid - 1; k >= 1; k--) yaws[k] = yaws[k + 1]! + this.yawChange(k)
    for (let k = mid + 1; k < 2 * mid; k++) yaws[k] = yaws[k - 1]! - this.yawChange(k - 1)
    let east = 0
    let north = 0
    let alongEast = 0
    let alongNorth = 0
    let weights = 0
    for (let i = 0; i < 2 * mid - 1; i++) {
      // Outward from the middle, the newer side first: k = mid, mid - 1, ..., 1, mid + 1, ...
      const k = i < mid ? mid - i : i + 1
      const cos = Math.cos(yaws[k]!)
      const sin = Math.sin(yaws[k]!)
      const w = mid - Math.abs(k - mid)
      const ax = this.trusted(k, AX)
      const ay = this.trusted(k, AY)
      east += w * (ax * cos - ay * sin)
      north += w * (ax * sin + ay * cos)
      alongEast += w * cos
      alongNorth += w * sin
      weights += w
    }
    const h = this.horizontal
    h[HORIZONTAL_FORCE_EAST] = east / weights
    h[HORIZONTAL_FORCE_NORTH] = north / weights
    h[HORIZONTAL_X_EAST] = alongEast / weights
    h[HORIZONTAL_X_NORTH] = alongNorth / weights
  }

  /** The yaw turned from sample k + 1 to sample k (k newer): the trusted yaw rate, trapezoidal. */
  private yawChange(k: number): number {
    return ((this.trusted(k, GZ) + this.trusted(k + 1, GZ)) / 2) * (this.value(k, T) - this.value(k + 1, T))
  }

  /** Vertical specific force plus gravity against the altitude's acceleration, the same way. */
  private verticalAccelResidual(h: number): number | undefined {
    const mid = this.back(h)
    if (mid < 1 || this.back(2 * h) !== 2 * mid || !this.intact(2 * mid)) return undefined
    return this.triangular(AZ, mid) + GRAVITY + this.secondDerivative(ALT, mid)
  }

  /** Second difference of a trusted value over samples 0, mid and 2·mid, per second squared. */
  private secondDerivative(field: number, mid: number): number {
    const span = (this.value(0, T) - this.value(2 * mid, T)) / 2
    return (
      (this.trusted(0, field) - 2 * this.trusted(mid, field) + this.trusted(2 * mid, field)) / (span * span)
    )
  }

  /** A trusted value averaged with triangular weights peaking at the mid sample, over 0..2·mid. */
  private triangular(field: number, mid: number): number {
    let sum = 0
    let weights = 0
    for (let k = 1; k < 2 * mid; k++) {
      const w = mid - Math.abs(k - mid)
      sum += w * this.trusted(k, field)
      weights += w
    }
    return sum / weights
  }

  /** Trapezoidal integral of a trusted value from sample m up to sample k (k newer), in value·s. */
  private integral(field: number, k: number, m: number): number {
    let sum = 0
    for (let j = k; j < m; j++) {
      const dt = this.value(j, T) - this.value(j + 1, T)
      sum += ((this.trusted(j, field) + this.trusted(j + 1, field)) / 2) * dt
    }
    return sum
  }

  /**
   * Stores the rate terms (see ROLL_RATE_TERM) of the new sample and the one before it, once there
   * is one before it: the rates of roll and pitch the body rates make, averaged over the pair and
   * multiplied by the time between. Euler-angle kinematics, exact: roll changes at p + (q sin φ +
   * r cos φ) tan θ and pitch at q cos φ − r sin φ. The first-order form (p + r sin θ, q − r sin φ)
   * was off by up to 0.02 rad/s in a survey drone's banked, pitched corners (15 to 20° each at 0.8
   * rad/s of yaw), nine times the 3 s tilt checks' typical residual: at the same threshold, 11 false
   * alarms in 10 drone-hours of survey flight, 7 with the exact form.
   */
  private storeRateTerms(slot: number): void {
    if (this.length < 2) return
    const dt = this.value(0, T) - this.value(1, T)
    const roll = this.midpoint(0, ROLL)
    const q = this.midpoint(0, GY)
    const r = this.midpoint(0, GZ)
    this.history[slot + ROLL_RATE_TERM] =
      (this.midpoint(0, GX) + (q * Math.sin(roll) + r * Math.cos(roll)) * Math.tan(this.midpoint(0, PITCH))) *
      dt
    this.history[slot + PITCH_RATE_TERM] = (q * Math.cos(roll) - r * Math.sin(roll)) * dt
  }

  /**
   * The change of roll (or pitch) that the specific force implies, against the rate of it the body
   * rates make, integrated over the window.
   */
  private tiltRateResidual(seconds: number, angle: typeof ROLL | typeof PITCH): number | undefined {
    const end = this.back(seconds)
    if (end < 3 || !this.ratesIntact(end)) return undefined
    const change = this.mean(angle, 0, 2) - this.mean(angle, end - 2, end)
    // The body rates integrated from sample end - 1 up to sample 1, pair by pair.
    const term = angle === ROLL ? ROLL_RATE_TERM : PITCH_RATE_TERM
    let rates = 0
    for (let j = 1; j < end - 1; j++) rates += this.value(j, term)
    return (change - rates) / (this.value(1, T) - this.value(end - 1, T))
  }
}

/** Lower quartile (nearest rank below) of the n ascending values from `base`. */
function lowerQuartile(sorted: Float64Array, base: number, n: number): number {
  return sorted[base + ((n - 1) >> 2)]!
}

/** Median of the n ascending values from `base`. */
function median(sorted: Float64Array, base: number, n: number): number {
  const mid = base + (n >> 1)
  return n % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

// The sorted runs are ordered as Float64Array's own sort orders them, NaN last (the values are
// sizes, so never -0, the one other value it orders specially); the quantiles above are then the
// same as after sorting the window afresh. Shifting by hand rather than with copyWithin: the runs
// are a few dozen values at most, and the loop costs less than the call.

/** Where v goes in the ascending run of `count` values from `base`: after every value below it. */
function lowerBound(sorted: Float64Array, base: number, count: number, v: number): number {
  if (Number.isNaN(v)) return base + count
  let low = base
  let high = base + count
  while (low < high) {
    const mid = (low + high) >> 1
    // NaN, at the end, compares false: it counts as above v.
    if (sorted[mid]! < v) low = mid + 1
    else high = mid
  }
  return low
}

/** Inserts v into the ascending run of `count` values from `base`; returns the new count. */
function insertSorted(sorted: Float64Array, base: number, count: number, v: number): number {
  const at = lowerBound(sorted, base, count, v)
  for (let j = base + count; j > at; j--) sorted[j] = sorted[j - 1]!
  sorted[at] = v
  return count + 1
}

/** Removes one value equal to v (which the run holds) from the run; returns the new count. */
function removeSorted(sorted: Float64Array, base: number, count: number, v: number): number {
  // Any one of equal values will do; a NaN is taken from the end, where they all are.
  const at = Number.isNaN(v) ? base + count - 1 : lowerBound(sorted, base, count, v)
  for (let j = at; j < base + count - 1; j++) sorted[j] = sorted[j + 1]!
  return count - 1
}

/** What a repeat run becomes in the noise family: beyond any spread a healthy sensor shows. */
const REPEAT_SURPRISE = 1000

/** Per check, whether it is a repeat count, and the feature it feeds: looked up once, not per record. */
const IS_REPEAT = CHECKS.map((c) => c.family === 'repeat')
/**
 * Each check's value in ordinary flight, where its surprise is 0. A residual is 0 when the sensors
 * agree; a noise check is a window's noise over the drone's usual noise, so 1. Measured from 0, a
 * noise check in ordinary flight sat at 0.7 of its tail, and its family's largest of 27 stayed near
 * the top of its range, where a burst that doubles one sensor's noise hardly moved it.
 */
export const ORDINARY = CHECKS.map((c) => (c.family === 'noise' ? 1 : 0))

/** A check's surprise: 0 at its ordinary value, 1 at its tail. Not for repeat counts. */
export function surpriseOf(c: number, z: number, tails: ArrayLike<number>): number {
  return (z - ORDINARY[c]!) / (tails[c]! - ORDINARY[c]!)
}
const FEATURE_OF_CHECK = CHECKS.map((c) => (c.family === 'repeat' ? 1 : FAMILIES.indexOf(c.family)))

/** Feature names in vector order; a model records them and refuses to load if they change. */
export const FEATURE_NAMES = [
  'step_surprise',
  'noise_surprise',
  'consistency_surprise',
  'sustained_surprise',
  'max_surprise',
] as const
export type FeatureName = (typeof FEATURE_NAMES)[number]

/**
 * The model's features from a record's checks: per family, the largest surprise (a check's way from
 * its ordinary value to its tail, the tail being where the training fleet's values end, so checks
 * with heavier tails do not drown the others), and the largest of those. A family none of whose
 * checks is known yet is NaN.
 */
export function toFeatures(checks: Checks, tails: ArrayLike<number>): Float64Array {
  const features = new Float64Array(FEATURE_NAMES.length).fill(Number.NaN)
  for (let c = 0; c < CHECKS.length; c++) {
    const z = checks[c]!
    if (Number.isNaN(z)) continue
    const repeat = IS_REPEAT[c]
    const value = repeat ? (z > 0 ? REPEAT_SURPRISE + z : 0) : surpriseOf(c, z, tails)
    const f = FEATURE_OF_CHECK[c]!
    if (!(value <= features[f]!)) features[f] = value
  }
  let max = Number.NaN
  for (let f = 0; f < FAMILIES.length; f++) if (features[f]! > max || Number.isNaN(max)) max = features[f]!
  features[FAMILIES.length] = max
  return features
}
