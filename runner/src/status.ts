/** The live status line of `npm start`: figures scraped from each service's /metrics. */
import { httpsRequest, type TlsMaterial } from '@drone-pipeline/shared/tls.ts'
import {
  bucketDelta,
  histogramBuckets,
  histogramQuantile,
  parsePrometheusText,
  sumOf,
  type Sample,
} from './prom-text.ts'

export interface MetricsEndpoints {
  simulator?: string
  gateway: string
  detector: string
}

export interface PipelineFigures {
  published: number
  validated: number
  rejected: number
  consumed: number
  anomalies: number
  /** End-to-end (publish to scored) p95 over the recent window, milliseconds. */
  p95Ms: number | undefined
  /** Services whose /metrics did not answer. */
  down: string[]
}

export const LATENCY_METRIC = 'detector_end_to_end_latency_seconds'
const WINDOW = 10

/** Scrapes as Prometheus does: over HTTPS, with Prometheus's client certificate. */
async function scrape(url: string, tls: TlsMaterial): Promise<Sample[] | undefined> {
  try {
    const res = await httpsRequest(url, { ca: tls.ca, client: tls, timeoutMs: 900 })
    return res.status === 200 ? parsePrometheusText(res.body) : undefined
  } catch {
    return undefined
  }
}

/**
 * Samples the pipeline once per call. p95 covers the last WINDOW calls, like a [10s] range in
 * PromQL, or everything since the start with `{ sinceStart: true }` (for a final summary).
 */
export class StatusSampler {
  private readonly history: Map<number, number>[] = []
  private last: Record<string, Sample[]> = {}

  constructor(
    private readonly endpoints: MetricsEndpoints,
    private readonly tls: TlsMaterial,
  ) {}

  async sample(options: { sinceStart?: boolean } = {}): Promise<PipelineFigures> {
    const names = Object.keys(this.endpoints) as Array<keyof MetricsEndpoints>
    const scraped = await Promise.all(names.map((n) => scrape(this.endpoints[n]!, this.tls)))
    const down: string[] = []
    names.forEach((name, i) => {
      if (scraped[i]) this.last[name] = scraped[i]
      else down.push(name)
    })
    const sim = this.last.simulator ?? []
    const gw = this.last.gateway ?? []
    const det = this.last.detector ?? []
    const buckets = histogramBuckets(det, LATENCY_METRIC)
    this.history.push(buckets)
    if (this.history.length > WINDOW + 1) this.history.shift()
    const window = bucketDelta(buckets, this.history[0]!)
    return {
      published: sumOf(sim, 'simulator_messages_published_total'),
      validated: sumOf(gw, 'gateway_messages_validated_total'),
      rejected: sumOf(gw, 'gateway_messages_rejected_total'),
      consumed: sumOf(det, 'detector_messages_consumed_total'),
      anomalies: sumOf(det, 'detector_anomalies_total'),
      p95Ms: msOrUndefined(
        histogramQuantile(0.95, options.sinceStart || this.history.length < 2 ? buckets : window),
      ),
      down,
    }
  }
}

function msOrUndefined(seconds: number | undefined): number | undefined {
  return seconds === undefined ? undefined : seconds * 1000
}

export function formatStatus(f: PipelineFigures, elapsedS: number): string {
  const p95 = f.p95Ms === undefined ? '-' : `${f.p95Ms.toFixed(1)} ms`
  const parts = [
    `${String(Math.round(elapsedS)).padStart(4)}s`,
    `published ${f.published}`,
    `validated ${f.validated}`,
    `rejected ${f.rejected}`,
    `consumed ${f.consumed}`,
    `anomalies ${f.anomalies}`,
    `p95 ${p95}`,
  ]
  if (f.down.length) parts.push(`DOWN: ${f.down.join(', ')}`)
  return parts.join(' | ')
}
