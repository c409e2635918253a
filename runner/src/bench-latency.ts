/**
 * Latency benchmark: a fleet publishes through the real stack (Mosquitto, gateway, Kafka,
 * detector) for a fixed time; every record the detector scored is matched to what was published
 * by (drone_id, seq), and publish-to-detection latency is taken from the detector's predictions.
 * With --sweep it steps the offered load, measures a bare Mosquitto-to-Kafka bridge (the floor) at
 * the same loads, and writes an HTML report and a PNG of its main chart (load-sweep.ts, report.ts).
 *
 *   npm run bench:latency -- --drones 20 --rate 10 --duration 30 --json out.json
 *   npm run bench:latency -- --sweep --duration 20 --json sweep.json
 */
import fs from 'node:fs'
import path from 'node:path'
import {
  ConfigError,
  exitOnConfigError,
  parseOrExit,
  type CommandSpec,
  type OptionSpecs,
} from '@drone-pipeline/shared/cli.ts'
import { stackConfigFrom, STACK_OPTIONS, type StackConfig } from './config.ts'
import { Stack, startPipeline, startSimulator } from './stack.ts'
import { readJsonLines, summarizeDelivery, type Published, type Scored } from './delivery.ts'
import { runSweep, sweepStack, type SweepResult } from './load-sweep.ts'
import { machineDescription } from './machine.ts'
import { MAIN_CHART, mainChartHtml, renderPng, reportHtml } from './report.ts'
import { DEFAULT_LOADS, largestFleet, parseLoads } from './sweep.ts'
import { sleep } from '@drone-pipeline/shared/retry.ts'

const BENCH_COMMAND = {
  usage: 'npm run bench:latency --',
  summary:
    'Runs a simulated fleet through the real pipeline and reports delivery and publish-to-detection latency\n' +
    '(keys: drones, rate_hz, duration_s, offered_msg_s, published, delivered, lost, duplicates, p50_ms, p95_ms,\n' +
    'p99_ms, max_ms, machine).\n\n' +
    'With --sweep: steps the offered load through --loads (drones = load / 10 up to --max-drones, then faster\n' +
    'drones), each step publishing for --duration s and draining for at most --drain-timeout s; measures the\n' +
    'floor (mosquitto_sub | kcat -P, read back by kcat -C) at the same loads on the same brokers first; writes\n' +
    'an HTML report and a PNG of the latency chart. JSON keys (docs/benchmarks.md): mode, loads_msg_s,\n' +
    'duration_s, drain_timeout_s, warmup_s, max_drones, p95_limit_ms, pipeline[], floor[] (per step:\n' +
    'offered_msg_s, drones, rate_hz, duration_s, published, simulator_s, delivered, lost, duplicates,\n' +
    'achieved_msg_s, p50_ms, p95_ms, p99_ms, max_ms, drained, sustained, wall_s, peak_backlog,\n' +
    'processes{name: cpu_s, peak_rss_mb}, latency_histogram), max_sustained_msg_s, floor_comparison,\n' +
    'restarts, machine, started_at.',
  options: {
    ...STACK_OPTIONS,
    runDir: { ...STACK_OPTIONS.runDir, default: '.run/bench' },
    portOffset: { ...STACK_OPTIONS.portOffset, default: 200 },
    drones: { type: 'int', description: 'simulated drones (single load)', default: 20, min: 1, max: 10000 },
    rate: {
      type: 'number',
      description: 'samples per second per drone (single load)',
      default: 10,
      min: 0.1,
      max: 1000,
    },
    duration: {
      type: 'number',
      description: 'seconds the fleet publishes (with --sweep: per step)',
      default: 30,
      min: 1,
    },
    seed: { type: 'int', description: 'simulation seed', default: 42 },
    drainTimeout: {
      type: 'number',
      description: 'seconds to wait for the detector to catch up (with --sweep: per step)',
      default: 60,
      min: 1,
    },
    json: { type: 'string', description: 'write the figures to this JSON file' },
    sweep: { type: 'boolean', description: 'step the offered load (see above)' },
    loads: {
      type: 'string',
      description: 'with --sweep: offered loads, msg/s, comma-separated',
      default: DEFAULT_LOADS.join(','),
    },
    maxDrones: {
      type: 'int',
      description: 'with --sweep: most drones (MQTT connections) in a step; above, drones sample faster',
      default: 2000,
      min: 1,
      max: 10000,
    },
    warmup: {
      type: 'number',
      description: 'with --sweep: seconds at the lowest load before measuring, on each fresh start (0: none)',
      default: 5,
      min: 0,
    },
    noFloor: { type: 'boolean', description: 'with --sweep: skip the floor' },
    report: {
      type: 'string',
      description: 'with --sweep: the HTML report (default <run-dir>/sweep-report.html)',
    },
    png: {
      type: 'string',
      description: 'with --sweep: PNG of the latency chart (default <run-dir>/sweep-latency.png)',
    },
    distributionLoad: {
      type: 'int',
      description:
        'with --sweep: load whose latency distribution the report shows (default: highest sustained)',
      min: 1,
    },
  },
} as const satisfies CommandSpec<OptionSpecs>

const log = (message: string) => console.error(`[bench] ${message}`)

const { options } = parseOrExit(BENCH_COMMAND, process.argv.slice(2))
let loads: number[]
try {
  loads = parseLoads(options.loads)
  if (!options.sweep && (options.noFloor || options.report || options.png))
    throw new ConfigError('--no-floor, --report and --png go with --sweep')
} catch (err) {
  exitOnConfigError(err, BENCH_COMMAND.usage)
}
// Certificates are issued for this many drones on first use (about a minute per thousand).
const config = stackConfigFrom(
  options,
  options.sweep ? largestFleet(loads, options.maxDrones) : options.drones,
)
process.exit(options.sweep ? await sweep(config) : await singleLoad(config))

async function sweep(config: StackConfig): Promise<number> {
  const reportFile = path.resolve(options.report ?? path.join(config.runDir, 'sweep-report.html'))
  const pngFile = path.resolve(options.png ?? path.join(config.runDir, 'sweep-latency.png'))
  const stack = sweepStack(config)
  process.on('SIGINT', () => void stack.stop(log).then(() => process.exit(130)))
  let result: SweepResult
  try {
    result = await runSweep(
      stack,
      {
        loads,
        durationS: options.duration,
        maxDrones: options.maxDrones,
        drainTimeoutS: options.drainTimeout,
        warmupS: options.warmup,
        floor: !options.noFloor,
        seed: options.seed,
      },
      log,
    )
  } catch (err) {
    console.error(err)
    return 1
  }
  if (options.json) fs.writeFileSync(options.json, JSON.stringify(result, null, 2) + '\n')
  const command = `npm run bench:latency -- ${process.argv.slice(2).join(' ')}`
  fs.mkdirSync(path.dirname(reportFile), { recursive: true })
  fs.writeFileSync(reportFile, reportHtml(result, { command, distributionLoad: options.distributionLoad }))
  const chartFile = path.join(config.runDir, 'sweep-latency-chart.html')
  fs.writeFileSync(chartFile, mainChartHtml(result))
  await renderPng(chartFile, pngFile, MAIN_CHART, log)
  const best = result.max_sustained_msg_s
  log(`highest load sustained: pipeline ${best.pipeline ?? 'none'}, floor ${best.floor ?? 'none'} (msg/s)`)
  log(`report: ${reportFile}`)
  log(`chart: ${pngFile}`)
  return 0
}

async function singleLoad(config: StackConfig): Promise<number> {
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
      machine: machineDescription(),
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
  return exitCode
}
