import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { anomalyKey, EmittedAnomalies, keyOfEvent, tailRange } from '../src/emitted.ts'

const event = (drone_id: string, seq: number, timestamp: number) =>
  Buffer.from(JSON.stringify({ drone_id, seq, timestamp, score: 0.8, record: { drone_id, seq } }))

describe('anomaly events already emitted', () => {
  it('keys an event read back from the topic as the record it came from', () => {
    const record = { drone_id: 'drone-0001', seq: 42, timestamp: 1_750_000_000_000 }
    assert.equal(keyOfEvent(event('drone-0001', 42, 1_750_000_000_000)), anomalyKey(record))
    // A restarted drone's seq 42 is another record.
    assert.notEqual(keyOfEvent(event('drone-0001', 42, 1_750_000_999_000)), anomalyKey(record))
  })

  it('ignores whatever on the topic is not an anomaly event', () => {
    for (const value of [
      null,
      undefined,
      Buffer.from('forged'),
      Buffer.from('[]'),
      Buffer.from('{"seq": 1}'),
    ]) {
      assert.equal(keyOfEvent(value), undefined)
    }
    assert.equal(keyOfEvent(Buffer.from('{"drone_id": "d", "seq": 1.5, "timestamp": 1}')), undefined)
  })

  it('is seeded from the topic tail and answers for those records', () => {
    const emitted = new EmittedAnomalies(100)
    const seeded = emitted.seed([
      event('drone-0001', 7, 1000),
      Buffer.from('forged'),
      event('drone-0002', 7, 1000),
    ])
    assert.equal(seeded, 2)
    assert.ok(emitted.has(anomalyKey({ drone_id: 'drone-0001', seq: 7, timestamp: 1000 })))
    assert.ok(emitted.has(anomalyKey({ drone_id: 'drone-0002', seq: 7, timestamp: 1000 })))
    assert.ok(!emitted.has(anomalyKey({ drone_id: 'drone-0001', seq: 8, timestamp: 1100 })))
  })

  it('forgets the oldest keys beyond its capacity', () => {
    const emitted = new EmittedAnomalies(3)
    for (let seq = 0; seq < 5; seq++) emitted.add(anomalyKey({ drone_id: 'd', seq, timestamp: seq }))
    assert.equal(emitted.size, 3)
    assert.ok(!emitted.has(anomalyKey({ drone_id: 'd', seq: 1, timestamp: 1 })))
    assert.ok(emitted.has(anomalyKey({ drone_id: 'd', seq: 2, timestamp: 2 })))
    assert.ok(emitted.has(anomalyKey({ drone_id: 'd', seq: 4, timestamp: 4 })))
  })

  it('reads back the last events of a partition, or all of them when there are fewer', () => {
    assert.deepEqual(tailRange(0n, 120_000n, 50_000), { from: 70_000n, to: 120_000n })
    assert.deepEqual(tailRange(100n, 3_000n, 50_000), { from: 100n, to: 3_000n })
    assert.deepEqual(tailRange(0n, 0n, 50_000), { from: 0n, to: 0n })
  })
})
