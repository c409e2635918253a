/**
 * The detector's offline commands: `train` builds a model from a labeled dataset's normal records,
 * `score` runs a dataset through the same Scorer the live detector uses and writes predictions
 * (DESIGN.md: one JSON line per record with drone_id, seq, score, anomaly).
 */
import fs from 'node:fs'
import { once } from 'node:events'
import path from 'node:path'
import readline from 'node:readline'
import { finished } from 'node:stream/promises'
import {
  ConfigError,
  exitOnConfigError,
  parseOrExit,
  type CommandSpec,
  type OptionSpecs,
} from '@drone-pipeline/shared/cli.ts'
import { DatasetError, readDataset, type LabeledRecord } from '@drone-pipeline/shared/dataset.ts'
import {
  evaluate,
  type Counts,
  type Evaluation,
  type JudgedPoint,
} from '@drone-pipeline/shared/evaluation.ts'
import type { DroneTelemetry } from '@drone-pipeline/shared/generated/drone-telemetry.ts'
import {
  DEFAULT_PARAMS,
  loadModel,
  ModelError,
  saveModel,
  trainModel,
  type DetectorModel,
  type ModelParams,
} from './model.ts'
import { createScorer, predictionRow } from './scorer.ts'
import { Sequencer } from './sequencer.ts'

export const TRAIN_COMMAND = {
  usage: 'npm run detector -- train',
  summary:
    'Trains the Isolation Forest on the normal (label 0) records of a labeled dataset, calibrates the anomaly ' +
    'threshold on the last part of each drone’s records, and writes the model file.',
  options: {
    in: { type: 'string', description: 'labeled dataset (JSON Lines) to train on' },
    out: { type: 'string', description: 'model file to write' },
    trees: { type: 'int', default: DEFAULT_PARAMS.trees, min: 1, description: 'number of isolation trees' },
    sampleSize: {
      type: 'int',
      default: DEFAULT_PARAMS.sampleSize,
      min: 2,
      description: 'records sampled to grow each tree (ψ)',
    },
    seed: {
      type: 'int',
      default: DEFAULT_PARAMS.seed,
      description: 'random seed; the same seed gives the same model',
    },
    alarmBudget: {
      type: 'number',
      default: DEFAULT_PARAMS.alarmBudget,
      min: 0,
      description:
        'false alarms per drone-hour the threshold may raise on the held-out records (0: the highest held-out score)',
    },
    holdQuantile: {
      type: 'number',
      default: DEFAULT_PARAMS.holdQuantile,
      min: 0.9,
      max: 1,
      description:
        'an anomaly goes on while the score stays above this quantile of the held-out scores (1: no hold, the threshold alone)',
    },
    calibrationFraction: {
      type: 'number',
      default: DEFAULT_PARAMS.calibrationFraction,
      min: 0.01,
      max: 0.9,
      description: 'fraction of each drone’s records held out of training to calibrate the threshold',
    },
  },
} satisfies CommandSpec<OptionSpecs>

export const SCORE_COMMAND = {
  usage: 'npm run detector -- score',
  summary:
    'Scores every record of a dataset with a trained model and writes predictions (JSON Lines: drone_id, seq, ' +
    'score, anomaly); when the records carry labels, prints precision, recall and F1.',
  options: {
    in: { type: 'string', description: 'dataset (JSON Lines telemetry, labeled or not) to score' },
    out: { type: 'string', description: 'predictions file to write' },
    model: { type: 'string', env: 'DETECTOR_MODEL', description: 'model file written by train' },
  },
} satisfies CommandSpec<OptionSpecs>

export async function trainCommand(argv: string[]): Promise<void> {
  const { options } = parseOrExit(TRAIN_COMMAND, argv)
  const input = required(options.in, '--in', TRAIN_COMMAND.usage)
  const output = required(options.out, '--out', TRAIN_COMMAND.usage)
  const started = performance.now()
  await reportErrors(async () => {
    const model = await trainFromDataset(input, options)
    await saveModel(output, model)
    const { training, params } = model
    console.log(
      `trained on ${training.records} normal records from ${training.drones} drones ` +
        `(${training.training_rows} for the forest, ${training.calibration_rows} held out) ` +
        `in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    )
    console.log(
      `threshold ${model.threshold.toFixed(4)} (at most ${params.alarmBudget} alarms per held-out drone-hour), ` +
        `held on above ${model.hold_threshold.toFixed(4)} (held-out ${params.holdQuantile} quantile); ` +
        `model written to ${output}`,
    )
  })
}

export async function scoreCommand(argv: string[]): Promise<void> {
  const { options } = parseOrExit(SCORE_COMMAND, argv)
  const input = required(options.in, '--in', SCORE_COMMAND.usage)
  const output = required(options.out, '--out', SCORE_COMMAND.usage)
  const modelFile = required(options.model, '--model', SCORE_COMMAND.usage)
  const started = performance.now()
  await reportErrors(async () => {
    const summary = await scoreDataset(input, output, await loadModel(modelFile))
    const elapsed = (performance.now() - started) / 1000
    console.log(
      `scored ${summary.records} records from ${summary.drones} drones in ${elapsed.toFixed(1)} s ` +
        `(${Math.round(summary.records / elapsed)} records/s): ${summary.anomalies} anomalies; ` +
        `predictions written to ${output}`,
    )
    if (summary.duplicates + summary.gaps > 0) {
      console.log(`${summary.duplicates} duplicate records left out; ${summary.gaps} seq numbers missing`)
    }
    if (summary.labeled) console.log(formatEvaluation(summary.labeled))
  })
}

/** The labeled figures in a few lines (docs/anomaly-detection.md defines them). */
export function formatEvaluation(e: Evaluation): string {
  const figures = (c: Counts) =>
    `precision ${c.precision.toFixed(3)}, recall ${c.recall.toFixed(3)}, F1 ${c.f1.toFixed(3)}`
  const strict = e.per_record_strict
  const lines = [
    `against ${e.records} labeled records (${e.faulty_records} faulty), per record: ${figures(strict)} ` +
      `(TP ${strict.tp}, FP ${strict.fp}, FN ${strict.fn}); leaving out ${e.settle_s} s after each fault: ` +
      figures(e.per_record_settled),
  ]
  for (const [fault, c] of Object.entries(strict.by_fault)) {
    const events = e.per_event.by_fault[fault]!
    lines.push(
      `  ${fault}: ${figures(c)}; ${events.detected}/${events.events} events detected, ` +
        `median time to detect ${events.detect_s_p50 ?? '-'} s`,
    )
  }
  lines.push(
    `${e.alarms} alarms, ${e.false_alarms} false: ${e.false_alarms_per_hour} per hour of healthy flight ` +
      `(${e.healthy_hours} drone-hours)`,
  )
  return lines.join('\n')
}

/** Trains on the label-0 records of a labeled dataset. */
export async function trainFromDataset(input: string, params: Partial<ModelParams>): Promise<DetectorModel> {
  async function* normalRecords(): AsyncGenerator<DroneTelemetry> {
    for await (const row of readDataset(input)) if (row.label === 0) yield row
  }
  return trainModel(normalRecords(), params)
}

export interface ScoreSummary {
  records: number
  drones: number
  anomalies: number
  /** Records left out because their (drone_id, seq) came earlier in the dataset. */
  duplicates: number
  /** Missing seq numbers in the drones' sequences. */
  gaps: number
  /** Present when the dataset's records carry labels. */
  labeled?: Evaluation
}

/**
 * Scores a dataset and writes one prediction line per record, each drone's records in seq order
 * (the live detector's sequencer: duplicates left out, reordered records put back in order).
 */
export async function scoreDataset(
  input: string,
  output: string,
  model: DetectorModel,
): Promise<ScoreSummary> {
  const records: AsyncIterable<DroneTelemetry | LabeledRecord> = (await isLabeled(input))
    ? readDataset(input)
    : readTelemetry(input)
  const scorer = createScorer(model)
  // As live, but on the records' own clock: a gap is waited for during 2 s of the drone's samples.
  const sequencer = new Sequencer<DroneTelemetry | LabeledRecord>((record) => record)
  fs.mkdirSync(path.dirname(path.resolve(output)), { recursive: true })
  const out = fs.createWriteStream(output)
  const drones = new Set<string>()
  const counts = { records: 0, anomalies: 0 }
  const judged: JudgedPoint[] = []
  try {
    for await (const offered of records) {
      for (const { item } of sequencer.offer(offered, offered.timestamp).ready) await scoreOne(item)
    }
    for (const { item } of sequencer.flush()) await scoreOne(item)
  } finally {
    out.end()
    await finished(out)
  }

  async function scoreOne(record: DroneTelemetry | LabeledRecord): Promise<void> {
    const row = predictionRow(scorer.score(record))
    const { drone_id, seq, anomaly } = row
    if (!out.write(JSON.stringify(row) + '\n')) await once(out, 'drain')
    drones.add(drone_id)
    counts.records++
    if (anomaly) counts.anomalies++
    if ('label' in record) {
      const { timestamp, label, fault } = record
      judged.push({ drone_id, seq, timestamp, label, fault, anomaly })
    }
  }

  const { duplicates, gaps } = sequencer.stats
  const summary: ScoreSummary = {
    records: counts.records,
    drones: drones.size,
    anomalies: counts.anomalies,
    duplicates,
    gaps,
  }
  if (judged.length > 0) summary.labeled = evaluate(judged)
  return summary
}

/** Whether the dataset's first record carries a label; a labeled file is then read strictly as one. */
async function isLabeled(file: string): Promise<boolean> {
  if (!fs.existsSync(file)) throw new DatasetError(`dataset ${file} does not exist`)
  const lines = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity })
  try {
    for await (const line of lines) {
      if (line.trim() === '') continue
      try {
        const first: unknown = JSON.parse(line)
        return typeof first === 'object' && first !== null && 'label' in first
      } catch {
        // Not JSON: the reader reports it with its line number.
        return false
      }
    }
    return false
  } finally {
    lines.close()
  }
}

/** Reads unlabeled telemetry (JSON Lines as published on MQTT). */
async function* readTelemetry(file: string): AsyncGenerator<DroneTelemetry> {
  const lines = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity })
  let n = 0
  for await (const line of lines) {
    n++
    if (line.trim() === '') continue
    let row: unknown
    try {
      row = JSON.parse(line)
    } catch (err) {
      throw new DatasetError(`${file}:${n}: not JSON (${(err as Error).message})`)
    }
    const r = row as Partial<DroneTelemetry> | null
    if (typeof r?.drone_id !== 'string' || typeof r.seq !== 'number' || typeof r.timestamp !== 'number') {
      throw new DatasetError(
        `${file}:${n}: expected a telemetry object with drone_id (string), seq and timestamp (numbers)`,
      )
    }
    yield r as DroneTelemetry
  }
}

function required(value: string | undefined, flag: string, usage: string): string {
  if (value === undefined || value === '') exitOnConfigError(new ConfigError(`${flag} is required`), usage)
  return value
}

/** Input and model problems are the user's to fix: one clear line and exit code 1, not a stack trace. */
async function reportErrors(run: () => Promise<void>): Promise<void> {
  try {
    await run()
  } catch (err) {
    if (!(err instanceof DatasetError || err instanceof ModelError)) throw err
    process.stderr.write(`error: ${err.message}\n`)
    process.exitCode = 1
  }
}
