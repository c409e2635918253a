import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { DroneTelemetry } from '@drone-pipeline/shared/generated/drone-telemetry.ts'
import {
  FEATURE_NAMES,
  fillUnknown,
  MAX_GAP_MS,
  nextFeatures,
  type DroneState,
  type FeatureName,
} from '../src/features.ts'
import { flight, INTERVAL_MS } from './flights.ts'

/** Runs records through the step function; returns each record's features and the final state. */
function run(records: DroneTelemetry[], state?: DroneState): { rows: Float64Array[]; state?: DroneState } {
  const rows: Float64Array[] = []
  for (const record of records) {
    const step = nextFeatures(state, record)
    state = step.state
    rows.push(step.features)
  }
  return { rows, state }
}

function feature(row: Float64Array, name: FeatureName): number {
  return row[FEATURE_NAMES.indexOf(name)]!
}

function assertFinite(rows: Float64Array[]): void {
  for (const [r, row] of rows.entries()) {
    assert.equal(row.length, FEATURE_NAMES.length)
    row.forEach((v, i) => assert.ok(Number.isFinite(v) && v >= 0, `row ${r} ${FEATURE_NAMES[i]} = ${v}`))
  }
}

const normal = flight('drone-0001', 300)

describe('FEATURE_NAMES', () => {
  it('are unique', () => {
    assert.equal(new Set(FEATURE_NAMES).size, FEATURE_NAMES.length)
  })
})

describe('nextFeatures', () => {
  it('marks what a drone’s first records give no basis for as unknown', () => {
    const { features, known, state } = nextFeatures(undefined, normal[0]!)
    assert.deepEqual([...features], new Array(FEATURE_NAMES.length).fill(0))
    assert.deepEqual(
      FEATURE_NAMES.filter((_, i) => known[i] === 1),
      FEATURE_NAMES.filter((n) => n.startsWith('repeat_')),
    )
    assert.equal(state.seq, 0)

    const second = nextFeatures(state, normal[1]!)
    assert.equal(second.known[FEATURE_NAMES.indexOf('delta_position_m')], 1)
    assert.equal(second.known[FEATURE_NAMES.indexOf('zscore_gyro')], 0, 'running statistics still warming up')
    const warm = run(normal.slice(0, 30)).state!
    assert.ok(nextFeatures(warm, normal[30]!).known.every((k) => k === 1))
  })

  it('fills unknown features with typical values', () => {
    const step = nextFeatures(undefined, normal[0]!)
    const typical = FEATURE_NAMES.map((_, i) => i + 0.5)
    const filled = fillUnknown(step, typical)
    FEATURE_NAMES.forEach((name, i) => assert.equal(filled[i], name.startsWith('repeat_') ? 0 : i + 0.5))
  })

  it('stays finite and small on a normal flight', () => {
    const { rows } = run(normal)
    assertFinite(rows)
    for (const row of rows.slice(20)) {
      assert.ok(feature(row, 'delta_altitude_m') < 1)
      assert.ok(feature(row, 'gps_speed_error_mps') < 3)
      assert.ok(feature(row, 'zscore_gyro') < 6)
      assert.equal(feature(row, 'repeat_gyro'), 0)
    }
  })

  it('does not change the state it is given', () => {
    const { state } = run(normal.slice(0, 30))
    const before = JSON.stringify(state, (_, v: unknown) => (v instanceof Float64Array ? [...v] : v))
    nextFeatures(state, normal[30]!)
    assert.equal(
      JSON.stringify(state, (_, v: unknown) => (v instanceof Float64Array ? [...v] : v)),
      before,
    )
  })

  it('stays finite with a repeated timestamp, a backwards one and a huge gap', () => {
    const { state } = run(normal.slice(0, 50))
    const at = (i: number, timestamp: number): DroneTelemetry => ({ ...normal[i]!, timestamp })
    const last = normal[49]!.timestamp
    const { rows } = run(
      [at(50, last), at(51, last - 5000), at(52, last + 1e12), at(53, last + 1e12 + 100)],
      state,
    )
    assertFinite(rows)
    const [repeated, backwards, gap, after] = rows as [Float64Array, Float64Array, Float64Array, Float64Array]
    assert.equal(feature(repeated, 'gps_speed_error_mps'), 0, 'no rate without elapsed time')
    assert.ok(feature(repeated, 'delta_acceleration_mps2') > 0, 'value changes still count')
    assert.equal(feature(backwards, 'accel_speed_error_mps'), 0)
    assert.equal(feature(gap, 'delta_acceleration_mps2'), 0, 'nothing to compare with across a gap')
    assert.ok(feature(after, 'delta_acceleration_mps2') > 0, 'comparisons resume after the gap')
    assert.ok(MAX_GAP_MS > INTERVAL_MS)
  })

  it('turns non-finite readings into finite, extreme features without poisoning the state', () => {
    const { state } = run(normal.slice(0, 50))
    const { rows } = run(
      [{ ...normal[50]!, gyro_x: Number.NaN, latitude: Infinity }, ...normal.slice(51, 60)],
      state,
    )
    assertFinite(rows)
    assert.equal(feature(rows[0]!, 'zscore_gyro'), 1e9)
    assert.equal(feature(rows[0]!, 'gps_speed_error_mps'), 1e9)
    assert.ok(feature(rows.at(-1)!, 'zscore_gyro') < 6, 'the running statistics recover')
  })

  it('counts a frozen sensor’s repeats', () => {
    const { state } = run(normal.slice(0, 100))
    const frozen = normal.slice(100, 110).map((r) => ({ ...r, gyro_y: 0.0123 }))
    const { rows } = run(frozen, state)
    assert.deepEqual(
      rows.map((row) => feature(row, 'repeat_gyro')),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    )
    assert.ok(rows.every((row) => feature(row, 'repeat_acceleration') === 0))
  })

  it('flags a spike through the delta and the z-score of that sensor', () => {
    const { state } = run(normal.slice(0, 100))
    const { rows } = run([{ ...normal[100]!, acceleration_z: normal[100]!.acceleration_z + 15 }], state)
    assert.ok(feature(rows[0]!, 'delta_acceleration_mps2') > 14)
    assert.ok(feature(rows[0]!, 'zscore_acceleration') > 50)
    assert.ok(feature(rows[0]!, 'zscore_gyro') < 6)
  })

  it('sees a GPS jump as disagreement between GPS and reported speed', () => {
    const { state } = run(normal.slice(0, 100))
    const { rows } = run([{ ...normal[100]!, latitude: normal[100]!.latitude + 0.001 }], state)
    assert.ok(feature(rows[0]!, 'delta_position_m') > 100)
    assert.ok(feature(rows[0]!, 'gps_speed_error_mps') > 900)
    assert.ok(feature(rows[0]!, 'zscore_gps_speed_error') > 100)
    assert.equal(feature(rows[0]!, 'zscore_max'), feature(rows[0]!, 'zscore_gps_speed_error'))
    assert.ok(feature(rows[0]!, 'delta_velocity_mps') < 1)
  })

  it('ignores a redelivered record and starts afresh after a restart', () => {
    const { state } = run(normal.slice(0, 100))
    const again = nextFeatures(state, normal[99]!)
    assert.equal(again.state, state)
    assert.equal(again.known[FEATURE_NAMES.indexOf('delta_acceleration_mps2')], 0)

    const restarted = nextFeatures(state, { ...normal[0]!, timestamp: normal[99]!.timestamp + 1000 })
    assert.equal(restarted.state.seq, 0)
    assert.equal(feature(restarted.features, 'delta_acceleration_mps2'), 0)
  })
})
