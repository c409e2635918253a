/**
 * The load sweep's report: one self-contained HTML file (inline SVG, no script, nothing fetched)
 * with the four charts and the tables, and a PNG of the main chart rendered by headless Chromium.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { barChartSvg, escapeXml, lineChartSvg, type BarGroup, type Series } from './charts.ts'
import { CHART_FONTS, CHROMIUM, ensureAptPackages } from './install.ts'
import { startProcess, stopProcess } from './procs.ts'
import type { SweepResult } from './load-sweep.ts'
import { HISTOGRAM_EDGES_MS, P95_LIMIT_MS, type StepResult } from './sweep.ts'
import { setTimeout } from 'node:timers/promises'

/** The latency the issue asks for at 1,000 msg/s, drawn beside the 250 ms bar. */
export const TARGET_P95_MS = 20
export const MAIN_CHART = { width: 900, height: 480 }

const PERCENTILES = [
  { key: 'p50_ms', name: 'p50', color: '#2e86c1' },
  { key: 'p95_ms', name: 'p95', color: '#d35400' },
  { key: 'p99_ms', name: 'p99', color: '#8e44ad' },
] as const

const PROCESS_COLORS: Record<string, string> = {
  simulator: '#7f8c8d',
  mosquitto: '#16a085',
  gateway: '#2980b9',
  kafka: '#c0392b',
  'anomaly-detector': '#8e44ad',
  prometheus: '#e67e22',
  'floor-mosquitto_sub': '#1abc9c',
  'floor-kcat-producer': '#f1c40f',
  'floor-kcat-consumer': '#d4ac0d',
  bench: '#bdc3c7',
}
const OTHER_COLOR = '#95a5a6'

/** Latency percentiles against offered load: the pipeline solid, the floor dashed. */
export function latencyChartSvg(result: SweepResult): string {
  const series: Series[] = []
  for (const [steps, label, dashed] of [
    [result.pipeline, 'pipeline', false],
    [result.floor, 'floor', true],
  ] as const) {
    if (steps.length === 0) continue
    for (const p of PERCENTILES) {
      series.push({
        name: `${label} ${p.name}`,
        color: p.color,
        dashed,
        points: steps
          .filter((s) => s[p.key] !== null)
          .map((s) => ({ x: s.offered_msg_s, y: Math.max(0.1, s[p.key]!), open: !s.sustained })),
      })
    }
  }
  return lineChartSvg({
    title: 'Publish-to-detection latency against offered load',
    xLabel: 'offered load, msg/s (open markers: not sustained)',
    yLabel: 'latency, ms',
    xLog: true,
    yLog: true,
    series,
    guides: [
      { y: P95_LIMIT_MS, label: `${P95_LIMIT_MS} ms: p95 limit for a sustained load` },
      { y: TARGET_P95_MS, label: `${TARGET_P95_MS} ms: p95 target at 1,000 msg/s` },
    ],
    ...MAIN_CHART,
  })
}

export function throughputChartSvg(result: SweepResult): string {
  const series: Series[] = [
    [result.pipeline, 'pipeline (scored)', '#2e86c1', false] as const,
    [result.floor, 'floor (read back)', '#7f8c8d', true] as const,
  ]
    .filter(([steps]) => steps.length > 0)
    .map(([steps, name, color, dashed]) => ({
      name,
      color,
      dashed,
      points: steps
        .filter((s) => s.achieved_msg_s > 0)
        .map((s) => ({ x: s.offered_msg_s, y: s.achieved_msg_s, open: !s.sustained })),
    }))
  return lineChartSvg({
    title: 'Throughput achieved against offered',
    xLabel: 'offered load, msg/s (dotted: achieved = offered)',
    yLabel: 'achieved, msg/s',
    xLog: true,
    yLog: true,
    diagonal: true,
    series,
  })
}

/** The load whose distribution the report shows: the one asked for, else the highest sustained, else the lowest. */
export function distributionLoad(result: SweepResult, wanted?: number): number | undefined {
  const loads = result.pipeline.map((s) => s.offered_msg_s)
  if (wanted !== undefined && loads.includes(wanted)) return wanted
  return result.max_sustained_msg_s.pipeline ?? loads[0]
}

/** A bucket by its upper edge ("≤ 20" holds what is above the edge before it); the last, "> 10k". */
export function bucketLabels(edges: number[]): string[] {
  const short = (ms: number) => (ms >= 1000 ? `${ms / 1000}k` : String(ms))
  return [...edges.map((e) => `≤ ${short(e)}`), `> ${short(edges.at(-1)!)}`]
}

export function distributionChartSvg(result: SweepResult, load: number): string {
  const share = (step: StepResult | undefined) =>
    step ? step.latency_histogram.counts.map((c) => (step.delivered ? (100 * c) / step.delivered : 0)) : []
  const groups: BarGroup[] = [
    [result.pipeline, 'pipeline', '#2e86c1'] as const,
    [result.floor, 'floor', '#95a5a6'] as const,
  ]
    .filter(([steps]) => steps.length > 0)
    .map(([steps, label, color]) => ({
      label: label[0]!.toUpperCase(),
      stacks: [{ name: label, color, values: share(steps.find((s) => s.offered_msg_s === load)) }],
    }))
  return barChartSvg({
    title: `Latency distribution at ${load.toLocaleString('en-US')} msg/s`,
    xLabel: 'latency, ms: each bucket up to its edge, above the one before (P = pipeline, F = floor)',
    yLabel: 'share of records, %',
    categories: bucketLabels(HISTOGRAM_EDGES_MS),
    groups,
    width: 980,
  })
}

/** CPU per process as cores busy (CPU seconds over the step's wall time), stacked, pipeline beside floor. */
export function cpuChartSvg(result: SweepResult): string {
  const loads = result.loads_msg_s
  const groups: BarGroup[] = [[result.pipeline, 'P'] as const, [result.floor, 'F'] as const]
    .filter(([steps]) => steps.length > 0)
    .map(([steps, label]) => {
      const names = [...new Set(steps.flatMap((s) => Object.keys(s.processes)))]
      return {
        label,
        stacks: names.map((name) => ({
          name,
          color: PROCESS_COLORS[name] ?? OTHER_COLOR,
          values: loads.map((load) => {
            const step = steps.find((s) => s.offered_msg_s === load)
            return step ? (step.processes[name]?.cpu_s ?? 0) / step.wall_s : 0
          }),
        })),
      }
    })
  return barChartSvg({
    title: 'CPU per process (cores busy over each step)',
    xLabel: 'offered load, msg/s (P = pipeline, F = floor)',
    yLabel: 'cores (CPU s / step s)',
    categories: loads.map((l) => l.toLocaleString('en-US')),
    groups,
  })
}

const cell = (v: number | string | null | boolean) =>
  `<td>${v === null ? '–' : typeof v === 'boolean' ? (v ? 'yes' : '<b>no</b>') : escapeXml(typeof v === 'number' ? v.toLocaleString('en-US') : v)}</td>`

function stepsTable(steps: StepResult[]): string {
  if (steps.length === 0) return '<p>Not measured in this run.</p>'
  const head = [
    'offered msg/s',
    'drones × Hz',
    'published',
    'simulator s',
    'delivered',
    'lost',
    'dup',
    'achieved msg/s',
    'p50 ms',
    'p95 ms',
    'p99 ms',
    'max ms',
    'backlog before Kafka',
    'detector lag',
    'sustained',
  ]
  const rows = steps.map(
    (s) =>
      '<tr>' +
      [
        s.offered_msg_s,
        `${s.drones} × ${s.rate_hz}`,
        s.published,
        s.simulator_s,
        s.delivered,
        s.lost,
        s.duplicates,
        s.achieved_msg_s,
        s.p50_ms,
        s.p95_ms,
        s.p99_ms,
        s.max_ms,
        s.peak_backlog?.before_kafka ?? null,
        s.peak_backlog?.detector_lag ?? null,
        s.sustained,
      ]
        .map(cell)
        .join('') +
      '</tr>',
  )
  return `<table><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr>${rows.join('')}</table>`
}

function processTable(steps: StepResult[]): string {
  if (steps.length === 0) return ''
  const names = [...new Set(steps.flatMap((s) => Object.keys(s.processes)))]
  const head = ['offered msg/s', 'step s', ...names.map((n) => `${n} CPU s / peak MB`)]
  const rows = steps.map(
    (s) =>
      '<tr>' +
      [
        cell(s.offered_msg_s),
        cell(s.wall_s),
        ...names.map((n) => {
          const u = s.processes[n]
          return cell(u ? `${u.cpu_s} / ${u.peak_rss_mb}` : null)
        }),
      ].join('') +
      '</tr>',
  )
  return `<table><tr>${head.map((h) => `<th>${escapeXml(h)}</th>`).join('')}</tr>${rows.join('')}</table>`
}

function comparisonTable(result: SweepResult): string {
  const rows = result.floor_comparison.p95_by_load.map(
    (r) =>
      '<tr>' + [r.offered_msg_s, r.pipeline_p95_ms, r.floor_p95_ms, r.p95_ratio].map(cell).join('') + '</tr>',
  )
  return (
    '<table><tr><th>offered msg/s</th><th>pipeline p95 ms</th><th>floor p95 ms</th><th>pipeline / floor</th></tr>' +
    rows.join('') +
    '</table>'
  )
}

const STYLE = `body{font-family:"DejaVu Sans",Arial,sans-serif;margin:24px;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:8px 0 20px;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f4f4f4}h2{margin-top:32px}figure{margin:12px 0}code{background:#f4f4f4;padding:1px 4px}`

export function reportHtml(
  result: SweepResult,
  options: { command: string; distributionLoad?: number },
): string {
  const load = distributionLoad(result, options.distributionLoad)
  const best = result.max_sustained_msg_s
  const fmt = (v: number | null) => (v === null ? 'none' : `${v.toLocaleString('en-US')} msg/s`)
  const ratio = result.floor_comparison.max_sustained_ratio
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Load sweep ${escapeXml(result.started_at)}</title><style>${STYLE}</style></head>
<body>
<h1>Load sweep: publish-to-detection latency</h1>
<p>Started ${escapeXml(result.started_at)} on ${escapeXml(result.machine)}, everything on the one machine.<br>
Command: <code>${escapeXml(options.command)}</code><br>
Each step publishes for ${result.duration_s} s, then waits up to ${result.drain_timeout_s} s for the last records;
warm-up ${result.warmup_s} s; at most ${result.max_drones} drones (one MQTT/TLS connection each).</p>
<p><b>Highest load sustained</b> (every step up to it: p95 under ${result.p95_limit_ms} ms, nothing lost):
pipeline ${fmt(best.pipeline)}, floor ${fmt(best.floor)}${ratio === null ? '' : ` (pipeline / floor: ${ratio})`}.
Restarts after a step that left a backlog: pipeline ${result.restarts.pipeline}, floor ${result.restarts.floor}.</p>
<figure>${latencyChartSvg(result)}</figure>
<figure>${throughputChartSvg(result)}</figure>
${load === undefined ? '' : `<figure>${distributionChartSvg(result, load)}</figure>`}
<figure>${cpuChartSvg(result)}</figure>
<h2>Pipeline</h2>${stepsTable(result.pipeline)}
<h2>Floor: mosquitto_sub | kcat -P, read back by kcat -C</h2>${stepsTable(result.floor)}
<h2>Pipeline against the floor (p95)</h2>${comparisonTable(result)}
<h2>Processes: CPU seconds over the step / peak resident memory</h2>
<h3>Pipeline</h3>${processTable(result.pipeline)}
<h3>Floor</h3>${processTable(result.floor)}
</body></html>
`
}

/** The main chart alone, sized to the screenshot. */
export function mainChartHtml(result: SweepResult): string {
  return `<!doctype html><html><head><meta charset="utf-8"><style>body{margin:0;background:#fff}</style></head><body>${latencyChartSvg(result)}</body></html>\n`
}

/** Renders an HTML file to PNG with headless Chromium (installed from Debian's packages if missing). */
export async function renderPng(
  htmlFile: string,
  pngFile: string,
  size: { width: number; height: number },
  log: (m: string) => void,
): Promise<void> {
  ensureAptPackages([CHROMIUM, CHART_FONTS], log)
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-chromium-'))
  fs.rmSync(pngFile, { force: true })
  const proc = startProcess({
    name: 'chromium',
    command: CHROMIUM.binary,
    args: [
      '--headless',
      // Root cannot use Chromium's sandbox; the page is our own file.
      '--no-sandbox',
      '--disable-gpu',
      // The machine has no network: nothing may try to reach one.
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
      `--user-data-dir=${profile}`,
      '--hide-scrollbars',
      `--window-size=${size.width},${size.height}`,
      `--screenshot=${path.resolve(pngFile)}`,
      `file://${path.resolve(htmlFile)}`,
    ],
    runDir: profile,
  })
  try {
    // An unref'd timer: once Chromium is done, it must not keep this process alive for a minute.
    const outcome = await Promise.race([proc.exited, setTimeout(60_000, 'timeout', { ref: false })])
    if (outcome === 'timeout' || !fs.existsSync(pngFile)) {
      throw new Error(`Chromium did not write ${pngFile} (${outcome}); see ${proc.logFile}`)
    }
  } finally {
    await stopProcess(profile, proc)
    if (fs.existsSync(pngFile)) fs.rmSync(profile, { recursive: true, force: true })
  }
}
