/**
 * Reliability scenarios: a fleet flies through the real stack while one fault is injected, and
 * what the detector processed is counted by (drone_id, seq) against what was published.
 */
import fs from 'node:fs'
import path from 'node:path'
import { httpsRequest, loadTlsMaterial, tlsFilesFor } from '@drone-pipeline/shared/tls.ts'
import { KAFKA_TOPICS } from '@drone-pipeline/shared/topics.ts'
import type { StackConfig } from './config.ts'
import {
  readJsonLines,
  scoresUnlikeOffline,
  summarizeDelivery,
  type Published,
  type Scored,
  type ScoredRecord,
} from './delivery.ts'
import { ensureKafkaJars } from './install.ts'
import { readTopic, startKafka } from './kafka.ts'
import { startMosquitto } from './mosquitto.ts'
import { freePort } from './procs.ts'
import { rssMb } from './procstat.ts'
import {
  runNode,
  Stack,
  startDetector,
  startGateway,
  startPipeline,
  startSimulator,
  type Log,
} from './stack.ts'
import { sleep } from '@drone-pipeline/shared/retry.ts'

export const SCENARIOS = [
  'consumer-slowdown',
  'detector-crash',
  'detector-freeze',
  'gateway-crash',
  'gateway-freeze',
  'kafka-restart',
  'mosquitto-restart',
  'two-gateways',
] as const
export type Scenario = (typeof SCENARIOS)[number]

export interface ScenarioOptions {
  drones: number
  rateHz: number
  /** Seconds the fleet publishes; the fault starts a third of the way in. */
  durationS: number
  /** consumer-slowdown: how long the detector is slowed. */
  slowdownS: number
  /** Crashed or stopped components come back after this many seconds. */
  downtimeS: number
  /**
   * *-freeze: how long the process is frozen (SIGSTOP, then SIGCONT), as a starved CPU, a long
   * garbage collection or a suspended VM would hold it: alive, its connections open, silent.
   */
  freezeS: number
  /** Longest wait for the detector to catch up after publishing ends. */
  catchUpTimeoutS: number
  seed: number
}

export interface ScenarioResult {
  scenario: Scenario
  fault: string
  drones: number
  rate_hz: number
  duration_s: number
  published: number
  delivered: number
  lost: number
  /** Records the detector processed more than once (redelivered after a crash, past its commit). */
  duplicates_processed: number
  anomaly_events: number
  duplicate_anomalies: number
  /**
   * Live predictions whose score differs from scoring the published flight offline with the same
   * model: 0 when the detector judged every record as if nothing had happened (see
   * `scoresUnlikeOffline`).
   */
  scores_unlike_offline: number
  delivery_pct: number
  /** From the end of publishing until every published record was processed; null if it never was. */
  catch_up_s: number | null
  peak_gateway_rss_mb: number
}

/** Samples the peak memory of every gateway process while the scenario runs. */
function watchGatewayMemory(stack: Stack): { stop(): number } {
  let peak = 0
  const timer = setInterval(() => {
    for (const proc of stack.processes)
      if (proc.name.startsWith('gateway')) peak = Math.max(peak, rssMb(proc.pid))
  }, 250)
  return {
    stop() {
      clearInterval(timer)
      return Math.round(peak * 10) / 10
    },
  }
}

interface FaultContext {
  stack: Stack
  options: ScenarioOptions
  log: Log
  predictions: string
  model: string
  secondGatewayPort: number
  /** Per-record delay that makes the detector ten times slower than the fleet's offered rate. */
  slowdownDelayMs: number
}

/** Each scenario's fault, injected a third of the way through publishing. */
const FAULTS: Record<
  Scenario,
  { describe(o: ScenarioOptions): string; inject(c: FaultContext): Promise<void> }
> = {
  'consumer-slowdown': {
    describe: (o) => `detector slowed tenfold (to a tenth of the offered rate) for ${o.slowdownS} s`,
    async inject({ stack, options, slowdownDelayMs }) {
      const admin = loadTlsMaterial(tlsFilesFor(stack.config.certsDir, 'admin'))
      const res = await httpsRequest(
        `https://${stack.config.host}:${stack.config.ports.detector}/debug/slowdown`,
        {
          method: 'PUT',
          ca: admin.ca,
          client: admin,
          json: { delayMs: slowdownDelayMs, seconds: options.slowdownS },
        },
      )
      if (res.status !== 200) throw new Error(`slowdown request refused: ${res.status} ${res.body}`)
    },
  },
  'detector-crash': {
    describe: (o) => `detector killed with SIGKILL mid-stream, restarted after ${o.downtimeS} s`,
    async inject({ stack, options, log, predictions, model }) {
      await stack.kill('anomaly-detector', log)
      await sleep(options.downtimeS * 1000)
      await startDetector(stack, { log, model, predictionsOut: predictions })
    },
  },
  'detector-freeze': {
    describe: (o) => `detector frozen (SIGSTOP) mid-stream for ${o.freezeS} s, then resumed (SIGCONT)`,
    inject: ({ stack, options, log }) => stack.freeze('anomaly-detector', options.freezeS, log),
  },
  'gateway-crash': {
    describe: (o) => `gateway killed with SIGKILL mid-stream, restarted after ${o.downtimeS} s`,
    async inject({ stack, options, log }) {
      await stack.kill('gateway', log)
      await sleep(options.downtimeS * 1000)
      await startGateway(stack, { log })
    },
  },
  'gateway-freeze': {
    describe: (o) => `gateway frozen (SIGSTOP) mid-stream for ${o.freezeS} s, then resumed (SIGCONT)`,
    inject: ({ stack, options, log }) => stack.freeze('gateway', options.freezeS, log),
  },
  'kafka-restart': {
    describe: (o) => `Kafka stopped (SIGTERM) and started again after ${o.downtimeS} s`,
    async inject({ stack, options, log }) {
      await stack.stop(log, ['kafka'])
      await sleep(options.downtimeS * 1000)
      stack.add(await startKafka(stack.config, ensureKafkaJars(stack.config.cacheDir, log)))
    },
  },
  'mosquitto-restart': {
    describe: (o) => `Mosquitto restarted gracefully (SIGTERM), down for ${o.downtimeS} s`,
    async inject({ stack, options, log }) {
      await stack.stop(log, ['mosquitto'])
      await sleep(options.downtimeS * 1000)
      stack.add(await startMosquitto(stack.config))
    },
  },
  'two-gateways': {
    describe: (o) =>
      `two gateways share the subscription; gateway-2 killed with SIGKILL, restarted after ${o.downtimeS} s`,
    async inject({ stack, options, log, secondGatewayPort }) {
      await stack.kill('gateway-2', log)
      await sleep(options.downtimeS * 1000)
      await startGateway(stack, { log, instance: { name: 'gateway-2', port: secondGatewayPort } })
    },
  },
}

export async function runScenario(
  scenario: Scenario,
  base: StackConfig,
  options: ScenarioOptions,
  log: Log,
): Promise<ScenarioResult> {
  const config: StackConfig = { ...base, runDir: path.join(base.runDir, scenario), drones: options.drones }
  fs.rmSync(config.runDir, { recursive: true, force: true })
  const stack = new Stack(config)
  const published = path.join(config.runDir, 'published.jsonl')
  const predictions = path.join(config.runDir, 'predictions.jsonl')
  // Interrupted, the scenario still stops what it started.
  const onSignal = () => void stack.stop(log).then(() => process.exit(130))
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    const { model } = await startPipeline(stack, { log, predictionsOut: predictions })
    const secondGatewayPort = await freePort()
    if (scenario === 'two-gateways') {
      await startGateway(stack, { log, instance: { name: 'gateway-2', port: secondGatewayPort } })
    }
    const memory = watchGatewayMemory(stack)
    const simulator = startSimulator(
      stack,
      {
        drones: options.drones,
        rateHz: options.rateHz,
        seed: options.seed,
        durationS: options.durationS,
        datasetOut: published,
      },
      { log },
    )
    const fault = FAULTS[scenario]
    log(`${scenario}: ${fault.describe(options)}`)
    await sleep((options.durationS / 3) * 1000)
    await fault.inject({
      stack,
      options,
      log,
      predictions,
      model,
      secondGatewayPort,
      slowdownDelayMs: (10 * 1000) / (options.drones * options.rateHz),
    })
    const code = await simulator.exited
    if (code !== 0) log(`simulator exited with ${code}: some publishes were not acknowledged in time`)
    const publishedAt = Date.now()
    const sent = readJsonLines<Published>(published)
    let delivery = summarizeDelivery(sent, readJsonLines<Scored>(predictions))
    let catchUp: number | null = null
    const deadline = publishedAt + options.catchUpTimeoutS * 1000
    for (;;) {
      delivery = summarizeDelivery(sent, readJsonLines<Scored>(predictions))
      if (delivery.lost === 0) {
        catchUp = Math.round((Date.now() - publishedAt) / 100) / 10
        break
      }
      if (Date.now() > deadline) break
      await sleep(500)
    }
    const peakRss = memory.stop()
    const offline = path.join(config.runDir, 'offline-predictions.jsonl')
    runNode('anomaly_detector/src/main.ts', ['score', '--in', published, '--out', offline, '--model', model])
    const unlike = scoresUnlikeOffline(
      readJsonLines<ScoredRecord>(offline),
      readJsonLines<ScoredRecord>(predictions),
    )
    const anomalies = await readTopic(config, KAFKA_TOPICS.anomalies, { idleMs: 2_000 })
    const keys = anomalies.map((m) => {
      const event = JSON.parse(m.value.toString()) as { drone_id: string; seq: number }
      return `${event.drone_id}/${event.seq}`
    })
    return {
      scenario,
      fault: fault.describe(options),
      drones: options.drones,
      rate_hz: options.rateHz,
      duration_s: options.durationS,
      published: delivery.published,
      delivered: delivery.delivered,
      lost: delivery.lost,
      duplicates_processed: delivery.duplicates,
      anomaly_events: anomalies.length,
      duplicate_anomalies: anomalies.length - new Set(keys).size,
      scores_unlike_offline: unlike,
      delivery_pct: delivery.published
        ? Math.round((delivery.delivered / delivery.published) * 1e6) / 1e4
        : 100,
      catch_up_s: catchUp,
      peak_gateway_rss_mb: peakRss,
    }
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    await stack.stop(log)
  }
}
