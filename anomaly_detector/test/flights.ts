/**
 * Flights for the detector's tests, sampled at 10 Hz. `flight` and `fleet` are synthetic and simple:
 * each drone cruises at a slowly varying speed and heading with realistic sensor noise. `simulated`
 * runs the simulator itself, which can also inject labeled faults.
 */
import type { DroneTelemetry } from '@drone-pipeline/shared/generated/drone-telemetry.ts'
import { createRandom } from '@drone-pipeline/shared/random.ts'
import type { LabeledSample, PlannedFault } from '../../simulator/src/faults.ts'
import { createFleet } from '../../simulator/src/fleet.ts'

export const START_MS = 1_750_000_000_000
export const INTERVAL_MS = 100
const METRES_PER_DEGREE = 111_195
const GRAVITY = 9.81

/** `samples` records of one drone, in seq order. */
export function flight(droneId: string, samples: number, seed: string | number = droneId): DroneTelemetry[] {
  const random = createRandom(seed)
  const phase = random.uniform(0, 2 * Math.PI)
  const records: DroneTelemetry[] = []
  let latitude = 48.1 + random.uniform(-0.01, 0.01)
  let longitude = 11.5 + random.uniform(-0.01, 0.01)
  let heading = random.uniform(0, 2 * Math.PI)
  const dt = INTERVAL_MS / 1000
  for (let seq = 0; seq < samples; seq++) {
    const t = seq * dt
    const speed = 8 + 2 * Math.sin(t / 20 + phase)
    const speedRate = (2 / 20) * Math.cos(t / 20 + phase)
    const turnRate = 0.05 * Math.sin(t / 15 + phase)
    // The tilt that points the thrust along the specific force, and the body rates of that attitude
    // (as the simulator has them), so the gyros agree with the accelerometer.
    const turnRateRate = (0.05 / 15) * Math.cos(t / 15 + phase)
    const speedRateRate = -(2 / 400) * Math.sin(t / 20 + phase)
    const forward = speedRate
    const right = speed * turnRate
    const roll = Math.atan2(right, GRAVITY)
    const pitch = -Math.atan2(forward, GRAVITY)
    const rollDot = (GRAVITY * (speedRate * turnRate + speed * turnRateRate)) / (GRAVITY ** 2 + right ** 2)
    const pitchDot = -(GRAVITY * speedRateRate) / (GRAVITY ** 2 + forward ** 2)
    const rollRate = rollDot - turnRate * Math.sin(pitch)
    const pitchRate = pitchDot * Math.cos(roll) + turnRate * Math.cos(pitch) * Math.sin(roll)
    const yawRate = -pitchDot * Math.sin(roll) + turnRate * Math.cos(pitch) * Math.cos(roll)
    heading += turnRate * dt
    latitude += (speed * dt * Math.cos(heading)) / METRES_PER_DEGREE
    longitude += (speed * dt * Math.sin(heading)) / (METRES_PER_DEGREE * Math.cos((latitude * Math.PI) / 180))
    const timestamp = START_MS + seq * INTERVAL_MS
    records.push({
      drone_id: droneId,
      seq,
      timestamp,
      publish_timestamp: timestamp * 1000 + 300,
      latitude: latitude + random.normal(0, 0.03) / METRES_PER_DEGREE,
      longitude: longitude + random.normal(0, 0.03) / METRES_PER_DEGREE,
      altitude: 50 + 5 * Math.sin(t / 30 + phase) + random.normal(0, 0.05),
      velocity: speed + random.normal(0, 0.05),
      acceleration_x: speedRate + random.normal(0, 0.05),
      acceleration_y: speed * turnRate + random.normal(0, 0.05),
      acceleration_z: -GRAVITY + random.normal(0, 0.05),
      gyro_x: rollRate + random.normal(0, 0.005),
      gyro_y: pitchRate + random.normal(0, 0.005),
      gyro_z: yawRate + random.normal(0, 0.005),
    })
  }
  return records
}

/** Several drones' flights interleaved in time, as a recorded dataset has them. */
export function fleet(drones: number, samples: number, seed = 'fleet'): DroneTelemetry[] {
  const flights = Array.from({ length: drones }, (_, d) =>
    flight(`drone-${String(d).padStart(4, '0')}`, samples, `${seed}/${d}`),
  )
  return Array.from({ length: samples }, (_, i) => flights.map((f) => f[i]!)).flat()
}

/**
 * `samples` ticks of a simulated fleet (the simulator's flight physics and sensor model, take-off
 * included), drones interleaved in time, each sample labeled with the faults of `faults` it falls in.
 */
export function simulated(
  drones: number,
  samples: number,
  seed: string,
  faults: readonly PlannedFault[] = [],
): LabeledSample[] {
  const sim = createFleet({
    drones,
    rateHz: 1000 / INTERVAL_MS,
    seed,
    startTimeMs: START_MS,
    faults: { kind: 'list', faults },
  })
  return Array.from({ length: samples }, () => sim.nextTick()).flat()
}
