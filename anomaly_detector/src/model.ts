/**
 * The detector's model: the tail of each check over the training fleet (which makes checks of
 * different kinds comparable), an Isolation Forest over FEATURE_NAMES, and the score threshold above
 * which a record is reported as an anomaly; trained and calibrated on normal telemetry only.
 *
 * A check's tail is where its healthy values end, estimated beyond what the training rows can show
 * directly: its `tailQuantile` quantile extended by `tailDecades` times the step from the quantile a
 * decade below (0.99 to 0.999), as an exponential tail continues. The raw 0.999 quantile would put
 * a light-tailed check (most of its values near its typical size) and a heavy-tailed one (a gyro's
 * step at a manoeuvre's start) at the same surprise although the second goes on to several times
 * its quantile in healthy flight; the checks would then share a threshold the heaviest sets.
 *
 * The threshold is calibrated on records the forest never saw: the last `calibrationFraction` of
 * each drone's records (in seq order) are held out of training. The threshold is the lowest score
 * at which the held-out flight would raise at most `alarmBudget` alarms per drone-hour (alarms
 * counted as the evaluation counts them: runs of flagged records less than a second apart are one);
 * when that allows none, it is the highest held-out score. Counting alarms rather than taking the
 * highest score keeps one freak moment of the held-out flight from setting the threshold.
 *
 * An anomaly, once raised, goes on while the score stays above a lower `hold_threshold`: the
 * held-out scores' `holdQuantile` quantile (a healthy record scores above it once in a thousand).
 * A fault's evidence wavers (a noise burst's spread, measured over a few samples, dips now and then
 * to what healthy flight shows), and each dip below the threshold would otherwise cut the anomaly
 * short. The hold never starts an anomaly, so it can only lengthen or join the held-out alarms the
 * threshold was calibrated by, never add one.
 */
import fs from 'node:fs/promises'
import path from 'node:path'
import type { DroneTelemetry } from '@drone-pipeline/shared/generated/drone-telemetry.ts'
import { alarmRuns } from '@drone-pipeline/shared/evaluation.ts'
import {
  CHECK_NAMES,
  CHECKS,
  DroneTracker,
  FEATURE_NAMES,
  ORDINARY,
  toFeatures,
  type Checks,
} from './features.ts'

const GPS_OFFSET_CHECK = CHECK_NAMES.indexOf('gps_offset')
const GPS_STEP_CHECK = CHECK_NAMES.indexOf('gps_step')
import {
  compileForest,
  forestProblem,
  trainIsolationForest,
  type IsolationForest,
} from './isolation-forest.ts'

export const MODEL_FORMAT = 'drone-anomaly-iforest'
export const MODEL_VERSION = 10

export interface ModelParams {
  trees: number
  sampleSize: number
  seed: number
  /** Alarms per drone-hour of the held-out flight the threshold may raise. */
  alarmBudget: number
  calibrationFraction: number
  /** The quantile of a check's values over the training rows its tail starts from. */
  tailQuantile: number
  /** Decades of rarity the tail is extrapolated beyond tailQuantile. */
  tailDecades: number
  /** The quantile of the held-out scores an anomaly holds on above (the hold threshold). */
  holdQuantile: number
}

export interface DetectorModel {
  format: typeof MODEL_FORMAT
  version: typeof MODEL_VERSION
  /** ISO 8601. */
  created_at: string
  params: ModelParams
  training: {
    records: number
    drones: number
    training_rows: number
    calibration_rows: number
  }
  check_names: string[]
  /** Per check: its extrapolated tail over the training rows, where its surprise is 1 (see `surpriseOf`). */
  check_tails: number[]
  feature_names: string[]
  /** Per feature over the training rows: the median, which stands in for a feature not known yet. */
  feature_medians: number[]
  /** A record whose score is above this is an anomaly. */
  threshold: number
  /** Once a drone's anomaly is raised, its records stay anomalies while they score above this. */
  hold_threshold: number
  forest: IsolationForest
}

export const DEFAULT_PARAMS: ModelParams = {
  trees: 100,
  /**
   * Four times the paper's ψ = 256. A tree knows its features' tails only through its subsample,
   * and the threshold sits in those tails: with 256, models trained on different healthy flights
   * of the same fleet ranged from F1 0.81 to 0.89 on the same test flights; with 1024, from 0.87 to
   * 0.90 (docs/anomaly-detection.md). It costs about 4 µs more per record (deeper trees).
   */
  sampleSize: 1024,
  seed: 1,
  /**
   * With 10 drone-hours held out (half of a 20 × 3600 s flight), three alarms: the threshold is the
   * peak of the fourth most extreme held-out moment. The highest held-out score alone swung with the
   * training seed: F1 0.78 to 0.91 on the same test flight (docs/anomaly-detection.md).
   */
  alarmBudget: 0.3,
  calibrationFraction: 0.5,
  tailQuantile: 0.999,
  tailDecades: 2,
  /**
   * On the accuracy benchmark's test flight, holding on above the held-out 0.999 quantile (0.73)
   * raised noise-burst F1 from 0.855 to 0.869 and the overall from 0.939 to 0.942, with the same
   * false alarms (docs/anomaly-detection.md).
   */
  holdQuantile: 0.999,
}

export class ModelError extends Error {
  override name = 'ModelError'
}

/**
 * Trains on normal records. Each drone's records must come in increasing seq order (as a recorded
 * dataset has them); drones may be interleaved.
 */
export async function trainModel(
  records: Iterable<DroneTelemetry> | AsyncIterable<DroneTelemetry>,
  options: Partial<ModelParams> = {},
): Promise<DetectorModel> {
  const params: ModelParams = {
    trees: options.trees ?? DEFAULT_PARAMS.trees,
    sampleSize: options.sampleSize ?? DEFAULT_PARAMS.sampleSize,
    seed: options.seed ?? DEFAULT_PARAMS.seed,
    alarmBudget: options.alarmBudget ?? DEFAULT_PARAMS.alarmBudget,
    calibrationFraction: options.calibrationFraction ?? DEFAULT_PARAMS.calibrationFraction,
    tailQuantile: options.tailQuantile ?? DEFAULT_PARAMS.tailQuantile,
    tailDecades: options.tailDecades ?? DEFAULT_PARAMS.tailDecades,
    holdQuantile: options.holdQuantile ?? DEFAULT_PARAMS.holdQuantile,
  }
  if (!(params.alarmBudget >= 0 && Number.isFinite(params.alarmBudget))) {
    throw new ModelError('alarmBudget must be a finite number, at least 0')
  }
  if (!(params.tailQuantile >= 0.9 && params.tailQuantile <= 1)) {
    throw new ModelError('tailQuantile must be in [0.9, 1]')
  }
  if (!(params.holdQuantile >= 0.9 && params.holdQuantile <= 1)) {
    throw new ModelError('holdQuantile must be in [0.9, 1]')
  }
  if (!(params.tailDecades >= 0 && Number.isFinite(params.tailDecades))) {
    throw new ModelError('tailDecades must be a finite number, at least 0')
  }
  if (!(params.calibrationFraction > 0 && params.calibrationFraction < 1)) {
    throw new ModelError('calibrationFraction must be in (0, 1)')
  }

  const trackers = new Map<string, DroneTracker>()
  /** Each drone's checks and timestamps, in seq order. */
  const flights = new Map<string, { rows: Checks[]; times: number[] }>()
  let recordCount = 0
  for await (const record of records) {
    let tracker = trackers.get(record.drone_id)
    if (!tracker) trackers.set(record.drone_id, (tracker = new DroneTracker()))
    if (record.seq <= tracker.lastSeq) {
      throw new ModelError(
        `records of ${record.drone_id} are not in seq order (seq ${record.seq} after ${tracker.lastSeq}); ` +
          'sort the training data by drone and seq',
      )
    }
    let flight = flights.get(record.drone_id)
    if (!flight) flights.set(record.drone_id, (flight = { rows: [], times: [] }))
    flight.rows.push(tracker.push(record))
    flight.times.push(record.timestamp)
    recordCount++
  }

  const trainingRows: Checks[] = []
  const heldOut: HeldOutFlight[] = []
  for (const { rows, times } of flights.values()) {
    const split = rows.length - Math.floor(rows.length * params.calibrationFraction)
    for (let i = 0; i < split; i++) trainingRows.push(rows[i]!)
    heldOut.push({ rows: rows.slice(split), times: times.slice(split), scores: [] })
  }
  const heldOutRows = heldOut.reduce((sum, flight) => sum + flight.rows.length, 0)
  if (trainingRows.length < 2 || heldOutRows < 1) {
    throw new ModelError(
      `${recordCount} records are too few to train and calibrate a model ` +
        `(${trainingRows.length} training rows, ${heldOutRows} held out)`,
    )
  }

  const tails = CHECKS.map((check, c) => {
    if (check.family === 'repeat') return 1
    // The offset is measured in typical GPS steps and is 0 in healthy flight: it shares their tail.
    if (c === GPS_OFFSET_CHECK) c = GPS_STEP_CHECK
    const known = Float64Array.from(trainingRows.map((row) => row[c]!).filter((v) => !Number.isNaN(v))).sort()
    return Math.max(extrapolatedTail(known, params.tailQuantile, params.tailDecades), ORDINARY[c]! + 1e-9)
  })
  const toRow = (checks: Checks) => toFeatures(checks, tails)
  const featureRows = trainingRows.map(toRow)
  const medians = FEATURE_NAMES.map((_, i) =>
    quantileOf(
      featureRows.map((row) => row[i]!).filter((v) => !Number.isNaN(v)),
      0.5,
    ),
  )
  const fill = (row: Float64Array) => fillUnknown(row, medians)
  featureRows.forEach(fill)
  const forest = trainIsolationForest(featureRows, params)
  const score = compileForest(forest)
  for (const flight of heldOut) flight.scores = flight.rows.map((checks) => score(fill(toRow(checks))))
  const heldOutScores = Float64Array.from(heldOut.flatMap((f) => f.scores)).sort()
  const threshold = thresholdWithin(heldOut, heldOutScores, params.alarmBudget)
  const holdThreshold = Math.min(threshold, sortedQuantile(heldOutScores, params.holdQuantile))

  return {
    format: MODEL_FORMAT,
    version: MODEL_VERSION,
    created_at: new Date().toISOString(),
    params,
    training: {
      records: recordCount,
      drones: flights.size,
      training_rows: trainingRows.length,
      calibration_rows: heldOutRows,
    },
    check_names: [...CHECK_NAMES],
    check_tails: tails,
    feature_names: [...FEATURE_NAMES],
    feature_medians: medians,
    threshold,
    hold_threshold: holdThreshold,
    forest,
  }
}

/** Replaces the features not known yet (NaN) with typical values, in place; returns the row. */
export function fillUnknown(row: Float64Array, typical: ArrayLike<number>): Float64Array {
  for (let i = 0; i < row.length; i++) if (Number.isNaN(row[i])) row[i] = typical[i]!
  return row
}

/** Nearest-rank quantile; 0 when there are no values (a check never known in training). */
function quantileOf(values: number[], q: number): number {
  return sortedQuantile(Float64Array.from(values).sort(), q)
}

function sortedQuantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}

/**
 * The quantile `q` of the ascending values, continued `decades` decades of rarity further as an
 * exponential tail continues: each decade adds the step from the quantile a decade below q to q.
 */
export function extrapolatedTail(sorted: Float64Array, q: number, decades: number): number {
  const at = sortedQuantile(sorted, q)
  const decadeBelow = sortedQuantile(sorted, 1 - 10 * (1 - q))
  return at + decades * (at - decadeBelow)
}

/** One drone's held-out records, their timestamps (ms) and, once the forest is grown, their scores. */
interface HeldOutFlight {
  rows: Checks[]
  times: number[]
  scores: number[]
}

/** Alarms the held-out flights raise at `threshold`, counted as the evaluation counts them. */
function heldOutAlarms(flights: HeldOutFlight[], threshold: number): number {
  let alarms = 0
  for (const { scores, times } of flights) {
    alarms += alarmRuns(times.filter((_, i) => scores[i]! > threshold)).length
  }
  return alarms
}

/**
 * The lowest held-out score that, as the threshold, leaves at most `budget` alarms per drone-hour
 * of held-out flight (rounded down to whole alarms); the highest held-out score when that is none.
 * `scores` are all the flights' scores, ascending.
 */
function thresholdWithin(flights: HeldOutFlight[], scores: Float64Array, budget: number): number {
  const hours =
    flights.reduce((sum, f) => sum + (f.times.length > 1 ? f.times.at(-1)! - f.times[0]! : 0), 0) / 3_600_000
  const allowed = Math.floor(budget * hours + 1e-9)
  // Raising the threshold can split a run in two, so the count is not strictly monotone; the
  // search finds a score that keeps within the budget, never one that exceeds it.
  let low = 0
  let high = scores.length - 1
  while (low < high) {
    const mid = (low + high) >> 1
    if (heldOutAlarms(flights, scores[mid]!) <= allowed) high = mid
    else low = mid + 1
  }
  return scores[low]!
}

/** Writes the model as JSON, through a temporary file so a reader never sees half a model. */
export async function saveModel(file: string, model: DetectorModel): Promise<void> {
  await fs.mkdir(path.dirname(path.resolve(file)), { recursive: true })
  const temporary = `${file}.${process.pid}.tmp`
  await fs.writeFile(temporary, JSON.stringify(model) + '\n')
  await fs.rename(temporary, file)
}

export async function loadModel(file: string): Promise<DetectorModel> {
  const retrain = `train one with: npm run detector -- train --in <normal-dataset.jsonl> --out ${file}`
  let text: string
  try {
    text = await fs.readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ModelError(`model file ${file} does not exist; ${retrain}`)
    }
    throw new ModelError(`model file ${file} cannot be read: ${(err as Error).message}`)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new ModelError(`model file ${file} is not JSON (${(err as Error).message})`)
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ModelError(`model file ${file} is not a JSON object`)
  }
  const m = parsed as Partial<Record<keyof DetectorModel, unknown>>
  if (m.format !== MODEL_FORMAT) {
    throw new ModelError(
      `${file} is not a detector model (format ${JSON.stringify(m.format)}, expected "${MODEL_FORMAT}")`,
    )
  }
  if (m.version !== MODEL_VERSION) {
    throw new ModelError(
      `${file} is model version ${JSON.stringify(m.version)}, this detector reads version ${MODEL_VERSION}; ${retrain}`,
    )
  }
  for (const [key, expected] of [
    ['feature_names', FEATURE_NAMES],
    ['check_names', CHECK_NAMES],
  ] as const) {
    const names = m[key]
    if (
      !Array.isArray(names) ||
      names.length !== expected.length ||
      names.some((n, i) => n !== expected[i])
    ) {
      throw new ModelError(
        `${file} was trained on different ${key === 'feature_names' ? 'features' : 'checks'} than this ` +
          `detector computes (model: ${Array.isArray(names) ? names.join(', ') : 'none'}; ` +
          `detector: ${expected.join(', ')}); retrain it: ${retrain}`,
      )
    }
  }
  const problem = structureProblem(m)
  if (problem) throw new ModelError(`model file ${file} is corrupt: ${problem}`)
  return parsed as DetectorModel
}

function structureProblem(m: Partial<Record<keyof DetectorModel, unknown>>): string | undefined {
  if (typeof m.threshold !== 'number' || !Number.isFinite(m.threshold))
    return 'threshold must be a finite number'
  if (
    typeof m.hold_threshold !== 'number' ||
    !Number.isFinite(m.hold_threshold) ||
    !(m.hold_threshold <= m.threshold)
  )
    return 'hold_threshold must be a finite number no greater than threshold'
  for (const [key, length] of [
    ['feature_medians', FEATURE_NAMES.length],
    ['check_tails', CHECK_NAMES.length],
  ] as const) {
    const values = m[key]
    if (
      !Array.isArray(values) ||
      values.length !== length ||
      !values.every(
        (v, i) => typeof v === 'number' && Number.isFinite(v) && (key !== 'check_tails' || v > ORDINARY[i]!),
      )
    ) {
      return `${key} must hold ${length} finite numbers${key === 'check_tails' ? ' above 0 (noise checks: above 1)' : ''}`
    }
  }
  const problem = forestProblem(m.forest)
  if (problem) return problem
  if ((m.forest as IsolationForest).dimensions !== FEATURE_NAMES.length) {
    return `forest.dimensions must be ${FEATURE_NAMES.length}`
  }
  return undefined
}
