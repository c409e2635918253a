/**
 * The load sweep: the same brokers carry first the floor (a bare mosquitto_sub | kcat bridge), then
 * the pipeline, through the same ascending loads. Each step flies a fresh simulator for a fixed
 * time, then waits (bounded) until every published record has come out at the end; a step that
 * could not catch up leaves a backlog behind, so the path is started afresh before the next step.
 */
import fs from 'node:fs'
import path from 'node:path'
import { loadTlsMaterial, httpsRequest, tlsFilesFor, type TlsMaterial } from '@drone-pipeline/shared/tls.ts'
import { KAFKA_TOPICS } from '@drone-pipeline/shared/topics.ts'
import { sleep } from '@drone-pipeline/shared/retry.ts'
import type { StackConfig } from './config.ts'
import { FLOOR_BRIDGE, FLOOR_TOPIC, startFloor } from './floor.ts'
import { ensureAptPackages, KCAT, MOSQUITTO_SUB } from './install.ts'
import { LogFollower } from './log-follow.ts'
import { machineDescription } from './machine.ts'
import { clockTicksPerSecond, ProcessMeter, type NamedPid } from './procstat.ts'
import { Stack, startBrokers, startPrometheusFor, startServices, startSimulator, type Log } from './stack.ts'
import {
  compareToFloor,
  fleetForLoad,
  LatencyCollector,
  maxSustained,
  P95_LIMIT_MS,
  seriesValue,
  summarizeStep,
  type FloorComparison,
  type PeakBacklog,
  type StepResult,
} from './sweep.ts'

export interface SweepOptions {
  /** Offered loads, msg/s, ascending. */
  loads: number[]
  /** Seconds each step publishes. */
  durationS: number
  maxDrones: number
  /** Longest wait, after publishing ends, for the last records to come out. */
  drainTimeoutS: number
  /** Seconds at the lowest load before the measured steps, on every fresh start; 0 for none. */
  warmupS: number
  floor: boolean
  seed: number
}

export interface SweepResult {
  mode: 'sweep'
  loads_msg_s: number[]
  duration_s: number
  drain_timeout_s: number
  warmup_s: number
  max_drones: number
  p95_limit_ms: number
  pipeline: StepResult[]
  floor: StepResult[]
  max_sustained_msg_s: { pipeline: number | null; floor: number | null }
  floor_comparison: FloorComparison
  /** Times a path was started afresh because a step left a backlog. */
  restarts: { pipeline: number; floor: number }
  machine: string
  started_at: string
}

const nowMs = () => performance.timeOrigin + performance.now()
/** How often the detector's predictions are read: the resolution of the pipeline's arrival times. */
const POLL_MS = 100

/** One way through the brokers, as the step loop sees it. */
interface SweepPath {
  /** Processes of this path besides the stack's brokers and services. */
  processes(): NamedPid[]
  /** From now on, records arriving at the end go into `collector`. */
  collect(collector: LatencyCollector): void
  /** Reads what arrived since the last call (for sources that are polled). */
  poll(): void
  /** Samples the backlog between the stages, if this path can. */
  backlog?(collector: LatencyCollector): Promise<PeakBacklog | undefined>
  /** Stops what the path needs (for the pipeline: everything, as Kafka holds its backlog). */
  stop(): Promise<void>
}

interface PathLifecycle {
  name: 'floor' | 'pipeline'
  start(): Promise<SweepPath>
}

/** The warm-up's drain: long enough for a healthy path at the lowest load, short for one that is not. */
const WARMUP_DRAIN_S = 20

/** The sweep's stack: brokers and services in <run-dir>/stack, the reports beside it. */
export function sweepStack(config: StackConfig): Stack {
  return new Stack({ ...config, runDir: path.join(config.runDir, 'stack') })
}

/** Runs every step on `stack` (which must have nothing running) and stops all it started. */
export async function runSweep(stack: Stack, options: SweepOptions, log: Log): Promise<SweepResult> {
  if (options.floor) ensureAptPackages([MOSQUITTO_SUB, KCAT], log)
  const { config } = stack
  const ticks = clockTicksPerSecond()
  const startedAt = new Date().toISOString()
  const ensureBrokers = async () => {
    if (stack.get('kafka')) return
    // A fresh run directory: nothing left over from an earlier run or step is counted.
    fs.rmSync(config.runDir, { recursive: true, force: true })
    await startBrokers(stack, { log, extraTopics: [[FLOOR_TOPIC, config.partitions]] })
  }
  const floorLifecycle: PathLifecycle = {
    name: 'floor',
    async start() {
      await ensureBrokers()
      return floorPath(await startFloor(stack, log))
    },
  }
  const pipelineLifecycle: PathLifecycle = {
    name: 'pipeline',
    async start() {
      await ensureBrokers()
      const predictions = path.join(config.runDir, 'predictions.jsonl')
      await startPrometheusFor(stack, { log })
      await startServices(stack, { log, predictionsOut: predictions })
      return pipelinePath(stack, predictions, log)
    },
  }
  const restarts = { pipeline: 0, floor: 0 }
  try {
    const floor = options.floor ? await sweepPath(floorLifecycle) : []
    const pipeline = await sweepPath(pipelineLifecycle)
    return {
      mode: 'sweep',
      loads_msg_s: options.loads,
      duration_s: options.durationS,
      drain_timeout_s: options.drainTimeoutS,
      warmup_s: options.warmupS,
      max_drones: options.maxDrones,
      p95_limit_ms: P95_LIMIT_MS,
      pipeline,
      floor,
      max_sustained_msg_s: { pipeline: maxSustained(pipeline), floor: maxSustained(floor) },
      floor_comparison: compareToFloor(pipeline, floor),
      restarts,
      machine: machineDescription(),
      started_at: startedAt,
    }
  } finally {
    await stack.stop(log)
  }

  async function sweepPath(lifecycle: PathLifecycle): Promise<StepResult[]> {
    let current = await warmedUp(lifecycle)
    const steps: StepResult[] = []
    for (const [i, load] of options.loads.entries()) {
      const step = await runStep(current, lifecycle.name, load, options.durationS, options.drainTimeoutS)
      steps.push(step)
      log(`${lifecycle.name} ${formatStep(step)}`)
      if (!step.drained && i < options.loads.length - 1) {
        log(`${lifecycle.name}: ${step.lost} records still missing after the drain timeout; starting afresh`)
        restarts[lifecycle.name]++
        await current.stop()
        current = await warmedUp(lifecycle)
      }
    }
    await current.stop()
    return steps
  }

  async function warmedUp(lifecycle: PathLifecycle): Promise<SweepPath> {
    const current = await lifecycle.start()
    if (options.warmupS > 0) {
      log(`${lifecycle.name}: warming up for ${options.warmupS} s at ${options.loads[0]} msg/s`)
      const warm = await runStep(current, lifecycle.name, options.loads[0]!, options.warmupS, WARMUP_DRAIN_S)
      if (warm.delivered === 0) throw new Error(`${lifecycle.name}: nothing came through while warming up`)
    }
    return current
  }

  async function runStep(
    current: SweepPath,
    name: string,
    load: number,
    durationS: number,
    drainTimeoutS: number,
  ): Promise<StepResult> {
    const fleet = fleetForLoad(load, options.maxDrones)
    const collector = new LatencyCollector()
    current.collect(collector)
    const meter = new ProcessMeter(
      () => [
        ...stack.processes.filter((p) => p.name !== FLOOR_BRIDGE).map(({ name, pid }) => ({ name, pid })),
        ...current.processes(),
        { name: 'bench', pid: process.pid },
      ],
      ticks,
    )
    meter.start()
    const stepStarted = Date.now()
    const summaryFile = path.join(config.runDir, `simulator-${name}-${load}.json`)
    fs.rmSync(summaryFile, { force: true })
    const simulator = startSimulator(
      stack,
      {
        drones: fleet.drones,
        rateHz: fleet.rate_hz,
        seed: options.seed,
        durationS,
        summaryJson: summaryFile,
      },
      { log },
    )
    let peak: PeakBacklog | undefined
    let sampling = true
    const sampler = (async () => {
      while (sampling) {
        const now = await current.backlog?.(collector)
        if (now) {
          peak = {
            before_kafka: Math.max(peak?.before_kafka ?? 0, now.before_kafka),
            detector_lag: Math.max(peak?.detector_lag ?? 0, now.detector_lag),
          }
        }
        await sleep(1_000)
      }
    })()
    // Late samples go out at once, so an overloaded simulator takes longer; this bounds how much.
    const limitS = durationS * 3 + 60
    const publishDeadline = Date.now() + limitS * 1000
    // Polled while publishing too, so that arrival times are those of the arrivals (within a poll).
    while (!simulator.hasExited() && Date.now() < publishDeadline) {
      await sleep(POLL_MS)
      current.poll()
    }
    if (!simulator.hasExited()) log(`the simulator was still publishing after ${limitS} s; stopping it`)
    await stack.stop(log, ['simulator'])
    const { published, duration_s: simulatorS } = simulatorSummary(summaryFile, simulator.logFile)
    const deadline = Date.now() + drainTimeoutS * 1000
    current.poll()
    while (collector.delivered < published && Date.now() < deadline) {
      await sleep(POLL_MS)
      current.poll()
    }
    sampling = false
    await sampler
    return summarizeStep({
      offered: load,
      fleet,
      durationS,
      published,
      simulatorS,
      collector,
      peakBacklog: peak ?? null,
      processes: meter.stop(),
      wallS: (Date.now() - stepStarted) / 1000,
    })
  }
}

/** What the simulator published and how long it took, from its --summary-json (written when it exits). */
function simulatorSummary(summaryFile: string, logFile: string): { published: number; duration_s: number } {
  if (!fs.existsSync(summaryFile)) throw new Error(`the simulator wrote no summary; see ${logFile}`)
  return JSON.parse(fs.readFileSync(summaryFile, 'utf8')) as { published: number; duration_s: number }
}

function floorPath(floor: Awaited<ReturnType<typeof startFloor>>): SweepPath {
  return {
    processes: () => floor.processes(),
    collect(collector) {
      // Earlier steps' stragglers are told apart by their publish time.
      const sinceUs = nowMs() * 1000
      floor.onRecord((record) => {
        if (record.publish_timestamp < sinceUs) return
        collector.add(
          record.drone_id,
          record.seq,
          record.arrivalMs - record.publish_timestamp / 1000,
          record.arrivalMs,
        )
      })
    },
    poll() {},
    stop: () => floor.stop(),
  }
}

interface Prediction {
  drone_id: string
  seq: number
  latency_ms: number
}

function pipelinePath(stack: Stack, predictionsFile: string, log: Log): SweepPath {
  const { config } = stack
  const predictions = new LogFollower(predictionsFile)
  const scraper = metricsScraper(config)
  let collector = new LatencyCollector()
  /** The gateway's Kafka writes when the step began: all topics, and telemetry-validated. */
  let baseline: { all: number; valid: number } | undefined
  const poll = () => {
    const arrivalMs = nowMs()
    for (const line of predictions.read()) {
      if (line.trim() === '') continue
      const p = JSON.parse(line) as Prediction
      collector.add(p.drone_id, p.seq, p.latency_ms, arrivalMs)
    }
  }
  const gatewayProduced = async (topics: string[]) => {
    const values = await Promise.all(
      topics.map((topic) => scraper(config.ports.gateway, 'gateway_messages_produced_total', { topic })),
    )
    return values.some((v) => v === undefined) ? undefined : values.reduce((a, b) => a! + b!, 0)
  }
  return {
    processes: () => [],
    collect(next) {
      // What is in the file so far belongs to earlier steps, which drained.
      predictions.read()
      collector = next
      baseline = undefined
      void Promise.all([gatewayProduced(ALL_TOPICS), gatewayProduced(VALIDATED)]).then(([all, valid]) => {
        if (all !== undefined && valid !== undefined) baseline = { all, valid }
      })
    },
    poll,
    async backlog(current) {
      // The simulator is new each step, so its count starts at 0; the gateway's runs on.
      const [sent, all, valid] = await Promise.all([
        scraper(config.ports.simulatorMetrics, 'simulator_messages_sent_total'),
        gatewayProduced(ALL_TOPICS),
        gatewayProduced(VALIDATED),
      ])
      if (sent === undefined || all === undefined || valid === undefined || !baseline) return undefined
      poll()
      return {
        before_kafka: Math.max(0, sent - (all - baseline.all)),
        detector_lag: Math.max(0, valid - baseline.valid - current.delivered),
      }
    },
    stop: () => stack.stop(log),
  }
}

const VALIDATED = [KAFKA_TOPICS.validated]
const ALL_TOPICS = [KAFKA_TOPICS.validated, KAFKA_TOPICS.dlq]

/** Reads one sample from a service's /metrics, with Prometheus's certificate; undefined if it cannot. */
function metricsScraper(
  config: StackConfig,
): (port: number, name: string, labels?: Record<string, string>) => Promise<number | undefined> {
  let prometheus: TlsMaterial | undefined
  return async (port, name, labels) => {
    prometheus ??= loadTlsMaterial(tlsFilesFor(config.certsDir, 'prometheus'))
    try {
      const res = await httpsRequest(`https://${config.host}:${port}/metrics`, {
        ca: prometheus.ca,
        client: prometheus,
        timeoutMs: 1_000,
      })
      return res.status === 200 ? seriesValue(res.body, name, labels) : undefined
    } catch {
      return undefined
    }
  }
}

const ms = (v: number | null) => (v === null ? '-' : `${v} ms`)

export function formatStep(step: StepResult): string {
  const backlog = step.peak_backlog
    ? `, peak backlog before Kafka ${step.peak_backlog.before_kafka}, detector lag ${step.peak_backlog.detector_lag}`
    : ''
  return (
    `${step.offered_msg_s} msg/s (${step.drones} drones x ${step.rate_hz} Hz): ` +
    `${step.delivered}/${step.published} delivered, p50 ${ms(step.p50_ms)} p95 ${ms(step.p95_ms)} ` +
    `p99 ${ms(step.p99_ms)} max ${ms(step.max_ms)}, achieved ${step.achieved_msg_s} msg/s${backlog}: ` +
    (step.sustained ? 'sustained' : 'NOT sustained')
  )
}
