/**
 * Reading the Prometheus text exposition format, and the histogram_quantile() estimate, so the
 * live status line is computed from the same metrics Prometheus scrapes.
 */
export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

/** Label values escape backslash, double quote and newline. */
function unescapeLabel(value: string): string {
  return value.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c))
}

/** Go's float formatting, as the exposition format uses it: +Inf, -Inf, NaN. */
function parseValue(text: string): number {
  if (text === '+Inf') return Infinity
  if (text === '-Inf') return -Infinity
  return Number(text)
}

export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = LINE.exec(line)
    if (!match) continue
    const labels: Record<string, string> = {}
    for (const [, key, value] of (match[2] ?? '').matchAll(LABEL)) labels[key!] = unescapeLabel(value!)
    samples.push({ name: match[1]!, labels, value: parseValue(match[3]!) })
  }
  return samples
}

/** Sum of every series of a metric, optionally filtered by labels. */
export function sumOf(samples: Sample[], name: string, where: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v))
    .reduce((total, s) => total + s.value, 0)
}

/** Cumulative bucket counts of a histogram, by upper bound, summed over its series. */
export function histogramBuckets(samples: Sample[], name: string): Map<number, number> {
  const buckets = new Map<number, number>()
  for (const s of samples) {
    if (s.name !== `${name}_bucket` || s.labels.le === undefined) continue
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le)
    buckets.set(le, (buckets.get(le) ?? 0) + s.value)
  }
  return buckets
}

/** Bucket counts of `now` minus `before`: the histogram of what happened in between. */
export function bucketDelta(now: Map<number, number>, before: Map<number, number>): Map<number, number> {
  const delta = new Map<number, number>()
  for (const [le, count] of now) delta.set(le, count - (before.get(le) ?? 0))
  return delta
}

/**
 * Prometheus's histogram_quantile: linear interpolation inside the bucket holding the quantile;
 * undefined without observations. A quantile in the +Inf bucket reports the last finite bound.
 */
export function histogramQuantile(q: number, buckets: Map<number, number>): number | undefined {
  const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0])
  const total = sorted.at(-1)?.[1] ?? 0
  if (total <= 0) return undefined
  const rank = q * total
  let lowerBound = 0
  let lowerCount = 0
  for (const [le, count] of sorted) {
    if (count >= rank) {
      if (le === Infinity) return lowerBound
      const inBucket = count - lowerCount
      return inBucket <= 0 ? le : lowerBound + ((le - lowerBound) * (rank - lowerCount)) / inBucket
    }
    lowerBound = le
    lowerCount = count
  }
  return lowerBound
}
