import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { alarmRuns, evaluate, type Counts, type JudgedPoint } from '../src/evaluation.ts'
import { createRandom } from '../src/random.ts'

const START_MS = 1_750_000_000_000
const FAULTS: Record<string, string | null> = { s: 'spike', f: 'freeze', g: 'gps_jump', u: null }

/**
 * One drone's judged records, one character each, `intervalMs` apart from seq 0. `labels`: '.' healthy,
 * s spike, f freeze, g gps_jump, u a fault without a name. `flags`: 'x' flagged, anything else not.
 * Seqs in `missing` are left out (lost records).
 */
function track(
  droneId: string,
  labels: string,
  flags: string,
  { intervalMs = 100, missing = [] as number[] } = {},
): JudgedPoint[] {
  assert.equal(flags.length, labels.length, 'labels and flags describe the same records')
  return [...labels]
    .map((c, seq): JudgedPoint => {
      if (c !== '.' && !(c in FAULTS)) throw new Error(`unknown label ${c}`)
      return {
        drone_id: droneId,
        seq,
        timestamp: START_MS + seq * intervalMs,
        label: c === '.' ? 0 : 1,
        fault: c === '.' ? null : FAULTS[c]!,
        anomaly: flags[seq] === 'x',
      }
    })
    .filter((p) => !missing.includes(p.seq))
}

/** Flags ('x') on the records at `at`, of `length` records. */
function marks(length: number, at: number[]): string {
  return Array.from({ length }, (_, i) => (at.includes(i) ? 'x' : '.')).join('')
}

/** Counts with precision, recall and F1 as evaluate rounds them. */
function counts(tp: number, fp: number, fn: number): Counts {
  const round = (v: number) => Math.round(v * 1e4) / 1e4
  const precision = tp + fp > 0 ? tp / (tp + fp) : 0
  const recall = tp + fn > 0 ? tp / (tp + fn) : 0
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0
  return { tp, fp, fn, precision: round(precision), recall: round(recall), f1: round(f1) }
}

describe('evaluate', () => {
  it('computes every figure of one small drone by hand', () => {
    // A spike on records 2 and 3; the settling period is the 0.3 s after record 3: records 4 to 6.
    // Flagged: record 3 (a detection), 5 (settling) and 9 (healthy: a false alarm).
    const e = evaluate(track('drone-0001', '..ss......', '...x.x...x'), { settleS: 0.3, mergeS: 0.15 })
    assert.deepEqual(e, {
      records: 10,
      faulty_records: 2,
      // Every record: the settling flag counts as a false positive, of the spike's type.
      per_record_strict: { ...counts(1, 2, 1), tn: 6, by_fault: { spike: counts(1, 2, 1) } },
      // Records 4 to 6 left out: only the healthy false alarm remains.
      per_record_settled: { ...counts(1, 1, 1), tn: 4, by_fault: { spike: counts(1, 1, 1) } },
      per_event: {
        events: 1,
        detected: 1,
        recall: 1,
        detect_s_p50: 0.1,
        detect_s_p95: 0.1,
        by_fault: { spike: { events: 1, detected: 1, recall: 1, detect_s_p50: 0.1, detect_s_p95: 0.1 } },
      },
      // Records 3, 5 and 9, more than 0.15 s apart: three alarms, of which only the last is false.
      alarms: 3,
      false_alarms: 1,
      alarm_precision: 2 / 3,
      // Healthy flight outside settling: the intervals ending at records 1, 7, 8 and 9.
      healthy_hours: 0.0001,
      false_alarms_per_hour: 9000,
      settle_s: 0.3,
    })
    assert.equal(e.per_record_strict.precision, 0.3333)
    assert.equal(e.per_record_strict.f1, 0.4)
  })

  it('ends a settling period settleS after the fault’s last record, inclusive', () => {
    const labels = '..s.....'
    // Record 2 is the spike; with settleS 0.3, records 3 to 5 settle and record 6 is healthy again.
    const at5 = evaluate(track('d', labels, '.....x..'), { settleS: 0.3 })
    const at6 = evaluate(track('d', labels, '......x.'), { settleS: 0.3 })
    assert.equal(at5.false_alarms, 0)
    assert.equal(at5.per_record_settled.fp, 0)
    assert.equal(at5.per_event.detected, 1, 'a flag while settling detects the event')
    assert.equal(at5.per_event.detect_s_p50, 0.3, 'late: from the fault’s first record to the flag')
    assert.equal(at6.false_alarms, 1)
    assert.equal(at6.per_record_settled.fp, 1)
    assert.equal(at6.per_event.detected, 0)
    assert.equal(at6.per_event.detect_s_p50, null)
    assert.equal(evaluate(track('d', labels, '........')).settle_s, 10, 'ten seconds by default')
  })

  it('charges a settling false alarm to its own fault type, and a healthy one to every type', () => {
    const points = [
      // Spike on 1 and 2, detected on 2; its echo flagged on 4.
      ...track('drone-0001', '.ss.....', '..x.x...'),
      // Freeze on 1 to 3, detected on 3; its echo flagged on 6 (0.3 s after its end).
      ...track('drone-0002', '.fff....', '...x..x.'),
      // A false alarm on healthy flight.
      ...track('drone-0003', '........', '...x....'),
    ]
    const e = evaluate(points, { settleS: 0.3, mergeS: 0.1 })
    assert.deepEqual(e.per_record_strict, {
      ...counts(2, 3, 3),
      tn: 16,
      by_fault: { freeze: counts(1, 2, 2), spike: counts(1, 2, 1) },
    })
    assert.deepEqual(e.per_record_settled, {
      ...counts(2, 1, 3),
      tn: 12,
      by_fault: { freeze: counts(1, 1, 2), spike: counts(1, 1, 1) },
    })
    assert.equal(e.alarms, 5)
    assert.equal(e.false_alarms, 1)
    assert.equal(e.alarm_precision, 0.8)
  })

  it('splits fault events at a change of type, at a healthy record and at a lost record', () => {
    const labels = [
      '..',
      'sss',
      '.'.repeat(7),
      'ss',
      '.'.repeat(8),
      'fff',
      '.'.repeat(7),
      'gg',
      '.'.repeat(6),
    ]
      .concat(['ggg', 'g', 'gg', 'ss', 'ff', '...'])
      .join('')
    // Events (seq: first flag, time to detect), settleS 0.5 being five records:
    //   spike 2-4 (2: 0 s), spike 12-13 (16, while settling: 0.4 s), freeze 22-24 (24: 0.2 s),
    //   gps_jump 32-33 (never), gps_jump 40-42 (never; record 43 is lost), gps_jump 44-45 (45: 0.1 s),
    //   spike 46-47 (46: 0 s), freeze 48-49 (never).
    const e = evaluate(track('d', labels, marks(labels.length, [2, 16, 24, 45, 46]), { missing: [43] }), {
      settleS: 0.5,
    })
    assert.equal(e.records, 52)
    assert.equal(e.faulty_records, 19)
    assert.deepEqual(e.per_event.by_fault, {
      spike: { events: 3, detected: 3, recall: 1, detect_s_p50: 0, detect_s_p95: 0.4 },
      freeze: { events: 2, detected: 1, recall: 0.5, detect_s_p50: 0.2, detect_s_p95: 0.2 },
      gps_jump: { events: 3, detected: 1, recall: 0.3333, detect_s_p50: 0.1, detect_s_p95: 0.1 },
    })
    const { by_fault: _byFault, ...overall } = e.per_event
    // Delays 0, 0, 0.1, 0.2, 0.4 of 8 events: the median is the third, the 95th percentile the fifth.
    assert.deepEqual(overall, { events: 8, detected: 5, recall: 0.625, detect_s_p50: 0.1, detect_s_p95: 0.4 })
    // Alarms: 2; 16 (settling) and 24, 0.8 s apart; 45 and 46. All true.
    assert.deepEqual([e.alarms, e.false_alarms], [3, 0])
    assert.deepEqual(e.per_record_strict.by_fault.spike, counts(2, 1, 5))
  })

  it('names a fault without a type “unnamed”', () => {
    const e = evaluate(track('d', '..uu..', '...x..'))
    assert.deepEqual(Object.keys(e.per_record_strict.by_fault), ['unnamed'])
    assert.deepEqual(e.per_event.by_fault.unnamed, {
      events: 1,
      detected: 1,
      recall: 1,
      detect_s_p50: 0.1,
      detect_s_p95: 0.1,
    })
  })

  it('merges flagged runs less than mergeS apart into one alarm', () => {
    // Flags at 0, 0.5, 1.4, 2.4 and 5 s on healthy flight.
    const flags = 'x....x........x.........x.........................x'
    const labels = '.'.repeat(flags.length)
    const alarms = (mergeS: number) => evaluate(track('d', labels, flags), { mergeS })
    const one = alarms(1)
    // 0.5 and 0.9 s apart merge; 1.0 s apart (1.4 to 2.4) does not.
    assert.equal(one.alarms, 3)
    assert.equal(one.false_alarms, 3)
    assert.equal(one.alarm_precision, 0)
    assert.equal(alarms(0.95).alarms, 3)
    assert.equal(alarms(0.85).alarms, 4)
    assert.equal(alarms(2).alarms, 2)
    assert.equal(alarms(0).alarms, 5)
    assert.equal(evaluate(track('d', labels, flags)).alarms, 3, 'one second by default')
  })

  it('makes a merged alarm true if any of it is a fault or settling, and never merges across drones', () => {
    // A healthy flag 0.5 s before a detected spike: one alarm, and a true one.
    const before = evaluate(track('d', '.....s....', 'x....x....'), { settleS: 0.1 })
    assert.deepEqual([before.alarms, before.false_alarms], [1, 0])
    // A settling flag followed by healthy flags in the same run: still true.
    const after = evaluate(track('d', '.s..........', '...x...x...x'), { settleS: 0.2 })
    assert.deepEqual([after.alarms, after.false_alarms], [1, 0])
    assert.equal(after.per_record_strict.fp, 3, 'per record, the healthy flags still count')
    // The same moments on two drones are two alarms.
    const two = evaluate([...track('a', '....', '.x..'), ...track('b', '....', '.x..')])
    assert.deepEqual([two.alarms, two.false_alarms], [2, 2])
  })

  it('counts false alarms per hour of healthy flight, summed over drones', () => {
    // Two drones, 1801 records a second apart: half an hour each.
    const healthy = '.'.repeat(1801)
    const e = evaluate([
      ...track('a', healthy, marks(1801, [100, 900]), { intervalMs: 1000 }),
      ...track('b', healthy, marks(1801, [1500]), { intervalMs: 1000 }),
    ])
    assert.equal(e.healthy_hours, 1)
    assert.equal(e.false_alarms, 3)
    assert.equal(e.false_alarms_per_hour, 3)

    // Two hours with a 10 s fault in them: the fault and its 10 s of settling are not healthy flight.
    const labels = [...'.'.repeat(7201)].map((c, i) => (i >= 1000 && i < 1010 ? 's' : c)).join('')
    // Flags: healthy at 10, 5000 and 7000; in the fault at 1005; settling at 1015.
    const withFault = evaluate(
      track('a', labels, marks(labels.length, [10, 1005, 1015, 5000, 7000]), { intervalMs: 1000 }),
    )
    assert.equal(withFault.false_alarms, 3)
    const hours = (7200 - 10 - 10) / 3600
    assert.equal(withFault.healthy_hours, Math.round(hours * 1e4) / 1e4)
    assert.equal(withFault.false_alarms_per_hour, Math.round((3 / hours) * 1e3) / 1e3)
    assert.equal(withFault.per_event.detect_s_p50, 5)
  })

  it('does not depend on the order the points come in', () => {
    const points = [
      ...track('a', '..sss....ff.....', '...x......x..x..'),
      ...track('b', '....gg......', 'x.....x...x.'),
    ]
    const random = createRandom('shuffle')
    const shuffled = [...points]
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = random.int(i + 1)
      ;[shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!]
    }
    assert.deepEqual(evaluate(shuffled, { settleS: 0.2 }), evaluate(points, { settleS: 0.2 }))
  })

  it('has nothing to say about no points', () => {
    const none = evaluate([])
    assert.deepEqual(none.per_record_strict, { ...counts(0, 0, 0), tn: 0, by_fault: {} })
    assert.deepEqual(none.per_event, {
      events: 0,
      detected: 0,
      recall: 0,
      detect_s_p50: null,
      detect_s_p95: null,
      by_fault: {},
    })
    assert.deepEqual(
      [
        none.records,
        none.alarms,
        none.false_alarms,
        none.alarm_precision,
        none.healthy_hours,
        none.false_alarms_per_hour,
      ],
      [0, 0, 0, 1, 0, 0],
    )
  })
})

describe('alarmRuns', () => {
  it('joins flagged records less than mergeS apart into one alarm, and no closer than that', () => {
    assert.deepEqual(alarmRuns([]), [])
    assert.deepEqual(alarmRuns([0, 500, 1499, 2600, 2700]), [
      [0, 2],
      [3, 4],
    ])
    assert.deepEqual(alarmRuns([0, 1000]), [
      [0, 0],
      [1, 1],
    ])
    assert.deepEqual(alarmRuns([0, 1000], 1.5), [[0, 1]])
  })
})
