/**
 * What a process costs, read from /proc: CPU time (utime + stime of /proc/<pid>/stat) and resident
 * memory (VmRSS of /proc/<pid>/status). The parsing is pure; the readers return nothing for a
 * process that is gone.
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'

export interface ProcStat {
  pid: number
  /** The executable's name as the kernel keeps it (at most 15 characters). */
  comm: string
  ppid: number
  /** User and system CPU time of the process (all its threads), in clock ticks. */
  utimeTicks: number
  stimeTicks: number
}

/**
 * One line of /proc/<pid>/stat. The name is in parentheses and may itself hold spaces and
 * parentheses, so the fields are counted from the last ')'.
 */
export function parseProcStat(text: string): ProcStat {
  const open = text.indexOf('(')
  const close = text.lastIndexOf(')')
  if (open < 0 || close < open) throw new Error(`not a /proc/<pid>/stat line: ${text.slice(0, 80)}`)
  // After the name: state(3) ppid(4) pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15)
  const rest = text
    .slice(close + 1)
    .trim()
    .split(/\s+/)
  const field = (n: number) => {
    const value = Number(rest[n - 3])
    if (!Number.isFinite(value)) throw new Error(`/proc stat field ${n} is not a number: ${rest[n - 3]}`)
    return value
  }
  return {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    ppid: field(4),
    utimeTicks: field(14),
    stimeTicks: field(15),
  }
}

/** Resident memory in MB from /proc/<pid>/status text; 0 when the line is absent (a zombie). */
export function parseRssMb(statusText: string): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(statusText)
  return match ? Number(match[1]) / 1024 : 0
}

/** CPU seconds between two readings of one process. */
export function cpuSecondsBetween(before: ProcStat, after: ProcStat, ticksPerSecond: number): number {
  return (after.utimeTicks + after.stimeTicks - before.utimeTicks - before.stimeTicks) / ticksPerSecond
}

/** The kernel's clock ticks per second (USER_HZ), which /proc reports CPU time in. */
export function clockTicksPerSecond(): number {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())
    return Number.isInteger(ticks) && ticks > 0 ? ticks : 100
  } catch {
    // USER_HZ is 100 on every Linux architecture Node runs on.
    return 100
  }
}

function readProcFile(pid: number, file: string): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'utf8')
  } catch {
    return undefined
  }
}

export function readProcStat(pid: number): ProcStat | undefined {
  const text = readProcFile(pid, 'stat')
  return text === undefined ? undefined : parseProcStat(text)
}

/** Resident memory of a process in MB; 0 once it is gone. */
export function rssMb(pid: number): number {
  const text = readProcFile(pid, 'status')
  return text === undefined ? 0 : parseRssMb(text)
}

/** The children of `parent` among the given processes (e.g. the two sides of a shell pipeline). */
export function childrenOf(parent: number, processes: ProcStat[]): ProcStat[] {
  return processes.filter((p) => p.ppid === parent)
}

/** Every process's stat line that can be read now. */
export function allProcStats(): ProcStat[] {
  const stats: ProcStat[] = []
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const stat = readProcStat(Number(entry))
    if (stat) stats.push(stat)
  }
  return stats
}

export interface NamedPid {
  name: string
  pid: number
}

export interface Usage {
  /** utime + stime over the interval, s. */
  cpu_s: number
  /** Highest resident memory sampled during the interval, MB. */
  peak_rss_mb: number
}

/**
 * CPU seconds and peak memory of named processes over an interval. A process first seen after
 * start() started during the interval, so all of its CPU time counts; one that ends meanwhile
 * keeps what it was last seen to use. Memory is sampled, so a peak shorter than the interval can
 * be missed.
 */
export class ProcessMeter {
  private readonly first = new Map<number, ProcStat | undefined>()
  private readonly last = new Map<number, { name: string; stat: ProcStat }>()
  private readonly peakRss = new Map<string, number>()
  private timer: NodeJS.Timeout | undefined
  private started = false

  constructor(
    private readonly targets: () => NamedPid[],
    private readonly ticksPerSecond: number,
    private readonly intervalMs = 250,
  ) {}

  start(): void {
    this.sample()
    this.started = true
    this.timer = setInterval(() => this.sample(), this.intervalMs)
  }

  private sample(): void {
    for (const { name, pid } of this.targets()) {
      const stat = readProcStat(pid)
      if (!stat) continue
      if (!this.first.has(pid)) this.first.set(pid, this.started ? undefined : stat)
      this.last.set(pid, { name, stat })
      this.peakRss.set(name, Math.max(this.peakRss.get(name) ?? 0, rssMb(pid)))
    }
  }

  stop(): Record<string, Usage> {
    this.sample()
    clearInterval(this.timer)
    const cpu = new Map<string, number>()
    for (const [pid, { name, stat }] of this.last) {
      const from = this.first.get(pid) ?? { ...stat, utimeTicks: 0, stimeTicks: 0 }
      cpu.set(name, (cpu.get(name) ?? 0) + cpuSecondsBetween(from, stat, this.ticksPerSecond))
    }
    return Object.fromEntries(
      [...cpu].map(([name, seconds]) => [
        name,
        {
          cpu_s: Math.round(seconds * 100) / 100,
          peak_rss_mb: Math.round((this.peakRss.get(name) ?? 0) * 10) / 10,
        },
      ]),
    )
  }
}
