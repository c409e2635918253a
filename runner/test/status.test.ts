import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { InstantSample } from '../src/prometheus.ts'
import {
  allScored,
  formatStatus,
  formatSummary,
  liveFigures,
  STATUS_QUERIES,
  SUMMARY_QUERIES,
  totals,
  type LiveFigures,
} from '../src/status.ts'
import { dashboardQueries } from '../../test/observability-files.ts'

const sample = (value: number, labels: Record<string, string> = {}): InstantSample => ({ labels, value })

const RESULTS = {
  throughput: [
    sample(100, { stage: 'published' }),
    sample(99.5, { stage: 'received' }),
    sample(99, { stage: 'validated' }),
    sample(0.5, { stage: 'rejected' }),
    sample(98.96, { stage: 'scored' }),
  ],
  latency: [
    sample(0.02, { quantile: '0.5' }),
    sample(0.0859, { quantile: '0.95' }),
    sample(0.12034, { quantile: '0.99' }),
  ],
  anomalyRatio: [sample(0.005)],
  lag: [sample(3)],
  up: [
    sample(1, { job: 'gateway' }),
    sample(0, { job: 'simulator' }),
    sample(1, { job: 'anomaly-detector' }),
  ],
}

describe('the status line reads what the dashboard shows', () => {
  it('asks Prometheus only queries that are panels of the dashboard', () => {
    const panels = new Set(dashboardQueries().map((q) => q.expr))
    for (const expr of [...Object.values(STATUS_QUERIES), ...Object.values(SUMMARY_QUERIES)]) {
      assert.ok(panels.has(expr), `${expr} is no query of grafana-provisioning/dashboards/pipeline.json`)
    }
  })
})

describe('liveFigures', () => {
  it('takes each stage, quantile and figure from its series, and lists jobs that are down', () => {
    assert.deepEqual(liveFigures(RESULTS), {
      rates: { published: 100, validated: 99, rejected: 0.5, scored: 98.96 },
      anomalyRatio: 0.005,
      p95Ms: 85.9,
      p99Ms: 120.34,
      lag: 3,
      down: ['simulator'],
    })
  })

  it('leaves unknown what has no series yet, or is NaN for want of traffic', () => {
    const figures = liveFigures({
      throughput: [],
      latency: [sample(NaN, { quantile: '0.95' })],
      anomalyRatio: [sample(NaN)],
      lag: [],
      up: [],
    })
    assert.deepEqual(figures, {
      rates: {},
      anomalyRatio: undefined,
      p95Ms: undefined,
      p99Ms: undefined,
      lag: undefined,
      down: [],
    })
  })
})

describe('formatStatus', () => {
  const figures: LiveFigures = liveFigures(RESULTS)

  it('prints throughput per stage, anomaly share, latency and lag on one line, elapsed seconds padded', () => {
    assert.equal(
      formatStatus(figures, 4.6),
      '   5s | msg/s published 100.0 validated 99.0 rejected 0.5 scored 99.0 | anomalous 0.50% | ' +
        'e2e p95 85.9 ms p99 120.3 ms | lag 3 | DOWN: simulator',
    )
  })

  it('shows - for what is unknown, and says when Prometheus does not answer', () => {
    assert.equal(
      formatStatus({ rates: {}, down: [] }, 12345.2),
      '12345s | msg/s published - validated - rejected - scored - | anomalous - | e2e p95 - p99 - | lag -',
    )
    assert.equal(formatStatus(undefined, 3), '   3s | Prometheus is not answering')
  })

  it('prints zero as 0, not as unknown', () => {
    assert.match(formatStatus({ ...figures, lag: 0, p95Ms: 0 }, 0), /e2e p95 0\.0 ms .* \| lag 0 \|/)
  })
})

describe('the summary', () => {
  it('counts since start, with what the fleet published', () => {
    const counts = totals({
      validated: [sample(1190)],
      rejected: [sample(10)],
      scored: [sample(1190)],
      anomalous: [sample(7)],
      p95: [sample(0.01234)],
    })
    assert.equal(
      formatSummary(counts, 1200, 31.2),
      '31s | published 1200 | validated 1190 | rejected 10 | scored 1190 | anomalous 7 | e2e p95 12.3 ms',
    )
    assert.equal(
      formatSummary({}, undefined, 0),
      '0s | published - | validated - | rejected - | scored - | anomalous - | e2e p95 -',
    )
  })
})

describe('allScored', () => {
  it('waits until the gateway has seen all the fleet published and the detectors scored all that was valid', () => {
    assert.equal(
      allScored({ validated: 1540, rejected: 0, scored: 1600 }, 1600),
      false,
      'a stale gateway count',
    )
    assert.equal(allScored({ validated: 1595, rejected: 5, scored: 1590 }, 1600), false, 'still scoring')
    assert.equal(allScored({ validated: 1595, rejected: 5, scored: 1595 }, 1600), true)
    assert.equal(allScored({ validated: 10, scored: 10 }, undefined), true, 'without the fleet summary')
    assert.equal(allScored({}, 0), false, 'no counts yet')
    assert.equal(allScored(undefined, 0), false, 'Prometheus away')
  })
})
