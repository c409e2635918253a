/**
 * The live status line of `npm start` (and `npm run stack -- status`) and its closing summary:
 * the dashboard's own figures, asked of Prometheus with queries that appear verbatim in
 * grafana-provisioning/dashboards/pipeline.json (runner/test/status.test.ts holds them to it), so
 * the line and the dashboard cannot disagree. docs/observability.md maps each figure to its panel.
 */
import { queryPrometheus, type InstantSample, type PrometheusApi } from './prometheus.ts'

/** The live figures: recorded series of deploy/prometheus/rules/pipeline.yml, and `up`. */
export const STATUS_QUERIES = {
  throughput: 'stage:pipeline_messages:rate30s',
  latency: 'pipeline:end_to_end_latency_seconds:quantile_rate30s',
  anomalyRatio: 'pipeline:anomaly_ratio:rate30s',
  lag: 'pipeline:consumer_lag_messages:sum',
  up: 'up',
} as const

/** Counts since the services started, for the summary once the fleet has landed. */
export const SUMMARY_QUERIES = {
  validated: 'sum(gateway_messages_validated_total)',
  rejected: 'sum(gateway_messages_rejected_total)',
  scored: 'sum(detector_messages_consumed_total)',
  anomalous: 'sum(detector_anomalies_total)',
  p95: 'histogram_quantile(0.95, sum by (le) (detector_end_to_end_latency_seconds_bucket))',
} as const

/** The stages of the throughput panel the line shows, in pipeline order. */
const SHOWN_STAGES = ['published', 'validated', 'rejected', 'scored'] as const

type Results<Q> = Record<keyof Q, InstantSample[]>

export interface LiveFigures {
  /** Messages per second over the last 30 seconds, by stage. */
  rates: Partial<Record<(typeof SHOWN_STAGES)[number], number>>
  /** Share of scored records that were anomalous, last 30 seconds. */
  anomalyRatio?: number
  p95Ms?: number
  p99Ms?: number
  /** Messages waiting for the detectors. */
  lag?: number
  /** Jobs Prometheus cannot scrape. */
  down: string[]
}

export interface Totals {
  validated?: number
  rejected?: number
  scored?: number
  anomalous?: number
  p95Ms?: number
}

/** A number worth showing: NaN (0/0, no traffic) and missing series are unknown. */
function known(
  samples: InstantSample[],
  where: (s: InstantSample) => boolean = () => true,
): number | undefined {
  const value = samples.find(where)?.value
  return value === undefined || Number.isNaN(value) ? undefined : value
}

const ms = (seconds: number | undefined) => (seconds === undefined ? undefined : seconds * 1000)

export function liveFigures(results: Results<typeof STATUS_QUERIES>): LiveFigures {
  const quantile = (q: string) => ms(known(results.latency, (s) => s.labels.quantile === q))
  return {
    rates: Object.fromEntries(
      SHOWN_STAGES.flatMap((stage) => {
        const rate = known(results.throughput, (s) => s.labels.stage === stage)
        return rate === undefined ? [] : [[stage, rate]]
      }),
    ),
    anomalyRatio: known(results.anomalyRatio),
    p95Ms: quantile('0.95'),
    p99Ms: quantile('0.99'),
    lag: known(results.lag),
    down: results.up
      .filter((s) => s.value === 0)
      .map((s) => s.labels.job ?? s.labels.instance ?? '?')
      .sort(),
  }
}

export function totals(results: Results<typeof SUMMARY_QUERIES>): Totals {
  return {
    validated: known(results.validated),
    rejected: known(results.rejected),
    scored: known(results.scored),
    anomalous: known(results.anomalous),
    p95Ms: ms(known(results.p95)),
  }
}

/**
 * Whether the counts show every message the fleet published through the gateway and every valid
 * one scored. Prometheus scrapes each service at its own moment, so one service's count can be
 * fresher than another's: only counts that reach the fleet's own total are final.
 */
export function allScored(t: Totals | undefined, published: number | undefined): boolean {
  if (t?.validated === undefined || t.scored === undefined) return false
  const gatewayDone = published === undefined || t.validated + (t.rejected ?? 0) >= published
  return gatewayDone && t.scored >= t.validated
}

/** Runs each query; undefined when Prometheus does not answer. */
async function queryAll<Q extends Record<string, string>>(
  api: PrometheusApi,
  queries: Q,
): Promise<Results<Q> | undefined> {
  try {
    const entries = await Promise.all(
      Object.entries(queries).map(async ([key, expr]) => [key, await queryPrometheus(api, expr)] as const),
    )
    return Object.fromEntries(entries) as Results<Q>
  } catch {
    return undefined
  }
}

export async function readLiveFigures(api: PrometheusApi): Promise<LiveFigures | undefined> {
  const results = await queryAll(api, STATUS_QUERIES)
  return results && liveFigures(results)
}

export async function readTotals(api: PrometheusApi): Promise<Totals | undefined> {
  const results = await queryAll(api, SUMMARY_QUERIES)
  return results && totals(results)
}

const fixed = (value: number | undefined, digits: number, unit = '') =>
  value === undefined ? '-' : `${value.toFixed(digits)}${unit}`
const count = (value: number | undefined) => (value === undefined ? '-' : String(Math.round(value)))

/** One line: elapsed time, then what the dashboard's throughput, anomaly, latency and lag panels show. */
export function formatStatus(f: LiveFigures | undefined, elapsedS: number): string {
  const elapsed = `${String(Math.round(elapsedS)).padStart(4)}s`
  if (!f) return `${elapsed} | Prometheus is not answering`
  const parts = [
    elapsed,
    `msg/s ${SHOWN_STAGES.map((stage) => `${stage} ${fixed(f.rates[stage], 1)}`).join(' ')}`,
    `anomalous ${fixed(f.anomalyRatio === undefined ? undefined : f.anomalyRatio * 100, 2, '%')}`,
    `e2e p95 ${fixed(f.p95Ms, 1, ' ms')} p99 ${fixed(f.p99Ms, 1, ' ms')}`,
    `lag ${count(f.lag)}`,
  ]
  if (f.down.length) parts.push(`DOWN: ${f.down.join(', ')}`)
  return parts.join(' | ')
}

/** The closing summary: counts since start, with the fleet's own count of what it published. */
export function formatSummary(t: Totals, published: number | undefined, elapsedS: number): string {
  return [
    `${Math.round(elapsedS)}s`,
    `published ${count(published)}`,
    `validated ${count(t.validated)}`,
    `rejected ${count(t.rejected)}`,
    `scored ${count(t.scored)}`,
    `anomalous ${count(t.anomalous)}`,
    `e2e p95 ${fixed(t.p95Ms, 1, ' ms')}`,
  ].join(' | ')
}
