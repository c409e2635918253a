/**
 * How well predictions match a labeled dataset: per record, per fault event, and as alarms an
 * operator would see. Pure; the detector's `score` command and `npm run bench:accuracy` both use it,
 * so the figures they print are computed one way.
 *
 * Definitions (docs/anomaly-detection.md explains why):
 * - A fault event is a maximal run of one drone's consecutive records labeled with the same fault.
 * - Its settling period is the `settleS` seconds after its last record: the drone's history still
 *   holds faulty readings there, so a detector that compares a reading with the recent past may
 *   fire. Strict per-record figures count those records as any others; settled figures leave them
 *   out (neither false alarms nor healthy flight).
 * - A type's precision counts its own detections, the false alarms in its own settling periods
 *   (strict figures only), and every false alarm on healthy flight, which no fault type excuses.
 * - An alarm is a maximal run of one drone's flagged records, runs less than `mergeS` apart being
 *   one. It is true if it overlaps a fault event or its settling period, else a false alarm.
 * - An event is detected if any of its records, or of its settling period, is flagged; the time to
 *   detect runs from its first record to the first flagged one.
 */

export interface LabeledPoint {
  drone_id: string
  seq: number
  /** ms since the epoch. */
  timestamp: number
  label: 0 | 1
  fault: string | null
}

export interface Counts {
  tp: number
  fp: number
  fn: number
  precision: number
  recall: number
  f1: number
}

export interface RecordFigures extends Counts {
  tn: number
  by_fault: Record<string, Counts>
}

export interface EventFigures {
  events: number
  detected: number
  recall: number
  /** Seconds from a fault's first record to its first flagged record: median and 95th percentile. */
  detect_s_p50: number | null
  detect_s_p95: number | null
}

export interface Evaluation {
  records: number
  faulty_records: number
  /** Every record counted. */
  per_record_strict: RecordFigures
  /** Records in settling periods left out. */
  per_record_settled: RecordFigures
  per_event: EventFigures & { by_fault: Record<string, EventFigures> }
  alarms: number
  false_alarms: number
  /** True alarms over all alarms. */
  alarm_precision: number
  healthy_hours: number
  /** False alarms per hour of healthy flight (summed over drones: drone-hours). */
  false_alarms_per_hour: number
  settle_s: number
}

/** Flagged runs of one drone closer than this (s) are one alarm, unless told otherwise. */
export const DEFAULT_MERGE_S = 1

/**
 * One drone's alarms from the times (ms, ascending) of its flagged records: each alarm is the
 * [first, last] index pair of a run of those records in which each follows the one before by less
 * than `mergeS` seconds. The detector's training counts alarms this way too, to set its threshold.
 */
export function alarmRuns(flaggedMs: ArrayLike<number>, mergeS = DEFAULT_MERGE_S): [number, number][] {
  const runs: [number, number][] = []
  for (let i = 0; i < flaggedMs.length; i++) {
    const run = runs.at(-1)
    if (run && flaggedMs[i]! - flaggedMs[run[1]]! < mergeS * 1000) run[1] = i
    else runs.push([i, i])
  }
  return runs
}

export interface EvaluationOptions {
  /** Seconds after a fault event that count as its settling period. Default 10. */
  settleS?: number
  /** Flagged runs closer than this (s) are one alarm. Default DEFAULT_MERGE_S. */
  mergeS?: number
}

/** A point with the detector's verdict on it. */
export interface JudgedPoint extends LabeledPoint {
  anomaly: boolean
}

interface FaultEvent {
  fault: string
  startMs: number
  endMs: number
  firstFlagMs: number | undefined
}

export function evaluate(points: Iterable<JudgedPoint>, options: EvaluationOptions = {}): Evaluation {
  const settleS = options.settleS ?? 10
  const mergeS = options.mergeS ?? DEFAULT_MERGE_S
  const byDrone = new Map<string, JudgedPoint[]>()
  for (const p of points) {
    let list = byDrone.get(p.drone_id)
    if (!list) byDrone.set(p.drone_id, (list = []))
    list.push(p)
  }

  const strict = tally()
  const settled = tally()
  const events: FaultEvent[] = []
  let alarms = 0
  let falseAlarms = 0
  let healthyMs = 0
  let records = 0
  let faulty = 0

  for (const list of byDrone.values()) {
    list.sort((a, b) => a.seq - b.seq)
    records += list.length
    // Fault events of this drone, and for every record the event whose settling period holds it.
    const settlingOf: (FaultEvent | undefined)[] = new Array(list.length)
    let current: FaultEvent | undefined
    let last: FaultEvent | undefined
    for (const [i, p] of list.entries()) {
      if (p.label === 1) {
        faulty++
        const fault = p.fault ?? 'unnamed'
        const contiguous = current && current.fault === fault && i > 0 && list[i - 1]!.seq === p.seq - 1
        if (!contiguous)
          events.push((current = { fault, startMs: p.timestamp, endMs: p.timestamp, firstFlagMs: undefined }))
        current!.endMs = p.timestamp
        last = current
      } else {
        current = undefined
        if (last && p.timestamp - last.endMs <= settleS * 1000) settlingOf[i] = last
      }
      const event = p.label === 1 ? current : settlingOf[i]
      if (p.anomaly && event && event.firstFlagMs === undefined) event.firstFlagMs = p.timestamp
    }

    for (const [i, p] of list.entries()) {
      const fault = p.label === 1 ? (p.fault ?? 'unnamed') : undefined
      const settling = settlingOf[i]
      count(strict, fault, p.anomaly, settling?.fault)
      if (!settling) count(settled, fault, p.anomaly, undefined)
      // A gap longer than a few samples (a restart, a lost link) is not flight time.
      if (p.label === 0 && !settling && i > 0)
        healthyMs += Math.min(p.timestamp - list[i - 1]!.timestamp, MAX_STEP_MS)
    }

    // Alarms: runs of flagged records, merged when close; true if any record is faulty or settling.
    const flagged = [...list.keys()].filter((i) => list[i]!.anomaly)
    for (const [first, last] of alarmRuns(
      flagged.map((i) => list[i]!.timestamp),
      mergeS,
    )) {
      alarms++
      const real = flagged
        .slice(first, last + 1)
        .some((i) => list[i]!.label === 1 || settlingOf[i] !== undefined)
      if (!real) falseAlarms++
    }
  }

  const byFault: Record<string, EventFigures> = {}
  for (const fault of new Set(events.map((e) => e.fault))) {
    byFault[fault] = eventFigures(events.filter((e) => e.fault === fault))
  }
  const healthyHours = healthyMs / 3_600_000
  return {
    records,
    faulty_records: faulty,
    per_record_strict: finish(strict),
    per_record_settled: finish(settled),
    per_event: { ...eventFigures(events), by_fault: byFault },
    alarms,
    false_alarms: falseAlarms,
    alarm_precision: alarms > 0 ? (alarms - falseAlarms) / alarms : 1,
    healthy_hours: round(healthyHours, 4),
    false_alarms_per_hour: healthyHours > 0 ? round(falseAlarms / healthyHours, 3) : 0,
    settle_s: settleS,
  }
}

interface Tally {
  tp: number
  fn: number
  tn: number
  /** False alarms on healthy flight. */
  healthyFp: number
  /** False alarms in a settling period, by the fault type settling. */
  settlingFp: Map<string, number>
  byFault: Map<string, { tp: number; fn: number }>
}

function tally(): Tally {
  return { tp: 0, fn: 0, tn: 0, healthyFp: 0, settlingFp: new Map(), byFault: new Map() }
}

function count(
  t: Tally,
  fault: string | undefined,
  anomaly: boolean,
  settlingFault: string | undefined,
): void {
  if (fault !== undefined) {
    let f = t.byFault.get(fault)
    if (!f) t.byFault.set(fault, (f = { tp: 0, fn: 0 }))
    if (anomaly) {
      t.tp++
      f.tp++
    } else {
      t.fn++
      f.fn++
    }
  } else if (!anomaly) {
    t.tn++
  } else if (settlingFault !== undefined) {
    t.settlingFp.set(settlingFault, (t.settlingFp.get(settlingFault) ?? 0) + 1)
  } else {
    t.healthyFp++
  }
}

function finish(t: Tally): RecordFigures {
  const settlingTotal = [...t.settlingFp.values()].reduce((a, b) => a + b, 0)
  const by_fault: Record<string, Counts> = {}
  for (const [fault, f] of [...t.byFault].sort(([a], [b]) => a.localeCompare(b))) {
    by_fault[fault] = counts(f.tp, t.healthyFp + (t.settlingFp.get(fault) ?? 0), f.fn)
  }
  return { ...counts(t.tp, t.healthyFp + settlingTotal, t.fn), tn: t.tn, by_fault }
}

function counts(tp: number, fp: number, fn: number): Counts {
  const precision = tp + fp > 0 ? tp / (tp + fp) : 0
  const recall = tp + fn > 0 ? tp / (tp + fn) : 0
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0
  return { tp, fp, fn, precision: round(precision, 4), recall: round(recall, 4), f1: round(f1, 4) }
}

function eventFigures(events: FaultEvent[]): EventFigures {
  const delays = events
    .filter((e) => e.firstFlagMs !== undefined)
    .map((e) => (e.firstFlagMs! - e.startMs) / 1000)
    .sort((a, b) => a - b)
  const pick = (q: number) =>
    delays.length === 0
      ? null
      : round(delays[Math.min(delays.length - 1, Math.ceil(q * delays.length) - 1)]!, 2)
  return {
    events: events.length,
    detected: delays.length,
    recall: events.length > 0 ? round(delays.length / events.length, 4) : 0,
    detect_s_p50: pick(0.5),
    detect_s_p95: pick(0.95),
  }
}

/** The most one step between a drone's records adds to its flight time (s → ms). */
const MAX_STEP_MS = 10_000

const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits
