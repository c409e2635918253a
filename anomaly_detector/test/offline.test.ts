import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { DroneTelemetry } from '@drone-pipeline/shared/generated/drone-telemetry.ts'
import { toDatasetLine } from '@drone-pipeline/shared/dataset.ts'
import { loadModel } from '../src/model.ts'
import { scoreCommand, scoreDataset, trainCommand, trainFromDataset } from '../src/offline.ts'
import { fleet, flight } from './flights.ts'

/** A flight with a 3 m/s spike of reported speed every 50 samples, labeled as faults. */
function labeledFlight(droneId: string, samples: number): string[] {
  return flight(droneId, samples).map((record) =>
    record.seq % 50 === 49
      ? toDatasetLine({ ...record, velocity: record.velocity + 3 }, 1, 'spike')
      : toDatasetLine(record),
  )
}

describe('offline train and score', () => {
  let dir: string
  const file = (name: string): string => path.join(dir, name)
  const captured: string[] = []
  const originalLog = console.log
  const originalStderrWrite = process.stderr.write.bind(process.stderr)

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'detector-offline-'))
    const training = fleet(6, 600, 'offline').map((r) => toDatasetLine(r))
    // Faulty rows in a training file must be left out of training.
    fs.writeFileSync(
      file('train.jsonl'),
      [...training, ...labeledFlight('drone-0900', 100)].join('\n') + '\n',
    )
    fs.writeFileSync(file('test.jsonl'), [...labeledFlight('drone-0100', 600), ''].join('\n'))
    fs.writeFileSync(
      file('unlabeled.jsonl'),
      flight('drone-0200', 50)
        .map((r: DroneTelemetry) => JSON.stringify(r))
        .join('\n'),
    )
    console.log = (...args: unknown[]) => void captured.push(args.join(' '))
    process.stderr.write = ((chunk: string) => captured.push(chunk) > 0) as typeof process.stderr.write
  })
  after(() => {
    console.log = originalLog
    process.stderr.write = originalStderrWrite
    process.exitCode = undefined
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it('trains on the normal records only', async () => {
    const model = await trainFromDataset(file('train.jsonl'), { trees: 20, seed: 3 })
    assert.equal(model.training.records, 3600 + 98)
    assert.equal(model.training.drones, 7)
    assert.equal(model.params.trees, 20)
  })

  it('train and score commands write a model and DESIGN-format predictions, and measure detection', async () => {
    captured.length = 0
    await trainCommand([
      '--in',
      file('train.jsonl'),
      '--out',
      file('model.json'),
      '--trees',
      '50',
      '--seed',
      '2',
    ])
    assert.match(captured.join('\n'), /trained on 3698 normal records from 7 drones .*\nthreshold 0\.\d{4}/)
    assert.equal((await loadModel(file('model.json'))).params.seed, 2)

    captured.length = 0
    await scoreCommand([
      '--in',
      file('test.jsonl'),
      '--out',
      file('out/predictions.jsonl'),
      '--model',
      file('model.json'),
    ])
    const output = captured.join('\n')
    assert.match(output, /scored 600 records from 1 drones/)
    assert.match(
      output,
      /against 600 labeled records \(12 faulty\), per record: precision \d\.\d{3}, recall \d\.\d{3}, F1 \d\.\d{3}/,
    )
    assert.match(
      output,
      /\n {2}spike: precision \d\.\d{3}, recall \d\.\d{3}, F1 \d\.\d{3}; \d+\/12 events detected/,
    )
    assert.match(output, /\n\d+ alarms, \d+ false: [\d.]+ per hour of healthy flight/)

    const lines = fs.readFileSync(file('out/predictions.jsonl'), 'utf8').trimEnd().split('\n')
    assert.equal(lines.length, 600)
    const first = JSON.parse(lines[0]!) as Record<string, unknown>
    assert.deepEqual(Object.keys(first), ['drone_id', 'seq', 'score', 'anomaly'])
    assert.equal(first.drone_id, 'drone-0100')
    assert.equal(typeof first.score, 'number')
    assert.equal(typeof first.anomaly, 'boolean')
  })

  it('reports precision, recall and F1 against labels, and none without labels', async () => {
    const model = await loadModel(file('model.json'))
    const labeled = await scoreDataset(file('test.jsonl'), file('p1.jsonl'), model)
    const e = labeled.labeled!
    const m = e.per_record_strict
    assert.equal(e.records, 600)
    assert.equal(e.faulty_records, 12)
    assert.equal(m.tp + m.fn, 12)
    assert.equal(m.tp + m.fp + m.fn + m.tn, 600)
    assert.equal(m.by_fault.spike!.tp + m.by_fault.spike!.fn, 12)
    assert.equal(e.per_event.by_fault.spike?.events, 12)
    assert.ok(m.recall >= 0.75, `recall ${m.recall}`)
    assert.ok(Math.abs(m.f1 - (2 * m.precision * m.recall) / (m.precision + m.recall)) < 1e-3)

    const unlabeled = await scoreDataset(file('unlabeled.jsonl'), file('p2.jsonl'), model)
    assert.equal(unlabeled.records, 50)
    assert.equal(unlabeled.labeled, undefined)
  })

  it('reports a missing model or dataset in one line with exit code 1', async () => {
    captured.length = 0
    await scoreCommand([
      '--in',
      file('test.jsonl'),
      '--out',
      file('p3.jsonl'),
      '--model',
      file('absent.json'),
    ])
    assert.equal(process.exitCode, 1)
    assert.match(captured.join(''), /^error: model file .*absent\.json does not exist/)

    captured.length = 0
    process.exitCode = undefined
    await trainCommand(['--in', file('absent.jsonl'), '--out', file('m.json')])
    assert.equal(process.exitCode, 1)
    assert.match(captured.join(''), /^error: dataset .*absent\.jsonl does not exist/)
    process.exitCode = undefined
  })
})
