/**
 * Latency benchmark: a fleet publishes through the real stack (Mosquitto, gateway, Kafka,
 * detector) for a fixed time; every record the detector scored is matched to what was published
 * by (drone_id, seq), and publish-to-detection latency is taken from the detector's predictions.
 *
 *   npm run bench:latency -- --drones 20 --rate 10 --duration 30 --json out.json
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseOrExit, type CommandSpec, type OptionSpecs } from '@drone-pipeline/shared/cli.ts'
import { stackConfigFrom, STACK_OPTIONS } from './config.ts'
import { Stack, startPipeline, startSimulator } from './stack.ts'
import { readJsonLines, summarizeDelivery, type Published, type Scored } from './delivery.ts'
import { sleep } from '@drone-pipeline/shared/retry.ts'

const BENCH_COMMAND = {
  usage: 'npm run bench:latency --',
  summary:
    'Runs a simulated fleet through the real pipeline and reports delivery and publish-to-detection latency\n' +
    '(keys: published, delivered, lost, duplicates, p50_ms, p95_ms, p99_ms, max_ms, throughput_msg_s).',
  options: {
    ...STACK_OPTIONS,
    runDir: { ...STACK_OPTIONS.runDir, default: '.run/bench' },
    portOffset: { ...STACK_OPTIONS.portOffset, default: 200 },
    drones: { type: 'int', description: 'simulated drones', default: 20, min: 1, max: 10000 },
    rate: { type: 'number', description: 'samples per second per drone', default: 10, min: 0.1, max: 1000 },
    duration: { type: 'number', description: 'seconds the fleet publishes', default: 30, min: 1 },
    seed: { type: 'int', description: 'simulation seed', default: 42 },
    drainTimeout: {
      type: 'number',
      description: 'seconds to wait for the detector to catch up',
      default: 60,
      min: 1,
    },
    json: { type: 'string', description: 'write the figures to this JSON file' },
  },
} as const satisfies CommandSpec<OptionSpecs>

const log = (message: string) => console.error(`[bench] ${message}`)

const { options } = parseOrExit(BENCH_COMMAND, process.argv.slice(2))
const config = stackConfigFrom(options, options.drones)
// A fresh run directory: the brokers start empty, so only this run's messages are counted.
fs.rmSync(config.runDir, { recursive: true, force: true })
const stack = new Stack(config)
const published = path.join(config.runDir, 'published.jsonl')
const predictions = path.join(config.runDir, 'predictions.jsonl')
let exitCode = 0
process.on('SIGINT', () => void stack.stop(log).then(() => process.exit(130)))
try {
  await startPipeline(stack, { log, predictionsOut: predictions })
  const simulator = startSimulator(
    stack,
    {
      drones: options.drones,
      rateHz: options.rate,
      seed: options.seed,
      durationS: options.duration,
      datasetOut: published,
    },
    { log },
  )
  const code = await simulator.exited
  if (code !== 0) throw new Error(`simulator exited with ${code}; see ${simulator.logFile}`)
  const sent = readJsonLines<Published>(published)
  log(`published ${sent.length}; waiting for the detector to score them`)
  const deadline = Date.now() + options.drainTimeout * 1000
  let scored = readJsonLines<Scored>(predictions)
  while (summarizeDelivery(sent, scored).lost > 0 && Date.now() < deadline) {
    await sleep(500)
    scored = readJsonLines<Scored>(predictions)
  }
  const figures = {
    drones: options.drones,
    rate_hz: options.rate,
    duration_s: options.duration,
    offered_msg_s: options.drones * options.rate,
    ...summarizeDelivery(sent, scored),
    machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.cpus()[0]?.model ?? 'unknown CPU'}`,
  }
  console.log(JSON.stringify(figures, null, 2))
  if (options.json) fs.writeFileSync(options.json, JSON.stringify(figures, null, 2) + '\n')
  if (figures.lost > 0) exitCode = 1
} catch (err) {
  console.error(err)
  exitCode = 1
} finally {
  await stack.stop(log)
}
process.exit(exitCode)
