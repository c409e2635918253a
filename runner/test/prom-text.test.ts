import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  bucketDelta,
  histogramBuckets,
  histogramQuantile,
  parsePrometheusText,
  sumOf,
} from '../src/prom-text.ts'

const TEXT = [
  '# HELP gateway_messages_rejected_total Payloads that failed validation.',
  '# TYPE gateway_messages_rejected_total counter',
  'gateway_messages_rejected_total{reason="out_of_range",service="gateway"} 4',
  'gateway_messages_rejected_total{reason="invalid_json",service="gateway"} 2',
  'gateway_messages_rejected_total{reason="schema_violation",service="other"} 1',
  '',
  '# TYPE gateway_messages_validated_total counter',
  'gateway_messages_validated_total 1027 1700000000000',
  'process_start_time_seconds{service="gateway"} 1.7e9',
  'odd_labels{path="C:\\\\temp\\\\",quote="say \\"hi\\"",brace="a}b",empty=""} 5',
  '# TYPE lat_seconds histogram',
  'lat_seconds_bucket{le="0.1",service="detector"} 10',
  'lat_seconds_bucket{le="0.5",service="detector"} 30',
  'lat_seconds_bucket{le="1",service="detector"} 40',
  'lat_seconds_bucket{le="+Inf",service="detector"} 50',
  'lat_seconds_sum{service="detector"} 21.5',
  'lat_seconds_count{service="detector"} 50',
  '{orphan="no metric name"} 1',
  '9starts_with_a_digit 1',
].join('\n')

describe('parsePrometheusText', () => {
  const samples = parsePrometheusText(TEXT)

  it('reads every sample and skips comments, blank and malformed lines', () => {
    assert.deepEqual(
      samples.map((s) => s.name),
      [
        'gateway_messages_rejected_total',
        'gateway_messages_rejected_total',
        'gateway_messages_rejected_total',
        'gateway_messages_validated_total',
        'process_start_time_seconds',
        'odd_labels',
        'lat_seconds_bucket',
        'lat_seconds_bucket',
        'lat_seconds_bucket',
        'lat_seconds_bucket',
        'lat_seconds_sum',
        'lat_seconds_count',
      ],
    )
  })

  it('reads labels and values (a trailing timestamp is not the value)', () => {
    assert.deepEqual(samples[0], {
      name: 'gateway_messages_rejected_total',
      labels: { reason: 'out_of_range', service: 'gateway' },
      value: 4,
    })
    assert.deepEqual(samples[3], { name: 'gateway_messages_validated_total', labels: {}, value: 1027 })
    assert.equal(samples[4]!.value, 1.7e9)
  })

  it('unescapes \\\\ and \\" in label values and keeps } inside quotes', () => {
    assert.deepEqual(samples[5]!.labels, { path: 'C:\\temp\\', quote: 'say "hi"', brace: 'a}b', empty: '' })
    assert.equal(samples[5]!.value, 5)
  })

  it('unescapes \\n in a label value to a line feed (exposition format)', () => {
    const [sample] = parsePrometheusText('m{msg="line1\\nline2"} 1')
    assert.equal(sample!.labels.msg, 'line1\nline2')
  })

  it('reads +Inf in the le label as written', () => {
    assert.equal(samples[9]!.labels.le, '+Inf')
  })

  it('reads +Inf, -Inf and NaN sample values (as prom-client writes them for infinite gauges)', () => {
    const values = parsePrometheusText('a +Inf\nb -Inf\nc NaN').map((s) => s.value)
    assert.deepEqual(values, [Infinity, -Infinity, NaN])
  })

  it('gives no samples for empty input', () => {
    assert.deepEqual(parsePrometheusText(''), [])
  })
})

describe('sumOf', () => {
  const samples = parsePrometheusText(TEXT)

  it('sums every series of a metric', () => {
    assert.equal(sumOf(samples, 'gateway_messages_rejected_total'), 7)
  })

  it('filters by labels', () => {
    assert.equal(sumOf(samples, 'gateway_messages_rejected_total', { service: 'gateway' }), 6)
    assert.equal(
      sumOf(samples, 'gateway_messages_rejected_total', { service: 'gateway', reason: 'invalid_json' }),
      2,
    )
    assert.equal(sumOf(samples, 'gateway_messages_rejected_total', { reason: 'nope' }), 0)
  })

  it('is 0 for a metric that is absent', () => {
    assert.equal(sumOf(samples, 'no_such_metric'), 0)
    assert.equal(sumOf([], 'gateway_messages_rejected_total'), 0)
  })
})

describe('histogramBuckets', () => {
  it('maps upper bounds (with +Inf as Infinity) to cumulative counts', () => {
    const buckets = histogramBuckets(parsePrometheusText(TEXT), 'lat_seconds')
    assert.deepEqual(
      [...buckets],
      [
        [0.1, 10],
        [0.5, 30],
        [1, 40],
        [Infinity, 50],
      ],
    )
  })

  it('sums the same bound over several series (e.g. two detectors)', () => {
    const text = [
      'h_bucket{le="1",pod="a"} 3',
      'h_bucket{le="+Inf",pod="a"} 4',
      'h_bucket{le="1",pod="b"} 5',
      'h_bucket{le="+Inf",pod="b"} 9',
      'h_count{pod="b"} 9',
      'other_bucket{le="1"} 100',
    ].join('\n')
    assert.deepEqual(
      [...histogramBuckets(parsePrometheusText(text), 'h')],
      [
        [1, 8],
        [Infinity, 13],
      ],
    )
  })
})

describe('bucketDelta', () => {
  it('subtracts the earlier counts, treating missing bounds as 0', () => {
    const now = new Map([
      [0.1, 15],
      [0.5, 40],
      [Infinity, 70],
    ])
    const before = new Map([
      [0.1, 10],
      [Infinity, 50],
    ])
    assert.deepEqual(
      [...bucketDelta(now, before)],
      [
        [0.1, 5],
        [0.5, 40],
        [Infinity, 20],
      ],
    )
  })
})

describe('histogramQuantile', () => {
  // Cumulative: 10 in (0, 0.1], 20 in (0.1, 0.5], 10 in (0.5, 1], 10 above 1.
  const buckets = new Map([
    [0.5, 30],
    [Infinity, 50],
    [0.1, 10],
    [1, 40],
  ])

  const close = (actual: number | undefined, expected: number) =>
    assert.ok(
      actual !== undefined && Math.abs(actual - expected) < 1e-12,
      `got ${actual}, expected ${expected}`,
    )

  it('interpolates linearly inside the bucket holding the rank (bounds given unsorted)', () => {
    close(histogramQuantile(0.1, buckets), 0.05) // rank 5: 0 + 0.1 * 5/10
    close(histogramQuantile(0.5, buckets), 0.4) // rank 25: 0.1 + 0.4 * 15/20
    close(histogramQuantile(0.7, buckets), 0.75) // rank 35: 0.5 + 0.5 * 5/10
    close(histogramQuantile(0.8, buckets), 1) // rank 40: top of (0.5, 1]
  })

  it('reports the last finite bound for a quantile in the +Inf bucket', () => {
    assert.equal(histogramQuantile(0.95, buckets), 1)
    assert.equal(histogramQuantile(1, buckets), 1)
  })

  it('is undefined without observations', () => {
    assert.equal(histogramQuantile(0.95, new Map()), undefined)
    assert.equal(
      histogramQuantile(
        0.95,
        new Map([
          [0.1, 0],
          [Infinity, 0],
        ]),
      ),
      undefined,
    )
  })

  it('skips empty buckets below the rank', () => {
    const sparse = new Map([
      [0.01, 0],
      [0.02, 0],
      [0.05, 4],
      [0.1, 4],
      [Infinity, 4],
    ])
    close(histogramQuantile(0.5, sparse), 0.035) // rank 2 in (0.02, 0.05]: 0.02 + 0.03 * 2/4
    close(histogramQuantile(1, sparse), 0.05)
  })

  it('matches the p95 of a bucketDelta window', () => {
    const before = new Map([
      [0.01, 100],
      [0.02, 100],
      [Infinity, 100],
    ])
    const now = new Map([
      [0.01, 100],
      [0.02, 200],
      [Infinity, 200],
    ])
    // All 100 new observations are in (0.01, 0.02]: rank 95 -> 0.01 + 0.01 * 95/100.
    close(histogramQuantile(0.95, bucketDelta(now, before)), 0.0195)
  })
})
