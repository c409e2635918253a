import assert from 'node:assert/strict'
import fs from 'node:fs'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ConfigError } from '@drone-pipeline/shared/cli.ts'
import { TelemetryCodec } from '@drone-pipeline/shared/codec.ts'
import type { DroneTelemetry } from '@drone-pipeline/shared/generated/drone-telemetry.ts'
import { createRandom } from '@drone-pipeline/shared/random.ts'
import { fleetDroneIds } from '@drone-pipeline/shared/topics.ts'
import { validateRecord } from '../../gateway/src/validate.ts'
import {
  createFaultInjector,
  FAULT_CATALOGUE,
  FAULT_TYPES,
  faultWindow,
  groupOf,
  MAX_FAULTS_PER_HOUR,
  MIN_HEALTHY_GAP_S,
  randomFaults,
  resolveFault,
  SENSOR_FIELDS,
  WARMUP_S,
  type Fault,
  type FaultPlan,
  type LabeledSample,
  type Sensor,
} from '../src/faults.ts'
import { createFleet } from '../src/fleet.ts'
import { FLIGHT_PROFILES, metresPerDegree, SENSOR_NOISE, type GeoPoint } from '../src/flight.ts'
import { formatFaultCatalogue, parseFaults } from '../src/options.ts'

const RATE_HZ = 10
const START_MS = Date.parse('2025-01-01T00:00:00Z')
const HOME: GeoPoint = { latitude: 47.397, longitude: 8.545 }
const CATALOGUE_DOC = fileURLToPath(new URL('../../docs/fault-catalogue.md', import.meta.url))

/**
 * A drone at rest for `count` samples: true values that never change plus exactly the white noise the
 * sensor model gives them, so any other change comes from a fault.
 */
function restingDrone(count: number, seed: number | string = 1): DroneTelemetry[] {
  const random = createRandom(seed)
  const scale = metresPerDegree(HOME.latitude)
  return Array.from({ length: count }, (_, seq) => {
    const timestamp = START_MS + seq * 100
    return {
      drone_id: 'drone-0001',
      seq,
      timestamp,
      publish_timestamp: timestamp * 1000,
      latitude: HOME.latitude + random.normal(0, SENSOR_NOISE.gpsJitter) / scale.latitude,
      longitude: HOME.longitude + random.normal(0, SENSOR_NOISE.gpsJitter) / scale.longitude,
      altitude: 50 + random.normal(0, SENSOR_NOISE.altitudeJitter),
      velocity: 10 + random.normal(0, SENSOR_NOISE.speed),
      acceleration_x: random.normal(0, SENSOR_NOISE.accel),
      acceleration_y: random.normal(0, SENSOR_NOISE.accel),
      acceleration_z: -9.80665 + random.normal(0, SENSOR_NOISE.accel),
      gyro_x: random.normal(0, SENSOR_NOISE.gyro),
      gyro_y: random.normal(0, SENSOR_NOISE.gyro),
      gyro_z: random.normal(0, SENSOR_NOISE.gyro),
    }
  })
}

const fault = (overrides: Partial<Fault> & Pick<Fault, 'type' | 'sensor'>): Fault => ({
  startS: 10,
  durationS: 5,
  magnitude: 0,
  direction: 1,
  ...overrides,
})

function inject(records: DroneTelemetry[], faults: Fault[], seed = 'noise'): LabeledSample[] {
  const injector = createFaultInjector(faults, createRandom(seed), RATE_HZ)
  return records.map(injector)
}

const faultyIn = (samples: LabeledSample[]) => samples.filter((s) => s.label === 1)
const mean = (values: number[]): number => values.reduce((sum, v) => sum + v, 0) / values.length
const std = (values: number[]): number => {
  const m = mean(values)
  return Math.sqrt(mean(values.map((v) => (v - m) ** 2)))
}
const steps = (values: number[]): number[] => values.slice(1).map((v, i) => v - values[i]!)

/**
 * Great-circle distance on a sphere: deliberately not the simulator's own ellipsoid arithmetic, so
 * within about 0.5 % of it at the fleet's latitude.
 */
function haversine(a: GeoPoint, b: GeoPoint): number {
  const rad = Math.PI / 180
  const h =
    Math.sin(((b.latitude - a.latitude) * rad) / 2) ** 2 +
    Math.cos(a.latitude * rad) *
      Math.cos(b.latitude * rad) *
      Math.sin(((b.longitude - a.longitude) * rad) / 2) ** 2
  return 2 * 6371008.8 * Math.asin(Math.sqrt(h))
}

/** The fields that differ between two records. */
const changedFields = (a: DroneTelemetry, b: DroneTelemetry): string[] =>
  (Object.keys(a) as (keyof DroneTelemetry)[]).filter((field) => a[field] !== b[field])

describe('fault windows and labels', () => {
  it('covers the samples in [start, start + duration), and at least one', () => {
    assert.deepEqual(faultWindow({ startS: 60, durationS: 10 }, 10), { first: 600, end: 700 })
    assert.deepEqual(faultWindow({ startS: 60.2, durationS: 0.3 }, 10), { first: 602, end: 605 })
    assert.deepEqual(faultWindow({ startS: 60.25, durationS: 0.1 }, 10), { first: 603, end: 604 })
    assert.deepEqual(faultWindow({ startS: 1.01, durationS: 0.01 }, 10), { first: 11, end: 12 })
    assert.deepEqual(faultWindow({ startS: 10, durationS: 5 }, 3), { first: 30, end: 45 })
  })

  it('labels exactly the records of each window with its type, and no others', () => {
    const records = restingDrone(400)
    const faults = [
      fault({ type: 'drift', sensor: 'altitude', startS: 5, durationS: 3, magnitude: 2 }),
      fault({ type: 'freeze', sensor: 'gyro_y', startS: 8, durationS: 2 }),
      fault({ type: 'noise_burst', sensor: 'gps', startS: 20.05, durationS: 1, magnitude: 5 }),
    ]
    const samples = inject(records, faults)
    const expected = records.map(({ seq }) => {
      if (seq >= 50 && seq < 80) return 'drift'
      if (seq >= 80 && seq < 100) return 'freeze'
      if (seq >= 201 && seq < 211) return 'noise_burst'
      return null
    })
    assert.deepEqual(
      samples.map((s) => s.fault),
      expected,
    )
    assert.deepEqual(
      samples.map((s) => s.label),
      expected.map((type) => (type ? 1 : 0)),
    )
    for (const [i, sample] of samples.entries()) {
      if (sample.label === 0) assert.equal(sample.record, records[i], `record ${i} passed through untouched`)
      else assert.ok(changedFields(records[i]!, sample.record).length > 0, `record ${i} is changed`)
    }
  })
})

describe('spike', () => {
  it('offsets one sensor by the magnitude for its one to a few samples', () => {
    const records = restingDrone(200)
    const samples = inject(records, [
      fault({ type: 'spike', sensor: 'accel_y', startS: 10, durationS: 0.3, magnitude: 7, direction: -1 }),
    ])
    const spiked = faultyIn(samples)
    assert.deepEqual(
      spiked.map((s) => s.record.seq),
      [100, 101, 102],
    )
    for (const { record } of spiked) {
      const clean = records[record.seq]!
      assert.deepEqual(changedFields(clean, record), ['acceleration_y'])
      assert.ok(Math.abs(record.acceleration_y - (clean.acceleration_y - 7)) < 1e-12, `seq ${record.seq}`)
    }
  })

  it('lasts one to five samples at 10 Hz whatever the catalogue draws', () => {
    const random = createRandom('spikes')
    const lengths = new Set<number>()
    for (let i = 0; i < 500; i++) {
      const spike = resolveFault({ type: 'spike', startS: random.uniform(30, 40) }, random)
      const { first, end } = faultWindow(spike, RATE_HZ)
      lengths.add(end - first)
    }
    assert.deepEqual([...lengths].sort(), [1, 2, 3, 4, 5])
  })

  it('keeps a ground speed a speed: a downward offset folds back above zero', () => {
    const records = restingDrone(200).map((r) => ({ ...r, velocity: 0.2 }))
    const samples = inject(records, [
      fault({ type: 'spike', sensor: 'velocity', startS: 10, durationS: 0.1, magnitude: 5, direction: -1 }),
    ])
    const [spiked, ...more] = faultyIn(samples)
    assert.equal(more.length, 0)
    assert.ok(Math.abs(spiked!.record.velocity - 4.8) < 1e-12, `velocity ${spiked!.record.velocity}`)
  })
})

describe('freeze', () => {
  it('repeats the last published value exactly, on every field of the sensor, then lets go', () => {
    for (const sensor of ['gps', 'gyro_z', 'velocity'] as const) {
      const records = restingDrone(300)
      const samples = inject(records, [fault({ type: 'freeze', sensor, startS: 12, durationS: 4 })])
      const frozen = faultyIn(samples)
      assert.equal(frozen.length, 40)
      const before = samples[119]!.record
      for (const { record } of frozen) {
        assert.deepEqual(
          changedFields(records[record.seq]!, record),
          SENSOR_FIELDS[sensor],
          `seq ${record.seq}`,
        )
        for (const field of SENSOR_FIELDS[sensor])
          assert.equal(record[field], before[field], `${sensor} ${field}`)
      }
      assert.equal(samples[160]!.record, records[160], `${sensor} is live again after the freeze`)
    }
  })

  it('repeats a value a fault just before it published', () => {
    const records = restingDrone(200)
    const samples = inject(records, [
      fault({ type: 'spike', sensor: 'altitude', startS: 10, durationS: 0.1, magnitude: 20 }),
      fault({ type: 'freeze', sensor: 'altitude', startS: 10.1, durationS: 1 }),
    ])
    assert.equal(samples[101]!.record.altitude, samples[100]!.record.altitude)
    assert.ok(samples[101]!.record.altitude > 65, 'the spiked value is what freezes')
  })
})

describe('drift', () => {
  it('grows linearly from zero to the magnitude on its last sample', () => {
    const records = restingDrone(300)
    const samples = inject(records, [
      fault({ type: 'drift', sensor: 'gyro_x', startS: 10, durationS: 10, magnitude: 0.5, direction: 1 }),
    ])
    const bias = samples.map((s, i) => s.record.gyro_x - records[i]!.gyro_x)
    assert.deepEqual(bias.slice(0, 100), new Array<number>(100).fill(0))
    for (let k = 0; k < 100; k++) {
      const expected = (0.5 * (k + 1)) / 100
      assert.ok(
        Math.abs(bias[100 + k]! - expected) < 1e-12,
        `bias ${bias[100 + k]} at ${k}, expected ${expected}`,
      )
    }
    assert.deepEqual(bias.slice(200), new Array<number>(100).fill(0))
  })

  it('drags a GPS position along a bearing', () => {
    const records = restingDrone(300)
    const samples = inject(records, [
      fault({
        type: 'drift',
        sensor: 'gps',
        startS: 10,
        durationS: 10,
        magnitude: 40,
        direction: Math.PI / 2,
      }),
    ])
    const last = samples[199]!.record
    assert.ok(Math.abs(haversine(records[199]!, last) - 40) < 0.2, 'reaches 40 m')
    assert.ok(Math.abs(haversine(records[149]!, samples[149]!.record) - 20) < 0.1, 'halfway at 20 m')
    assert.ok(last.longitude > records[199]!.longitude, 'eastwards')
    assert.ok(Math.abs(last.latitude - records[199]!.latitude) < 1e-9, 'along the bearing only')
  })
})

describe('gps_jump', () => {
  it('moves the position by the magnitude in metres and keeps it there for the duration', () => {
    const records = restingDrone(300)
    const samples = inject(records, [
      fault({ type: 'gps_jump', sensor: 'gps', startS: 5, durationS: 15, magnitude: 25, direction: 2 }),
    ])
    const jumped = faultyIn(samples)
    assert.equal(jumped.length, 150)
    for (const { record } of jumped) {
      const clean = records[record.seq]!
      assert.deepEqual(changedFields(clean, record), ['latitude', 'longitude'])
      const distance = haversine(clean, record)
      assert.ok(Math.abs(distance - 25) < 0.125, `moved ${distance} m at seq ${record.seq}`)
    }
    assert.equal(samples[200]!.record, records[200])
  })
})

describe('noise_burst', () => {
  it('multiplies the sample-to-sample spread of the sensor by about the factor', () => {
    const metres = metresPerDegree(HOME.latitude)
    const reading: Record<string, (r: DroneTelemetry) => number> = {
      accel_x: (r) => r.acceleration_x,
      gyro_z: (r) => r.gyro_z,
      altitude: (r) => r.altitude,
      velocity: (r) => r.velocity,
      gps: (r) => r.latitude * metres.latitude,
    }
    for (const [sensor, read] of Object.entries(reading)) {
      for (const factor of [3, 12]) {
        const records = restingDrone(6000, `${sensor}${factor}`)
        const samples = inject(records, [
          fault({
            type: 'noise_burst',
            sensor: sensor as Sensor,
            startS: 300,
            durationS: 300,
            magnitude: factor,
          }),
        ])
        const quiet = std(steps(samples.slice(0, 3000).map((s) => read(s.record))))
        const noisy = std(steps(samples.slice(3000).map((s) => read(s.record))))
        const ratio = noisy / quiet
        assert.ok(
          Math.abs(ratio / factor - 1) < 0.1,
          `${sensor} ×${factor}: spread grew ×${ratio.toFixed(2)}`,
        )
      }
    }
  })
})

describe('random faults', () => {
  const HOURS = 100
  const PER_HOUR = 30
  const drawn: Fault[] = []
  for (const next of randomFaults(createRandom('schedule'), PER_HOUR)) {
    if (next.startS > HOURS * 3600) break
    drawn.push(next)
  }

  it('come at about the asked rate, after the warm-up, with healthy gaps between them', () => {
    assert.ok(Math.abs(drawn.length / HOURS / PER_HOUR - 1) < 0.06, `${drawn.length / HOURS} faults per hour`)
    assert.ok(drawn[0]!.startS >= WARMUP_S, `first at ${drawn[0]!.startS} s`)
    for (let i = 1; i < drawn.length; i++) {
      const gap = drawn[i]!.startS - (drawn[i - 1]!.startS + drawn[i - 1]!.durationS)
      assert.ok(gap >= MIN_HEALTHY_GAP_S, `gap of ${gap} s before fault ${i}`)
    }
  })

  it('draw every type about equally, with parameters from the catalogue', () => {
    for (const type of FAULT_TYPES) {
      const share = drawn.filter((f) => f.type === type).length / drawn.length
      assert.ok(Math.abs(share - 0.2) < 0.03, `${type}: ${share}`)
    }
    for (const f of drawn) {
      const kind = FAULT_CATALOGUE[f.type]
      const range = kind.sensors[groupOf(f.sensor)]
      assert.ok(range !== undefined, `${f.type} on ${f.sensor}`)
      if (range)
        assert.ok(f.magnitude >= range[0] && f.magnitude <= range[1], `${f.type} magnitude ${f.magnitude}`)
      else assert.equal(f.magnitude, 0)
      assert.ok(
        f.durationS >= kind.durationS[0] && f.durationS <= kind.durationS[1],
        `${f.type} ${f.durationS} s`,
      )
    }
    const axes = new Set(drawn.filter((f) => f.type === 'freeze').map((f) => f.sensor))
    assert.equal(axes.size, Object.keys(SENSOR_FIELDS).length, 'every axis of every sensor')
  })

  it('draw magnitudes log-uniformly, so the hard small end is as common as the large one', () => {
    const random = createRandom('magnitudes')
    const spikes = Array.from({ length: 2000 }, () =>
      resolveFault({ type: 'spike', startS: 0, sensor: 'accel' }, random),
    )
    const [min, max] = FAULT_CATALOGUE.spike.sensors.accel!
    const belowMiddle = spikes.filter((s) => s.magnitude < Math.sqrt(min * max)).length / spikes.length
    assert.ok(Math.abs(belowMiddle - 0.5) < 0.04, `${belowMiddle} below the geometric middle`)
    assert.ok(
      spikes.every((s) => s.sensor.startsWith('accel_')),
      'a group names the sensor, the axis is drawn',
    )
    assert.deepEqual(new Set(spikes.map((s) => s.direction)), new Set([-1, 1]))
  })
})

describe('faults in a fleet', () => {
  const RANDOM: FaultPlan = { kind: 'random', perHour: 60 }
  const fly = (faults: FaultPlan, seed = 3, ticks = 6000) => {
    const fleet = createFleet({ drones: 3, rateHz: RATE_HZ, seed, startTimeMs: START_MS, faults })
    return Array.from({ length: ticks }, () => fleet.nextTick()).flat()
  }
  const healthy = fly({ kind: 'none' })
  const faulty = fly(RANDOM)

  it('leaves every record outside the faults exactly as a run without faults writes it', () => {
    assert.equal(healthy.length, faulty.length)
    assert.ok(
      healthy.every((s) => s.label === 0 && s.fault === null),
      'no faults, no labels',
    )
    const labeled = faultyIn(faulty).length
    assert.ok(labeled > 1000 && labeled < faulty.length - 1000, `${labeled} faulty records`)
    for (const [i, sample] of faulty.entries()) {
      const clean = healthy[i]!.record
      if (sample.label === 0)
        assert.equal(JSON.stringify(sample.record), JSON.stringify(clean), `record ${i}`)
      else {
        const changed = changedFields(clean, sample.record)
        assert.ok(changed.length > 0, `record ${i} is changed`)
        assert.ok(
          changed.every((field) =>
            Object.values(SENSOR_FIELDS).some((fields) => (fields as readonly string[]).includes(field)),
          ),
          `record ${i} changes sensor readings only: ${changed.join(', ')}`,
        )
      }
    }
  })

  it('repeats exactly for a seed, and differs for another', () => {
    assert.deepEqual(fly(RANDOM), faulty)
    const other = fly(RANDOM, 4)
    assert.notDeepEqual(
      other.map((s) => s.label),
      faulty.map((s) => s.label),
    )
  })

  it('keeps faulty records physically valid, so they pass the gateway and reach the detector', () => {
    const { type } = new TelemetryCodec().writer
    for (const profile of Object.values(FLIGHT_PROFILES)) {
      const faults: FaultPlan = { kind: 'random', perHour: MAX_FAULTS_PER_HOUR }
      const fleet = createFleet({
        drones: 3,
        rateHz: 2,
        seed: 9,
        startTimeMs: START_MS,
        faults,
        profiles: [profile],
      })
      for (let tick = 0; tick < 2 * 3600; tick++) {
        for (const { record, label } of fleet.nextTick()) {
          if (label === 0) continue
          const verdict = validateRecord(JSON.parse(JSON.stringify(record)), type, record.drone_id)
          assert.ok(verdict.ok, verdict.ok ? '' : `${record.drone_id} seq ${record.seq}: ${verdict.detail}`)
        }
      }
    }
  })
})

describe('the --faults grammar', () => {
  const DRONES = fleetDroneIds(10)
  const parse = (text: string) => parseFaults(text, DRONES, RATE_HZ)

  it('reads none, random and random:<per hour>', () => {
    assert.deepEqual(parse('none'), { kind: 'none' })
    assert.deepEqual(parse('random'), { kind: 'random', perHour: 12 })
    assert.deepEqual(parse('random:2.5'), { kind: 'random', perHour: 2.5 })
  })

  it('reads a list of faults, with the default duration where none is given', () => {
    const plan = parse(
      'spike@drone-0002:t=60:sensor=gyro:mag=2,freeze@drone-0003:t=120:dur=10:sensor=altitude',
    )
    assert.deepEqual(plan, {
      kind: 'list',
      faults: [
        { droneId: 'drone-0002', type: 'spike', startS: 60, durationS: 0.2, sensor: 'gyro', magnitude: 2 },
        { droneId: 'drone-0003', type: 'freeze', startS: 120, durationS: 10, sensor: 'altitude' },
      ],
    })
    assert.deepEqual(parse('drift@drone-0001:t=0:mag=-3:sensor=accel_z'), {
      kind: 'list',
      faults: [
        { droneId: 'drone-0001', type: 'drift', startS: 0, durationS: 60, sensor: 'accel_z', magnitude: -3 },
      ],
    })
    assert.deepEqual(parse('noise_burst@drone-0001:t=5:mag=4,gps_jump@drone-0001:t=15.1:mag=10'), {
      kind: 'list',
      faults: [
        { droneId: 'drone-0001', type: 'noise_burst', startS: 5, durationS: 10, magnitude: 4 },
        { droneId: 'drone-0001', type: 'gps_jump', startS: 15.1, durationS: 10, magnitude: 10 },
      ],
    })
  })

  it('injects an explicit fault where it says, on the sensor and with the magnitude it says', () => {
    const plan = parse('spike@drone-0002:t=60:sensor=gyro_z:mag=-2:dur=0.3')
    const fleet = createFleet({ drones: 2, rateHz: RATE_HZ, seed: 1, startTimeMs: START_MS, faults: plan })
    const clean = createFleet({ drones: 2, rateHz: RATE_HZ, seed: 1, startTimeMs: START_MS })
    const changes: string[] = []
    for (let tick = 0; tick < 700; tick++) {
      const cleanTick = clean.nextTick()
      for (const [i, sample] of fleet.nextTick().entries()) {
        const expected = cleanTick[i]!.record
        const difference = sample.record.gyro_z - expected.gyro_z
        if (sample.label)
          changes.push(
            `${sample.record.drone_id}:${sample.record.seq}:${sample.fault}:${difference.toFixed(6)}`,
          )
      }
    }
    assert.deepEqual(changes, [
      'drone-0002:600:spike:-2.000000',
      'drone-0002:601:spike:-2.000000',
      'drone-0002:602:spike:-2.000000',
    ])
  })

  it('rejects a bad spec with one line that names the bad part', () => {
    const cases: [string, RegExp][] = [
      ['', /fault 1 of "" is empty/],
      ['spike@drone-0001:t=1,', /fault 2 of ".*" is empty/],
      ['randomly', /"randomly" is not <type>@<drone_id>:t=<s>/],
      ['random:0', /"random:0": faults per drone-hour must be a number above 0 and at most \d+/],
      ['random:lots', /"random:lots": faults per drone-hour/],
      ['random:', /"random:": faults per drone-hour/],
      [`random:${MAX_FAULTS_PER_HOUR + 1}`, /at most/],
      ['blip@drone-0001:t=1', /"blip@drone-0001:t=1": unknown fault type "blip" \(expected spike, freeze/],
      ['spike@drone-0011:t=1', /"drone-0011" is not a drone of the fleet \(drone-0001..drone-0010\)/],
      ['spike@:t=1', /"" is not a drone of the fleet/],
      ['spike@drone-0001', /"spike@drone-0001": t=<seconds> is required/],
      ['spike@drone-0001:t=soon', /"spike@drone-0001:t=soon": t must be a number, got "soon"/],
      ['spike@drone-0001:t=-5', /t must be at least 0, got -5/],
      ['spike@drone-0001:t=1:t=2', /t is given twice/],
      ['spike@drone-0001:t=1:when=2', /unknown parameter "when" \(expected t, dur, sensor, mag\)/],
      ['spike@drone-0001:t=1:sensor', /"sensor" is not key=value/],
      ['spike@drone-0001:t=1:sensor=baro', /unknown sensor "baro" \(expected accel, gyro/],
      ['gps_jump@drone-0001:t=1:sensor=altitude', /gps_jump cannot hit altitude \(it hits gps\)/],
      ['spike@drone-0001:t=1:sensor=gps', /spike cannot hit gps/],
      ['spike@drone-0001:t=1:dur=5', /"spike@drone-0001:t=1:dur=5": dur=5 for spike is outside 0.1..0.5 s/],
      ['freeze@drone-0001:t=1:dur=x', /dur must be a number, got "x"/],
      ['spike@drone-0001:t=1:sensor=accel_x:mag=40', /mag=40 for spike on accel is outside 1..15 m\/s²/],
      ['spike@drone-0001:t=1:sensor=accel_x:mag=-40', /mag=-40 for spike on accel is outside 1..15 m\/s²/],
      ['spike@drone-0001:t=1:mag=2', /mag needs a sensor=, as its unit depends on the sensor/],
      ['freeze@drone-0001:t=1:sensor=gyro:mag=2', /freeze takes no mag/],
      ['gps_jump@drone-0001:t=1:mag=-20', /mag must be positive for gps_jump$/],
      ['noise_burst@drone-0001:t=1:mag=50', /mag=50 for noise_burst is outside ×2..20$/],
      [
        'freeze@drone-0002:t=10:dur=5,spike@drone-0002:t=14.9:sensor=gyro',
        /"freeze@drone-0002:t=10:dur=5" and "spike@drone-0002:t=14.9:sensor=gyro" overlap on drone-0002/,
      ],
    ]
    for (const [text, message] of cases) {
      assert.throws(
        () => parse(text),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError, `${text}: a ConfigError`)
          assert.match(err.message, /^--faults: /, text)
          assert.match(err.message, message, text)
          assert.doesNotMatch(err.message, /\n/, `${text}: one line`)
          return true
        },
        text,
      )
    }
  })

  it('allows faults back to back, and at the same time on different drones', () => {
    const plan = parse(
      'freeze@drone-0002:t=10:dur=5,spike@drone-0002:t=15:sensor=gyro,freeze@drone-0003:t=10',
    )
    assert.equal(plan.kind === 'list' && plan.faults.length, 3)
  })

  it('is documented from the catalogue itself, in the docs as in --help', () => {
    const doc = fs.readFileSync(CATALOGUE_DOC, 'utf8')
    for (const line of formatFaultCatalogue())
      assert.ok(doc.includes(line), `docs/fault-catalogue.md lists: ${line}`)
  })
})
