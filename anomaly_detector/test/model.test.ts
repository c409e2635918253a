import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { FEATURE_NAMES } from '../src/features.ts'
import {
  DEFAULT_PARAMS,
  loadModel,
  MODEL_FORMAT,
  saveModel,
  trainModel,
  type DetectorModel,
} from '../src/model.ts'
import { createScorer } from '../src/scorer.ts'
import { fleet, flight } from './flights.ts'

const training = fleet(5, 400, 'training')
const options = { trees: 50, seed: 11 }

function withoutTimestamp(model: DetectorModel): Omit<DetectorModel, 'created_at'> {
  const { created_at: _createdAt, ...rest } = model
  return JSON.parse(JSON.stringify(rest)) as Omit<DetectorModel, 'created_at'>
}

describe('trainModel', () => {
  let model: DetectorModel
  before(async () => {
    model = await trainModel(training, options)
  })

  it('describes itself and its training', () => {
    assert.equal(model.format, MODEL_FORMAT)
    assert.equal(model.version, 1)
    assert.ok(!Number.isNaN(Date.parse(model.created_at)))
    assert.deepEqual(model.params, {
      trees: 50,
      sampleSize: DEFAULT_PARAMS.sampleSize,
      seed: 11,
      thresholdQuantile: 0.995,
      calibrationFraction: 0.2,
    })
    assert.deepEqual(model.training, { records: 2000, drones: 5, training_rows: 1600, calibration_rows: 400 })
    assert.deepEqual(model.feature_names, [...FEATURE_NAMES])
    assert.equal(model.forest.trees.length, 50)
    assert.ok(model.threshold > 0 && model.threshold < 1)
  })

  it('puts the threshold at the chosen quantile of held-out scores', async () => {
    const strict = await trainModel(training, { ...options, thresholdQuantile: 1 })
    const loose = await trainModel(training, { ...options, thresholdQuantile: 0.9 })
    assert.ok(loose.threshold < model.threshold && model.threshold <= strict.threshold)
  })

  it('is reproducible for a seed and differs across seeds', async () => {
    assert.deepEqual(withoutTimestamp(await trainModel(training, options)), withoutTimestamp(model))
    assert.notDeepEqual(
      withoutTimestamp(await trainModel(training, { ...options, seed: 12 })).forest,
      withoutTimestamp(model).forest,
    )
  })

  it('accepts an async iterable', async () => {
    async function* stream(): AsyncGenerator<(typeof training)[number]> {
      yield* training
    }
    assert.deepEqual(withoutTimestamp(await trainModel(stream(), options)), withoutTimestamp(model))
  })

  it('refuses records out of seq order and too little data', async () => {
    const records = flight('drone-0001', 50)
    await assert.rejects(
      trainModel([...records.slice(10), ...records.slice(0, 10)]),
      /not in seq order \(seq 0 after 49\)/,
    )
    await assert.rejects(trainModel(records.slice(0, 2)), /too few/)
  })
})

describe('saveModel and loadModel', () => {
  let dir: string
  let model: DetectorModel
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'detector-model-'))
    model = await trainModel(training, options)
  })
  after(() => fs.rmSync(dir, { recursive: true, force: true }))

  const write = (name: string, content: unknown): string => {
    const file = path.join(dir, name)
    fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content))
    return file
  }

  it('round-trips to identical scores', async () => {
    const file = path.join(dir, 'nested', 'model.json')
    await saveModel(file, model)
    const loaded = await loadModel(file)
    assert.deepEqual(loaded, JSON.parse(JSON.stringify(model)))
    const before = createScorer(model)
    const after = createScorer(loaded)
    for (const record of fleet(3, 200, 'unseen')) assert.deepEqual(after.score(record), before.score(record))
  })

  it('explains a missing file, a non-JSON file and a foreign file', async () => {
    await assert.rejects(
      loadModel(path.join(dir, 'absent.json')),
      /absent\.json does not exist; train one with: npm run detector -- train/,
    )
    await assert.rejects(loadModel(write('text.json', 'not json')), /is not JSON/)
    await assert.rejects(loadModel(write('array.json', [1, 2])), /is not a JSON object/)
    await assert.rejects(
      loadModel(write('other.json', { format: 'something-else' })),
      /is not a detector model \(format "something-else"/,
    )
  })

  it('asks for retraining on another version or another feature set', async () => {
    await assert.rejects(
      loadModel(write('v2.json', { ...model, version: 2 })),
      /model version 2, this detector reads version 1; train one/,
    )
    const renamed = {
      ...model,
      feature_names: model.feature_names.map((n, i) => (i === 0 ? 'old_feature' : n)),
    }
    await assert.rejects(
      loadModel(write('renamed.json', renamed)),
      /trained on different features .* retrain it/,
    )
    const fewer = { ...model, feature_names: model.feature_names.slice(1) }
    await assert.rejects(loadModel(write('fewer.json', fewer)), /retrain it/)
  })

  it('rejects a corrupt model', async () => {
    await assert.rejects(
      loadModel(write('threshold.json', { ...model, threshold: 'high' })),
      /corrupt: threshold/,
    )
    const stats = { ...model, feature_stats: { ...model.feature_stats, mean: [] } }
    await assert.rejects(loadModel(write('stats.json', stats)), /corrupt: feature_stats\.mean/)
    const forest = {
      ...model,
      forest: { ...model.forest, trees: [{ feature: [0], value: [1], right: [-1] }] },
    }
    await assert.rejects(loadModel(write('forest.json', forest)), /corrupt: forest\.trees\[0\]: right\[0\]/)
  })
})
