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
  extrapolatedTail,
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

/**
 * Each drone's checks in seq order, split as training splits them by default: the last half held
 * out. `heldByDrone` keeps each drone's held-out checks apart, with their timestamps.
 */
function splitChecks(records: readonly DroneTelemetry[]): {
  fit: Checks[]
  held: Checks[]
  heldByDrone: { checks: Checks[]; times: number[] }[]
} {
  const byDrone = new Map<string, { checks: Checks[]; times: number[] }>()
  const trackers = new Map<string, DroneTracker>()
  for (const record of records) {
    if (!trackers.has(record.drone_id)) {
      trackers.set(record.drone_id, new DroneTracker())
      byDrone.set(record.drone_id, { checks: [], times: [] })
    }
    byDrone.get(record.drone_id)!.checks.push(trackers.get(record.drone_id)!.push(record))
    byDrone.get(record.drone_id)!.times.push(record.timestamp)
  }
  const fit: Checks[] = []
  const held: Checks[] = []
  const heldByDrone: { checks: Checks[]; times: number[] }[] = []
  for (const { checks, times } of byDrone.values()) {
    const split = checks.length - Math.floor(checks.length * DEFAULT_PARAMS.calibrationFraction)
    fit.push(...checks.slice(0, split))
    held.push(...checks.slice(split))
    heldByDrone.push({ checks: checks.slice(split), times: times.slice(split) })
  }
  return { fit, held, heldByDrone }
}

/** Nearest-rank quantile of ascending values. */
const nearestRank = (sorted: number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!

describe('trainModel', () => {
  let model: DetectorModel
  before(async () => {
    model = await trained
  })

  it('describes itself, its training and what it was trained on', () => {
    assert.equal(model.format, MODEL_FORMAT)
    assert.equal(model.version, MODEL_VERSION)
    assert.equal(MODEL_VERSION, 10)
    assert.ok(!Number.isNaN(Date.parse(model.created_at)))
    assert.deepEqual(model.params, {
      trees: 50,
      sampleSize: DEFAULT_PARAMS.sampleSize,
      seed: 11,
      alarmBudget: 0.3,
      calibrationFraction: 0.5,
      tailQuantile: 0.999,
      tailDecades: 2,
      holdQuantile: 0.999,
    })
    assert.deepEqual(model.training, {
      records: 2000,
      drones: 5,
      training_rows: 1000,
      calibration_rows: 1000,
    })
    assert.deepEqual(model.check_names, [...CHECK_NAMES])
    assert.deepEqual(model.feature_names, [...FEATURE_NAMES])
    assert.equal(model.forest.trees.length, 50)
    assert.equal(model.forest.dimensions, FEATURE_NAMES.length)
    assert.ok(model.threshold > 0 && model.threshold < 1)
  })

  it('records each check’s tail: its quantile over the training rows, extrapolated', async () => {
    assert.equal(model.check_tails.length, CHECK_NAMES.length)
    assert.ok(model.check_tails.every((t) => Number.isFinite(t) && t > 0))
    const { fit } = splitChecks(training)
    // At quantile 1 the tail is the largest value the training rows show: no decade lies beyond it.
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
      assert.ok(known.length > 200, `${name}: ${known.length} known`)
      assert.equal(top.check_tails[c], Math.max(...known), name)
      // At the defaults: the 0.999 quantile and twice the step from the 0.99 quantile up to it.
      const sorted = [...known].sort((a, b) => a - b)
      const q999 = nearestRank(sorted, 0.999)
      const expected = q999 + 2 * (q999 - nearestRank(sorted, 0.99))
      assert.ok(
        Math.abs(model.check_tails[c]! - Math.max(expected, 1e-9)) < 1e-12,
        `${name}: ${model.check_tails[c]} ${expected}`,
      )
      const below = known.filter((v) => v <= model.check_tails[c]!).length
      assert.ok(below / known.length >= 0.999, `${name}: ${below} of ${known.length}`)
    }
  })

  it('extrapolates a tail a decade at a time, as an exponential tail continues', () => {
    const values = Float64Array.from({ length: 1000 }, (_, i) => i + 1)
    assert.equal(extrapolatedTail(values, 0.999, 0), 999)
    assert.equal(extrapolatedTail(values, 0.999, 1), 999 + 9)
    assert.equal(extrapolatedTail(values, 0.999, 2), 999 + 18)
    assert.equal(extrapolatedTail(values, 0.99, 2), 990 + 2 * 90)
    assert.equal(extrapolatedTail(values, 1, 3), 1000)
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

  it('puts the threshold where the held-out flight raises at most the budgeted alarms', async () => {
    const { heldByDrone } = splitChecks(training)
    /** Held-out scores per drone, and the alarms (flagged runs less than 1 s apart are one) at a threshold. */
    const heldOut = (m: DetectorModel) => {
      const score = compileForest(m.forest)
      const flights = heldByDrone.map(({ checks, times }) => ({
        times,
        scores: checks.map((c) => score(fillUnknown(toFeatures(c, m.check_tails), m.feature_medians))),
      }))
      const alarms = (threshold: number): number => {
        let count = 0
        for (const { times, scores } of flights) {
          let last = Number.NEGATIVE_INFINITY
          scores.forEach((s, i) => {
            if (s <= threshold) return
            if (times[i]! - last >= 1000) count++
            last = times[i]!
          })
        }
        return count
      }
      return { scores: flights.flatMap((f) => f.scores).sort((a, b) => a - b), alarms }
    }
    // 5 drones x 200 held-out records at 10 Hz: 5 x 19.9 s, 0.0276 drone-hours.
    const strict = await trainModel(training, { ...options, alarmBudget: 0 })
    const strictHeld = heldOut(strict)
    assert.equal(strict.threshold, strictHeld.scores.at(-1), 'no alarm allowed: the highest held-out score')
    assert.equal(strictHeld.alarms(strict.threshold), 0)
    // The default budget allows no whole alarm on so short a flight either.
    assert.equal(model.threshold, heldOut(model).scores.at(-1))
    // 110 per drone-hour: 3 alarms.
    const loose = await trainModel(training, { ...options, alarmBudget: 110 })
    const looseHeld = heldOut(loose)
    assert.ok(looseHeld.alarms(loose.threshold) <= 3, `${looseHeld.alarms(loose.threshold)} alarms`)
    assert.ok(looseHeld.alarms(loose.threshold) >= 1, 'the budget is used')
    const next = looseHeld.scores.filter((s) => s < loose.threshold).at(-1)!
    assert.ok(looseHeld.alarms(next) > 3, 'the next lower held-out score would exceed the budget')
    assert.ok(loose.threshold < strict.threshold)
  })

  it('holds anomalies on above the held-out scores’ hold quantile, never above the threshold', async () => {
    const { heldByDrone } = splitChecks(training)
    const score = compileForest(model.forest)
    const scores = heldByDrone
      .flatMap(({ checks }) =>
        checks.map((c) => score(fillUnknown(toFeatures(c, model.check_tails), model.feature_medians))),
      )
      .sort((a, b) => a - b)
    const loose = await trainModel(training, { ...options, alarmBudget: 110, holdQuantile: 0.9 })
    assert.equal(loose.hold_threshold, nearestRank(scores, 0.9))
    assert.ok(loose.hold_threshold < loose.threshold, `${loose.hold_threshold} vs ${loose.threshold}`)
    assert.equal(model.hold_threshold, nearestRank(scores, 0.999))
    assert.ok(model.hold_threshold < model.threshold, 'the default budget: the highest held-out score')
    // The highest held-out score is above the loose threshold: the hold stops at the threshold.
    const capped = await trainModel(training, { ...options, alarmBudget: 110, holdQuantile: 1 })
    assert.equal(capped.hold_threshold, capped.threshold)
    await assert.rejects(trainModel(training, { holdQuantile: 0.5 }), /holdQuantile must be in \[0\.9, 1\]/)
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
      trainModel(records, { alarmBudget: -1 }),
      /alarmBudget must be a finite number, at least 0/,
    )
    await assert.rejects(trainModel(records, { tailQuantile: 0.5 }), /tailQuantile must be in \[0.9, 1\]/)
    await assert.rejects(
      trainModel(records, { tailDecades: -1 }),
      /tailDecades must be a finite number, at least 0/,
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
      /v1\.json is model version 1, this detector reads version 10; train one with/,
    )
    const next = MODEL_VERSION + 1
    await assert.rejects(
      loadModel(write('next.json', { ...model, version: next })),
      new RegExp(`model version ${next}`),
    )
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
        'hold-above',
        (m) => (m.hold_threshold = m.threshold + 0.01),
        /corrupt: hold_threshold must be a finite number no greater than threshold/,
      ],
      ['no-hold', (m) => Reflect.deleteProperty(m, 'hold_threshold'), /corrupt: hold_threshold/],
      [
        'tails-short',
        (m) => m.check_tails.pop(),
        /corrupt: check_tails must hold \d+ finite numbers above 0/,
      ],
      ['tails-zero', (m) => (m.check_tails[3] = 0), /corrupt: check_tails must hold/],
      ['tails-negative', (m) => (m.check_tails[0] = -1), /corrupt: check_tails must hold/],
      [
        'tails-noise-ordinary',
        (m) => (m.check_tails[CHECK_NAMES.indexOf('accel_x_noise_3s')] = 1),
        /corrupt: check_tails must hold \d+ finite numbers above 0 \(noise checks: above 1\)/,
      ],
      ['tails-null', (m) => (m.check_tails[5] = null as unknown as number), /corrupt: check_tails/],
      [
        'medians-short',
        (m) => (m.feature_medians = [1]),
        /corrupt: feature_medians must hold 5 finite numbers/,
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
      ['dimensions', (m) => (m.forest.dimensions = 12), /corrupt: forest\.dimensions must be 5/],
    ]
    for (const [name, change, message] of cases) {
      await assert.rejects(loadModel(write(`${name}.json`, altered(change))), message, name)
    }
    // JSON has no infinities, but a number beyond the double range parses as one: a hold threshold
    // of minus infinity would hold every anomaly for as long as the drone flies.
    const unbounded = JSON.stringify(model).replace(/"hold_threshold":[^,]+/, '"hold_threshold":-1e999')
    assert.ok(unbounded.includes('-1e999'), 'the hold threshold replaced')
    await assert.rejects(
      loadModel(write('hold-unbounded.json', unbounded)),
      /corrupt: hold_threshold must be a finite number/,
    )
  })
})
