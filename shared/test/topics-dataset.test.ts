import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  DatasetError,
  parseDatasetLine,
  readDataset,
  stripLabels,
  toDatasetLine,
  type LabeledRecord,
} from '../src/dataset.ts'
import type { DroneTelemetry } from '../src/generated/drone-telemetry.ts'
import {
  droneIdFor,
  droneIdFromTopic,
  isValidDroneId,
  KAFKA_TOPICS,
  MQTT_SHARED_SUBSCRIPTION,
  MQTT_TOPIC_FILTER,
  telemetryTopic,
} from '../src/topics.ts'

const RECORD: DroneTelemetry = {
  drone_id: 'drone-0003',
  seq: 0,
  timestamp: 1_700_000_000_000,
  publish_timestamp: 1_700_000_000_000_250,
  latitude: 47.397,
  longitude: 8.545,
  altitude: 12.5,
  velocity: 3.25,
  acceleration_x: 0.1,
  acceleration_y: 0,
  acceleration_z: -9.81,
  gyro_x: 0,
  gyro_y: 0.002,
  gyro_z: -0.001,
}

describe('topics', () => {
  it('names the contract topics', () => {
    assert.equal(MQTT_TOPIC_FILTER, 'drones/+/telemetry')
    assert.equal(MQTT_SHARED_SUBSCRIPTION, '$share/gateway/drones/+/telemetry')
    assert.deepEqual(KAFKA_TOPICS, {
      validated: 'telemetry-validated',
      dlq: 'telemetry-dlq',
      anomalies: 'telemetry-anomalies',
    })
  })

  it('droneIdFor pads ids so they sort, starting at 0001', () => {
    assert.equal(droneIdFor(0), 'drone-0001')
    assert.equal(droneIdFor(41), 'drone-0042')
    assert.equal(droneIdFor(9999), 'drone-10000')
  })

  it('droneIdFromTopic reads the id from a telemetry topic', () => {
    assert.equal(droneIdFromTopic('drones/drone-0007/telemetry'), 'drone-0007')
    assert.equal(droneIdFromTopic(telemetryTopic('Drone_7')), 'Drone_7')
    assert.equal(droneIdFromTopic(`drones/${'a'.repeat(64)}/telemetry`), 'a'.repeat(64))
  })

  for (const topic of [
    'drones//telemetry',
    'drones/drone-0007/status',
    'drone/drone-0007/telemetry',
    'drones/drone-0007/telemetry/extra',
    '/drones/drone-0007/telemetry',
    'drones/a/b/telemetry',
    'drones/+/telemetry',
    'drones/#/telemetry',
    'drones/drone 7/telemetry',
    'drones/drone.7/telemetry',
    `drones/${'a'.repeat(65)}/telemetry`,
    '',
  ]) {
    it(`droneIdFromTopic rejects ${JSON.stringify(topic).slice(0, 40)}`, () => {
      assert.equal(droneIdFromTopic(topic), undefined)
    })
  }

  it('isValidDroneId allows 1-64 of [A-Za-z0-9_-]', () => {
    assert.equal(isValidDroneId('d'), true)
    assert.equal(isValidDroneId(''), false)
    assert.equal(isValidDroneId('drone/7'), false)
    assert.equal(isValidDroneId('drone-ä'), false)
  })
})

describe('dataset lines', () => {
  it('toDatasetLine adds label and fault after the record fields', () => {
    const line = toDatasetLine(RECORD, 1, 'gps_drift')
    assert.deepEqual(JSON.parse(line), { ...RECORD, label: 1, fault: 'gps_drift' })
    assert.ok(line.endsWith(',"label":1,"fault":"gps_drift"}'), line)
    assert.deepEqual(JSON.parse(toDatasetLine(RECORD)), { ...RECORD, label: 0, fault: null })
  })

  it('parseDatasetLine reads back what toDatasetLine wrote', () => {
    assert.deepEqual(parseDatasetLine(toDatasetLine(RECORD, 1, 'imu_spike'), 'x:1'), {
      ...RECORD,
      label: 1,
      fault: 'imu_spike',
    })
  })

  it('stripLabels returns exactly the published record', () => {
    const row: LabeledRecord = { ...RECORD, label: 1, fault: 'gps_drift' }
    const stripped = stripLabels(row)
    assert.deepEqual(stripped, RECORD)
    assert.equal(JSON.stringify(stripped), JSON.stringify(RECORD))
    assert.equal(row.label, 1, 'the row itself is left alone')
  })

  const bad: Array<[string, RegExp]> = [
    ['{"drone_id":', /^f\.jsonl:3: not JSON/],
    ['[1,2]', /^f\.jsonl:3: expected a JSON object$/],
    ['null', /^f\.jsonl:3: expected a JSON object$/],
    [toDatasetLine(RECORD).replace('"label":0', '"label":2'), /^f\.jsonl:3: label must be 0 or 1$/],
    [toDatasetLine(RECORD).replace('"label":0', '"label":"0"'), /label must be 0 or 1/],
    [
      toDatasetLine(RECORD).replace('"fault":null', '"fault":5'),
      /^f\.jsonl:3: fault must be a string or null$/,
    ],
    [
      JSON.stringify({ seq: 1, label: 0, fault: null }),
      /^f\.jsonl:3: drone_id \(string\) and seq \(number\)/,
    ],
    [JSON.stringify({ drone_id: 'd', seq: '1', label: 0, fault: null }), /drone_id \(string\) and seq/],
  ]
  for (const [line, message] of bad) {
    it(`parseDatasetLine rejects ${line.slice(0, 30)} with ${message}`, () => {
      assert.throws(
        () => parseDatasetLine(line, 'f.jsonl:3'),
        (err: unknown) => err instanceof DatasetError && message.test(err.message),
      )
    })
  }
})

describe('readDataset', () => {
  let dir: string
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dataset-test-'))
  })
  after(() => fs.rmSync(dir, { recursive: true, force: true }))

  const collect = async (file: string): Promise<LabeledRecord[]> => {
    const rows: LabeledRecord[] = []
    for await (const row of readDataset(file)) rows.push(row)
    return rows
  }

  it('streams every row, skipping blank lines', async () => {
    const file = path.join(dir, 'ok.jsonl')
    const second = { ...RECORD, seq: 1 }
    fs.writeFileSync(file, `${toDatasetLine(RECORD)}\n\n${toDatasetLine(second, 1, 'gps_drift')}\n`)
    assert.deepEqual(await collect(file), [
      { ...RECORD, label: 0, fault: null },
      { ...second, label: 1, fault: 'gps_drift' },
    ])
  })

  it('names file:line of a bad line (blank lines counted)', async () => {
    const file = path.join(dir, 'bad.jsonl')
    fs.writeFileSync(file, `${toDatasetLine(RECORD)}\n\n   \n{oops\n`)
    await assert.rejects(collect(file), (err: unknown) => {
      assert.ok(err instanceof DatasetError)
      assert.match(err.message, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4: not JSON`))
      return true
    })
  })

  it('says when the file does not exist', async () => {
    const file = path.join(dir, 'missing.jsonl')
    await assert.rejects(collect(file), { name: 'DatasetError', message: `dataset ${file} does not exist` })
  })
})
