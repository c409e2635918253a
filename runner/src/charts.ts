/**
 * Small SVG charts for the benchmark report, as strings: no library and nothing fetched, so the
 * report is one self-contained file. Line charts take linear or log axes; bar charts group and stack.
 */

export interface Margins {
  left: number
  right: number
  top: number
  bottom: number
}

const MARGINS: Margins = { left: 70, right: 190, top: 44, bottom: 56 }
const FONT = 'font-family="DejaVu Sans, Arial, sans-serif"'

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

export type Scale = (value: number) => number

export function linearScale(domain: [number, number], range: [number, number]): Scale {
  const [d0, d1] = domain
  const [r0, r1] = range
  const span = d1 - d0 || 1
  return (v) => r0 + ((v - d0) / span) * (r1 - r0)
}

export function logScale(domain: [number, number], range: [number, number]): Scale {
  const linear = linearScale([Math.log10(domain[0]), Math.log10(domain[1])], range)
  return (v) => linear(Math.log10(v))
}

/**
 * A log axis's domain (positive values only): whole decades around the values, or with `pad`,
 * the values' own range widened by that factor each way, so no point sits on the frame.
 */
export function logDomain(values: number[], pad?: number): [number, number] {
  const positive = values.filter((v) => v > 0 && Number.isFinite(v))
  if (positive.length === 0) return [1, 10]
  const [min, max] = [Math.min(...positive), Math.max(...positive)]
  if (pad) return [min / pad, max * pad]
  const low = 10 ** Math.floor(Math.log10(min))
  let high = 10 ** Math.ceil(Math.log10(max))
  if (high <= low) high = low * 10
  return [low, high]
}

/** Ticks at 1, 2 and 5 of every decade within the domain. */
export function logTicks([min, max]: [number, number]): number[] {
  const ticks: number[] = []
  for (let decade = Math.floor(Math.log10(min)); decade <= Math.ceil(Math.log10(max)); decade++) {
    for (const m of [1, 2, 5]) {
      const tick = m * 10 ** decade
      if (tick >= min * (1 - 1e-9) && tick <= max * (1 + 1e-9)) ticks.push(Number(tick.toPrecision(6)))
    }
  }
  return ticks
}

/** A linear axis from 0: a round step (1, 2 or 5 times a power of ten) giving about five ticks. */
export function linearTicks(max: number): number[] {
  if (!(max > 0)) return [0, 1]
  const rough = max / 5
  const power = 10 ** Math.floor(Math.log10(rough))
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough)!
  const ticks: number[] = []
  for (let t = 0; t < max + step - 1e-9; t += step) ticks.push(Number(t.toPrecision(6)))
  return ticks
}

export function formatTick(value: number): string {
  if (value >= 1000) return value.toLocaleString('en-US')
  return String(Number(value.toPrecision(3)))
}

export interface Point {
  x: number
  y: number
  /** Drawn as an open marker (e.g. a step that was not sustained). */
  open?: boolean
}

export interface Series {
  name: string
  color: string
  dashed?: boolean
  points: Point[]
}

export interface LineChart {
  title: string
  xLabel: string
  yLabel: string
  xLog?: boolean
  yLog?: boolean
  series: Series[]
  /** Horizontal reference lines. */
  guides?: Array<{ y: number; label: string }>
  /** Draw y = x (achieved against offered). */
  diagonal?: boolean
  width?: number
  height?: number
}

interface Frame {
  width: number
  height: number
  plot: { x0: number; x1: number; y0: number; y1: number }
}

function frame(width = 820, height = 440): Frame {
  return {
    width,
    height,
    plot: {
      x0: MARGINS.left,
      x1: width - MARGINS.right,
      y0: height - MARGINS.bottom,
      y1: MARGINS.top,
    },
  }
}

function svgOpen(f: Frame, title: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${f.width}" height="${f.height}" ` +
    `viewBox="0 0 ${f.width} ${f.height}" ${FONT} font-size="12" role="img" aria-label="${escapeXml(title)}">` +
    `<rect width="${f.width}" height="${f.height}" fill="#fff"/>` +
    `<text x="${f.width / 2 - MARGINS.right / 2 + MARGINS.left / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`
  )
}

function axisLabels(f: Frame, xLabel: string, yLabel: string): string {
  const { x0, x1, y0, y1 } = f.plot
  return (
    `<text x="${(x0 + x1) / 2}" y="${f.height - 14}" text-anchor="middle">${escapeXml(xLabel)}</text>` +
    `<text transform="translate(18 ${(y0 + y1) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>`
  )
}

function yGrid(f: Frame, ticks: number[], y: Scale): string {
  const { x0, x1 } = f.plot
  return ticks
    .map((t) => {
      const py = y(t).toFixed(1)
      return (
        `<line x1="${x0}" x2="${x1}" y1="${py}" y2="${py}" stroke="#e3e3e3"/>` +
        `<text x="${x0 - 6}" y="${py}" text-anchor="end" dominant-baseline="middle">${formatTick(t)}</text>`
      )
    })
    .join('')
}

function legend(
  f: Frame,
  entries: Array<{ name: string; color: string; dashed?: boolean; box?: boolean }>,
): string {
  const x = f.plot.x1 + 16
  return entries
    .map((e, i) => {
      const y = f.plot.y1 + 8 + i * 20
      const swatch = e.box
        ? `<rect x="${x}" y="${y - 6}" width="22" height="12" fill="${e.color}"/>`
        : `<line x1="${x}" x2="${x + 22}" y1="${y}" y2="${y}" stroke="${e.color}" stroke-width="2.5"${e.dashed ? ' stroke-dasharray="6 4"' : ''}/>`
      return `${swatch}<text x="${x + 28}" y="${y}" dominant-baseline="middle">${escapeXml(e.name)}</text>`
    })
    .join('')
}

export function lineChartSvg(chart: LineChart): string {
  const f = frame(chart.width, chart.height)
  const { x0, x1, y0, y1 } = f.plot
  const xs = chart.series.flatMap((s) => s.points.map((p) => p.x))
  const ys = [
    ...chart.series.flatMap((s) => s.points.map((p) => p.y)),
    ...(chart.guides ?? []).map((g) => g.y),
    ...(chart.diagonal ? xs : []),
  ]
  const xDomain: [number, number] = chart.xLog ? logDomain(xs, 1.4) : [0, Math.max(...xs, 1)]
  const yDomain: [number, number] = chart.yLog ? logDomain(ys) : [0, linearTicks(Math.max(...ys, 1)).at(-1)!]
  const x = (chart.xLog ? logScale : linearScale)(xDomain, [x0, x1])
  const y = (chart.yLog ? logScale : linearScale)(yDomain, [y0, y1])
  const xTicks = chart.xLog ? logTicks(xDomain) : linearTicks(xDomain[1])
  const yTicks = chart.yLog ? logTicks(yDomain) : linearTicks(yDomain[1])
  const parts = [svgOpen(f, chart.title), yGrid(f, yTicks, y)]
  for (const t of xTicks) {
    const px = x(t).toFixed(1)
    parts.push(
      `<line x1="${px}" x2="${px}" y1="${y0}" y2="${y1}" stroke="#f0f0f0"/>`,
      `<text x="${px}" y="${y0 + 18}" text-anchor="middle">${formatTick(t)}</text>`,
    )
  }
  parts.push(`<rect x="${x0}" y="${y1}" width="${x1 - x0}" height="${y0 - y1}" fill="none" stroke="#888"/>`)
  if (chart.diagonal) {
    const [d0, d1] = [Math.max(xDomain[0], yDomain[0]), Math.min(xDomain[1], yDomain[1])]
    parts.push(
      `<line x1="${x(d0).toFixed(1)}" y1="${y(d0).toFixed(1)}" x2="${x(d1).toFixed(1)}" y2="${y(d1).toFixed(1)}" stroke="#aaa" stroke-dasharray="2 3"/>`,
    )
  }
  for (const guide of chart.guides ?? []) {
    const py = y(guide.y).toFixed(1)
    parts.push(
      `<line x1="${x0}" x2="${x1}" y1="${py}" y2="${py}" stroke="#c0392b" stroke-dasharray="8 4"/>`,
      `<text x="${x0 + 6}" y="${Number(py) - 5}" fill="#c0392b">${escapeXml(guide.label)}</text>`,
    )
  }
  for (const s of chart.series) {
    if (s.points.length === 0) continue
    const path = s.points.map((p, i) => `${i ? 'L' : 'M'}${x(p.x).toFixed(1)} ${y(p.y).toFixed(1)}`).join(' ')
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : ''
    parts.push(`<path d="${path}" fill="none" stroke="${s.color}" stroke-width="2.5"${dash}/>`)
    for (const p of s.points) {
      const fill = p.open ? '#fff' : s.color
      parts.push(
        `<circle cx="${x(p.x).toFixed(1)}" cy="${y(p.y).toFixed(1)}" r="4" fill="${fill}" stroke="${s.color}" stroke-width="2"/>`,
      )
    }
  }
  parts.push(axisLabels(f, chart.xLabel, chart.yLabel), legend(f, chart.series), '</svg>')
  return parts.join('')
}

export interface BarStack {
  name: string
  color: string
  values: number[]
}

export interface BarGroup {
  /** Printed under each of the group's bars. */
  label: string
  stacks: BarStack[]
}

export interface BarChart {
  title: string
  xLabel: string
  yLabel: string
  categories: string[]
  /** Side by side within a category; each group's stacks are stacked. */
  groups: BarGroup[]
  width?: number
  height?: number
}

export function barChartSvg(chart: BarChart): string {
  const f = frame(chart.width, chart.height)
  const { x0, x1, y0, y1 } = f.plot
  const totals = chart.categories.flatMap((_, c) =>
    chart.groups.map((g) => g.stacks.reduce((sum, s) => sum + (s.values[c] ?? 0), 0)),
  )
  const yTicks = linearTicks(Math.max(...totals, 0))
  const y = linearScale([0, yTicks.at(-1)!], [y0, y1])
  const slot = (x1 - x0) / Math.max(1, chart.categories.length)
  const barWidth = (slot * 0.8) / Math.max(1, chart.groups.length)
  const parts = [svgOpen(f, chart.title), yGrid(f, yTicks, y)]
  chart.categories.forEach((category, c) => {
    const left = x0 + c * slot + slot * 0.1
    chart.groups.forEach((group, g) => {
      const bx = left + g * barWidth
      let base = 0
      for (const stack of group.stacks) {
        const value = stack.values[c] ?? 0
        if (value <= 0) continue
        const top = y(base + value)
        parts.push(
          `<rect x="${bx.toFixed(1)}" y="${top.toFixed(1)}" width="${(barWidth - 2).toFixed(1)}" height="${(y(base) - top).toFixed(1)}" fill="${stack.color}"><title>${escapeXml(`${group.label} ${stack.name}: ${formatTick(value)}`)}</title></rect>`,
        )
        base += value
      }
      if (chart.groups.length > 1) {
        parts.push(
          `<text x="${(bx + barWidth / 2).toFixed(1)}" y="${y0 + 12}" text-anchor="middle" font-size="10">${escapeXml(group.label)}</text>`,
        )
      }
    })
    parts.push(
      `<text x="${(x0 + c * slot + slot / 2).toFixed(1)}" y="${y0 + (chart.groups.length > 1 ? 28 : 18)}" text-anchor="middle">${escapeXml(category)}</text>`,
    )
  })
  parts.push(`<rect x="${x0}" y="${y1}" width="${x1 - x0}" height="${y0 - y1}" fill="none" stroke="#888"/>`)
  const stacks = new Map<string, string>()
  for (const group of chart.groups)
    for (const s of group.stacks) if (!stacks.has(s.name)) stacks.set(s.name, s.color)
  parts.push(
    axisLabels(f, chart.xLabel, chart.yLabel),
    legend(
      f,
      [...stacks].map(([name, color]) => ({ name, color, box: true })),
    ),
    '</svg>',
  )
  return parts.join('')
}
