/**
 * A fleet of simulated drones sampled at a fixed rate: each drone flies its own missions from its own
 * home point, numbers its samples from 0, and carries the sensor faults of the plan, labeled. Pure and
 * deterministic for a given seed; the shells (MQTT publishing, dataset generation) decide when to ask
 * for the next sample.
 */
import { createRandom } from '@drone-pipeline/shared/random.ts'
import { fleetDroneIds } from '@drone-pipeline/shared/topics.ts'
import { createFaultInjector, faultsFor, type FaultPlan, type LabeledSample } from './faults.ts'
import {
  createFlight,
  createSensors,
  FLIGHT_PROFILES,
  offsetGeoPoint,
  type FlightProfile,
  type GeoPoint,
} from './flight.ts'

/** The fleet's operating area: the PX4/Gazebo default home near Zurich, so tools show familiar maps. */
export const FLEET_CENTRE: GeoPoint = { latitude: 47.397, longitude: 8.545 }
/** Drones take off from home points spread over a disc of this radius around the centre, m. */
const HOME_SPREAD_M = 1000

export interface FleetOptions {
  drones: number
  /** Samples per second per drone. */
  rateHz: number
  seed: number | string
  /** Sample time of every drone's first sample (seq 0), ms since the epoch. */
  startTimeMs: number
  /** The drones' profiles, one per drone in turn. Default: survey. */
  profiles?: readonly FlightProfile[]
  /** Default: none. */
  faults?: FaultPlan
}

export interface Fleet {
  readonly droneIds: readonly string[]
  /**
   * The drone's next sample, 1/rateHz after its previous one. `publish_timestamp` is the sample time
   * in µs; a publisher overwrites it with the moment it actually publishes.
   */
  nextSample(droneId: string): LabeledSample
  /** The next sample of every drone, in drone id order. */
  nextTick(): LabeledSample[]
}

/** The ids of a fleet of `count` drones: drone-0001, drone-0002, ... */
export function createFleet(options: FleetOptions): Fleet {
  const period = 1 / options.rateHz
  const profiles = options.profiles ?? [FLIGHT_PROFILES.survey]
  const profileOf = (index: number): FlightProfile => profiles[index % profiles.length]!
  const random = createRandom(options.seed)
  const drones = new Map(
    fleetDroneIds(options.drones).map((id, index) => {
      // Separate streams, so changing the noise model does not change where the drones fly.
      const droneRandom = random.fork(id)
      const placement = droneRandom.fork('home')
      const distance = HOME_SPREAD_M * Math.sqrt(placement.next())
      const bearing = placement.uniform(-Math.PI, Math.PI)
      const home = offsetGeoPoint(FLEET_CENTRE, distance * Math.sin(bearing), distance * Math.cos(bearing))
      // Faults draw from a stream of their own, so a record outside every fault is exactly the record
      // the same seed gives without faults.
      const faultRandom = droneRandom.fork('faults')
      const drone = {
        flight: createFlight(droneRandom.fork('flight'), profileOf(index)),
        sensors: createSensors(home, droneRandom.fork('sensors')),
        injectFaults: createFaultInjector(
          faultsFor(options.faults ?? { kind: 'none' }, id, faultRandom.fork('plan')),
          faultRandom.fork('noise'),
          options.rateHz,
        ),
        seq: 0,
      }
      return [id, drone] as const
    }),
  )
  const droneIds = [...drones.keys()]

  function nextSample(droneId: string): LabeledSample {
    const drone = drones.get(droneId)
    if (!drone) throw new Error(`no drone ${droneId} in this fleet`)
    const seq = drone.seq++
    const state = seq === 0 ? drone.flight.state : drone.flight.advance(period)
    // From the sequence number rather than by accumulating periods, so long runs do not drift.
    const timestamp = options.startTimeMs + Math.round((seq * 1000) / options.rateHz)
    return drone.injectFaults({
      drone_id: droneId,
      seq,
      timestamp,
      publish_timestamp: timestamp * 1000,
      ...drone.sensors.read(state),
    })
  }

  return {
    droneIds,
    nextSample,
    nextTick: () => droneIds.map(nextSample),
  }
}
