/**
 * The load sweep's arithmetic, free of I/O: which fleet offers a load, how a step's latencies are
 * summarised, which steps were sustained, and how the pipeline compares with the bare bridge.
 */
import { ConfigError } from '@drone-pipeline/shared/cli.ts'
import { latencyFigures, type LatencyFigures } from './delivery.ts'
import type { Usage } from './procstat.ts'

/** The steps: from a small fleet to twenty times the 1,000 msg/s target. */
export const DEFAULT_LOADS = [100, 1000, 5000, 10000, 20000]
/** A step is sustained when its p95 is under this and nothing was lost. */
export const P95_LIMIT_MS = 250
/** Each drone samples at this rate until the fleet reaches --max-drones; past that, drones sample faster. */
export const BASE_RATE_HZ = 10
/** Upper edges of the latency histogram's buckets, ms; one more bucket holds everything above the last. */
export const HISTOGRAM_EDGES_MS = [1, 2, 5, 10, 20, 50, 100, 250, 500, 1000, 2500, 5000, 10000]

/** "100,1000,5000" into ascending, distinct loads in msg/s. */
export function parseLoads(text: string, flag = '--loads'): number[] {
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  if (items.length === 0) throw new ConfigError(`${flag} must list at least one load in msg/s`)
  const loads = items.map((item) => {
    const load = Number(item)
    if (!Number.isInteger(load) || load < 1 || load > 1_000_000) {
      throw new ConfigError(`${flag}: "${item}" is not a whole number of msg/s between 1 and 1000000`)
    }
    return load
  })
  return [...new Set(loads)].sort((a, b) => a - b)
}

export interface StepFleet {
  drones: number
  rate_hz: number
}

/**
 * The fleet that offers `load` msg/s: drones at 10 Hz (one MQTT/TLS connection each) up to
 * `maxDrones`, then the same drones sampling faster. The detector's model is trained at 10 Hz, so
 * a faster fleet would not be the healthy flight it knows (docs/benchmarks.md).
 */
export function fleetForLoad(load: number, maxDrones: number): StepFleet {
  const drones = Math.max(1, Math.min(maxDrones, Math.round(load / BASE_RATE_HZ)))
  return { drones, rate_hz: load / drones }
}

/** The most drones any step of `loads` flies: the certificates a sweep needs, and no more. */
export function largestFleet(loads: readonly number[], maxDrones: number): number {
  return Math.max(1, ...loads.map((load) => fleetForLoad(load, maxDrones).drones))
}

/** Records that arrived at the end of a path, each counted once by (drone_id, seq). */
export class LatencyCollector {
  private readonly seen = new Set<string>()
  private readonly latencies: number[] = []
  duplicates = 0
  /** When the last new record arrived, ms since the epoch; undefined before the first. */
  lastArrivalMs: number | undefined
  /** The earliest publish among them (arrival − latency), ms since the epoch. */
  firstPublishMs: number | undefined

  add(droneId: string, seq: number, latencyMs: number, arrivalMs: number): void {
    const key = `${droneId}\u0000${seq}`
    if (this.seen.has(key)) {
      this.duplicates++
      return
    }
    this.seen.add(key)
    this.latencies.push(latencyMs)
    this.firstPublishMs = Math.min(this.firstPublishMs ?? Infinity, arrivalMs - latencyMs)
    this.lastArrivalMs = Math.max(this.lastArrivalMs ?? -Infinity, arrivalMs)
  }

  get delivered(): number {
    return this.latencies.length
  }

  sorted(): number[] {
    return [...this.latencies].sort((a, b) => a - b)
  }
}

export interface LatencyHistogram {
  /** Upper bucket edges, ms; `counts` has one more entry, for everything above the last edge. */
  edges_ms: number[]
  counts: number[]
}

export function latencyHistogram(
  latencies: number[],
  edges: number[] = HISTOGRAM_EDGES_MS,
): LatencyHistogram {
  const counts = new Array<number>(edges.length + 1).fill(0)
  for (const latency of latencies) {
    const bucket = edges.findIndex((edge) => latency <= edge)
    counts[bucket < 0 ? edges.length : bucket]!++
  }
  return { edges_ms: [...edges], counts }
}

/** Messages held at each stage of the pipeline, at their highest during the step. */
export interface PeakBacklog {
  /** Published by the drones, not yet written to Kafka (in Mosquitto or the gateway). */
  before_kafka: number
  /** Written to telemetry-validated, not yet scored: the detector's lag. */
  detector_lag: number
}

export interface StepResult extends LatencyFigures {
  offered_msg_s: number
  drones: number
  rate_hz: number
  duration_s: number
  published: number
  /**
   * The simulator's own time from its first publish to its last PUBACK; well above duration_s,
   * the fleet could not publish at the offered rate, or its PUBACKs came late.
   */
  simulator_s: number
  delivered: number
  lost: number
  duplicates: number
  /** Records delivered per second, from the first publish until the last delivery. */
  achieved_msg_s: number
  /** Every published record arrived before the drain timeout. */
  drained: boolean
  /** p95 under P95_LIMIT_MS and nothing lost. */
  sustained: boolean
  /** From the step's start to the end of its drain: the interval the CPU figures cover, s. */
  wall_s: number
  /** Only for the pipeline (the bare bridge has no counters to read); null for the floor, or if unread. */
  peak_backlog: PeakBacklog | null
  processes: Record<string, Usage>
  latency_histogram: LatencyHistogram
}

export interface StepInput {
  offered: number
  fleet: StepFleet
  durationS: number
  published: number
  simulatorS: number
  collector: LatencyCollector
  peakBacklog: PeakBacklog | null
  processes: Record<string, Usage>
  wallS: number
}

export function summarizeStep(input: StepInput): StepResult {
  const { collector } = input
  const sorted = collector.sorted()
  const figures = latencyFigures(sorted)
  const lost = Math.max(0, input.published - collector.delivered)
  const { firstPublishMs, lastArrivalMs } = collector
  const seconds =
    firstPublishMs === undefined || lastArrivalMs === undefined ? 0 : (lastArrivalMs - firstPublishMs) / 1000
  return {
    offered_msg_s: input.offered,
    drones: input.fleet.drones,
    rate_hz: Math.round(input.fleet.rate_hz * 1000) / 1000,
    duration_s: input.durationS,
    published: input.published,
    simulator_s: input.simulatorS,
    delivered: collector.delivered,
    lost,
    duplicates: collector.duplicates,
    achieved_msg_s: seconds > 0 ? Math.round((collector.delivered / seconds) * 10) / 10 : 0,
    drained: input.published > 0 && lost === 0,
    sustained: input.published > 0 && lost === 0 && figures.p95_ms !== null && figures.p95_ms < P95_LIMIT_MS,
    ...figures,
    wall_s: Math.round(input.wallS * 10) / 10,
    peak_backlog: input.peakBacklog,
    processes: input.processes,
    latency_histogram: latencyHistogram(sorted),
  }
}

/**
 * The highest offered load up to which every step was sustained: a load that passes only above one
 * that failed is luck, not capacity. Null when even the lowest step failed.
 */
export function maxSustained(steps: Pick<StepResult, 'offered_msg_s' | 'sustained'>[]): number | null {
  let best: number | null = null
  for (const step of [...steps].sort((a, b) => a.offered_msg_s - b.offered_msg_s)) {
    if (!step.sustained) break
    best = step.offered_msg_s
  }
  return best
}

export interface LoadRatio {
  offered_msg_s: number
  pipeline_p95_ms: number | null
  floor_p95_ms: number | null
  /** pipeline p95 / floor p95; null unless both were measured. */
  p95_ratio: number | null
}

export interface FloorComparison {
  p95_by_load: LoadRatio[]
  /** pipeline's max sustained load / the floor's; null unless both sustained some load. */
  max_sustained_ratio: number | null
}

const ratio = (a: number | null | undefined, b: number | null | undefined): number | null =>
  a === null || a === undefined || b === null || b === undefined || b === 0
    ? null
    : Math.round((a / b) * 100) / 100

export function compareToFloor(pipeline: StepResult[], floor: StepResult[]): FloorComparison {
  const floorAt = new Map(floor.map((s) => [s.offered_msg_s, s]))
  return {
    p95_by_load: pipeline.map((step) => {
      const other = floorAt.get(step.offered_msg_s)
      return {
        offered_msg_s: step.offered_msg_s,
        pipeline_p95_ms: step.p95_ms,
        floor_p95_ms: other?.p95_ms ?? null,
        p95_ratio: ratio(step.p95_ms, other?.p95_ms),
      }
    }),
    max_sustained_ratio: ratio(maxSustained(pipeline), maxSustained(floor)),
  }
}

/**
 * A sample's value in Prometheus text exposition: the first line of metric `name` that carries
 * every label given (services add their own, e.g. service="gateway"); undefined if none does.
 */
export function seriesValue(
  metricsText: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`)
  for (const line of metricsText.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line)
    if (!match || match[1] !== name) continue
    const present = (match[2] ?? '').split(/,(?=[a-zA-Z_]\w*=")/)
    if (!wanted.every((pair) => present.includes(pair))) continue
    const value = Number(match[3])
    return Number.isFinite(value) ? value : undefined
  }
  return undefined
}

/** A record as the floor's consumer prints it: the JSON the drone published. */
export interface FloorRecord {
  drone_id: string
  seq: number
  /** µs since the epoch. */
  publish_timestamp: number
}

/** One line of the floor's output; undefined for anything that is not a telemetry record. */
export function parseFloorLine(line: string): FloorRecord | undefined {
  try {
    const value = JSON.parse(line) as Partial<FloorRecord>
    if (
      typeof value.drone_id === 'string' &&
      typeof value.seq === 'number' &&
      typeof value.publish_timestamp === 'number'
    ) {
      return { drone_id: value.drone_id, seq: value.seq, publish_timestamp: value.publish_timestamp }
    }
  } catch {
    // not JSON: a partial line or kcat's own output
  }
  return undefined
}
