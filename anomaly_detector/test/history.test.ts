import assert from 'node:assert/strict'
import { before, describe, it } from 'node:test'
import { historyOrder, historyStart } from '../src/history.ts'
import { trainModel, type DetectorModel } from '../src/model.ts'
import { createScorer } from '../src/scorer.ts'
import { fleet, simulated } from './flights.ts'

describe('historyOrder', () => {
  it("puts each drone's records in the order flown and drops repeats", () => {
    const records = fleet(3, 50, 'history-order')
    // Arrival order as a partition may hold it: the drones interleaved, some records swapped with
    // their neighbour, a few delivered twice.
    const arrived = [...records]
    for (let i = 10; i + 3 < arrived.length; i += 17)
      [arrived[i], arrived[i + 3]] = [arrived[i + 3]!, arrived[i]!]
    arrived.push(records[20]!, records[77]!)
    const ordered = historyOrder(arrived)
    assert.equal(ordered.length, records.length, 'every record once')
    for (const drone of ['drone-0000', 'drone-0001', 'drone-0002']) {
      const seqs = ordered.filter((r) => r.drone_id === drone).map((r) => r.seq)
      assert.deepEqual(seqs, [...Array(50).keys()], `${drone} in seq order`)
    }
  })

  it('keeps a restarted drone’s new sequence after its old one', () => {
    const [a, b] = [fleet(1, 5, 'first'), fleet(1, 3, 'second')]
    const later = b.map((r) => ({ ...r, timestamp: r.timestamp + 60_000 }))
    const ordered = historyOrder([...later, ...a])
    assert.deepEqual(
      ordered.map((r) => r.seq),
      [0, 1, 2, 3, 4, 0, 1, 2],
      'the old flight, then the new one from seq 0',
    )
  })
})

describe('historyStart', () => {
  it('starts where Kafka found the time, within the log and not past the committed offset', () => {
    assert.equal(historyStart(0n, 400n, 1000n, 5000n), 400n)
    assert.equal(historyStart(500n, 400n, 1000n, 5000n), 500n, 'not before the log start')
    assert.equal(historyStart(0n, 1200n, 1000n, 5000n), 1000n, 'not past the committed offset')
    assert.equal(historyStart(0n, -1n, 1000n, 5000n), 1000n, 'no record that late: nothing to read')
    assert.equal(historyStart(0n, undefined, 1000n, 5000n), 1000n)
  })

  it('reads at most maxRecords before the committed offset', () => {
    assert.equal(historyStart(0n, 400n, 1000n, 100n), 900n)
    assert.equal(historyStart(950n, 400n, 1000n, 100n), 950n, 'and still not before the log start')
  })
})

describe('a scorer fed the history', () => {
  let model: DetectorModel
  before(async () => {
    model = await trainModel(
      simulated(6, 900, 'history-training').map((s) => s.record),
      { seed: 3 },
    )
  })

  it('scores the records after it exactly as one that never stopped', () => {
    const records = simulated(4, 900, 'history-flight').map((s) => s.record)
    const cut = 600 * 4 // a minute in, as a crash would cut the stream
    const throughout = createScorer(model)
    const expected = records.map((r) => throughout.score(r).score)

    const rebuilt = createScorer(model)
    // As read back from Kafka: arrival order, with a repeat.
    const readBack = [...records.slice(0, cut).reverse(), records[cut - 1]!]
    for (const r of historyOrder(readBack)) rebuilt.score(r)
    const after = records.slice(cut).map((r) => rebuilt.score(r).score)
    assert.deepEqual(after, expected.slice(cut), 'every score after the cut is the same')

    const afresh = createScorer(model)
    const unlike = records.slice(cut).filter((r, i) => afresh.score(r).score !== expected[cut + i]).length
    assert.ok(unlike > 0, `a scorer without the history scores otherwise (${unlike} records)`)
  })
})
