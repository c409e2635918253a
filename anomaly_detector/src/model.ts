/**
 * The detector's model: an Isolation Forest over FEATURE_NAMES plus the score threshold above which
 * a record is reported as an anomaly, trained and calibrated on normal telemetry only.
 *
 * The threshold is calibrated on records the forest never saw: the last `calibrationFraction` of
 * each drone's records (in seq order) are held out of training, and the threshold is the
 * `thresholdQuantile` quantile of their scores. Holding out the end of every drone's stream, rather
 * than whole drones, measures how scores drift as a flight goes on while keeping every drone's
 * behaviour in the training sample; with the default 0.995, about 0.5% of normal records score
 * above it, which is the false-alarm rate the live detector should expect on healthy drones.
 */
import fs from 'node:fs/promises'
import path from 'node:path'
import type { DroneTelemetry } from '@drone-pipeline/shared/generated/drone-telemetry.ts'
import { FEATURE_NAMES, fillUnknown, nextFeatures, type DroneState } from './features.ts'
import {
  compileForest,
  forestProblem,
  trainIsolationForest,
  type IsolationForest,
} from './isolation-forest.ts'

export const MODEL_FORMAT = 'drone-anomaly-iforest'
export const MODEL_VERSION = 1

export interface ModelParams {
  trees: number
  sampleSize: number
  seed: number
  thresholdQuantile: number
  calibrationFraction: number
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
  feature_names: string[]
  /**
   * Per feature over the training rows: the median, which stands in for a feature a record gives
   * no basis for; and the mean and standard deviation, for explaining a score.
   */
  feature_stats: { median: number[]; mean: number[]; std: number[] }
  /** A record whose score is above this is an anomaly. */
  threshold: number
  forest: IsolationForest
}

export const DEFAULT_PARAMS: ModelParams = {
  trees: 100,
  /**
   * The paper's ψ = 256. Larger subsamples were seen to raise recall on single-sensor spikes
   * (synthetic flights, same false-alarm rate: about 0.3 at 256, 0.8 at 1024, 0.97 at 4096),
   * because a tree knows only its subsample's range; the accuracy work measures that on labeled
   * faults before the default moves. `train --sample-size` sets it today.
   */
  sampleSize: 256,
  seed: 1,
  thresholdQuantile: 0.995,
  calibrationFraction: 0.2,
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
    thresholdQuantile: options.thresholdQuantile ?? DEFAULT_PARAMS.thresholdQuantile,
    calibrationFraction: options.calibrationFraction ?? DEFAULT_PARAMS.calibrationFraction,
  }
  if (!(params.thresholdQuantile > 0 && params.thresholdQuantile <= 1)) {
    throw new ModelError('thresholdQuantile must be in (0, 1]')
  }
  if (!(params.calibrationFraction > 0 && params.calibrationFraction < 1)) {
    throw new ModelError('calibrationFraction must be in (0, 1)')
  }

  const states = new Map<string, DroneState>()
  const rowsByDrone = new Map<string, Float64Array[]>()
  let recordCount = 0
  for await (const record of records) {
    const state = states.get(record.drone_id)
    if (state && record.seq <= state.seq) {
      throw new ModelError(
        `records of ${record.drone_id} are not in seq order (seq ${record.seq} after ${state.seq}); ` +
          'sort the training data by drone and seq',
      )
    }
    const step = nextFeatures(state, record)
    states.set(record.drone_id, step.state)
    let rows = rowsByDrone.get(record.drone_id)
    if (!rows) rowsByDrone.set(record.drone_id, (rows = []))
    // NaN marks unknown features until the training medians that replace them are known.
    rows.push(fillUnknown(step, UNKNOWN))
    recordCount++
  }

  const trainingRows: Float64Array[] = []
  const calibrationRows: Float64Array[] = []
  for (const rows of rowsByDrone.values()) {
    const split = rows.length - Math.floor(rows.length * params.calibrationFraction)
    rows.forEach((row, i) => (i < split ? trainingRows : calibrationRows).push(row))
  }
  if (trainingRows.length < 2 || calibrationRows.length < 1) {
    throw new ModelError(
      `${recordCount} records are too few to train and calibrate a model ` +
        `(${trainingRows.length} training rows, ${calibrationRows.length} held out)`,
    )
  }

  const median = FEATURE_NAMES.map((_, i) =>
    medianOf(trainingRows.map((row) => row[i]!).filter((v) => !Number.isNaN(v))),
  )
  for (const row of [...trainingRows, ...calibrationRows]) {
    for (let i = 0; i < row.length; i++) if (Number.isNaN(row[i])) row[i] = median[i]!
  }

  const forest = trainIsolationForest(trainingRows, params)
  const score = compileForest(forest)
  const calibrationScores = Float64Array.from(calibrationRows, score).sort()
  const rank = Math.min(
    calibrationScores.length - 1,
    Math.max(0, Math.ceil(params.thresholdQuantile * calibrationScores.length) - 1),
  )

  return {
    format: MODEL_FORMAT,
    version: MODEL_VERSION,
    created_at: new Date().toISOString(),
    params,
    training: {
      records: recordCount,
      drones: rowsByDrone.size,
      training_rows: trainingRows.length,
      calibration_rows: calibrationRows.length,
    },
    feature_names: [...FEATURE_NAMES],
    feature_stats: { median, ...meanAndStd(trainingRows) },
    threshold: calibrationScores[rank]!,
    forest,
  }
}

const UNKNOWN = new Float64Array(FEATURE_NAMES.length).fill(Number.NaN)

/** 0 when there are no values: a feature never known in training is 0 there, as in nextFeatures. */
function medianOf(values: number[]): number {
  if (values.length === 0) return 0
  const sorted = Float64Array.from(values).sort()
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

function meanAndStd(rows: readonly Float64Array[]): { mean: number[]; std: number[] } {
  const mean = FEATURE_NAMES.map((_, i) => rows.reduce((sum, row) => sum + row[i]!, 0) / rows.length)
  const std = mean.map((m, i) =>
    Math.sqrt(rows.reduce((sum, row) => sum + (row[i]! - m) ** 2, 0) / rows.length),
  )
  return { mean, std }
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
  const names = m.feature_names
  if (
    !Array.isArray(names) ||
    names.length !== FEATURE_NAMES.length ||
    names.some((n, i) => n !== FEATURE_NAMES[i])
  ) {
    throw new ModelError(
      `${file} was trained on different features than this detector computes ` +
        `(model: ${Array.isArray(names) ? names.join(', ') : 'none'}; detector: ${FEATURE_NAMES.join(', ')}); ` +
        `retrain it: ${retrain}`,
    )
  }
  const problem = structureProblem(m)
  if (problem) throw new ModelError(`model file ${file} is corrupt: ${problem}`)
  return parsed as DetectorModel
}

function structureProblem(m: Partial<Record<keyof DetectorModel, unknown>>): string | undefined {
  if (typeof m.threshold !== 'number' || !Number.isFinite(m.threshold))
    return 'threshold must be a finite number'
  const stats = m.feature_stats as Partial<DetectorModel['feature_stats']> | undefined
  for (const key of ['median', 'mean', 'std'] as const) {
    const values: unknown = stats?.[key]
    if (
      !Array.isArray(values) ||
      values.length !== FEATURE_NAMES.length ||
      !values.every((v) => typeof v === 'number' && Number.isFinite(v))
    ) {
      return `feature_stats.${key} must hold ${FEATURE_NAMES.length} finite numbers`
    }
  }
  const problem = forestProblem(m.forest)
  if (problem) return problem
  if ((m.forest as IsolationForest).dimensions !== FEATURE_NAMES.length) {
    return `forest.dimensions must be ${FEATURE_NAMES.length}`
  }
  return undefined
}
