/**
 * Accuracy benchmark: trains the detector on a healthy flight of every flight profile and measures
 * it on a separate, labeled flight with faults (other seed, other drones and missions), scored
 * twice: offline with `npm run detector -- score`, and live, replayed through the real pipeline.
 *
 *   npm run bench:accuracy -- --json out.json
 */
import fs from 'node:fs'
import path from 'node:path'
import {
  exitOnConfigError,
  parseOrExit,
  type CommandSpec,
  type OptionSpecs,
} from '@drone-pipeline/shared/cli.ts'
import { readDataset } from '@drone-pipeline/shared/dataset.ts'
import { evaluate, type Evaluation, type JudgedPoint } from '@drone-pipeline/shared/evaluation.ts'
import { sleep } from '@drone-pipeline/shared/retry.ts'
import { stackConfigFrom, STACK_OPTIONS, type StackConfig } from './config.ts'
import { machineDescription } from './machine.ts'
import { readJsonLines } from './delivery.ts'
import { LogFollower } from './log-follow.ts'
import { runNode, Stack, startPipeline, startReplay, type Log } from './stack.ts'

const COMMAND = {
  usage: 'npm run bench:accuracy --',
  summary:
    'Generates a healthy training flight of every profile and a labeled test flight with random faults\n' +
    '(another seed, other drones and missions), trains the detector, scores the test flight offline and live\n' +
    '(replayed through the real pipeline), and reports precision, recall and F1 per record and per fault\n' +
    'event, overall and per fault type, false alarms per hour of healthy flight and time to detect.\n' +
    'JSON keys: machine, train, test, model, offline, live, live_offline_f1_difference, verdict_agreement\n' +
    '(offline and live are evaluations: docs/anomaly-detection.md lists their keys).',
  options: {
    ...STACK_OPTIONS,
    runDir: { ...STACK_OPTIONS.runDir, default: '.run/accuracy' },
    portOffset: { ...STACK_OPTIONS.portOffset, default: 400 },
    trainDrones: {
      type: 'int',
      description: 'drones in the training flight',
      default: 20,
      min: 1,
      max: 1000,
    },
    trainDuration: { type: 'number', description: 'seconds of training flight', default: 3600, min: 60 },
    trainSeed: { type: 'int', description: 'seed of the training flight', default: 7 },
    trainProfile: {
      type: 'string',
      description: 'flight profile of the training flight (all: survey, delivery and inspection drones)',
      default: 'all',
    },
    testDrones: { type: 'int', description: 'drones in the test flight', default: 20, min: 1, max: 1000 },
    testDuration: { type: 'number', description: 'seconds of test flight', default: 1800, min: 60 },
    testSeed: { type: 'int', description: 'seed of the test flight', default: 11 },
    testProfile: {
      type: 'string',
      description: 'flight profile of the test flight (mixed: delivery and inspection drones)',
      default: 'mixed',
    },
    faultsPerHour: {
      type: 'number',
      description: 'random faults per drone-hour in the test flight',
      default: 30,
    },
    offlineOnly: {
      type: 'boolean',
      description: 'score offline only: no replay through the live pipeline (no brokers started)',
    },
    liveTimeout: {
      type: 'number',
      description: 'longest wait (s) for the live detector to score the replay',
      default: 900,
    },
    json: { type: 'string', description: 'write the figures to this JSON file' },
  },
} as const satisfies CommandSpec<OptionSpecs>

const log: Log = (message) => console.error(`[accuracy] ${message}`)

const { options } = parseOrExit(COMMAND, process.argv.slice(2))
let config: StackConfig
try {
  config = stackConfigFrom(options, options.testDrones)
} catch (err) {
  exitOnConfigError(err, COMMAND.usage)
}
fs.rmSync(config.runDir, { recursive: true, force: true })
fs.mkdirSync(config.runDir, { recursive: true })
const file = (name: string) => path.join(config.runDir, name)

const train = {
  drones: options.trainDrones,
  duration_s: options.trainDuration,
  seed: options.trainSeed,
  profile: options.trainProfile,
  faults: 'none',
}
const test = {
  drones: options.testDrones,
  duration_s: options.testDuration,
  seed: options.testSeed,
  profile: options.testProfile,
  faults: `random:${options.faultsPerHour}`,
}
for (const [name, flight] of [
  ['train', train],
  ['test', test],
] as const) {
  log(
    `generating the ${name}ing flight: ${flight.drones} drones x ${flight.duration_s} s, ${flight.profile}, faults ${flight.faults}`,
  )
  runNode('simulator/src/main.ts', [
    'generate',
    ...['--drones', String(flight.drones), '--duration', String(flight.duration_s)],
    ...['--seed', String(flight.seed), '--profile', flight.profile, '--faults', flight.faults],
    ...['--out', file(`${name}.jsonl`)],
  ])
}
log('training the model')
runNode('anomaly_detector/src/main.ts', ['train', '--in', file('train.jsonl'), '--out', file('model.json')])
const model = JSON.parse(fs.readFileSync(file('model.json'), 'utf8')) as {
  threshold: number
  params: Record<string, number>
}
log('scoring the test flight offline')
runNode('anomaly_detector/src/main.ts', [
  'score',
  ...['--in', file('test.jsonl'), '--out', file('offline-predictions.jsonl'), '--model', file('model.json')],
])
const offlineVerdicts = verdicts(file('offline-predictions.jsonl'))
const offline = await evaluation(offlineVerdicts)
report('offline', offline)

let live: Evaluation | null = null
let agreement: number | null = null
if (!options.offlineOnly) {
  const liveVerdicts = await scoreLive()
  live = await evaluation(liveVerdicts)
  report('live', live)
  let same = 0
  for (const [key, anomaly] of offlineVerdicts) if (liveVerdicts.get(key) === anomaly) same++
  agreement = round(same / offlineVerdicts.size)
}

const figures = {
  machine: machineDescription(),
  train,
  test,
  model: { threshold: model.threshold, ...model.params },
  offline,
  live,
  live_offline_f1_difference: live
    ? round(Math.abs(live.per_record_strict.f1 - offline.per_record_strict.f1))
    : null,
  verdict_agreement: agreement,
}
console.log(JSON.stringify(figures, null, 2))
if (options.json) fs.writeFileSync(options.json, JSON.stringify(figures, null, 2) + '\n')
process.exit(0)

/** Replays the test flight through a fresh stack; the live detector's verdicts, by drone and seq. */
async function scoreLive(): Promise<Map<string, boolean>> {
  const stack = new Stack(config)
  const predictions = file('live-predictions.jsonl')
  const onSignal = () => void stack.stop(log).then(() => process.exit(130))
  process.once('SIGINT', onSignal)
  try {
    await startPipeline(stack, { log, model: file('model.json'), predictionsOut: predictions })
    const replay = startReplay(stack, file('test.jsonl'), 0, { log })
    const expected = offlineVerdicts.size
    const deadline = Date.now() + options.liveTimeout * 1000
    // Only what was appended since the last look is read: the file grows to tens of MB.
    const follower = new LogFollower(predictions)
    let scored = 0
    for (let lastLog = 0; ; await sleep(1000)) {
      scored += follower.read().length
      if (scored >= expected || Date.now() > deadline) break
      if (Date.now() - lastLog > 10_000) {
        log(`live detector has scored ${scored} of ${expected} records`)
        lastLog = Date.now()
      }
    }
    if ((await replay.exited) !== 0) log(`the replay exited with an error; see ${replay.logFile}`)
    if (scored < expected) log(`the live detector scored ${scored} of ${expected} records before the timeout`)
  } finally {
    process.off('SIGINT', onSignal)
    await stack.stop(log)
  }
  return verdicts(predictions)
}

function verdicts(predictions: string): Map<string, boolean> {
  const byKey = new Map<string, boolean>()
  for (const p of readJsonLines<{ drone_id: string; seq: number; anomaly: boolean }>(predictions)) {
    // A record scored twice (redelivered) keeps its first verdict, as its anomaly event would.
    const key = `${p.drone_id}/${p.seq}`
    if (!byKey.has(key)) byKey.set(key, p.anomaly)
  }
  return byKey
}

/** The test flight judged by these verdicts; a record never scored counts as not flagged. */
async function evaluation(byKey: Map<string, boolean>): Promise<Evaluation> {
  const points: JudgedPoint[] = []
  for await (const row of readDataset(file('test.jsonl'))) {
    const { drone_id, seq, timestamp, label, fault } = row
    points.push({ drone_id, seq, timestamp, label, fault, anomaly: byKey.get(`${drone_id}/${seq}`) ?? false })
  }
  return evaluate(points)
}

function report(name: string, e: Evaluation): void {
  const strict = e.per_record_strict
  log(
    `${name}: per record precision ${strict.precision}, recall ${strict.recall}, F1 ${strict.f1}; ` +
      `settled F1 ${e.per_record_settled.f1}; event recall ${e.per_event.recall}; ` +
      `${e.false_alarms_per_hour} false alarms per healthy drone-hour`,
  )
}

function round(value: number): number {
  return Math.round(value * 10_000) / 10_000
}
