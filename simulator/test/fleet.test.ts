import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'
import { TelemetryCodec } from '@drone-pipeline/shared/codec.ts'
import { readDataset, stripLabels, toDatasetLine } from '@drone-pipeline/shared/dataset.ts'
import {
  DRONE_TELEMETRY_FIELDS,
  type DroneTelemetry,
} from '@drone-pipeline/shared/generated/drone-telemetry.ts'
import { createFleet, FLEET_CENTRE, type FleetOptions } from '../src/fleet.ts'
import { FLIGHT_PROFILES } from '../src/flight.ts'

const START = Date.parse('2025-06-01T12:00:00Z')
const OPTIONS: FleetOptions = { drones: 3, rateHz: 10, seed: 42, startTimeMs: START }

function ticks(options: FleetOptions, count: number): DroneTelemetry[] {
  const fleet = createFleet(options)
  return Array.from({ length: count }, () => fleet.nextTick())
    .flat()
    .map((sample) => sample.record)
}

describe('fleet', () => {
  const records = ticks(OPTIONS, 600)

  it('names drones drone-0001... and numbers each drone’s samples from 0', () => {
    for (const droneId of ['drone-0001', 'drone-0002', 'drone-0003']) {
      const own = records.filter((r) => r.drone_id === droneId)
      assert.deepEqual(
        own.map((r) => r.seq),
        Array.from({ length: 600 }, (_, i) => i),
      )
      assert.deepEqual(
        own.slice(0, 3).map((r) => r.timestamp),
        [START, START + 100, START + 200],
      )
    }
    assert.equal(records.length, 1800)
  })

  it('keeps sample times on the rate grid without drift, publish time in µs', () => {
    const fleet = createFleet({ ...OPTIONS, drones: 1, rateHz: 3 })
    const samples = Array.from({ length: 3001 }, () => fleet.nextSample('drone-0001').record)
    assert.equal(samples[3000]!.timestamp, START + 1_000_000)
    assert.equal(samples[1]!.timestamp, START + 333)
    for (const s of samples) assert.equal(s.publish_timestamp, s.timestamp * 1000)
  })

  it('writes every schema field, finite, and every record is valid Avro that round-trips', () => {
    const codec = new TelemetryCodec()
    for (const record of records) {
      assert.deepEqual(Object.keys(record), [...DRONE_TELEMETRY_FIELDS])
      for (const field of DRONE_TELEMETRY_FIELDS) {
        if (field !== 'drone_id') assert.ok(Number.isFinite(record[field]), `${field} of ${record.drone_id}`)
      }
      assert.ok(codec.writer.type.isValid(record), `seq ${record.seq} of ${record.drone_id} is valid`)
      assert.deepEqual({ ...codec.decode(codec.encode(record)) }, record)
    }
  })

  it('places the drones around the fleet centre, each at its own home', () => {
    const first = records.filter((r) => r.seq === 0)
    const homes = new Set(first.map((r) => `${r.latitude.toFixed(4)},${r.longitude.toFixed(4)}`))
    assert.equal(homes.size, 3)
    for (const r of first) {
      assert.ok(Math.abs(r.latitude - FLEET_CENTRE.latitude) < 0.01, `latitude ${r.latitude}`)
      assert.ok(Math.abs(r.longitude - FLEET_CENTRE.longitude) < 0.015, `longitude ${r.longitude}`)
    }
  })

  it('repeats exactly for a seed and differs for another', () => {
    assert.deepEqual(ticks(OPTIONS, 600), records)
    const other = ticks({ ...OPTIONS, seed: 43 }, 600)
    assert.notDeepEqual(
      other.map((r) => r.latitude),
      records.map((r) => r.latitude),
    )
  })

  it('gives each drone its own random streams, whatever order drones are sampled in', () => {
    const fleet = createFleet(OPTIONS)
    const alone = Array.from({ length: 600 }, () => fleet.nextSample('drone-0002').record)
    assert.deepEqual(
      alone,
      records.filter((r) => r.drone_id === 'drone-0002'),
    )
  })

  it('flies the profile it is given, survey unless told', () => {
    assert.deepEqual(ticks({ ...OPTIONS, profiles: [FLIGHT_PROFILES.survey] }, 600), records)
    const delivery = ticks({ ...OPTIONS, profiles: [FLIGHT_PROFILES.delivery] }, 600)
    assert.notDeepEqual(
      delivery.map((r) => r.altitude),
      records.map((r) => r.altitude),
    )
  })

  it('rejects a drone it does not have', () => {
    assert.throws(() => createFleet(OPTIONS).nextSample('drone-0099'), /no drone drone-0099/)
  })
})

describe('labeled dataset', () => {
  it('writes, reads back and strips labels to the published records', async () => {
    const records = ticks({ ...OPTIONS, drones: 2 }, 50)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'simulator-dataset-'))
    const file = path.join(dir, 'normal.jsonl')
    try {
      fs.writeFileSync(file, records.map((r) => toDatasetLine(r) + '\n').join(''))
      const rows = []
      for await (const row of readDataset(file)) rows.push(row)
      assert.equal(rows.length, 100)
      assert.ok(
        rows.every((row) => row.label === 0 && row.fault === null),
        'all rows labeled normal',
      )
      assert.deepEqual(rows.map(stripLabels), records)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
