import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createRandom } from '@drone-pipeline/shared/random.ts'
import {
  createFlight,
  createSensors,
  FLIGHT_PROFILES,
  GRAVITY,
  metresPerDegree,
  offsetGeoPoint,
  wrapAngle,
  type FlightProfile,
  type FlightState,
  type GeoPoint,
  type Measurements,
} from '../src/flight.ts'

const HOME: GeoPoint = { latitude: 47.397, longitude: 8.545 }
const RATE_HZ = 10
const PERIOD = 1 / RATE_HZ

interface Sample {
  truth: FlightState
  reading: Measurements
}

/** One drone sampled at RATE_HZ for `seconds`: long enough for whole missions with the seeds used here. */
function fly(seed: number, seconds: number, profile?: FlightProfile): Sample[] {
  const random = createRandom(seed)
  const flight = createFlight(random.fork('flight'), profile)
  const sensors = createSensors(HOME, random.fork('sensors'))
  const samples: Sample[] = []
  for (let k = 0; k < seconds * RATE_HZ; k++) {
    const truth = k === 0 ? flight.state : flight.advance(PERIOD)
    samples.push({ truth, reading: sensors.read(truth) })
  }
  return samples
}

const percentile = (values: number[], p: number): number => {
  assert.ok(values.length > 0, 'percentile of nothing')
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor((sorted.length - 1) * p)]!
}
const median = (values: number[]): number => percentile(values, 0.5)
// Every assert.ok carries a message: without one, node:assert re-reads the test's source to describe the
// failure, which hangs under tsx.
function assertClose(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= tolerance,
    `${what}: ${actual}, expected ${expected} ± ${tolerance}`,
  )
}
const mean = (values: number[]): number => values.reduce((sum, v) => sum + v, 0) / values.length

/** Great-circle distance on a sphere: deliberately not the simulator's own ellipsoid arithmetic. */
function haversine(a: GeoPoint, b: GeoPoint): number {
  const rad = Math.PI / 180
  const dLat = (b.latitude - a.latitude) * rad
  const dLon = (b.longitude - a.longitude) * rad
  const h =
    Math.sin(dLat / 2) ** 2 +
    Math.cos(a.latitude * rad) * Math.cos(b.latitude * rad) * Math.sin(dLon / 2) ** 2
  return 2 * 6371008.8 * Math.asin(Math.sqrt(h))
}

const samples = fly(1, 1200)
const inPhase = (phase: FlightState['phase']) => samples.filter((s) => s.truth.phase === phase)
const profileFlights = {
  survey: samples,
  delivery: fly(1, 1200, FLIGHT_PROFILES.delivery),
  inspection: fly(1, 1200, FLIGHT_PROFILES.inspection),
}

describe('flight missions', () => {
  it('takes off, flies, hovers, returns and lands, then starts again', () => {
    const phases = samples.map((s) => s.truth.phase).filter((p, i, all) => i === 0 || p !== all[i - 1])
    assert.deepEqual(phases.slice(0, 8), [
      'ground',
      'takeoff',
      'cruise',
      'hover',
      'return',
      'land',
      'ground',
      'takeoff',
    ])
    assert.ok(Math.max(...samples.map((s) => s.truth.up)) > 19, 'reaches the mission altitudes')
    const landed = samples.findIndex(
      (s, i) => i > 0 && s.truth.phase === 'ground' && samples[i - 1]!.truth.phase === 'land',
    )
    const touchdown = samples[landed]!.truth
    assert.equal(touchdown.up, 0)
    assert.ok(Math.hypot(touchdown.east, touchdown.north) < 2, 'lands back at home')
  })

  it('never goes far below the take-off point, even in the noisy altitude', () => {
    assert.ok(
      samples.every((s) => s.truth.up >= 0),
      'true height never negative',
    )
    const lowest = Math.min(...samples.map((s) => s.reading.altitude))
    assert.ok(lowest > -1.5, `lowest measured altitude ${lowest} m`)
  })

  it('cruises between 4 and 15 m/s and stays within the mission radius', () => {
    const cruise = inPhase('cruise').map((s) => Math.hypot(s.truth.vEast, s.truth.vNorth))
    const fastest = Math.max(...cruise)
    assert.ok(fastest > 4 && fastest <= 15.01, `fastest cruise ${fastest} m/s`)
    assert.ok(
      samples.every((s) => Math.hypot(s.truth.east, s.truth.north) < 420),
      'stays within the mission radius',
    )
  })

  it('moves smoothly: bounded acceleration and jerk, in every profile', () => {
    for (const [name, flown] of Object.entries(profileFlights)) {
      for (let k = 1; k < flown.length; k++) {
        const [a, b] = [flown[k - 1]!.truth, flown[k]!.truth]
        assert.ok(
          Math.hypot(b.aEast, b.aNorth) <= 3 + 1e-9 && Math.abs(b.aUp) <= 2 + 1e-9,
          `${name}: acceleration at ${b.time}`,
        )
        if (b.phase === 'ground') continue // touchdown stops the drone in one step, like real contact
        const jerk = Math.hypot(b.aEast - a.aEast, b.aNorth - a.aNorth, b.aUp - a.aUp) / PERIOD
        assert.ok(jerk <= 7.1, `${name}: jerk ${jerk} at ${b.time}`)
      }
    }
  })

  it('is deterministic for a seed and differs between seeds', () => {
    assert.deepEqual(fly(1, 60), samples.slice(0, 600))
    assert.notDeepEqual(fly(2, 60), samples.slice(0, 600))
  })
})

describe('flight profiles', () => {
  const hourLong = Object.fromEntries(
    Object.entries(FLIGHT_PROFILES).map(([name, profile]) => [name, fly(2, 3600, profile)]),
  )
  const horizontalSpeed = (s: Sample) => Math.hypot(s.truth.vEast, s.truth.vNorth)
  const cruising = (name: string) => hourLong[name]!.filter((s) => s.truth.phase === 'cruise')

  it('cruises at the profile’s speeds and heights, within its mission radius', () => {
    for (const [name, profile] of Object.entries(FLIGHT_PROFILES)) {
      const speeds = cruising(name).map(horizontalSpeed)
      const fastest = Math.max(...speeds)
      const [slowest, top] = profile.cruiseSpeed
      assert.ok(fastest > slowest && fastest <= top + 0.01, `${name}: fastest cruise ${fastest} m/s`)
      const hovering = hourLong[name]!.filter((s) => s.truth.phase === 'hover').map((s) => s.truth.up)
      const [low, high] = profile.waypointAltitudeM
      assert.ok(
        Math.min(...hovering) > low - 1 && Math.max(...hovering) < high + 1,
        `${name}: hovers between ${Math.min(...hovering)} and ${Math.max(...hovering)} m`,
      )
      const farthest = Math.max(...hourLong[name]!.map((s) => Math.hypot(s.truth.east, s.truth.north)))
      assert.ok(farthest < profile.missionRadiusM * 1.05, `${name}: ${farthest} m from home`)
    }
  })

  it('flies delivery faster and higher than survey, and inspection slower and lower', () => {
    const typical = (name: string, read: (s: Sample) => number) => median(cruising(name).map(read))
    const speed = (name: string) => typical(name, horizontalSpeed)
    const height = (name: string) => typical(name, (s) => s.truth.up)
    assert.ok(speed('delivery') > speed('survey') && speed('survey') > speed('inspection'), 'speeds')
    assert.ok(height('delivery') > height('survey') && height('survey') > height('inspection'), 'heights')
  })

  it('hovers at every waypoint when inspecting, only at the last one otherwise', () => {
    for (const [name, profile] of Object.entries(FLIGHT_PROFILES)) {
      const phases = hourLong[name]!.map((s) => s.truth.phase).filter(
        (p, i, all) => i === 0 || p !== all[i - 1],
      )
      const missions = phases.join(' ').split('takeoff').slice(1, -1)
      assert.ok(missions.length >= 3, `${name}: ${missions.length} whole missions`)
      for (const mission of missions) {
        const hovers = mission.split(' ').filter((p) => p === 'hover').length
        if (profile.hoverAtEveryWaypoint)
          assert.ok(hovers >= profile.waypoints[0], `${name}: ${hovers} hovers`)
        else assert.equal(hovers, 1, `${name}: ${mission}`)
      }
    }
  })
})

describe('sensor consistency', () => {
  it('GPS-derived speed matches the reported velocity', () => {
    const errors: number[] = []
    for (let k = 1; k < samples.length; k++) {
      const [a, b] = [samples[k - 1]!, samples[k]!]
      if (Math.hypot(b.truth.vEast, b.truth.vNorth) < 3) continue
      const gpsSpeed = haversine(a.reading, b.reading) / PERIOD
      errors.push(Math.abs(gpsSpeed - (a.reading.velocity + b.reading.velocity) / 2))
    }
    assert.ok(errors.length > 1000, 'enough flying samples')
    assert.ok(median(errors) < 0.3, `median speed error ${median(errors)} m/s`)
  })

  it('reads about (0, 0, -9.81) on the accelerometer and no tilt rates when level', () => {
    for (const phase of ['ground', 'hover'] as const) {
      const level = inPhase(phase).filter(
        (s) => Math.hypot(s.truth.aEast, s.truth.aNorth, s.truth.aUp) < 0.05,
      )
      assert.ok(level.length > 100, `enough level ${phase} samples`)
      const average = (field: keyof Measurements) => mean(level.map((s) => s.reading[field]))
      assertClose(average('acceleration_x'), 0, 0.1, `${phase} acceleration_x`)
      assertClose(average('acceleration_y'), 0, 0.1, `${phase} acceleration_y`)
      assertClose(average('acceleration_z'), -9.81, 0.1, `${phase} acceleration_z`)
      assertClose(average('gyro_x'), 0, 0.01, `${phase} gyro_x`)
      assertClose(average('gyro_y'), 0, 0.01, `${phase} gyro_y`)
    }
  })

  // Errors confined to manoeuvres (a flipped axis, a wrong sign in climbs) would hide in a median over
  // the whole flight, which is mostly straight and level; so each axis is judged where it carries signal.
  it('accelerometer equals the change of velocity minus gravity, in the heading frame', () => {
    const errors = { x: [] as number[], y: [] as number[], z: [] as number[] }
    for (let k = 1; k + 1 < samples.length; k++) {
      const [before, now, after] = [samples[k - 1]!.truth, samples[k]!, samples[k + 1]!.truth]
      if (now.truth.phase === 'ground' || after.phase === 'ground') continue
      const aEast = (after.vEast - before.vEast) / (2 * PERIOD)
      const aNorth = (after.vNorth - before.vNorth) / (2 * PERIOD)
      const aUp = (after.vUp - before.vUp) / (2 * PERIOD)
      const yaw = now.truth.yaw
      const forward = aNorth * Math.cos(yaw) + aEast * Math.sin(yaw)
      const right = -aNorth * Math.sin(yaw) + aEast * Math.cos(yaw)
      if (Math.abs(forward) > 0.5) errors.x.push(Math.abs(now.reading.acceleration_x - forward))
      if (Math.abs(right) > 0.5) errors.y.push(Math.abs(now.reading.acceleration_y - right))
      if (Math.abs(aUp) > 0.5) errors.z.push(Math.abs(now.reading.acceleration_z + GRAVITY + aUp))
    }
    for (const [axis, axisErrors] of Object.entries(errors)) {
      assert.ok(axisErrors.length > 100, `enough manoeuvring on ${axis}`)
      const p90 = percentile(axisErrors, 0.9)
      assert.ok(p90 < 0.2, `90th percentile accelerometer error on ${axis}: ${p90} m/s²`)
    }
  })

  it('forward acceleration matches the change of the reported ground speed on straight legs', () => {
    const window = RATE_HZ // one second, so the speed noise averages out
    const errors: number[] = []
    for (let k = 0; k + window < samples.length; k++) {
      const span = samples.slice(k, k + window + 1)
      const straight = span.every((s) => Math.abs(s.reading.gyro_z) < 0.05 && s.reading.velocity > 3)
      if (!straight) continue
      const speedChange = (span[window]!.reading.velocity - span[0]!.reading.velocity) / (window * PERIOD)
      const meanForward = mean(span.slice(0, window).map((s) => s.reading.acceleration_x))
      errors.push(Math.abs(meanForward - speedChange))
    }
    assert.ok(errors.length > 500, 'enough straight flight')
    assert.ok(median(errors) < 0.2, `median error ${median(errors)} m/s²`)
  })

  it('gyro z follows the heading change', () => {
    const errors: number[] = []
    for (let k = 1; k + 1 < samples.length; k++) {
      const headingRate = wrapAngle(samples[k + 1]!.truth.yaw - samples[k - 1]!.truth.yaw) / (2 * PERIOD)
      if (Math.abs(headingRate) > 0.1) errors.push(Math.abs(samples[k]!.reading.gyro_z - headingRate))
    }
    assert.ok(errors.length > 100, 'the flight turns')
    assert.ok(median(errors) < 0.02, `median gyro error ${median(errors)} rad/s`)
  })

  it('gyros report the body rates of the changing attitude (tilt and heading)', () => {
    const errors = { x: [] as number[], y: [] as number[], z: [] as number[] }
    for (let k = 1; k + 1 < samples.length; k++) {
      const [before, now, after] = [samples[k - 1]!.truth, samples[k]!, samples[k + 1]!.truth]
      if (before.phase === 'ground' || after.phase === 'ground') continue
      const rollDot = (after.roll - before.roll) / (2 * PERIOD)
      const pitchDot = (after.pitch - before.pitch) / (2 * PERIOD)
      const yawDot = wrapAngle(after.yaw - before.yaw) / (2 * PERIOD)
      const { roll, pitch } = now.truth
      // Euler-angle rates to body rates (ZYX): the standard rigid-body kinematics.
      const expected = {
        x: rollDot - yawDot * Math.sin(pitch),
        y: pitchDot * Math.cos(roll) + yawDot * Math.cos(pitch) * Math.sin(roll),
        z: -pitchDot * Math.sin(roll) + yawDot * Math.cos(pitch) * Math.cos(roll),
      }
      const measured = { x: now.reading.gyro_x, y: now.reading.gyro_y, z: now.reading.gyro_z }
      for (const axis of ['x', 'y', 'z'] as const) {
        if (Math.abs(expected[axis]) > 0.1) errors[axis].push(Math.abs(measured[axis] - expected[axis]))
      }
    }
    for (const [axis, axisErrors] of Object.entries(errors)) {
      assert.ok(axisErrors.length > 50, `enough rotation about ${axis}`)
      const p90 = percentile(axisErrors, 0.9)
      assert.ok(p90 < 0.025, `90th percentile gyro error on ${axis}: ${p90} rad/s`)
    }
  })

  it('produces finite values only', () => {
    for (const { reading } of samples) {
      for (const [field, value] of Object.entries(reading)) assert.ok(Number.isFinite(value), field)
    }
  })
})

describe('geodesy', () => {
  it('uses the WGS84 lengths of a degree', () => {
    // Reference values of the WGS84 ellipsoid.
    assertClose(metresPerDegree(0).latitude, 110574.3, 0.5, 'metres per degree of latitude at the equator')
    assertClose(metresPerDegree(0).longitude, 111319.5, 0.5, 'metres per degree of longitude at the equator')
    assertClose(metresPerDegree(45).latitude, 111132.0, 0.5, 'metres per degree of latitude at 45°')
    assertClose(metresPerDegree(45).longitude, 78846.8, 0.5, 'metres per degree of longitude at 45°')
  })

  it('offsets a point by metres east and north', () => {
    const moved = offsetGeoPoint(HOME, 300, -400)
    assertClose(haversine(HOME, moved), 500, 2, 'distance')
    assert.ok(moved.longitude > HOME.longitude && moved.latitude < HOME.latitude, 'moved south-east')
  })

  it('wraps angles into (-π, π]', () => {
    assert.equal(wrapAngle(Math.PI), Math.PI)
    assert.equal(wrapAngle(-Math.PI), Math.PI)
    assertClose(wrapAngle(3 * Math.PI + 0.5), -Math.PI + 0.5, 1e-12, 'wrapped 3π + 0.5')
    assert.equal(wrapAngle(-0.25), -0.25)
  })
})
