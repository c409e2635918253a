import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { DroneTelemetry } from '@drone-pipeline/shared/generated/drone-telemetry.ts'
import { createRandom } from '@drone-pipeline/shared/random.ts'
import {
  CHECK_NAMES,
  CHECKS,
  DroneTracker,
  FAMILIES,
  FEATURE_NAMES,
  MAX_GAP_MS,
  toFeatures,
  type Checks,
} from '../src/features.ts'
import { flight, INTERVAL_MS } from './flights.ts'

const METRES_PER_DEGREE = 111_195
const SENSORS = ['accel_x', 'accel_y', 'accel_z', 'gyro_x', 'gyro_y', 'gyro_z', 'altitude', 'velocity', 'gps']
const normal = flight('drone-0001', 400)
/** Where the faults below start: well after every check has warmed up. */
const FAULT_AT = 200

const at = (name: string): number => {
  const i = CHECK_NAMES.indexOf(name)
  assert.ok(i >= 0, `no check ${name}`)
  return i
}
const check = (checks: Checks, name: string): number => checks[at(name)]!

/** Each record's checks from one fresh tracker. */
function run(records: readonly DroneTelemetry[], tracker = new DroneTracker()): Checks[] {
  return records.map((r) => tracker.push(r))
}

/** The normal flight with `change` applied to the records whose seq passes `when`. */
function faulty(
  when: (seq: number) => boolean,
  change: (r: DroneTelemetry) => Partial<DroneTelemetry>,
): DroneTelemetry[] {
  return normal.map((r) => (when(r.seq) ? { ...r, ...change(r) } : r))
}

/** Largest known value of a check over rows [from, to). */
function maxOf(rows: Checks[], name: string, from: number, to: number): number {
  const known = rows
    .slice(from, to)
    .map((row) => check(row, name))
    .filter((v) => !Number.isNaN(v))
  assert.ok(known.length > 0, `${name} never known in [${from}, ${to})`)
  return Math.max(...known)
}

function medianOf(rows: Checks[], name: string, from: number, to: number): number {
  const known = rows
    .slice(from, to)
    .map((row) => check(row, name))
    .filter((v) => !Number.isNaN(v))
    .sort((a, b) => a - b)
  assert.ok(known.length > 0, `${name} never known in [${from}, ${to})`)
  return known[Math.floor(known.length / 2)]!
}

const healthy = run(normal)

/**
 * A longer flight, for faults seen by the consistency checks: those learn their typical size from
 * every residual of a drone's first minute (600 records), so their faults start after it.
 */
const longer = flight('drone-0001', 1000)
const LATE_AT = 700
const healthyLonger = run(longer)
function faultyLonger(
  when: (seq: number) => boolean,
  change: (r: DroneTelemetry) => Partial<DroneTelemetry>,
): DroneTelemetry[] {
  return longer.map((r) => (when(r.seq) ? { ...r, ...change(r) } : r))
}

/**
 * The checks of a flight of `length` records whose `field` gets extra white noise (σ `sd`) for
 * `samples` records from record 900, once the checks know the drone (90 s).
 */
function noiseBurst(
  field: 'gyro_z' | 'acceleration_x',
  sd: number,
  samples: number,
  length: number,
  seed: string,
): { rows: Checks[]; start: number; end: number } {
  const random = createRandom(seed)
  const start = 900
  const end = start + samples
  const rows = run(
    flight('drone-0001', length).map((r) =>
      r.seq >= start && r.seq < end ? { ...r, [field]: r[field] + random.normal(0, sd) } : r,
    ),
  )
  return { rows, start, end }
}

describe('CHECKS', () => {
  it('are uniquely named, in families, with a step, noise and repeat check for every sensor', () => {
    assert.equal(new Set(CHECK_NAMES).size, CHECK_NAMES.length)
    assert.deepEqual(
      CHECKS.map((c) => c.name),
      CHECK_NAMES,
    )
    for (const sensor of SENSORS) {
      assert.equal(CHECKS[at(`${sensor}_step`)]!.family, 'step')
      assert.equal(CHECKS[at(`${sensor}_noise_1s`)]!.family, 'noise')
      assert.equal(CHECKS[at(`${sensor}_noise_3s`)]!.family, 'noise')
      assert.equal(CHECKS[at(`${sensor}_repeats`)]!.family, 'repeat')
    }
    assert.equal(CHECKS[at('gps_offset')]!.family, 'step')
    assert.equal(CHECKS[at('velocity_vs_gps_speed_1s')]!.family, 'consistency')
    const consistency = CHECKS.filter((c) => c.family === 'consistency').map((c) => c.name)
    assert.deepEqual(
      CHECKS.filter((c) => c.family === 'sustained').map((c) => c.name),
      consistency.map((name) => `${name}_sustained`),
      'a sustained check for every consistency check',
    )
    assert.deepEqual([...FAMILIES], ['step', 'noise', 'consistency', 'sustained'])
    assert.deepEqual(
      [...FEATURE_NAMES],
      ['step_surprise', 'noise_surprise', 'consistency_surprise', 'sustained_surprise', 'max_surprise'],
    )
  })
})

describe('DroneTracker', () => {
  it('leaves checks unknown until there is a basis for them, then knows them all', () => {
    const [first] = healthy
    for (const [c, spec] of CHECKS.entries()) {
      if (spec.family === 'repeat') assert.equal(first![c], 0, spec.name)
      else assert.ok(Number.isNaN(first![c]), `${spec.name} = ${first![c]} on the first record`)
    }
    // A step check needs a reference and a typical residual learned over 50 samples first.
    for (const row of healthy.slice(1, 51)) {
      for (const sensor of SENSORS) assert.ok(Number.isNaN(check(row, `${sensor}_step`)), sensor)
    }
    for (const sensor of SENSORS) assert.ok(Number.isFinite(check(healthy[52]!, `${sensor}_step`)), sensor)
    // The longest window is 10 s, then 50 residuals: by 16 s every check is known, finite and not negative.
    for (const [r, row] of healthy.slice(160).entries()) {
      row.forEach((z, c) =>
        assert.ok(Number.isFinite(z) && z >= 0, `record ${r + 160}: ${CHECK_NAMES[c]} = ${z}`),
      )
    }
  })

  it('keeps every check ordinary on a healthy flight', () => {
    for (const [c, name] of CHECK_NAMES.entries()) {
      const max = Math.max(...healthy.slice(160).map((row) => row[c]!))
      assert.ok(max < 6, `${name} reached ${max}`)
    }
  })

  it('counts a frozen sensor’s repeats from its first repeated sample', () => {
    const frozen = normal[FAULT_AT - 1]!.gyro_y
    const rows = run(
      faulty(
        (seq) => seq >= FAULT_AT && seq < FAULT_AT + 10,
        () => ({ gyro_y: frozen }),
      ),
    )
    assert.deepEqual(
      rows.slice(FAULT_AT - 2, FAULT_AT + 12).map((row) => check(row, 'gyro_y_repeats')),
      [0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 0],
    )
    for (const sensor of SENSORS.filter((s) => s !== 'gyro_y')) {
      assert.ok(
        rows.every((row) => check(row, `${sensor}_repeats`) === 0),
        `${sensor} repeats`,
      )
    }
  })

  it('counts a frozen GPS position, and not a position that only keeps its latitude', () => {
    const { latitude, longitude } = normal[FAULT_AT - 1]!
    const frozen = run(
      faulty(
        (seq) => seq >= FAULT_AT && seq < FAULT_AT + 3,
        () => ({ latitude, longitude }),
      ),
    )
    assert.deepEqual(
      frozen.slice(FAULT_AT, FAULT_AT + 4).map((row) => check(row, 'gps_repeats')),
      [1, 2, 3, 0],
    )
    const half = run(
      faulty(
        (seq) => seq >= FAULT_AT && seq < FAULT_AT + 3,
        () => ({ latitude }),
      ),
    )
    assert.ok(half.every((row) => check(row, 'gps_repeats') === 0))
  })

  for (const [sensor, field, size] of [
    ['accel_x', 'acceleration_x', 2],
    ['accel_z', 'acceleration_z', -2],
    ['gyro_y', 'gyro_y', 0.2],
    ['altitude', 'altitude', 3],
    ['velocity', 'velocity', 3],
  ] as const) {
    it(`sees a spike on ${sensor} in its step check, and not in the record after it`, () => {
      const rows = run(
        faulty(
          (seq) => seq === FAULT_AT,
          (r) => ({ [field]: r[field] + size }),
        ),
      )
      const before = maxOf(healthy, `${sensor}_step`, 100, 400)
      const spike = check(rows[FAULT_AT]!, `${sensor}_step`)
      assert.ok(spike > 10 && spike > 3 * before, `${sensor}_step ${spike} on the spike, ${before} healthy`)
      for (const other of SENSORS.filter((s) => s !== sensor)) {
        assert.ok(check(rows[FAULT_AT]!, `${other}_step`) < 6, `${other}_step on the spike`)
      }
      // The spike did not become the reference: the next reading is compared with the last good one.
      const after = check(rows[FAULT_AT + 1]!, `${sensor}_step`)
      assert.ok(after < 4, `${sensor}_step ${after} on the record after the spike`)
    })
  }

  it('does not echo a gyro spike through the tilt checks for the seconds after it', () => {
    const rows = run(
      faulty(
        (seq) => seq >= FAULT_AT && seq < FAULT_AT + 2,
        (r) => ({ gyro_x: r.gyro_x + 1 }),
      ),
    )
    assert.ok(check(rows[FAULT_AT]!, 'gyro_x_step') > 10, 'the spike is seen')
    for (const name of ['roll_rate_vs_accel_tilt_1s', 'roll_rate_vs_accel_tilt_3s']) {
      const usual = maxOf(healthy, name, 100, 400)
      const echo = maxOf(rows, name, FAULT_AT, FAULT_AT + 40)
      assert.ok(echo <= usual, `${name}: ${echo} after the spike, ${usual} healthy`)
    }
  })

  it('keeps a steady sensor ordinary while its reference is held over readings not trusted', () => {
    // Four readings far off, then the sensor as it was: a held reference's slope (a noisy estimate)
    // must not be extrapolated off the steady readings that follow.
    const start = FAULT_AT + 20
    const rows = run(
      faulty(
        (seq) => seq >= start && seq < start + 4,
        (r) => ({ acceleration_z: r.acceleration_z + 5 }),
      ),
    )
    const usual = maxOf(healthy, 'accel_z_step', start + 4, start + 30)
    const after = maxOf(rows, 'accel_z_step', start + 4, start + 30)
    assert.ok(after <= 1.2 * usual, `accel_z_step ${after} after the spike, ${usual} without it`)
  })

  it('flags a spike on every reading of its longest, and a shift that stays for 0.5 s only', () => {
    // Spikes last up to 0.5 s: five readings are compared with the last good one. A reference held
    // longer is let go, so a level that stays (a drift snapping back) is not flagged for longer.
    const spike = run(
      faulty(
        (seq) => seq >= FAULT_AT && seq < FAULT_AT + 5,
        (r) => ({ velocity: r.velocity + 3 }),
      ),
    )
    for (let k = FAULT_AT; k < FAULT_AT + 5; k++) {
      assert.ok(
        check(spike[k]!, 'velocity_step') > 10,
        `velocity_step ${check(spike[k]!, 'velocity_step')} at ${k}`,
      )
    }
    assert.ok(!(check(spike[FAULT_AT + 5]!, 'velocity_step') >= 4), 'the reading after it')
    const shift = run(
      faulty(
        (seq) => seq >= FAULT_AT,
        (r) => ({ velocity: r.velocity + 3 }),
      ),
    )
    const flagged = shift.slice(FAULT_AT, FAULT_AT + 30).filter((row) => check(row, 'velocity_step') >= 6)
    assert.equal(flagged.length, 5, 'readings flagged after a shift that stays')
  })

  it('does not judge the reading a frozen sensor thaws to as a step', () => {
    const end = FAULT_AT + 100
    const frozen = normal[FAULT_AT - 1]!.velocity
    const rows = run(
      faulty(
        (seq) => seq >= FAULT_AT && seq < end,
        () => ({ velocity: frozen }),
      ),
    )
    // The speed moved on meanwhile by many times its noise: a step, were it judged as one.
    assert.ok(Math.abs(normal[end]!.velocity - frozen) > 0.5, 'the speed changed during the freeze')
    assert.ok(Number.isNaN(check(rows[end]!, 'velocity_step')), 'the thaw is not judged')
    assert.ok(maxOf(rows, 'velocity_step', end + 1, end + 30) < 6, 'nor the readings after it')
    // The windows across the thaw are skipped, as across any reading not trusted.
    assert.ok(Number.isNaN(check(rows[end + 5]!, 'velocity_vs_gps_speed_1s')), 'a window across the thaw')
  })

  it('holds gps_offset while a GPS jump lasts and lets it go when the position jumps back', () => {
    const jump = 50 / METRES_PER_DEGREE // 50 m north
    const end = FAULT_AT + 50
    const rows = run(
      faulty(
        (seq) => seq >= FAULT_AT && seq < end,
        (r) => ({ latitude: r.latitude + jump }),
      ),
    )
    assert.ok(rows.slice(100, FAULT_AT).every((row) => check(row, 'gps_offset') === 0))
    assert.ok(check(rows[FAULT_AT]!, 'gps_step') > 100, 'the leap itself is a step no flight makes')
    for (let k = FAULT_AT + 1; k < end; k++) {
      assert.ok(check(rows[k]!, 'gps_offset') > 100, `gps_offset ${check(rows[k]!, 'gps_offset')} at ${k}`)
      assert.ok(check(rows[k]!, 'gps_step') < 6, `gps_step ${check(rows[k]!, 'gps_step')} at ${k}`)
    }
    // The consistency checks follow the trusted track, which the offset was taken out of.
    assert.ok(maxOf(rows, 'velocity_vs_gps_speed_1s', FAULT_AT, end) < 6)
    // The leap back lands on the track the offset was kept from: the end of the jump, not a new one.
    assert.ok(check(rows[end]!, 'gps_step') < 6, `gps_step ${check(rows[end]!, 'gps_step')} on the leap back`)
    for (let k = end; k < 400; k++) {
      assert.ok(check(rows[k]!, 'gps_offset') < 1, `gps_offset ${check(rows[k]!, 'gps_offset')} at ${k}`)
    }
  })

  it('takes a GPS noise burst’s first wild step for no jump, even if one quiet step follows it', () => {
    // A burst's first wild step can be followed by an ordinary one by chance, before the noise
    // checks have risen; only two ordinary steps in a row confirm a jump.
    const random = createRandom('gps-burst')
    const metres = (m: number): number => m / METRES_PER_DEGREE
    const rows = run(
      faulty(
        (seq) => seq >= FAULT_AT && seq < FAULT_AT + 32,
        (r) =>
          r.seq < FAULT_AT + 2
            ? { latitude: r.latitude + metres(3) } // out, and one quiet step
            : {
                latitude: r.latitude + metres(random.normal(0, 2)),
                longitude: r.longitude + metres(random.normal(0, 2)) / Math.cos((r.latitude * Math.PI) / 180),
              },
      ),
    )
    assert.ok(check(rows[FAULT_AT]!, 'gps_step') > 6, 'the wild step')
    assert.ok(check(rows[FAULT_AT + 1]!, 'gps_offset') > 6, 'reported while it could still be a jump')
    for (let k = FAULT_AT + 60; k < 400; k++) {
      assert.equal(check(rows[k]!, 'gps_offset'), 0, `no offset held at ${k}`)
    }
  })

  it('keeps the horizontal force check ordinary through a hard turn', () => {
    // Straight for 40 s, then a turn at 0.8 rad/s (yaw rate reached over 2 s) for 10 s at 6 m/s: a
    // centripetal force of 4.8 m/s² that turns with the airframe. Averaged in the body frame without
    // turning the readings, it came out 5 % too long against the GPS track's.
    const random = createRandom('turn')
    const dt = INTERVAL_MS / 1000
    const speed = 6
    let heading = 0
    let east = 0
    let north = 0
    const rows = run(
      Array.from({ length: 600 }, (_, seq): DroneTelemetry => {
        const t = seq * dt
        const turnRate = 0.8 * Math.min(1, Math.max(0, (t - 40) / 2)) * (t < 52 ? 1 : 0)
        heading += turnRate * dt
        east += speed * dt * Math.sin(heading)
        north += speed * dt * Math.cos(heading)
        const timestamp = normal[0]!.timestamp + seq * INTERVAL_MS
        return {
          ...normal[0]!,
          seq,
          timestamp,
          publish_timestamp: timestamp * 1000,
          latitude: 48.1 + (north + random.normal(0, 0.01)) / METRES_PER_DEGREE,
          longitude:
            11.5 + (east + random.normal(0, 0.01)) / (METRES_PER_DEGREE * Math.cos((48.1 * Math.PI) / 180)),
          altitude: 50 + random.normal(0, 0.05),
          velocity: speed + random.normal(0, 0.05),
          acceleration_x: random.normal(0, 0.05),
          acceleration_y: speed * turnRate + random.normal(0, 0.05),
          acceleration_z: -9.81 + random.normal(0, 0.05),
          gyro_x: random.normal(0, 0.005),
          gyro_y: random.normal(0, 0.005),
          gyro_z: turnRate + random.normal(0, 0.005),
        }
      }),
    )
    const straight = maxOf(rows, 'horizontal_accel_vs_gps_2s', 200, 400)
    const turning = maxOf(rows, 'horizontal_accel_vs_gps_2s', 440, 520)
    assert.ok(turning < Math.max(2 * straight, 4), `${turning} in the turn, at most ${straight} straight`)
  })

  it('learns a check’s typical size from its first samples even when they were unusually quiet', () => {
    // The altitude reads exactly its trend (no noise at all) for its first 6 s, then its usual
    // noise: a typical size learned from the quiet start alone would be far too small, and if it
    // stopped learning from residuals "too large" for it, the noise checks would fire for ever.
    const quietFor = 60
    const trend = (r: DroneTelemetry): number =>
      normal[0]!.altitude + (r.seq * (normal[100]!.altitude - normal[0]!.altitude)) / 100
    const rows = run(
      faulty(
        (seq) => seq < quietFor,
        (r) => ({ altitude: trend(r) }),
      ),
    )
    assert.ok(
      maxOf(rows, 'altitude_noise_1s', quietFor + 10, quietFor + 40) > 3,
      'the start was unusually quiet',
    )
    for (const name of ['altitude_noise_1s', 'altitude_noise_3s']) {
      const usual = medianOf(run(normal), name, 300, 400)
      const later = medianOf(rows, name, 300, 400)
      assert.ok(later < 2 * usual, `${name}: median ${later} after the quiet start, ${usual} without it`)
    }
  })

  it('learns a consistency check’s typical size over its first minute, past a quiet start', () => {
    // Speed and GPS track agree closely for the first 20 s (a drone on the pad), then the GPS's
    // slowly wandering error moves the speed it implies by up to 0.2 m/s, now one way, now the other,
    // as it does in flight. Had the check started setting aside residuals of three typical sizes
    // after 10 s, it would have learned the pad's agreement alone and fired for the rest of the flight.
    const wander = (seq: number): number =>
      seq < 200 ? 0 : 0.2 * Math.sin((2 * Math.PI * (seq - 200)) / 300)
    const records = flight('drone-0001', 900).map((r) => ({ ...r, velocity: r.velocity + wander(r.seq) }))
    const rows = run(records)
    const name = 'velocity_vs_gps_speed_5s'
    const pad = medianOf(rows, name, 150, 200)
    const wandering = maxOf(rows, name, 300, 400)
    assert.ok(wandering > 4 * pad, `the wander (${wandering}) is far larger than the pad's (${pad})`)
    // Set aside after 10 s, the median here was 11.6.
    const later = medianOf(rows, name, 700, 900)
    assert.ok(later < 3, `${name}: median ${later} a minute later`)
  })

  it('sees a noise burst in that sensor’s noise checks only', () => {
    const random = createRandom('burst')
    const rows = run(
      faulty(
        (seq) => seq >= FAULT_AT && seq < FAULT_AT + 100,
        (r) => ({ gyro_z: r.gyro_z + random.normal(0, 0.05) }), // ten times the noise
      ),
    )
    // The 1 s check is a lower quartile of eight values, robust to a spike but noisier than the
    // 3 s median: its healthy maximum is closer to a burst.
    for (const [name, margin] of [
      ['gyro_z_noise_1s', 1.5],
      ['gyro_z_noise_3s', 3],
    ] as const) {
      const usual = maxOf(healthy, name, 100, 400)
      const burst = medianOf(rows, name, FAULT_AT + 30, FAULT_AT + 100)
      assert.ok(
        burst > 6 && burst > margin * usual,
        `${name}: median ${burst} in the burst, at most ${usual} healthy`,
      )
    }
    assert.ok(maxOf(rows, 'gyro_x_noise_1s', FAULT_AT, FAULT_AT + 100) < 6)
    assert.ok(maxOf(rows, 'accel_z_noise_1s', FAULT_AT, FAULT_AT + 100) < 6)
    assert.ok(medianOf(rows, 'gyro_z_noise_1s', FAULT_AT + 150, 400) < 3, 'and calm again after it')
  })

  it('lets a noise burst go from the 3 s check within 0.5 s of its end', () => {
    const random = createRandom('burst')
    const end = FAULT_AT + 100
    const rows = run(
      faulty(
        (seq) => seq >= FAULT_AT && seq < end,
        (r) => ({ gyro_z: r.gyro_z + random.normal(0, 0.05) }), // ten times the noise
      ),
    )
    assert.ok(medianOf(rows, 'gyro_z_noise_3s', FAULT_AT + 30, end) > 6, 'the burst is seen')
    // The window's median stays up until half of it is quiet (1.5 s); the newest half second's
    // largest third difference, once none spans a noisy reading, bounds it.
    const usual = maxOf(healthy, 'gyro_z_noise_3s', 100, 400)
    for (const name of ['gyro_z_noise_3s', 'gyro_z_noise_10s']) {
      const after = maxOf(rows, name, end + 5, end + 20)
      assert.ok(after < usual, `${name}: ${after} from 0.5 s after the burst, at most ${usual} healthy`)
    }
  })

  it('sees a mild noise burst in its 10 s check beyond any healthy 10 s, and lets it go soon after', () => {
    // Gyro noise (0.007 rad/s) times about 2.5 for 15 s.
    const { rows, start, end } = noiseBurst('gyro_z', 0.016, 150, 1300, 'mild burst')
    const usual = maxOf(rows, 'gyro_z_noise_10s', 200, start)
    const burst = medianOf(rows, 'gyro_z_noise_10s', start + 80, end)
    assert.ok(burst > 1.5 * usual, `10 s: median ${burst} in the burst, at most ${usual} healthy`)
    // Its median stays up for about half its window after the burst; the check follows the 3 s one down.
    const after = maxOf(rows, 'gyro_z_noise_10s', end + 25, end + 50)
    assert.ok(after < usual, `10 s: ${after} from 2.5 s after the burst, at most ${usual} healthy`)
  })

  it('keeps a long mild noise burst in its 3 s and 10 s checks to the end, not learning it as usual', () => {
    // Accelerometer noise (0.08 m/s²) times about 1.6 for 60 s.
    const { rows, start, end } = noiseBurst('acceleration_x', 0.1, 600, 1700, 'long mild burst')
    // Learned as the usual level (under the general gate), the second half's median was 0.72 of the
    // first's in the 10 s check; with only the 3 s check learning it (it caps the 10 s one), 0.79 in
    // both. Now 0.90 and 0.85: a burst of 1.6 times the noise is still under the gate of 2.
    for (const [name, kept] of [
      ['accel_x_noise_3s', 0.85],
      ['accel_x_noise_10s', 0.82],
    ] as const) {
      const early = medianOf(rows, name, start + 100, start + 300)
      const late = medianOf(rows, name, start + 300, end)
      assert.ok(
        late > kept * early,
        `${name}: median ${late} in the burst's second half, ${early} in its first`,
      )
      assert.ok(late > maxOf(rows, name, 200, start), `${name}: median ${late} in the burst's second half`)
    }
  })

  for (const [field, size, names] of [
    ['velocity', 3, ['velocity_vs_gps_speed_1s', 'velocity_vs_gps_speed_5s']],
    ['gyro_x', 0.05, ['roll_rate_vs_accel_tilt_1s', 'roll_rate_vs_accel_tilt_3s']],
    ['acceleration_z', 1, ['vertical_accel_vs_altitude_2s', 'vertical_accel_vs_altitude_6s']],
  ] as const) {
    it(`sees a bias on ${field} in ${names.join(' and ')}`, () => {
      const rows = run(
        faultyLonger(
          (seq) => seq >= LATE_AT,
          (r) => ({ [field]: r[field] + size }),
        ),
      )
      for (const name of [...names, ...names.map((n) => `${n}_sustained`)]) {
        const usual = maxOf(healthyLonger, name, 100, LATE_AT)
        // Once the bias is past the start of the window (and its untrusted first second).
        const biased = medianOf(rows, name, LATE_AT + 90, 1000)
        assert.ok(
          biased > 6 && biased > 2 * usual,
          `${name}: median ${biased} biased, at most ${usual} healthy`,
        )
      }
      const untouched = CHECK_NAMES.filter((n) => n.startsWith('pitch_rate_vs_accel_tilt'))
      for (const name of untouched) assert.ok(maxOf(rows, name, LATE_AT + 90, 1000) < 6, name)
    })
  }

  for (const [field, name, size] of [
    ['acceleration_z', 'vertical_accel_vs_altitude_6s', 0.3],
    ['acceleration_y', 'horizontal_accel_vs_gps_2s', 0.6],
  ] as const) {
    it(`learns ${field}'s constant bias, so ${name} sees a fault on it as on an unbiased one`, () => {
      // The same fault from LATE_AT, on a drone whose axis reads `bias` off all along.
      const withBias = (bias: number): Checks[] =>
        run(
          faultyLonger(
            () => true,
            (r) => ({ [field]: r[field] + bias + (r.seq >= LATE_AT ? size : 0) }),
          ),
        )
      const unbiased = medianOf(withBias(0), name, LATE_AT + 90, 1000)
      const biased = medianOf(withBias(0.1), name, LATE_AT + 90, 1000)
      assert.ok(unbiased > 6, `${name}: median ${unbiased} with the fault`)
      assert.ok(biased > 0.8 * unbiased, `${name}: median ${biased} biased, ${unbiased} unbiased`)
    })
  }

  it('keeps the tilt checks ordinary through a banked, pitched turn', () => {
    // Level flight, then within 4 s a turn at 0.8 rad/s, banked 20° and pitched 15°, held for 20 s:
    // body rates and specific force as the attitude (ZYX Euler angles) makes them.
    const random = createRandom('banked-turn')
    const smooth = (x: number): number => (x <= 0 ? 0 : x >= 1 ? 1 : x * x * (3 - 2 * x))
    const smoothRate = (x: number): number => (x <= 0 || x >= 1 ? 0 : 6 * x * (1 - x))
    const degrees = Math.PI / 180
    const first = normal[0]!
    const records = Array.from({ length: 1000 }, (_, seq): DroneTelemetry => {
      const x = (seq / 10 - 70) / 4
      const [roll, pitch, yawRate] = [20 * degrees, 15 * degrees, 0.8].map((v) => v * smooth(x)) as [
        number,
        number,
        number,
      ]
      const [rollDot, pitchDot] = [20 * degrees, 15 * degrees].map((v) => (v * smoothRate(x)) / 4) as [
        number,
        number,
      ]
      const timestamp = first.timestamp + seq * INTERVAL_MS
      return {
        ...first,
        seq,
        timestamp,
        publish_timestamp: timestamp * 1000,
        latitude: first.latitude + random.normal(0, 0.01) / METRES_PER_DEGREE,
        altitude: first.altitude + random.normal(0, 0.05),
        velocity: first.velocity + random.normal(0, 0.05),
        acceleration_x: -9.81 * Math.tan(pitch) + random.normal(0, 0.05),
        acceleration_y: 9.81 * Math.tan(roll) + random.normal(0, 0.05),
        acceleration_z: -9.81 + random.normal(0, 0.05),
        gyro_x: rollDot - yawRate * Math.sin(pitch) + random.normal(0, 0.005),
        gyro_y:
          pitchDot * Math.cos(roll) + yawRate * Math.cos(pitch) * Math.sin(roll) + random.normal(0, 0.005),
        gyro_z:
          -pitchDot * Math.sin(roll) + yawRate * Math.cos(pitch) * Math.cos(roll) + random.normal(0, 0.005),
      }
    })
    const rows = run(records)
    for (const name of CHECK_NAMES.filter((n) => n.includes('_vs_accel_tilt_') && !n.endsWith('sustained'))) {
      const level = maxOf(rows, name, 650, 700)
      const turning = maxOf(rows, name, 740, 1000)
      assert.ok(turning < Math.max(4, 2 * level), `${name}: at most z ${turning} turning, ${level} level`)
    }
  })

  it('sees no speed disagreement where a drone turns back', () => {
    // Back and forth along a line, nose east: the velocity reverses every 20 s, through 0.
    const random = createRandom('turn-back')
    const records: DroneTelemetry[] = []
    let east = 0
    for (let seq = 0; seq < 1200; seq++) {
      const t = seq / 10
      const v = 3 * Math.cos((2 * Math.PI * t) / 40)
      east += v / 10
      const timestamp = normal[0]!.timestamp + seq * INTERVAL_MS
      records.push({
        ...normal[0]!,
        seq,
        timestamp,
        publish_timestamp: timestamp * 1000,
        latitude: normal[0]!.latitude + random.normal(0, 0.01) / METRES_PER_DEGREE,
        longitude:
          normal[0]!.longitude +
          (east + random.normal(0, 0.01)) /
            METRES_PER_DEGREE /
            Math.cos((normal[0]!.latitude * Math.PI) / 180),
        altitude: 50 + random.normal(0, 0.05),
        velocity: Math.hypot(v + random.normal(0, 0.1), random.normal(0, 0.1)),
        acceleration_x: -3 * ((2 * Math.PI) / 40) * Math.sin((2 * Math.PI * t) / 40) + random.normal(0, 0.05),
        acceleration_y: random.normal(0, 0.05),
        acceleration_z: -9.81 + random.normal(0, 0.05),
        gyro_x: random.normal(0, 0.005),
        gyro_y: random.normal(0, 0.005),
        gyro_z: random.normal(0, 0.005),
      })
    }
    const rows = run(records)
    // The turn-backs after the speed checks have learned their first minute: at 70, 90 and 110 s.
    const largest = maxOf(rows, 'velocity_vs_gps_speed_1s', 650, 1200)
    assert.ok(largest < 4, `velocity_vs_gps_speed_1s: at most z ${largest}`)
  })

  it('trusts a step of an accelerometer up to z 8, as a take-off’s jolt of thrust', () => {
    // The thrust rises by 0.65 m/s² in a sample and stays: the readings after the step are compared
    // with it, not with the readings before it.
    const rows = run(
      faulty(
        (seq) => seq >= FAULT_AT,
        (r) => ({ acceleration_z: r.acceleration_z - 0.65 }),
      ),
    )
    const step = check(rows[FAULT_AT]!, 'accel_z_step')
    assert.ok(step > 6 && step < 8, `the step: z ${step}`)
    const after = maxOf(rows, 'accel_z_step', FAULT_AT + 1, FAULT_AT + 10)
    assert.ok(after < 4, `after it: z ${after} at most`)
  })

  it('holds a slowly growing bias in the sustained checks while the instant ones flicker', () => {
    // Speed reads 0.02 m/s too high per second more: 0.6 m/s after 30 s, no step anywhere.
    const rows = run(
      faulty(
        (seq) => seq >= FAULT_AT,
        (r) => ({ velocity: r.velocity + 0.002 * (r.seq - FAULT_AT) }),
      ),
    )
    const instant = 'velocity_vs_gps_speed_1s'
    const sustained = `${instant}_sustained`
    const from = FAULT_AT + 200
    // The lower quartile of 5 s of the instant check: never above its own window's values.
    for (let r = from; r < 400; r++) {
      const window = rows.slice(r - 49, r + 1).map((row) => check(row, instant))
      const sorted = window.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b)
      assert.equal(check(rows[r]!, sustained), sorted[(sorted.length - 1) >> 2], `record ${r}`)
    }
    const usual = maxOf(healthy, sustained, 100, 400)
    const held = Math.min(...rows.slice(from, 400).map((row) => check(row, sustained)))
    assert.ok(held > usual, `sustained: at least ${held} in the drift's last 10 s, at most ${usual} healthy`)
  })

  it('does not hold a fault in the sustained checks past the untrusted step that ends it', () => {
    const end = LATE_AT + 100
    const rows = run(
      faultyLonger(
        (seq) => seq >= LATE_AT && seq < end,
        (r) => ({ velocity: r.velocity + 3 }),
      ),
    )
    const name = 'velocity_vs_gps_speed_1s_sustained'
    assert.ok(medianOf(rows, name, LATE_AT + 60, end) > 6, 'the bias is held while it lasts')
    // The 1 s check is skipped for 1 s after the step; the sustained one waits for half of 5 s of it.
    for (const [r, row] of rows.slice(end, end + 35).entries()) {
      assert.ok(Number.isNaN(check(row, name)), `${name} known ${r} records after the step`)
    }
    const after = maxOf(rows, name, end + 35, end + 60)
    assert.ok(after < maxOf(healthyLonger, name, 100, LATE_AT) + 1e-9, `${after} just after the fault`)
  })

  describe('takes a step that cancels the bias a consistency check showed as the sensor coming back', () => {
    // A bias growing for 15 s from FAULT_AT, then gone: the reading steps back to the truth.
    const end = FAULT_AT + 150
    const drifted = (field: keyof DroneTelemetry, perRecord: number): Checks[] =>
      run(
        faulty(
          (seq) => seq >= FAULT_AT && seq < end,
          (r) => ({ [field]: (r[field] as number) + perRecord * (r.seq - FAULT_AT + 1) }),
        ),
      )

    for (const [field, perRecord, sensor] of [
      ['velocity', 0.01, 'velocity'],
      ['acceleration_x', 0.02, 'accel_x'],
      ['acceleration_y', 0.02, 'accel_y'],
      ['acceleration_z', 0.02, 'accel_z'],
    ] as const) {
      it(`${sensor}: the readings after the step are compared with it, not with the biased ones`, () => {
        const rows = drifted(field, perRecord)
        const name = `${sensor}_step`
        const usual = maxOf(healthy, name, 100, 400)
        // Without it, the biased reference is held for 0.55 s and every reading in that time is a step.
        assert.ok(maxOf(rows, name, end + 1, end + 10) <= usual + 1e-9, `${name} after the step`)
        // A step of the same size from an unbiased reading is one a healthy flight never takes.
        const shifted = run(
          faulty(
            (seq) => seq >= end,
            (r) => ({ [field]: (r[field] as number) - perRecord * 150 }),
          ),
        )
        assert.ok(
          check(shifted[end]!, name) > 3 * check(rows[end]!, name),
          `${name} judged by what the step leaves`,
        )
        assert.ok(maxOf(shifted, name, end + 1, end + 5) > usual, `${name} held after a plain shift`)
      })
    }

    for (const [field, angle] of [
      ['gyro_x', 'roll'],
      ['gyro_y', 'pitch'],
    ] as const) {
      it(`${field}: the tilt windows across the step restart, so the bias is not held after it`, () => {
        const rows = drifted(field, 0.002)
        const name = `${angle}_rate_vs_accel_tilt_3s_sustained`
        assert.ok(
          medianOf(rows, name, end - 20, end) > 2 * maxOf(healthy, name, 100, 400),
          'the drift is seen',
        )
        // Without it, the windows before the step are held until half of 5 s has passed.
        for (let r = end; r < end + 30; r++)
          assert.ok(Number.isNaN(check(rows[r]!, name)), `${name} known ${r - end} records after the step`)
      })
    }
  })

  it('peek leaves the tracker as it was', () => {
    const peeked = new DroneTracker()
    const pushed = new DroneTracker()
    run(normal.slice(0, 150), peeked)
    run(normal.slice(0, 150), pushed)
    const spike = { ...normal[150]!, acceleration_y: normal[150]!.acceleration_y + 3 }
    const frozen = { ...normal[150]!, gyro_x: normal[149]!.gyro_x }
    assert.ok(check(peeked.peek(spike), 'accel_y_step') > 10)
    assert.equal(check(peeked.peek(frozen), 'gyro_x_repeats'), 1)
    assert.equal(peeked.lastSeq, 149)
    // Nothing was left behind: the same records from here give exactly the same checks.
    assert.deepEqual(run(normal.slice(150), peeked), run(normal.slice(150), pushed))
  })

  it('peek on the next record equals push on it', () => {
    const a = new DroneTracker()
    const b = new DroneTracker()
    run(normal.slice(0, 150), a)
    run(normal.slice(0, 150), b)
    const spike = { ...normal[150]!, altitude: normal[150]!.altitude + 4 }
    assert.deepEqual(a.peek(spike), b.push(spike))
    assert.equal(a.lastSeq, 149)
    assert.equal(b.lastSeq, 150)
  })

  it('tells late and repeated records from new ones and from a restarted drone', () => {
    const tracker = new DroneTracker()
    assert.equal(tracker.lastSeq, -1)
    assert.equal(tracker.isBehind(normal[0]!), false)
    run(normal.slice(0, 100), tracker)
    assert.equal(tracker.lastSeq, 99)
    assert.equal(tracker.isBehind(normal[99]!), true, 'a redelivered record')
    assert.equal(tracker.isBehind(normal[90]!), true, 'a late record')
    assert.equal(tracker.isBehind(normal[100]!), false, 'the next record')
    assert.equal(tracker.isBehind(normal[150]!), false, 'a record after a gap')
    const restarted = { ...normal[0]!, timestamp: normal[99]!.timestamp + INTERVAL_MS }
    assert.equal(tracker.isBehind(restarted), false, 'a restarted drone numbers from 0 again, later')
  })

  /** Checks of `next` after the first 100 records, and the checks a fresh tracker gives it. */
  function afterHistory(next: DroneTelemetry): { checks: Checks; tracker: DroneTracker } {
    const tracker = new DroneTracker()
    run(normal.slice(0, 100), tracker)
    return { checks: tracker.push(next), tracker }
  }

  function assertFresh(checks: Checks, what: string): void {
    for (const [c, spec] of CHECKS.entries()) {
      if (spec.family === 'repeat') assert.equal(checks[c], 0, `${what}: ${spec.name}`)
      else assert.ok(Number.isNaN(checks[c]), `${what}: ${spec.name} = ${checks[c]}`)
    }
  }

  it('starts afresh after a gap longer than MAX_GAP_MS, and not after one that long', () => {
    assert.ok(MAX_GAP_MS >= 10 * INTERVAL_MS)
    const last = normal[99]!
    // The same readings again: a repeat of every sensor, unless the history was forgotten.
    const same = (gapMs: number): DroneTelemetry => ({ ...last, seq: 100, timestamp: last.timestamp + gapMs })
    const within = afterHistory(same(MAX_GAP_MS)).checks
    for (const sensor of SENSORS) assert.equal(check(within, `${sensor}_repeats`), 1, sensor)
    assert.ok(!Number.isNaN(check(within, 'gps_step')), 'the position step is still judged')

    const { checks, tracker } = afterHistory(same(MAX_GAP_MS + 1))
    assertFresh(checks, 'after the gap')
    assert.equal(tracker.lastSeq, 100)
    // And the history grows again from there.
    const resumed = run(
      normal.slice(101, 280).map((r) => ({ ...r, timestamp: r.timestamp + MAX_GAP_MS + 1 })),
      tracker,
    )
    assert.ok(resumed.at(-1)!.every((z) => Number.isFinite(z)))
  })

  it('starts afresh for a restarted drone: a lower seq at a later time', () => {
    const last = normal[99]!
    const { checks, tracker } = afterHistory({ ...last, seq: 0, timestamp: last.timestamp + INTERVAL_MS })
    assertFresh(checks, 'after the restart')
    assert.equal(tracker.lastSeq, 0)
    assert.equal(tracker.isBehind({ ...normal[1]!, timestamp: last.timestamp + 2 * INTERVAL_MS }), false)
  })
})

describe('toFeatures', () => {
  const feature = (features: Float64Array, name: (typeof FEATURE_NAMES)[number]): number =>
    features[FEATURE_NAMES.indexOf(name)]!
  const unknown = (): Float64Array => new Float64Array(CHECKS.length).fill(Number.NaN)
  const tails = new Float64Array(CHECKS.length).fill(2)

  it('is all unknown when no check is known', () => {
    const features = toFeatures(unknown(), tails)
    assert.equal(features.length, FEATURE_NAMES.length)
    assert.ok(features.every((v) => Number.isNaN(v)))
  })

  it('takes each family’s largest check over its own tail, ignoring unknown checks', () => {
    const checks = unknown()
    const ownTails = Float64Array.from(tails)
    checks[at('accel_x_step')] = 4 // 2
    checks[at('gyro_y_step')] = 10 // 10 / 100: its tail is heavy
    ownTails[at('gyro_y_step')] = 100
    checks[at('gps_offset')] = 3 // 1.5
    checks[at('velocity_noise_1s')] = 2.5 // (2.5 - 1) / (2 - 1): a noise check's ordinary value is 1
    checks[at('gps_noise_3s')] = 1.5 // 0.5
    for (const sensor of SENSORS) checks[at(`${sensor}_repeats`)] = 0
    const features = toFeatures(checks, ownTails)
    assert.equal(feature(features, 'step_surprise'), 2)
    assert.equal(feature(features, 'noise_surprise'), 1.5)
    assert.ok(Number.isNaN(feature(features, 'consistency_surprise')), 'no consistency check known yet')
    assert.equal(feature(features, 'max_surprise'), 2, 'the largest of the known families')

    checks[at('roll_rate_vs_accel_tilt_3s')] = 7
    checks[at('pitch_rate_vs_accel_tilt_1s')] = 5
    const more = toFeatures(checks, ownTails)
    assert.equal(feature(more, 'consistency_surprise'), 3.5)
    assert.equal(feature(more, 'max_surprise'), 3.5)
    assert.ok(Number.isNaN(feature(more, 'sustained_surprise')), 'no sustained check known yet')

    checks[at('roll_rate_vs_accel_tilt_3s_sustained')] = 9
    const sustained = toFeatures(checks, ownTails)
    assert.equal(feature(sustained, 'sustained_surprise'), 4.5)
    assert.equal(feature(sustained, 'consistency_surprise'), 3.5, 'a family of its own')
    assert.equal(feature(sustained, 'max_surprise'), 4.5)
  })

  it('measures a noise check from 1, the drone’s usual noise, and a residual from 0', () => {
    const checks = unknown()
    const ownTails = Float64Array.from(tails).fill(3)
    checks[at('accel_x_noise_3s')] = 1
    checks[at('gyro_x_step')] = 0
    const ordinary = toFeatures(checks, ownTails)
    assert.equal(feature(ordinary, 'noise_surprise'), 0)
    assert.equal(feature(ordinary, 'step_surprise'), 0)
    checks[at('accel_x_noise_3s')] = 3
    checks[at('gyro_x_step')] = 3
    const atTail = toFeatures(checks, ownTails)
    assert.equal(feature(atTail, 'noise_surprise'), 1)
    assert.equal(feature(atTail, 'step_surprise'), 1)
    checks[at('accel_x_noise_3s')] = 2
    assert.equal(feature(toFeatures(checks, ownTails), 'noise_surprise'), 0.5, 'halfway from 1 to 3')
  })

  it('turns a repeat run into a noise surprise beyond any spread, and no run into none', () => {
    const checks = unknown()
    for (const sensor of SENSORS) checks[at(`${sensor}_repeats`)] = 0
    const none = toFeatures(checks, tails)
    assert.equal(feature(none, 'noise_surprise'), 0, 'repeat checks are known from the first record')
    assert.equal(feature(none, 'max_surprise'), 0)
    assert.ok(Number.isNaN(feature(none, 'step_surprise')))

    checks[at('accel_z_noise_1s')] = 200 // 100: a very noisy sensor
    checks[at('altitude_repeats')] = 1
    const one = toFeatures(checks, tails)
    assert.ok(feature(one, 'noise_surprise') >= 1000, `${feature(one, 'noise_surprise')}`)
    checks[at('altitude_repeats')] = 5
    const five = toFeatures(checks, tails)
    assert.ok(
      feature(five, 'noise_surprise') > feature(one, 'noise_surprise'),
      'longer runs are more surprising',
    )
    assert.equal(feature(five, 'max_surprise'), feature(five, 'noise_surprise'))
    assert.ok(Number.isNaN(feature(five, 'step_surprise')), 'repeats do not count as steps')
  })

  it('gives a warm healthy record small, known features', () => {
    const features = toFeatures(healthy[300]!, tails)
    assert.ok(features.every((v) => Number.isFinite(v) && v >= 0 && v < 3))
    assert.equal(feature(features, 'max_surprise'), Math.max(...features.subarray(0, FAMILIES.length)))
  })
})
