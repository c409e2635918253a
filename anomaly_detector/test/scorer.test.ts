import assert from 'node:assert/strict'
import { before, describe, it } from 'node:test'
import type { LabeledSample, PlannedFault, Sensor } from '../../simulator/src/faults.ts'
import { CHECK_NAMES, MAX_GAP_MS } from '../src/features.ts'
import { trainModel, type DetectorModel } from '../src/model.ts'
import { createScorer, type Prediction } from '../src/scorer.ts'
import { flight, simulated } from './flights.ts'

const SCALARS: [Sensor, number][] = [
  ['accel_x', 6],
  ['accel_y', 6],
  ['accel_z', 6],
  ['gyro_x', 1.5],
  ['gyro_y', 1.5],
  ['gyro_z', 1.5],
  ['altitude', 5],
  ['velocity', 5],
]
const FROZEN: Sensor[] = ['accel_x', 'accel_z', 'gyro_y', 'altitude', 'velocity', 'gps']

/**
 * Every drone of the test fleet: from 40 s (in the air by then), a one-sample spike on each scalar
 * sensor 5 s apart, then a 3 s freeze of several sensors 8 s apart, then a 10 s GPS jump of 30 m.
 * The third drone's spikes point down.
 */
function faultPlan(drones: number): { faults: PlannedFault[]; endS: number } {
  const faults: PlannedFault[] = []
  let t = 0
  for (let d = 1; d <= drones; d++) {
    const droneId = `drone-${String(d).padStart(4, '0')}`
    t = 40
    for (const [sensor, size] of SCALARS) {
      faults.push({
        droneId,
        type: 'spike',
        sensor,
        startS: t,
        durationS: 0.1,
        magnitude: d === 3 ? -size : size,
      })
      t += 5
    }
    for (const sensor of FROZEN) {
      faults.push({ droneId, type: 'freeze', sensor, startS: t, durationS: 3 })
      t += 8
    }
    faults.push({ droneId, type: 'gps_jump', sensor: 'gps', startS: t, durationS: 10, magnitude: 30 })
    t += 20
  }
  return { faults, endS: t }
}

describe('createScorer', () => {
  let model: DetectorModel
  before(async () => {
    // 8 drones for 100 s each: ground, take-off and cruise.
    const training = simulated(8, 1000, 'scorer-training').map((s) => s.record)
    model = await trainModel(training, { seed: 5 })
  })

  it('rarely flags healthy flights, and explains only what it flags', () => {
    const scorer = createScorer(model)
    const predictions = simulated(4, 1000, 'scorer-healthy').map((s) => scorer.score(s.record))
    const flagged = predictions.filter((p) => p.anomaly)
    assert.ok(
      flagged.length / predictions.length < 0.005,
      `${flagged.length} of ${predictions.length} flagged`,
    )
    for (const p of predictions) {
      assert.ok(p.score > 0 && p.score <= 1)
      assert.equal(p.anomaly, p.score > p.threshold)
      assert.ok(p.threshold === model.threshold || p.threshold === model.hold_threshold)
      assert.equal(p.features === undefined, !p.anomaly)
    }
  })

  describe('on injected faults', () => {
    const drones = 3
    const { faults, endS } = faultPlan(drones)
    let samples: LabeledSample[]
    let predictions: Prediction[]
    before(() => {
      samples = simulated(drones, endS * 10, 'scorer-faults', faults)
      const scorer = createScorer(model)
      predictions = samples.map((s) => scorer.score(s.record))
    })
    /** The predictions of one drone's faulty records from `startS` for `durationS`. */
    const during = (droneId: string, startS: number, durationS: number): Prediction[] =>
      predictions.filter(
        (p, i) =>
          p.drone_id === droneId &&
          samples[i]!.label === 1 &&
          p.seq >= startS * 10 &&
          p.seq < (startS + durationS) * 10,
      )

    it('flags every spike and explains it by the step check of the sensor it hit', () => {
      for (const fault of faults.filter((f) => f.type === 'spike')) {
        const [spike] = during(fault.droneId, fault.startS, fault.durationS)
        assert.ok(spike, `${fault.droneId} ${fault.sensor} spike`)
        assert.ok(spike.anomaly, `${fault.droneId} ${fault.sensor} spike scored ${spike.score}`)
        assert.equal(
          spike.features![0]!.name,
          `${fault.sensor}_step`,
          `${fault.droneId} at ${fault.startS} s`,
        )
        // Beyond the check's tail: the healthy fleet's extrapolated 1-in-100,000 value.
        assert.ok(
          spike.features![0]!.surprise > 1.5,
          `${fault.droneId} ${fault.sensor} surprise ${spike.features![0]!.surprise}`,
        )
      }
    })

    it('flags every frozen record and explains it by that sensor’s repeat run', () => {
      for (const fault of faults.filter((f) => f.type === 'freeze')) {
        const frozen = during(fault.droneId, fault.startS, fault.durationS)
        assert.equal(frozen.length, 30)
        for (const [k, p] of frozen.entries()) {
          const what = `${fault.droneId} ${fault.sensor} frozen ${k + 1}`
          assert.ok(p.anomaly, what)
          const repeats = p.features!.find((f) => f.name === `${fault.sensor}_repeats`)
          assert.equal(repeats?.surprise, k + 1, `${what}: ${JSON.stringify(p.features)}`)
          // A frozen GPS first looks like a position step no flight makes; the run takes over soon.
          if (fault.sensor !== 'gps' || k >= 5)
            assert.equal(p.features![0]!.name, `${fault.sensor}_repeats`, what)
        }
      }
    })

    it('flags a GPS jump for as long as it lasts: the leap, then the offset it left', () => {
      for (const fault of faults.filter((f) => f.type === 'gps_jump')) {
        const jump = during(fault.droneId, fault.startS, fault.durationS)
        assert.equal(jump.length, 100)
        assert.ok(
          jump.every((p) => p.anomaly),
          `${fault.droneId}: ${jump.filter((p) => !p.anomaly).length} missed`,
        )
        assert.equal(jump[0]!.features![0]!.name, 'gps_step')
        for (const p of jump.slice(1))
          assert.equal(p.features![0]!.name, 'gps_offset', `${p.drone_id} ${p.seq}`)
        // Once the position leaps back and that is confirmed, the drone is healthy again.
        const end = (fault.startS + fault.durationS) * 10
        const after = predictions.filter(
          (p) => p.drone_id === fault.droneId && p.seq >= end + 2 && p.seq < end + 100,
        )
        assert.ok(after.every((p) => !p.anomaly || p.features![0]!.name !== 'gps_offset'))
      }
    })

    it('lists the top three checks, most surprising first', () => {
      const flagged = predictions.filter((p) => p.anomaly)
      assert.ok(flagged.length > 0)
      for (const p of flagged) {
        assert.equal(p.features!.length, 3)
        for (const [i, f] of p.features!.entries()) {
          assert.ok(CHECK_NAMES.includes(f.name), f.name)
          assert.ok(Number.isFinite(f.surprise) && f.surprise > 0)
          if (i > 0) assert.ok(p.features![i - 1]!.surprise >= f.surprise)
        }
      }
    })
  })

  it('lists as many checks as asked', () => {
    const scorer = createScorer(model, { topFeatures: 5 })
    const records = flight('drone-0001', 200, 'top')
    const spiked = records.map((r) => (r.seq === 150 ? { ...r, altitude: r.altitude + 20 } : r))
    const p = spiked.map((r) => scorer.score(r))[150]!
    assert.ok(p.anomaly)
    assert.equal(p.features!.length, 5)
    assert.equal(p.features![0]!.name, 'altitude_step')
  })

  it('does not flag a drone’s first records, which have no history to compare with', () => {
    const scorer = createScorer(model)
    const first = simulated(3, 30, 'first').map((s) => scorer.score(s.record))
    assert.ok(
      first.every((p) => !p.anomaly),
      first.map((p) => p.score.toFixed(3)).join(),
    )
  })

  it('keeps each drone’s history apart', () => {
    const a = flight('drone-0001', 100, 'a')
    const b = flight('drone-0002', 100, 'b')
    const together = createScorer(model)
    const interleaved = a.flatMap((r, i) => [together.score(r), together.score(b[i]!)])
    const alone = createScorer(model)
    assert.deepEqual(
      interleaved.filter((p) => p.drone_id === 'drone-0001'),
      a.map((r) => alone.score(r)),
    )
  })

  it('scores a late or repeated record without moving the drone’s history', () => {
    const records = flight('drone-0001', 300, 'late')
    const plain = createScorer(model)
    const expected = records.map((r) => plain.score(r))

    const scorer = createScorer(model)
    const seen = records.slice(0, 200).map((r) => scorer.score(r))
    const late = [
      records[150]!,
      records[199]!,
      { ...records[190]!, acceleration_x: records[190]!.acceleration_x + 5 },
    ]
    for (const record of late) {
      const p = scorer.score(record)
      assert.equal(p.seq, record.seq)
      assert.ok(Number.isFinite(p.score))
    }
    const rest = records.slice(200).map((r) => scorer.score(r))
    assert.deepEqual([...seen, ...rest], expected)
  })

  it('holds an anomaly on while the score stays above the hold threshold, and only then', () => {
    const records = flight('drone-0001', 400, 'hold')
    const plain = createScorer(model)
    const free = records.map((r) => plain.score(r).score)
    // Thresholds from this flight's own scores: about 1 record in 20 above the threshold, 1 in 4
    // above the hold, so anomalies start, go on and end many times over.
    const sorted = free.slice(100).sort((a, b) => a - b)
    const threshold = sorted[Math.floor(sorted.length * 0.95)]!
    const hold = sorted[Math.floor(sorted.length * 0.75)]!
    const holding = createScorer({ ...model, threshold, hold_threshold: hold })
    const predictions = records.map((r) => holding.score(r))
    let previous = false
    let held = 0
    predictions.forEach((p, i) => {
      assert.equal(p.score, free[i], 'the hold changes verdicts, not scores')
      const expected = p.score > threshold || (previous && p.score > hold)
      assert.equal(p.anomaly, expected, `record ${i}: score ${p.score}, previous ${previous}`)
      assert.equal(p.threshold, previous && p.score > hold ? hold : threshold)
      if (p.anomaly && p.score <= threshold) held++
      previous = p.anomaly
    })
    assert.ok(held >= 5, `${held} records held on`)

    // A late record neither starts nor ends an anomaly, and the hold does not cross a gap.
    const again = createScorer({ ...model, threshold, hold_threshold: hold })
    const first = predictions.findIndex(
      (p, i) => i > 100 && p.anomaly && predictions[i + 1]!.anomaly && free[i + 1]! <= threshold,
    )
    assert.ok(first > 0, 'an anomaly held on into its next record')
    for (const r of records.slice(0, first + 1)) again.score(r)
    again.score(records[10]!)
    assert.ok(again.score(records[first + 1]!).anomaly, 'still held after a late record')
    // (With no hold threshold at all, whatever the record after the gap scores.)
    const gapped = createScorer({ ...model, threshold, hold_threshold: 0 })
    for (const r of records.slice(0, first + 1)) gapped.score(r)
    const after = { ...records[first + 1]!, timestamp: records[first + 1]!.timestamp + MAX_GAP_MS + 1 }
    const afterGap = gapped.score(after)
    assert.equal(afterGap.threshold, threshold, 'not held across a gap')
    assert.ok(!afterGap.anomaly, 'not held across a gap')
    // Nor across a restart (seq from 0 again, a sample later), where the history starts afresh too.
    const restarted = createScorer({ ...model, threshold, hold_threshold: 0 })
    for (const r of records.slice(0, first + 1)) restarted.score(r)
    const again0 = { ...records[0]!, timestamp: records[first]!.timestamp + 100 }
    const afterRestart = restarted.score(again0)
    assert.equal(afterRestart.threshold, threshold, 'not held across a restart')
    assert.ok(!afterRestart.anomaly, 'not held across a restart')
  })

  it('follows a restarted drone from its new first record', () => {
    const records = flight('drone-0001', 300, 'restart')
    const scorer = createScorer(model)
    for (const r of records.slice(0, 200)) scorer.score(r)
    // The drone restarts: seq from 0 again, at later times, with a spike on its 80th record. Had the
    // restart been taken for late records, none of them would move the history, and none be judged.
    const shift = records[199]!.timestamp - records[0]!.timestamp + 1000
    const again = records
      .slice(0, 100)
      .map((r) => ({ ...r, timestamp: r.timestamp + shift, altitude: r.altitude + (r.seq === 80 ? 20 : 0) }))
    const restarted = again.map((r) => scorer.score(r))
    assert.deepEqual(
      restarted.map((p) => p.seq),
      again.map((r) => r.seq),
    )
    assert.ok(restarted[80]!.anomaly, `the spike scored ${restarted[80]!.score}`)
    assert.equal(restarted[80]!.features![0]!.name, 'altitude_step')
    assert.ok(
      restarted.slice(0, 30).every((p) => !p.anomaly),
      'the first records have no history',
    )
  })
})
