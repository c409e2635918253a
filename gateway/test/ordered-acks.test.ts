import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { OrderedAcks } from '../src/ordered-acks.ts'

/** A promise settled from outside, like a Kafka write completing. */
function deferred(): { promise: Promise<void>; resolve(): void; reject(err: Error): void } {
  let resolve!: () => void
  let reject!: (err: Error) => void
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** Lets settled promises run their callbacks. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve))

describe('OrderedAcks', () => {
  it('sends nothing before the work is durable', async () => {
    const acks = new OrderedAcks()
    const sent: number[] = []
    const work = deferred()
    acks.hold(work.promise, () => sent.push(1), assert.fail)
    await settle()
    assert.deepEqual(sent, [])
    assert.equal(acks.size, 1)
    work.resolve()
    await settle()
    assert.deepEqual(sent, [1])
    assert.equal(acks.size, 0)
  })

  it('releases acks in arrival order when the work completes out of order', async () => {
    const acks = new OrderedAcks()
    const sent: number[] = []
    const works = [deferred(), deferred(), deferred(), deferred()]
    works.forEach((work, i) => acks.hold(work.promise, () => sent.push(i), assert.fail))
    works[2]!.resolve()
    works[1]!.resolve()
    await settle()
    assert.deepEqual(sent, [], 'the first message is not durable yet, so nothing may leave')
    works[0]!.resolve()
    await settle()
    assert.deepEqual(sent, [0, 1, 2])
    works[3]!.resolve()
    await settle()
    assert.deepEqual(sent, [0, 1, 2, 3])
  })

  it('never acknowledges a failed message, and does not let it hold back the rest', async () => {
    const acks = new OrderedAcks()
    const sent: number[] = []
    const failures: string[] = []
    const works = [deferred(), deferred(), deferred()]
    works.forEach((work, i) =>
      acks.hold(
        work.promise,
        () => sent.push(i),
        (err) => failures.push(err.message),
      ),
    )
    works[2]!.resolve()
    works[0]!.reject(new Error('shutting down'))
    await settle()
    assert.deepEqual(sent, [], 'the second message still holds the third back')
    works[1]!.resolve()
    await settle()
    assert.deepEqual(sent, [1, 2])
    assert.deepEqual(failures, ['shutting down'])
  })

  it('after clear (connection lost), work that completes sends nothing', async () => {
    const acks = new OrderedAcks()
    const sent: string[] = []
    const stale = deferred()
    acks.hold(stale.promise, () => sent.push('stale'), assert.fail)
    acks.clear()
    assert.equal(acks.size, 0)
    const fresh = deferred()
    acks.hold(fresh.promise, () => sent.push('fresh'), assert.fail)
    stale.resolve()
    await settle()
    assert.deepEqual(sent, [], 'the stale ack neither leaves nor releases the new connection’s acks')
    fresh.resolve()
    await settle()
    assert.deepEqual(sent, ['fresh'])
  })
})
