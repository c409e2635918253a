import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { DroneTelemetry } from '@drone-pipeline/shared/generated/drone-telemetry.ts'
import { CHECK_NAMES, CHECKS, DroneTracker, FEATURE_NAMES, toFeatures, type Checks } from '../src/features.ts'
import { compileForest } from '../src/isolation-forest.ts'
import {
  DEFAULT_PARAMS,
  fillUnknown,
  loadModel,
  MODEL_FORMAT,
  MODEL_VERSION,
  saveModel,
  trainModel,
  type DetectorModel,
} from '../src/model.ts'
import { createScorer } from '../src/scorer.ts'
import { fleet, flight } from './flights.ts'

const DRONES = 5
const SAMPLES = 400
const training = fleet(DRONES, SAMPLES, 'training')
const options = { trees: 50, seed: 11 }
/** Trained once, shared by the tests that only read it. */
const trained = trainModel(training, options)

function withoutTimestamp(model: DetectorModel): Omit<DetectorModel, 'created_at'> {
  const { created_at: _createdAt, ...rest } = model
  return JSON.parse(JSON.stringify(rest)) as Omit<DetectorModel, 'created_at'>
}

/** Each drone's checks in seq order, split as training splits them: the last 20% held out. */
function splitChecks(records: readonly DroneTelemetry[]): { fit: Checks[]; held: Checks[] } {
  const byDrone = new Map<string, Checks[]>()
  const trackers = new Map<string, DroneTracker>()
  for (const record of records) {
    if (!trackers.has(record.drone_id)) {
      trackers.set(record.drone_id, new DroneTracker())
      byDrone.set(record.drone_id, [])
    }
    byDrone.get(record.drone_id)!.push(trackers.get(record.drone_id)!.push(record))
  }
  const fit: Checks[] = []
  const held: Checks[] = []
  for (const rows of byDrone.values()) {
    const split = rows.length - Math.floor(rows.length * 0.2)
    fit.push(...rows.slice(0, split))
    held.push(...rows.slice(split))
  }
  return { fit, held }
}

describe('trainModel', () => {
  let model: DetectorModel
  before(async () => {
    model = await trained
  })

  it('describes itself, its training and what it was trained on', () => {
    assert.equal(model.format, MODEL_FORMAT)
    assert.equal(model.version, MODEL_VERSION)
    assert.equal(MODEL_VERSION, 4)
    assert.ok(!Number.isNaN(Date.parse(model.created_at)))
    assert.deepEqual(model.params, {
      trees: 50,
      sampleSize: DEFAULT_PARAMS.sampleSize,
      seed: 11,
      thresholdQuantile: DEFAULT_PARAMS.thresholdQuantile,
      calibrationFraction: 0.2,
      tailQuantile: DEFAULT_PARAMS.tailQuantile,
    })
    assert.deepEqual(model.training, { records: 2000, drones: 5, training_rows: 1600, calibration_rows: 400 })
    assert.deepEqual(model.check_names, [...CHECK_NAMES])
    assert.deepEqual(model.feature_names, [...FEATURE_NAMES])
    assert.equal(model.forest.trees.length, 50)
    assert.equal(model.forest.dimensions, FEATURE_NAMES.length)
    assert.ok(model.threshold > 0 && model.threshold < 1)
  })

  it('records each check’s tail: its quantile over the training rows', async () => {
    assert.equal(model.check_tails.length, CHECK_NAMES.length)
    assert.ok(model.check_tails.every((t) => Number.isFinite(t) && t > 0))
    const { fit } = splitChecks(training)
    // At quantile 1 the tail is the largest value the training rows show.
    const top = await trainModel(training, { ...options, tailQuantile: 1 })
    for (const [c, spec] of CHECKS.entries()) {
      const name = spec.name
      if (spec.family === 'repeat') {
        assert.equal(top.check_tails[c], 1, `${name}: a repeat run is its own surprise`)
        continue
      }
      // The GPS offset is 0 in healthy flight; it is measured in GPS steps and shares their tail.
      const source = name === 'gps_offset' ? CHECK_NAMES.indexOf('gps_step') : c
      const known = fit.map((row) => row[source]!).filter((v) => !Number.isNaN(v))
      assert.ok(known.length > 1000, name)
      assert.equal(top.check_tails[c], Math.max(...known), name)
      // And at the default quantile, all but the rarest values are at or below it.
      const below = known.filter((v) => v <= model.check_tails[c]!).length
      assert.ok(below / known.length >= DEFAULT_PARAMS.tailQuantile, `${name}: ${below} of ${known.length}`)
      assert.ok(model.check_tails[c]! <= top.check_tails[c]!, name)
    }
  })

  it('records each feature’s median over the training rows, which stands in for an unknown one', () => {
    const { fit } = splitChecks(training)
    const rows = fit.map((checks) => toFeatures(checks, model.check_tails))
    assert.equal(model.feature_medians.length, FEATURE_NAMES.length)
    for (const [f, name] of FEATURE_NAMES.entries()) {
      const known = rows.map((row) => row[f]!).filter((v) => !Number.isNaN(v))
      const below = known.filter((v) => v < model.feature_medians[f]!).length
      const above = known.filter((v) => v > model.feature_medians[f]!).length
      assert.ok(
        below <= known.length / 2 && above <= known.length / 2,
        `${name}: ${below} below, ${above} above`,
      )
      assert.ok(known.includes(model.feature_medians[f]!), `${name}: a value the training rows hold`)
    }
  })

  it('puts the threshold at the chosen quantile of the held-out records’ scores', async () => {
    const { held } = splitChecks(training)
    const heldScores = (m: DetectorModel): number[] => {
      const score = compileForest(m.forest)
      return held.map((checks) => score(fillUnknown(toFeatures(checks, m.check_tails), m.feature_medians)))
    }
    const strict = await trainModel(training, { ...options, thresholdQuantile: 1 })
    const strictScores = heldScores(strict)
    assert.equal(strict.threshold, Math.max(...strictScores), 'quantile 1: the highest held-out score')
    const loose = await trainModel(training, { ...options, thresholdQuantile: 0.9 })
    const looseScores = heldScores(loose)
    const above = looseScores.filter((s) => s > loose.threshold).length
    assert.ok(
      above <= 0.1 * held.length && above >= 0.1 * held.length - 5,
      `${above} of ${held.length} above`,
    )
    assert.ok(loose.threshold < model.threshold && model.threshold <= strict.threshold)
  })

  it('is reproducible for a seed and differs across seeds', async () => {
    assert.deepEqual(withoutTimestamp(await trainModel(training, options)), withoutTimestamp(model))
    const other = withoutTimestamp(await trainModel(training, { ...options, seed: 12 }))
    assert.notDeepEqual(other.forest, withoutTimestamp(model).forest)
    assert.deepEqual(other.check_tails, model.check_tails, 'the tails depend on the data alone')
  })

  it('accepts an async iterable', async () => {
    async function* stream(): AsyncGenerator<(typeof training)[number]> {
      yield* training
    }
    assert.deepEqual(withoutTimestamp(await trainModel(stream(), options)), withoutTimestamp(model))
  })

  it('refuses records out of seq order, too little data and impossible parameters', async () => {
    const records = flight('drone-0001', 50)
    await assert.rejects(
      trainModel([...records.slice(10), ...records.slice(0, 10)]),
      /records of drone-0001 are not in seq order \(seq 0 after 49\)/,
    )
    await assert.rejects(trainModel(records.slice(0, 2)), /2 records are too few/)
    await assert.rejects(
      trainModel(records, { thresholdQuantile: 0 }),
      /thresholdQuantile must be in \(0, 1\]/,
    )
    await assert.rejects(
      trainModel(records, { calibrationFraction: 1 }),
      /calibrationFraction must be in \(0, 1\)/,
    )
  })
})

describe('fillUnknown', () => {
  it('replaces unknown features with typical ones, in place', () => {
    const row = Float64Array.of(Number.NaN, 2, Number.NaN, 0)
    const filled = fillUnknown(row, [10, 20, 30, 40])
    assert.equal(filled, row)
    assert.deepEqual([...row], [10, 2, 30, 0])
  })
})

describe('saveModel and loadModel', () => {
  let dir: string
  let model: DetectorModel
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'detector-model-'))
    model = await trained
  })
  after(() => fs.rmSync(dir, { recursive: true, force: true }))

  const write = (name: string, content: unknown): string => {
    const file = path.join(dir, name)
    fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content))
    return file
  }
  /** The model as JSON, changed by `change`. */
  const altered = (change: (m: Record<string, unknown> & DetectorModel) => void): unknown => {
    const copy = JSON.parse(JSON.stringify(model)) as Record<string, unknown> & DetectorModel
    change(copy)
    return copy
  }

  it('round-trips to identical scores', async () => {
    const file = path.join(dir, 'nested', 'model.json')
    await saveModel(file, model)
    const loaded = await loadModel(file)
    assert.deepEqual(loaded, JSON.parse(JSON.stringify(model)))
    const before = createScorer(model)
    const after = createScorer(loaded)
    for (const record of fleet(3, 200, 'unseen')) assert.deepEqual(after.score(record), before.score(record))
    assert.deepEqual(
      fs.readdirSync(path.join(dir, 'nested')),
      ['model.json'],
      'no temporary file left behind',
    )
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

  it('asks for retraining on another version', async () => {
    await assert.rejects(
      loadModel(write('v1.json', { ...model, version: 1 })),
      /v1\.json is model version 1, this detector reads version 4; train one with/,
    )
    await assert.rejects(loadModel(write('v5.json', { ...model, version: 5 })), /model version 5/)
  })

  it('asks for retraining on other features or other checks', async () => {
    const renamed = altered((m) => (m.feature_names[0] = 'old_feature'))
    await assert.rejects(
      loadModel(write('renamed.json', renamed)),
      /trained on different features than this detector computes \(model: old_feature, .*\); retrain it/,
    )
    await assert.rejects(
      loadModel(
        write(
          'fewer.json',
          altered((m) => m.feature_names.pop()),
        ),
      ),
      /different features .*retrain it/,
    )
    await assert.rejects(
      loadModel(
        write(
          'nofeatures.json',
          altered((m) => Reflect.deleteProperty(m, 'feature_names')),
        ),
      ),
      /different features .*\(model: none;/,
    )
    const reordered = altered((m) => m.check_names.reverse())
    await assert.rejects(
      loadModel(write('reordered.json', reordered)),
      /trained on different checks .*retrain it/,
    )
    const extra = altered((m) => m.check_names.push('new_check'))
    await assert.rejects(loadModel(write('extra.json', extra)), /different checks .*new_check/)
    await assert.rejects(
      loadModel(
        write(
          'nochecks.json',
          altered((m) => Reflect.deleteProperty(m, 'check_names')),
        ),
      ),
      /different checks .*\(model: none;/,
    )
  })

  it('rejects a corrupt model, naming the problem', async () => {
    const cases: [string, (m: Record<string, unknown> & DetectorModel) => void, RegExp][] = [
      [
        'threshold',
        (m) => (m.threshold = 'high' as unknown as number),
        /corrupt: threshold must be a finite number/,
      ],
      ['no-threshold', (m) => Reflect.deleteProperty(m, 'threshold'), /corrupt: threshold/],
      [
        'tails-short',
        (m) => m.check_tails.pop(),
        /corrupt: check_tails must hold \d+ finite numbers above 0/,
      ],
      ['tails-zero', (m) => (m.check_tails[3] = 0), /corrupt: check_tails must hold/],
      ['tails-negative', (m) => (m.check_tails[0] = -1), /corrupt: check_tails must hold/],
      ['tails-null', (m) => (m.check_tails[5] = null as unknown as number), /corrupt: check_tails/],
      [
        'medians-short',
        (m) => (m.feature_medians = [1]),
        /corrupt: feature_medians must hold 4 finite numbers/,
      ],
      ['medians-text', (m) => (m.feature_medians[2] = 'x' as unknown as number), /corrupt: feature_medians/],
      ['no-medians', (m) => Reflect.deleteProperty(m, 'feature_medians'), /corrupt: feature_medians/],
      ['no-forest', (m) => Reflect.deleteProperty(m, 'forest'), /corrupt: forest is not an object/],
      [
        'tree-right',
        (m) => (m.forest.trees = [{ feature: [0], value: [1], right: [-1], low: [0], high: [1] }]),
        /corrupt: forest\.trees\[0\]: right\[0\] must point to a later node/,
      ],
      [
        'tree-low',
        (m) => Reflect.deleteProperty(m.forest.trees[1]!, 'low'),
        /corrupt: forest\.trees\[1\]: feature, value, right, low and high must be arrays/,
      ],
      ['dimensions', (m) => (m.forest.dimensions = 12), /corrupt: forest\.dimensions must be 4/],
    ]
    for (const [name, change, message] of cases) {
      await assert.rejects(loadModel(write(`${name}.json`, altered(change))), message, name)
    }
  })
})
