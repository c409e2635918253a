/** Matching what the detector scored against what was published, by (drone_id, seq). */
import fs from 'node:fs'

export interface Published {
  drone_id: string
  seq: number
}

export interface Scored {
  drone_id: string
  seq: number
  latency_ms: number
}

export interface DeliveryFigures {
  published: number
  delivered: number
  lost: number
  /** Records scored more than once (redeliveries). */
  duplicates: number
  p50_ms: number | null
  p95_ms: number | null
  p99_ms: number | null
  max_ms: number | null
}

/** The q-quantile of sorted values, nearest-rank (no interpolation: every figure was observed). */
export function quantile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}

export function summarizeDelivery(published: Published[], scored: Scored[]): DeliveryFigures {
  const key = (r: Published) => `${r.drone_id}\u0000${r.seq}`
  const wanted = new Set(published.map(key))
  const firstLatency = new Map<string, number>()
  let duplicates = 0
  for (const s of scored) {
    const k = key(s)
    if (!wanted.has(k)) continue
    if (firstLatency.has(k)) duplicates++
    else firstLatency.set(k, s.latency_ms)
  }
  return {
    published: wanted.size,
    delivered: firstLatency.size,
    lost: wanted.size - firstLatency.size,
    duplicates,
    ...latencyFigures([...firstLatency.values()].sort((a, b) => a - b)),
  }
}

/** A prediction line: the record's key and its score. */
export interface ScoredRecord {
  drone_id: string
  seq: number
  score: number
}

/**
 * Live predictions whose score is not the one scoring the published records offline gave (the same
 * model and code, one pass in seq order): a detector that lost a drone's history, by a restart for
 * instance, judges its records differently from then on. Records offline scoring left out count too.
 */
export function scoresUnlikeOffline(offline: ScoredRecord[], live: ScoredRecord[]): number {
  const key = (r: ScoredRecord) => `${r.drone_id}\u0000${r.seq}`
  const expected = new Map(offline.map((r) => [key(r), r.score]))
  return live.filter((r) => expected.get(key(r)) !== r.score).length
}

export type LatencyFigures = Pick<DeliveryFigures, 'p50_ms' | 'p95_ms' | 'p99_ms' | 'max_ms'>

/** p50, p95, p99 and max of sorted latencies, nearest-rank, to 0.01 ms; null for none. */
export function latencyFigures(sorted: number[]): LatencyFigures {
  const round = (v: number | null) => (v === null ? null : Math.round(v * 100) / 100)
  return {
    p50_ms: round(quantile(sorted, 0.5)),
    p95_ms: round(quantile(sorted, 0.95)),
    p99_ms: round(quantile(sorted, 0.99)),
    max_ms: round(quantile(sorted, 1)),
  }
}

/** A JSON Lines file (published records, predictions); empty while it does not exist yet. */
export function readJsonLines<T>(file: string): T[] {
  if (!fs.existsSync(file)) return []
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as T)
}
