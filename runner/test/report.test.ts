import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  barChartSvg,
  escapeXml,
  lineChartSvg,
  linearScale,
  linearTicks,
  logDomain,
  logScale,
  logTicks,
} from '../src/charts.ts'
import type { SweepResult } from '../src/load-sweep.ts'
import { bucketLabels, distributionLoad, latencyChartSvg, mainChartHtml, reportHtml } from '../src/report.ts'
import { LatencyCollector, summarizeStep, type StepResult } from '../src/sweep.ts'

describe('scales and ticks', () => {
  it('maps linear and log domains onto pixels', () => {
    const x = linearScale([0, 100], [50, 250])
    assert.equal(x(0), 50)
    assert.equal(x(50), 150)
    const y = logScale([1, 1000], [300, 0])
    assert.equal(y(1), 300)
    assert.ok(Math.abs(y(10) - 200) < 1e-9)
    assert.ok(Math.abs(y(1000)) < 1e-9)
  })

  it('log domains cover whole decades, or the values widened by a factor', () => {
    assert.deepEqual(logDomain([3, 40, 250]), [1, 1000])
    assert.deepEqual(logDomain([100, 100]), [100, 1000])
    assert.deepEqual(logDomain([0, -1]), [1, 10])
    assert.deepEqual(logDomain([100, 1000], 2), [50, 2000])
  })

  it('log ticks are 1, 2 and 5 of each decade inside the domain', () => {
    assert.deepEqual(logTicks([1, 100]), [1, 2, 5, 10, 20, 50, 100])
    assert.deepEqual(logTicks([70, 1400]), [100, 200, 500, 1000])
  })

  it('linear ticks start at 0 with a round step and reach the maximum', () => {
    assert.deepEqual(linearTicks(4.2), [0, 1, 2, 3, 4, 5])
    assert.deepEqual(linearTicks(37), [0, 10, 20, 30, 40])
    assert.deepEqual(linearTicks(0), [0, 1])
  })
})

describe('SVG charts', () => {
  it('escapes text, so a label cannot break the markup', () => {
    assert.equal(escapeXml('<a & "b">'), '&#60;a &#38; &#34;b&#34;&#62;')
  })

  it('a line chart has a path per series, a marker per point (open where asked) and its guides', () => {
    const svg = lineChartSvg({
      title: 'T',
      xLabel: 'x',
      yLabel: 'y',
      xLog: true,
      yLog: true,
      series: [
        {
          name: 'solid',
          color: '#111111',
          points: [
            { x: 100, y: 5 },
            { x: 1000, y: 50, open: true },
          ],
        },
        { name: 'dashed', color: '#222222', dashed: true, points: [{ x: 100, y: 2 }] },
      ],
      guides: [{ y: 250, label: 'limit' }],
    })
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/)
    assert.equal((svg.match(/<path /g) ?? []).length, 2)
    assert.equal((svg.match(/<circle /g) ?? []).length, 3)
    assert.equal((svg.match(/<circle [^>]*fill="#fff"/g) ?? []).length, 1)
    assert.match(svg, /stroke-dasharray="6 4"/)
    assert.match(svg, />limit</)
    assert.ok(svg.endsWith('</svg>'))
  })

  it('a bar chart stacks within a group and puts groups side by side', () => {
    const svg = barChartSvg({
      title: 'CPU',
      xLabel: 'load',
      yLabel: 'cores',
      categories: ['100', '1,000'],
      groups: [
        {
          label: 'P',
          stacks: [
            { name: 'gateway', color: '#aaaaaa', values: [0.5, 1] },
            { name: 'kafka', color: '#bbbbbb', values: [0.25, 0] },
          ],
        },
        { label: 'F', stacks: [{ name: 'kcat', color: '#cccccc', values: [0.1, 0.2] }] },
      ],
    })
    // Zero-height parts are left out: 3 + 2 bars, the frame, and 3 legend swatches.
    assert.equal((svg.match(/<rect x=/g) ?? []).length, 5 + 1 + 3)
    assert.match(svg, /<title>P gateway: 0.5<\/title>/)
    for (const name of ['gateway', 'kafka', 'kcat']) assert.match(svg, new RegExp(`>${name}</text>`))
  })
})

function measuredStep(offered: number, latency: number, lost = 0): StepResult {
  const collector = new LatencyCollector()
  for (let i = 0; i < 100 - lost; i++) collector.add('drone-0001', i, latency, i * 10)
  return summarizeStep({
    offered,
    fleet: { drones: 1, rate_hz: offered },
    durationS: 1,
    published: 100,
    simulatorS: 1.2,
    collector,
    peakBacklog: null,
    processes: { gateway: { cpu_s: 1.5, peak_rss_mb: 150 } },
    wallS: 2,
  })
}

function sweepResult(): SweepResult {
  const pipeline = [measuredStep(100, 12), measuredStep(1000, 40), measuredStep(5000, 900, 3)]
  const floor = [measuredStep(100, 4), measuredStep(1000, 6), measuredStep(5000, 9)]
  return {
    mode: 'sweep',
    loads_msg_s: [100, 1000, 5000],
    duration_s: 1,
    drain_timeout_s: 5,
    warmup_s: 0,
    max_drones: 100,
    p95_limit_ms: 250,
    pipeline,
    floor,
    max_sustained_msg_s: { pipeline: 1000, floor: 5000 },
    floor_comparison: { p95_by_load: [], max_sustained_ratio: 0.2 },
    restarts: { pipeline: 1, floor: 0 },
    machine: '2 cores <test>',
    started_at: '2026-12-01T00:00:00.000Z',
  }
}

describe('the report', () => {
  it('is one HTML file with the four charts inline and nothing fetched', () => {
    const html = reportHtml(sweepResult(), { command: 'npm run bench:latency -- --sweep' })
    assert.equal((html.match(/<svg /g) ?? []).length, 4)
    assert.doesNotMatch(html, /<script|<link|src=|https?:\/\/(?!www\.w3\.org)/)
    assert.match(html, /Latency distribution at 1,000 msg\/s/)
    assert.match(html, /2 cores &#60;test&#62;/)
    assert.match(html, /pipeline 1,000 msg\/s, floor 5,000 msg\/s \(pipeline \/ floor: 0.2\)/)
  })

  it('labels latency buckets by their upper edge, thousands short', () => {
    assert.deepEqual(bucketLabels([1, 250, 2500]), ['≤ 1', '≤ 250', '≤ 2.5k', '> 2.5k'])
  })

  it('shows the distribution at the load asked for, else the highest sustained', () => {
    assert.equal(distributionLoad(sweepResult(), 5000), 5000)
    assert.equal(distributionLoad(sweepResult(), 42), 1000)
    assert.equal(
      distributionLoad({ ...sweepResult(), max_sustained_msg_s: { pipeline: null, floor: null } }),
      100,
    )
  })

  it('the main chart draws p50, p95 and p99 for both paths, the failed step open', () => {
    const svg = latencyChartSvg(sweepResult())
    for (const name of [
      'pipeline p50',
      'pipeline p95',
      'pipeline p99',
      'floor p50',
      'floor p95',
      'floor p99',
    ])
      assert.match(svg, new RegExp(`>${name}<`))
    // The 5,000 msg/s pipeline step lost records: its three markers are open.
    assert.equal((svg.match(/<circle [^>]*fill="#fff"/g) ?? []).length, 3)
    assert.ok(mainChartHtml(sweepResult()).includes(svg))
  })
})
