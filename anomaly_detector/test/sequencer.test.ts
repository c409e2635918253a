import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Sequencer, type Offered, type SequenceKey } from '../src/sequencer.ts'
import { trainModel } from '../src/model.ts'
import { createScorer } from '../src/scorer.ts'
import { flight } from './flights.ts'

/** drone A's record `seq`, sampled every 100 ms; a restarted drone's clock runs on from `epochMs`. */
const rec = (seq: number, drone = 'A', epochMs = 1_000_000): SequenceKey => ({
  drone_id: drone,
  seq,
  timestamp: epochMs + seq * 100,
})
const seqs = (offered: Offered<SequenceKey>) => offered.ready.map((r) => r.item.seq)
const newSequencer = (options = {}) => new Sequencer<SequenceKey>((k) => k, options)

describe('Sequencer', () => {
  it('processes records in sequence as they come', () => {
    const s = newSequencer()
    for (let seq = 0; seq < 5; seq++) {
      const offered = s.offer(rec(seq), 0)
      assert.equal(offered.decision, 'process')
      assert.deepEqual(seqs(offered), [seq])
    }
    assert.deepEqual(s.stats, { duplicates: 0, gaps: 0, late: 0, held: 0 })
  })

  it('drops a record already processed', () => {
    const s = newSequencer()
    s.offer(rec(0), 0)
    s.offer(rec(1), 0)
    const again = s.offer(rec(1), 0)
    assert.equal(again.decision, 'duplicate')
    assert.deepEqual(seqs(again), [])
    assert.equal(s.offer(rec(0), 0).decision, 'duplicate')
    assert.equal(s.stats.duplicates, 2)
  })

  it('drops a whole redelivery burst after a consumer restart, then carries on', () => {
    const s = newSequencer()
    for (let seq = 0; seq < 100; seq++) s.offer(rec(seq), 0)
    // Offsets were last committed after seq 59: Kafka hands 60..99 over again.
    for (let seq = 60; seq < 100; seq++) assert.equal(s.offer(rec(seq), 0).decision, 'duplicate')
    assert.deepEqual(seqs(s.offer(rec(100), 0)), [100])
    assert.deepEqual(s.stats, { duplicates: 40, gaps: 0, late: 0, held: 0 })
  })

  it('holds records that came early and releases them in order when the missing one arrives', () => {
    const s = newSequencer()
    s.offer(rec(0), 0)
    assert.equal(s.offer(rec(3), 0).decision, 'held')
    assert.equal(s.offer(rec(2), 0).decision, 'held')
    assert.equal(s.offer(rec(3), 0).decision, 'duplicate', 'a copy of a held record')
    assert.equal(s.stats.held, 2)
    const filled = s.offer(rec(1), 0)
    assert.equal(filled.decision, 'process')
    assert.deepEqual(seqs(filled), [1, 2, 3])
    assert.ok(filled.ready.every((r) => !r.late))
    assert.deepEqual(s.stats, { duplicates: 1, gaps: 0, late: 0, held: 0 })
  })

  it('keeps drones apart', () => {
    const s = newSequencer()
    s.offer(rec(0, 'A'), 0)
    s.offer(rec(0, 'B'), 0)
    assert.equal(s.offer(rec(2, 'A'), 0).decision, 'held')
    assert.deepEqual(seqs(s.offer(rec(1, 'B'), 0)), [1])
    assert.deepEqual(seqs(s.offer(rec(1, 'A'), 0)), [1, 2])
  })

  it('skips a gap that is not filled in time and counts each missing seq once', () => {
    const s = newSequencer({ maxWaitMs: 2_000 })
    s.offer(rec(0), 0)
    assert.equal(s.offer(rec(4), 1_000).decision, 'held')
    assert.equal(s.offer(rec(5), 2_500).decision, 'held')
    // The drone went quiet: only the clock moves.
    assert.deepEqual(s.expire(2_999), [])
    const released = s.expire(3_000)
    assert.deepEqual(
      released.map((r) => r.item.seq),
      [4, 5],
    )
    assert.deepEqual(s.stats, { duplicates: 0, gaps: 3, late: 0, held: 0 })
    assert.deepEqual(seqs(s.offer(rec(6), 3_000)), [6])
    assert.equal(s.stats.gaps, 3, 'counted once')
  })

  it('skips a gap when a record arrives after the oldest held one waited too long', () => {
    const s = newSequencer({ maxWaitMs: 2_000 })
    s.offer(rec(0), 0)
    s.offer(rec(2), 0)
    const offered = s.offer(rec(3), 2_000)
    assert.equal(offered.decision, 'process')
    assert.deepEqual(seqs(offered), [2, 3])
    assert.equal(s.stats.gaps, 1)
  })

  it('skips a gap when the reorder buffer is full', () => {
    const s = newSequencer({ maxHeld: 4 })
    s.offer(rec(0), 0)
    for (const seq of [3, 4, 6, 7]) assert.equal(s.offer(rec(seq), 0).decision, 'held')
    const overflow = s.offer(rec(8), 0)
    // Seqs 1 and 2 are given up: 3 and 4 go, 6..8 wait for 5.
    assert.deepEqual(seqs(overflow), [3, 4])
    assert.equal(overflow.decision, 'held')
    assert.deepEqual(s.stats, { duplicates: 0, gaps: 2, late: 0, held: 3 })
  })

  it('processes a record that arrives after its seq was skipped once, as late', () => {
    const s = newSequencer({ maxWaitMs: 100 })
    s.offer(rec(0), 0)
    s.offer(rec(2), 0)
    s.offer(rec(3), 200)
    const late = s.offer(rec(1), 300)
    assert.equal(late.decision, 'late')
    assert.deepEqual(
      late.ready.map((r) => [r.item.seq, r.late]),
      [[1, true]],
    )
    assert.equal(s.offer(rec(1), 400).decision, 'duplicate', 'a late record is processed once')
    assert.deepEqual(s.stats, { duplicates: 1, gaps: 1, late: 1, held: 0 })
    assert.deepEqual(seqs(s.offer(rec(4), 500)), [4], 'the sequence carries on after 3')
  })

  it('scores a late record without rewinding the drone state', async () => {
    const records = flight('drone-0001', 400)
    const model = await trainModel(records.slice(0, 300), { seed: 1, trees: 20, sampleSize: 64 })
    // Seq 310 is delayed until after 330: the gap is skipped after 1 s of the drone's samples, and
    // 310 arrives late.
    const arrival = [
      ...records.slice(300, 331).filter((r) => r.seq !== 310),
      records[310]!,
      ...records.slice(331),
    ]
    const scorer = createScorer(model)
    const s = new Sequencer<(typeof records)[number]>((r) => r, { maxWaitMs: 1_000 })
    const scores = new Map<number, number>()
    for (const record of arrival) {
      for (const { item } of s.offer(record, record.timestamp).ready) {
        assert.ok(!scores.has(item.seq), `seq ${item.seq} scored once`)
        scores.set(item.seq, scorer.score(item).score)
      }
    }
    assert.deepEqual(s.stats, { duplicates: 0, gaps: 1, late: 1, held: 0 })
    assert.equal(scores.size, 100)
    // Every other record scores exactly as in a stream where 310 never came: the late record
    // moved nothing.
    const reference = createScorer(model)
    for (const record of records.slice(300)) {
      if (record.seq === 310) continue
      assert.equal(scores.get(record.seq), reference.score(record).score, `seq ${record.seq}`)
    }
  })

  it('treats a lower seq with a later timestamp as the drone restarting', () => {
    const s = newSequencer()
    for (let seq = 0; seq < 10; seq++) s.offer(rec(seq), 0)
    s.offer(rec(12), 0)
    const restart = s.offer(rec(0, 'A', 5_000_000), 0)
    assert.equal(restart.decision, 'process')
    // What the old sequence held goes first, then the new sequence starts.
    assert.deepEqual(seqs(restart), [12, 0])
    assert.deepEqual(seqs(s.offer(rec(1, 'A', 5_000_000), 0)), [1])
    assert.equal(s.offer(rec(1, 'A', 5_000_000), 0).decision, 'duplicate')
    assert.equal(s.offer(rec(5), 0).decision, 'duplicate', 'a copy from before the restart')
    assert.deepEqual(s.stats, { duplicates: 2, gaps: 2, late: 0, held: 0 })
  })

  it('processes a straggler from before the first record seen once (after a detector restart)', () => {
    const s = newSequencer({ maxHeld: 8 })
    assert.equal(s.offer(rec(500), 0).decision, 'process')
    assert.equal(s.offer(rec(499), 0).decision, 'late')
    assert.equal(s.offer(rec(499), 0).decision, 'duplicate')
    assert.equal(s.offer(rec(492), 0).decision, 'late')
    assert.equal(s.offer(rec(491), 0).decision, 'duplicate', 'beyond what the sequencer remembers')
    assert.deepEqual(s.stats, { duplicates: 2, gaps: 0, late: 2, held: 0 })
  })

  it('stays bounded in memory however many seqs go missing', () => {
    const s = newSequencer({ maxHeld: 4, maxMissing: 16, maxWaitMs: 10 })
    s.offer(rec(0), 0)
    // Every other record lost, for a long time; then a jump of a billion seqs.
    for (let seq = 2; seq < 20_000; seq += 2) s.offer(rec(seq), seq)
    s.offer(rec(1_000_000_000), 30_000)
    assert.equal(s.expire(40_000).length, 1)
    assert.equal(s.stats.gaps, 9_999 + (1_000_000_000 - 19_999))
    const internals = s as unknown as {
      drones: Map<string, { missing: Set<number>; held: Map<number, unknown> }>
    }
    const drone = internals.drones.get('A')!
    assert.equal(drone.held.size, 0)
    assert.ok(drone.missing.size <= 16, `${drone.missing.size} missing seqs remembered`)
    // The most recent missing seqs are the ones remembered: a late one is still processed.
    assert.equal(s.offer(rec(999_999_999), 40_000).decision, 'late')
    assert.equal(s.offer(rec(3), 40_000).decision, 'duplicate', 'forgotten long ago')
  })

  it('flushes what it holds at the end of an input, in order', () => {
    const s = newSequencer()
    s.offer(rec(0), 0)
    s.offer(rec(5), 0)
    s.offer(rec(3), 0)
    assert.deepEqual(
      s.flush().map((r) => r.item.seq),
      [3, 5],
    )
    assert.deepEqual(s.stats, { duplicates: 0, gaps: 3, late: 0, held: 0 })
  })
})
