/**
 * Flight physics of one simulated multirotor, and the sensor model that turns its true state into
 * telemetry fields. Pure computation: no I/O, no clock, randomness only from the Random passed in.
 *
 * Frames. The physics runs in a local east-north-up (ENU) plane centred on the drone's home point;
 * over the few hundred metres a mission spans, the flat-plane error is millimetres. Latitude and
 * longitude come from the WGS84 metres-per-degree at home.
 *
 * Motion. A kinematic model: guidance asks for a velocity and a heading; the drone tracks that
 * velocity with a time constant, under acceleration and jerk limits and the lag of its attitude loop,
 * and turns its heading with limited yaw rate and yaw acceleration. Position, velocity and acceleration
 * are therefore smooth and mutually consistent by construction; turns are coordinated because the
 * nose follows the course.
 *
 * Body frame (a deliberate simplification). Roll and pitch are the tilt that points the thrust along
 * the specific force the motion needs, and the gyros report the body rates of that attitude. The
 * accelerometer, however, is resolved in the heading frame (yaw-only rotation of NED: x forward, y
 * right, z down). A strapdown accelerometer tilting with an ideal multirotor would read almost nothing
 * on x and y, because the tilt exists precisely to align the thrust with the acceleration; the
 * heading-frame reading is what a level-stabilised IMU sees, equals the strapdown reading whenever the
 * drone is level (ground, hover, steady cruise), and keeps forward and lateral acceleration visible on
 * x and y, as the telemetry contract's "(0, 0, -9.81) in level hover" reading of the axes intends.
 */
import type { DroneTelemetry } from '@drone-pipeline/shared/generated/drone-telemetry.ts'
import type { Random } from '@drone-pipeline/shared/random.ts'

/** Standard gravity, m/s². */
export const GRAVITY = 9.80665

// Physics substep: output samples fall on substep boundaries, so any sample rate integrates the same way.
const MAX_STEP_S = 0.01

// Flight envelope of a mid-size survey multirotor in mission mode.
const VELOCITY_TIME_CONSTANT_S = 1
const HORIZONTAL_ACCEL = 3 // m/s²
// At least HORIZONTAL_ACCEL / VELOCITY_TIME_CONSTANT_S, or velocity tracking would overshoot.
const HORIZONTAL_JERK = 5 // m/s³
const VERTICAL_ACCEL = 2
const VERTICAL_JERK = 5
// How fast the airframe tilts to a new acceleration; with the velocity time constant, the velocity loop
// is critically damped (0.25 s² + s + 1).
const ATTITUDE_TIME_CONSTANT_S = 0.25
const CLIMB_RATE = 3 // m/s
const DESCENT_RATE = 2
/**
 * Sink rate at touchdown (m/s). Contact stops the drone within one step, and the accelerometer
 * models no impact, so the sink rate left at contact is a velocity step that no sensor but the
 * altitude sees. At 0.3 m/s it was the largest healthy disagreement between the vertical
 * accelerometer and the altitude (twice the next), which made the detector's accelerometer drift
 * check half as sensitive; an autopilot flares to a few cm/s before contact, as this one now does.
 */
const TOUCHDOWN_RATE = 0.05
const YAW_GAIN = 1.5 // 1/s
const MAX_YAW_RATE = 0.8 // rad/s
const MAX_YAW_ACCEL = 2 // rad/s²

// Guidance. Braking uses half the acceleration limit so the velocity lag never eats the stopping margin.
const BRAKING_DECEL = HORIZONTAL_ACCEL / 2
const POSITION_GAIN = 0.4 // 1/s: with the velocity lag, stops overshoot by only a few per cent
const ALTITUDE_GAIN = 0.5 // 1/s
// Corners are flown through at a walking pace: a 5 m acceptance circle exceeds the turn radius at 4 m/s.
const CORNER_SPEED = 4
const CORNER_RADIUS_M = 5
const ARRIVED_RADIUS_M = 1
const ARRIVED_SPEED = 0.3
// The nose follows the course once it is well defined; below that it points at the target.
const COURSE_SPEED = 2

export type FlightPhase = 'ground' | 'takeoff' | 'cruise' | 'hover' | 'return' | 'land'

/** The true state of one drone, in the ENU frame of its home point. */
export interface FlightState {
  /** Seconds since the simulation started. */
  time: number
  phase: FlightPhase
  /** Position, m. `up` is the height above the take-off point. */
  east: number
  north: number
  up: number
  /** Velocity, m/s. */
  vEast: number
  vNorth: number
  vUp: number
  /** Acceleration, m/s². */
  aEast: number
  aNorth: number
  aUp: number
  /** Heading, rad clockwise from north, in (-π, π], and its rate of change, rad/s. */
  yaw: number
  headingRate: number
  /** Tilt, rad (roll right-wing-down positive, pitch nose-up positive). */
  roll: number
  pitch: number
  /** Body angular rates about x (forward), y (right), z (down): what an ideal gyro reads, rad/s. */
  rollRate: number
  pitchRate: number
  yawRate: number
}

export interface Flight {
  /** A snapshot of the current state. */
  readonly state: FlightState
  /** Flies on for `seconds` and returns the new state. */
  advance(seconds: number): FlightState
}

const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x))

// Math.hypot is several times slower in V8, and this runs a hundred times per simulated second per drone.
const norm = (x: number, y: number): number => Math.sqrt(x * x + y * y)

/** The angle in (-π, π]. */
export function wrapAngle(angle: number): number {
  const wrapped = angle - 2 * Math.PI * Math.floor((angle + Math.PI) / (2 * Math.PI))
  return wrapped === -Math.PI ? Math.PI : wrapped
}

/** Scales (x, y) down so its length is at most `max`. */
function limitNorm(x: number, y: number, max: number): [number, number] {
  const length = norm(x, y)
  return length > max ? [(x * max) / length, (y * max) / length] : [x, y]
}

/** An east/north vector in the heading frame: [forward, right]. */
function toHeadingFrame(east: number, north: number, yaw: number): [number, number] {
  const cos = Math.cos(yaw)
  const sin = Math.sin(yaw)
  return [north * cos + east * sin, -north * sin + east * cos]
}

interface Point {
  east: number
  north: number
  up: number
}

/** A closed interval [min, max] a mission parameter is drawn from, uniformly. */
type Interval = readonly [min: number, max: number]

/**
 * What kind of missions a drone flies. The airframe (its acceleration, climb and yaw limits) is the same
 * in every profile; the missions differ, so a detector trained on one profile can be tested on another.
 */
export interface FlightProfile {
  /** Waypoints per mission, both ends included. */
  waypoints: Interval
  /** Waypoints lie within this distance of home, m. */
  missionRadiusM: number
  /** Shortest leg between waypoints, m. */
  minLegM: number
  waypointAltitudeM: Interval
  cruiseSpeed: Interval
  takeoffAltitudeM: Interval
  hoverSeconds: Interval
  /** Largest heading change while hovering (a camera pan), rad either way. */
  hoverPanRad: number
  /** Stop and hover at every waypoint, not only at the last one. */
  hoverAtEveryWaypoint: boolean
  returnAltitudeM: Interval
  returnSpeed: Interval
}

export const FLIGHT_PROFILES = {
  /** Mapping a few hundred metres around home: medium speeds and heights, one hover at the end. */
  survey: {
    waypoints: [3, 5],
    missionRadiusM: 400,
    // Very short legs would leave no room to turn through a corner at CORNER_SPEED.
    minLegM: 50,
    waypointAltitudeM: [20, 120],
    cruiseSpeed: [4, 15],
    takeoffAltitudeM: [10, 25],
    hoverSeconds: [10, 60],
    hoverPanRad: 2.5,
    hoverAtEveryWaypoint: false,
    returnAltitudeM: [30, 60],
    returnSpeed: [8, 12],
  },
  /**
   * Parcel drops: one or two long, fast legs and a short hover over the drop point. It climbs to near
   * its cruise height over the pad, as delivery drones do to clear obstacles before setting off.
   */
  delivery: {
    waypoints: [1, 2],
    missionRadiusM: 2000,
    minLegM: 500,
    waypointAltitudeM: [80, 120],
    cruiseSpeed: [12, 20],
    takeoffAltitudeM: [60, 90],
    hoverSeconds: [5, 20],
    hoverPanRad: 0.5,
    hoverAtEveryWaypoint: false,
    returnAltitudeM: [80, 120],
    returnSpeed: [14, 20],
  },
  /** Close inspection of a structure: slow and low, a stop with a camera pan at every waypoint. */
  inspection: {
    waypoints: [4, 8],
    missionRadiusM: 150,
    minLegM: 15,
    waypointAltitudeM: [5, 30],
    cruiseSpeed: [1, 4],
    takeoffAltitudeM: [5, 10],
    hoverSeconds: [10, 60],
    hoverPanRad: 3,
    hoverAtEveryWaypoint: true,
    returnAltitudeM: [15, 30],
    returnSpeed: [3, 6],
  },
} as const satisfies Record<string, FlightProfile>
export type FlightProfileName = keyof typeof FLIGHT_PROFILES

interface Hover {
  seconds: number
  /** Heading change while hovering, rad. */
  pan: number
}

interface Waypoint extends Point {
  /** Cruise speed on the leg towards this waypoint, m/s. */
  speed: number
  /** Where the drone stops and hovers; without one it flies through the waypoint. */
  hover?: Hover
}

interface Mission {
  takeoffAltitude: number
  /** Flown through in order; the drone always stops and hovers at the last one. */
  waypoints: Waypoint[]
  returnAltitude: number
  returnSpeed: number
}

const draw = (random: Random, [min, max]: Interval): number => random.uniform(min, max)

function planMission(random: Random, profile: FlightProfile): Mission {
  const [fewest, most] = profile.waypoints
  const count = fewest + random.int(most - fewest + 1)
  const waypoints: Waypoint[] = []
  let previous = { east: 0, north: 0 }
  while (waypoints.length < count) {
    const radius = profile.missionRadiusM * Math.sqrt(random.next())
    const bearing = random.uniform(-Math.PI, Math.PI)
    const candidate = { east: radius * Math.sin(bearing), north: radius * Math.cos(bearing) }
    if (norm(candidate.east - previous.east, candidate.north - previous.north) < profile.minLegM) continue
    waypoints.push({
      ...candidate,
      up: draw(random, profile.waypointAltitudeM),
      speed: draw(random, profile.cruiseSpeed),
    })
    previous = candidate
  }
  const drawHover = (): Hover => ({
    seconds: draw(random, profile.hoverSeconds),
    pan: random.uniform(-profile.hoverPanRad, profile.hoverPanRad),
  })
  // The draws come in this order so that the survey profile flies exactly the missions it flew before
  // profiles existed: the same seed still gives the same dataset.
  const takeoffAltitude = draw(random, profile.takeoffAltitudeM)
  waypoints[count - 1]!.hover = drawHover()
  const mission = {
    takeoffAltitude,
    waypoints,
    returnAltitude: draw(random, profile.returnAltitudeM),
    returnSpeed: draw(random, profile.returnSpeed),
  }
  if (profile.hoverAtEveryWaypoint)
    for (const waypoint of waypoints.slice(0, -1)) waypoint.hover = drawHover()
  return mission
}

interface Command {
  vEast: number
  vNorth: number
  vUp: number
}

const withClimb = (horizontal: { vEast: number; vNorth: number }, vUp: number): Command => ({
  vEast: horizontal.vEast,
  vNorth: horizontal.vNorth,
  vUp,
})

/**
 * One drone flying missions of `profile` from its home point forever: ground, take-off, waypoints (with
 * hovers), return, land.
 */
export function createFlight(random: Random, profile: FlightProfile = FLIGHT_PROFILES.survey): Flight {
  const s: FlightState = {
    time: 0,
    phase: 'ground',
    east: 0,
    north: 0,
    up: 0,
    vEast: 0,
    vNorth: 0,
    vUp: 0,
    aEast: 0,
    aNorth: 0,
    aUp: 0,
    yaw: random.uniform(-Math.PI, Math.PI),
    headingRate: 0,
    roll: 0,
    pitch: 0,
    rollRate: 0,
    pitchRate: 0,
    yawRate: 0,
  }
  let mission = planMission(random, profile)
  // Pre-flight checks of random length, which also keeps a fleet from taking off in lockstep.
  let phaseEndsAt = random.uniform(2, 20)
  let pad = { east: 0, north: 0 }
  let waypointIndex = 0
  let legStart: Point = { east: 0, north: 0, up: 0 }
  let yawTarget = s.yaw
  /** Acceleration the autopilot asks of the airframe, m/s² (ENU). */
  const setpoint = { east: 0, north: 0, up: 0 }

  const horizontalSpeed = (): number => norm(s.vEast, s.vNorth)

  function startLeg(): void {
    legStart = { east: s.east, north: s.north, up: s.up }
  }

  /** Velocity towards `target`, slowing so the drone passes it at `arrivalSpeed`. */
  function approach(target: { east: number; north: number }, maxSpeed: number, arrivalSpeed: number) {
    const dEast = target.east - s.east
    const dNorth = target.north - s.north
    const distance = norm(dEast, dNorth)
    const speed = Math.min(
      maxSpeed,
      Math.sqrt(arrivalSpeed ** 2 + 2 * BRAKING_DECEL * distance),
      arrivalSpeed + POSITION_GAIN * distance,
    )
    const scale = distance > 1e-9 ? speed / distance : 0
    return { vEast: dEast * scale, vNorth: dNorth * scale, distance, bearing: Math.atan2(dEast, dNorth) }
  }

  const holdPosition = (point: { east: number; north: number }) => approach(point, CORNER_SPEED, 0)

  /** Coordinated flight: the nose follows the course, or points at the target until there is one. */
  function faceCourse(leg: { distance: number; bearing: number }): void {
    if (horizontalSpeed() > COURSE_SPEED) yawTarget = Math.atan2(s.vEast, s.vNorth)
    else if (leg.distance > CORNER_RADIUS_M) yawTarget = leg.bearing
  }

  /** Climb rate towards an altitude interpolated along the current leg, so climbs are straight lines. */
  function legClimbRate(target: Point, distance: number): number {
    const length = norm(target.east - legStart.east, target.north - legStart.north)
    const progress = length > 0 ? clamp(1 - distance / length, 0, 1) : 1
    const wanted = legStart.up + (target.up - legStart.up) * progress
    const feedForward = length > 0 ? ((target.up - legStart.up) / length) * horizontalSpeed() : 0
    return clamp(feedForward + ALTITUDE_GAIN * (wanted - s.up), -DESCENT_RATE, CLIMB_RATE)
  }

  const holdAltitude = (altitude: number): number =>
    clamp(ALTITUDE_GAIN * (altitude - s.up), -DESCENT_RATE, CLIMB_RATE)

  const hasArrived = (distance: number, altitude: number): boolean =>
    distance < ARRIVED_RADIUS_M && horizontalSpeed() < ARRIVED_SPEED && Math.abs(s.up - altitude) < 1

  /** The velocity guidance wants now; also moves the mission on when a phase's goal is met. */
  function guidance(): Command {
    switch (s.phase) {
      case 'ground':
        if (s.time >= phaseEndsAt) {
          s.phase = 'takeoff'
          pad = { east: s.east, north: s.north }
        }
        return { vEast: 0, vNorth: 0, vUp: 0 }
      case 'takeoff': {
        if (Math.abs(s.up - mission.takeoffAltitude) < 0.5) {
          s.phase = 'cruise'
          waypointIndex = 0
          startLeg()
        }
        return withClimb(holdPosition(pad), holdAltitude(mission.takeoffAltitude))
      }
      case 'cruise': {
        const target = mission.waypoints[waypointIndex]!
        const leg = approach(target, target.speed, target.hover ? 0 : CORNER_SPEED)
        faceCourse(leg)
        const vUp = legClimbRate(target, leg.distance)
        if (!target.hover && leg.distance < CORNER_RADIUS_M) {
          waypointIndex++
          startLeg()
        } else if (target.hover && hasArrived(leg.distance, target.up)) {
          s.phase = 'hover'
          phaseEndsAt = s.time + target.hover.seconds
          yawTarget = wrapAngle(s.yaw + target.hover.pan)
        }
        return withClimb(leg, vUp)
      }
      case 'hover': {
        const hoverPoint = mission.waypoints[waypointIndex]!
        if (s.time >= phaseEndsAt) {
          const isLast = waypointIndex === mission.waypoints.length - 1
          s.phase = isLast ? 'return' : 'cruise'
          if (!isLast) waypointIndex++
          startLeg()
        }
        return withClimb(holdPosition(hoverPoint), holdAltitude(hoverPoint.up))
      }
      case 'return': {
        const home = { east: 0, north: 0, up: mission.returnAltitude }
        const leg = approach(home, mission.returnSpeed, 0)
        faceCourse(leg)
        const vUp = legClimbRate(home, leg.distance)
        if (hasArrived(leg.distance, home.up)) s.phase = 'land'
        return withClimb(leg, vUp)
      }
      case 'land':
        // Slow down towards the ground so the touchdown is gentle.
        return withClimb(
          holdPosition({ east: 0, north: 0 }),
          -clamp(TOUCHDOWN_RATE + 0.3 * s.up, TOUCHDOWN_RATE, DESCENT_RATE),
        )
    }
  }

  /**
   * Track the commanded velocity: the acceleration setpoint moves at most at the jerk limit, and the
   * airframe follows it with the lag of its attitude loop, so jerk stays continuous and the tilt rates
   * the gyros see change with bounded angular acceleration instead of stepping.
   */
  function move(command: Command, dt: number): void {
    const [aEast, aNorth] = limitNorm(
      (command.vEast - s.vEast) / VELOCITY_TIME_CONSTANT_S,
      (command.vNorth - s.vNorth) / VELOCITY_TIME_CONSTANT_S,
      HORIZONTAL_ACCEL,
    )
    const aUp = clamp((command.vUp - s.vUp) / VELOCITY_TIME_CONSTANT_S, -VERTICAL_ACCEL, VERTICAL_ACCEL)
    const [jEast, jNorth] = limitNorm(aEast - setpoint.east, aNorth - setpoint.north, HORIZONTAL_JERK * dt)
    setpoint.east += jEast
    setpoint.north += jNorth
    setpoint.up += clamp(aUp - setpoint.up, -VERTICAL_JERK * dt, VERTICAL_JERK * dt)
    const follow = 1 - Math.exp(-dt / ATTITUDE_TIME_CONSTANT_S)
    s.aEast += (setpoint.east - s.aEast) * follow
    s.aNorth += (setpoint.north - s.aNorth) * follow
    s.aUp += (setpoint.up - s.aUp) * follow
    s.vEast += s.aEast * dt
    s.vNorth += s.aNorth * dt
    s.vUp += s.aUp * dt
    s.east += s.vEast * dt
    s.north += s.vNorth * dt
    s.up += s.vUp * dt
  }

  function turn(dt: number): void {
    const rateWanted = clamp(YAW_GAIN * wrapAngle(yawTarget - s.yaw), -MAX_YAW_RATE, MAX_YAW_RATE)
    s.headingRate += clamp(rateWanted - s.headingRate, -MAX_YAW_ACCEL * dt, MAX_YAW_ACCEL * dt)
    s.yaw = wrapAngle(s.yaw + s.headingRate * dt)
  }

  /** Tilt that aligns the thrust with the needed specific force, and the body rates of that attitude. */
  function attitude(dt: number): void {
    const [forward, right] = toHeadingFrame(s.aEast, s.aNorth, s.yaw)
    const lift = GRAVITY + s.aUp
    const roll = Math.atan2(right, lift)
    const pitch = -Math.atan2(forward, lift)
    const rollDot = (roll - s.roll) / dt
    const pitchDot = (pitch - s.pitch) / dt
    s.roll = roll
    s.pitch = pitch
    // Euler-angle rates to body rates, ZYX (yaw-pitch-roll) convention.
    s.rollRate = rollDot - s.headingRate * Math.sin(pitch)
    s.pitchRate = pitchDot * Math.cos(roll) + s.headingRate * Math.cos(pitch) * Math.sin(roll)
    s.yawRate = -pitchDot * Math.sin(roll) + s.headingRate * Math.cos(pitch) * Math.cos(roll)
  }

  function touchDown(): void {
    s.phase = 'ground'
    s.up = s.vEast = s.vNorth = s.vUp = s.aEast = s.aNorth = s.aUp = 0
    setpoint.east = setpoint.north = setpoint.up = 0
    s.headingRate = s.roll = s.pitch = s.rollRate = s.pitchRate = s.yawRate = 0
    yawTarget = s.yaw
    phaseEndsAt = s.time + random.uniform(5, 30)
    mission = planMission(random, profile)
  }

  function step(dt: number): void {
    s.time += dt
    move(guidance(), dt)
    turn(dt)
    attitude(dt)
    if (s.phase === 'land' && s.up <= 0) touchDown()
  }

  return {
    get state() {
      return { ...s }
    },
    advance(seconds) {
      const steps = Math.max(1, Math.ceil(seconds / MAX_STEP_S - 1e-9))
      for (let i = 0; i < steps; i++) step(seconds / steps)
      return { ...s }
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Geodesy

export interface GeoPoint {
  latitude: number
  longitude: number
}

const WGS84_A = 6378137
const WGS84_E2 = 6.69437999014e-3

/** Length of one degree of latitude and of longitude at `latitude` on the WGS84 ellipsoid, m. */
export function metresPerDegree(latitude: number): { latitude: number; longitude: number } {
  const phi = (latitude * Math.PI) / 180
  const w = 1 - WGS84_E2 * Math.sin(phi) ** 2
  const meridional = (WGS84_A * (1 - WGS84_E2)) / w ** 1.5
  const primeVertical = WGS84_A / Math.sqrt(w)
  return {
    latitude: (meridional * Math.PI) / 180,
    longitude: (primeVertical * Math.cos(phi) * Math.PI) / 180,
  }
}

/** The point `east`/`north` metres from `origin` (local tangent plane, fine within a few km). */
export function offsetGeoPoint(origin: GeoPoint, east: number, north: number): GeoPoint {
  const scale = metresPerDegree(origin.latitude)
  return {
    latitude: origin.latitude + north / scale.latitude,
    longitude: origin.longitude + east / scale.longitude,
  }
}

// ---------------------------------------------------------------------------------------------
// Sensors

/** The telemetry fields a drone measures (the rest are bookkeeping added by the fleet). */
export type Measurements = Omit<DroneTelemetry, 'drone_id' | 'seq' | 'timestamp' | 'publish_timestamp'>

/** Standard deviations of the sensor errors. */
export const SENSOR_NOISE = {
  /** GNSS position error, m per horizontal axis: slowly wandering, as real receivers' errors are. */
  gpsDrift: 1.5,
  /** Epoch-to-epoch GNSS jitter, m: small, so speeds from successive fixes stay meaningful. */
  gpsJitter: 0.01,
  altitudeDrift: 0.3,
  altitudeJitter: 0.05,
  /** Ground speed, m/s per horizontal axis of the GNSS velocity. */
  speed: 0.1,
  accel: 0.08,
  /** Per-drone constant accelerometer bias, m/s². */
  accelBias: 0.03,
  gyro: 0.007,
  gyroBias: 0.002,
} as const

// Correlation times of the wandering position errors: minutes, like atmospheric and multipath errors.
const DRIFT_TIME_CONSTANT_S = 60
const DRIFT_RATE_TIME_CONSTANT_S = 30

/**
 * A smooth random error with standard deviation `sigma`: a first-order lag driven by an
 * Ornstein-Uhlenbeck rate. Unlike white noise or a plain random walk its derivative stays small,
 * so it shifts positions without inventing speed.
 */
function createDrift(random: Random, sigma: number): (dt: number) => number {
  const tauE = DRIFT_TIME_CONSTANT_S
  const tauU = DRIFT_RATE_TIME_CONSTANT_S
  // Stationary variance of the lagged OU process is sigmaU² · tauE² · tauU / (tauE + tauU).
  const sigmaRate = sigma / (tauE * Math.sqrt(tauU / (tauE + tauU)))
  let value = random.normal(0, sigma)
  let rate = random.normal(0, sigmaRate)
  return (dt) => {
    const decay = Math.exp(-dt / tauE)
    value = value * decay + rate * tauE * (1 - decay)
    const rateDecay = Math.exp(-dt / tauU)
    rate = rate * rateDecay + random.normal(0, sigmaRate * Math.sqrt(1 - rateDecay ** 2))
    return value
  }
}

export interface Sensors {
  /** One noisy reading of `state`; readings must come in time order. */
  read(state: FlightState): Measurements
}

export function createSensors(home: GeoPoint, random: Random, noise = SENSOR_NOISE): Sensors {
  const driftEast = createDrift(random, noise.gpsDrift)
  const driftNorth = createDrift(random, noise.gpsDrift)
  const driftUp = createDrift(random, noise.altitudeDrift)
  const accelBias = [0, 0, 0].map(() => random.normal(0, noise.accelBias)) as [number, number, number]
  const gyroBias = [0, 0, 0].map(() => random.normal(0, noise.gyroBias)) as [number, number, number]
  let lastTime: number | undefined

  return {
    read(state) {
      const dt = lastTime === undefined ? 0 : state.time - lastTime
      lastTime = state.time
      const position = offsetGeoPoint(
        home,
        state.east + driftEast(dt) + random.normal(0, noise.gpsJitter),
        state.north + driftNorth(dt) + random.normal(0, noise.gpsJitter),
      )
      const [forward, right] = toHeadingFrame(state.aEast, state.aNorth, state.yaw)
      // Specific force f = a - g with g = (0, 0, +g) in NED, so level hover reads z = -g.
      const specificForce = [forward, right, -(GRAVITY + state.aUp)] as const
      const bodyRates = [state.rollRate, state.pitchRate, state.yawRate] as const
      const accel = specificForce.map((f, i) => f + accelBias[i]! + random.normal(0, noise.accel))
      const gyro = bodyRates.map((w, i) => w + gyroBias[i]! + random.normal(0, noise.gyro))
      return {
        latitude: position.latitude,
        longitude: position.longitude,
        altitude: state.up + driftUp(dt) + random.normal(0, noise.altitudeJitter),
        // A GNSS receiver's speed is the length of its noisy velocity vector, hence never negative.
        velocity: norm(
          state.vEast + random.normal(0, noise.speed),
          state.vNorth + random.normal(0, noise.speed),
        ),
        acceleration_x: accel[0]!,
        acceleration_y: accel[1]!,
        acceleration_z: accel[2]!,
        gyro_x: gyro[0]!,
        gyro_y: gyro[1]!,
        gyro_z: gyro[2]!,
      }
    },
  }
}
