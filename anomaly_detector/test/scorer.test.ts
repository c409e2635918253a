import assert from 'node:assert/strict'
import { before, describe, it } from 'node:test'
import { trainModel, type DetectorModel } from '../src/model.ts'
import { createScorer, type Prediction } from '../src/scorer.ts'
import { fleet, flight } from './flights.ts'

describe('createScorer', () => {
  let model: DetectorModel
  before(async () => {
    model = await trainModel(fleet(8, 500, 'training'), { seed: 5, sampleSize: 4096 }) // ψ = 256 misses most single-sensor spikes here (see DEFAULT_PARAMS)
  })

  it('rarely flags normal flights', () => {
    const scorer = createScorer(model)
    const predictions = fleet(4, 500, 'unseen').map((r) => scorer.score(r))
    const flagged = predictions.filter((p) => p.anomaly).length
    assert.ok(
      flagged / predictions.length < 0.02,
      `${flagged} of ${predictions.length} normal records flagged`,
    )
    assert.ok(predictions.every((p) => p.features === undefined || p.anomaly))
  })

  it('flags most sensor spikes and names the features that made them unusual', () => {
    const sensors = [
      'acceleration_x',
      'acceleration_y',
      'acceleration_z',
      'gyro_x',
      'gyro_y',
      'gyro_z',
    ] as const
    const scorer = createScorer(model)
    const spikes: Prediction[] = []
    for (const record of flight('drone-0100', 1000)) {
      // One spike of 30 noise standard deviations every 40 samples, cycling through the sensors.
      if (record.seq % 40 !== 39) {
        scorer.score(record)
        continue
      }
      const sensor = sensors[((record.seq - 39) / 40) % sensors.length]!
      const size = sensor.startsWith('gyro') ? 0.15 : 1.5
      spikes.push(scorer.score({ ...record, [sensor]: record[sensor] + size }))
    }
    const flagged = spikes.filter((p) => p.anomaly)
    assert.ok(flagged.length / spikes.length >= 0.8, `${flagged.length} of ${spikes.length} spikes flagged`)
    for (const spike of flagged) {
      assert.equal(spike.features?.length, 3)
      const names = spike.features!.map((f) => f.name)
      assert.ok(
        names.some((n) => /^(zscore|delta)_(acceleration|gyro|max)/.test(n)),
        names.join(),
      )
      assert.ok(
        spike.features!.every((f, i, all) => Number.isFinite(f.value) && (i === 0 || all[i - 1]!.z >= f.z)),
      )
    }
  })

  it('does not flag a drone’s first records, which have no history to compare with', () => {
    const scorer = createScorer(model)
    const first = flight('drone-0300', 12, 'first').map((r) => scorer.score(r))
    assert.ok(
      first.every((p) => !p.anomaly),
      first.map((p) => p.score.toFixed(3)).join(),
    )
  })

  it('keeps each drone’s state apart', () => {
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
})
