import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ProcessedOffsets, type CommitPoint } from '../src/offsets.ts'

const at = (partition: number, offset: number) => ({ topic: 't', partition, offset: BigInt(offset) })

describe('ProcessedOffsets', () => {
  it('commits just past the newest processed record of each partition, once', async () => {
    const offsets = new ProcessedOffsets()
    for (const o of [0, 1, 2]) offsets.received(at(0, o))
    offsets.received(at(1, 7))
    for (const o of [0, 1, 2]) offsets.processed(at(0, o))
    offsets.processed(at(1, 7))
    const commits: CommitPoint[][] = []
    await offsets.commit(async (points) => void commits.push(points))
    await offsets.commit(async (points) => void commits.push(points))
    assert.deepEqual(commits, [
      [
        { topic: 't', partition: 0, offset: 3n },
        { topic: 't', partition: 1, offset: 8n },
      ],
    ])
  })

  it('never commits past a record still held back, however many after it were processed', () => {
    const offsets = new ProcessedOffsets()
    for (const o of [10, 11, 12, 13]) offsets.received(at(0, o))
    for (const o of [10, 12, 13]) offsets.processed(at(0, o))
    assert.deepEqual(offsets.pending(), [{ topic: 't', partition: 0, offset: 11n }])
    offsets.processed(at(0, 11))
    assert.deepEqual(offsets.pending(), [{ topic: 't', partition: 0, offset: 14n }])
  })

  it('keeps a held record pending when a reconnect delivers a copy of it that is dropped', () => {
    const offsets = new ProcessedOffsets()
    offsets.received(at(0, 5))
    offsets.received(at(0, 6))
    offsets.processed(at(0, 6))
    offsets.received(at(0, 5))
    offsets.processed(at(0, 5))
    assert.deepEqual(offsets.pending(), [{ topic: 't', partition: 0, offset: 5n }])
    offsets.processed(at(0, 5))
    assert.deepEqual(offsets.pending(), [{ topic: 't', partition: 0, offset: 7n }])
  })

  it('tries a failed commit again', async () => {
    const offsets = new ProcessedOffsets()
    offsets.received(at(0, 0))
    offsets.processed(at(0, 0))
    await assert.rejects(
      offsets.commit(async () => {
        throw new Error('broker down')
      }),
    )
    assert.deepEqual(offsets.pending(), [{ topic: 't', partition: 0, offset: 1n }])
  })

  it('counts as lag what is past the next record to process, held records included', () => {
    const offsets = new ProcessedOffsets()
    for (const o of [10, 11, 12]) offsets.received(at(0, o))
    for (const o of [10, 12]) offsets.processed(at(0, o))
    offsets.received(at(1, 3))
    offsets.processed(at(1, 3))
    const lag = offsets.lag('t', [
      { partition: 0, end: 20n, fetchFrom: 13n },
      { partition: 1, end: 4n, fetchFrom: 4n },
    ])
    assert.deepEqual(
      [...lag],
      [
        [0, 9],
        [1, 0],
      ],
    )
  })

  it("counts from the consumer's fetch position before a partition's first record, never below 0", () => {
    const offsets = new ProcessedOffsets()
    const lag = offsets.lag('t', [
      { partition: 2, end: 50n, fetchFrom: 45n },
      { partition: 3, end: 7n },
      { partition: 4, end: 5n, fetchFrom: 6n },
    ])
    assert.deepEqual(
      [...lag],
      [
        [2, 5],
        [3, 0],
        [4, 0],
      ],
    )
  })
})
