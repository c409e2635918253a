import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createRandom, type Random } from '../src/random.ts'

const draw = (random: Random, n: number): number[] => Array.from({ length: n }, () => random.next())
const uint32 = (values: number[]): number[] => values.map((v) => v * 4294967296)

function meanAndSd(values: number[]): { mean: number; sd: number } {
  const mean = values.reduce((s, v) => s + v, 0) / values.length
  const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / (values.length - 1)
  return { mean, sd: Math.sqrt(variance) }
}

describe('createRandom', () => {
  it('produces the sfc32 outputs of an independent reference (Python) for fixed seeds', () => {
    assert.deepEqual(
      uint32(draw(createRandom(42), 5)),
      [3135804681, 2988126509, 4116908130, 775134741, 34689041],
    )
    assert.deepEqual(
      uint32(draw(createRandom('drone-fleet'), 5)),
      [4200827084, 1478203308, 2891501819, 779477651, 2090679864],
    )
  })

  it('repeats the same sequence for the same seed (number and string seeds agree)', () => {
    assert.deepEqual(draw(createRandom(7), 1000), draw(createRandom(7), 1000))
    assert.deepEqual(draw(createRandom(7), 50), draw(createRandom('7'), 50))
  })

  it('gives different sequences for different seeds', () => {
    const a = draw(createRandom(1), 100)
    const b = draw(createRandom(2), 100)
    assert.notDeepEqual(a, b)
    assert.ok(a.filter((v, i) => v === b[i]).length < 2)
  })

  it('stays in [0, 1)', () => {
    for (const v of draw(createRandom('range'), 100_000)) assert.ok(v >= 0 && v < 1, String(v))
  })

  it('uniform(min, max) stays in [min, max) and covers it', () => {
    const random = createRandom(3)
    const values = Array.from({ length: 10_000 }, () => random.uniform(-2, 6))
    assert.ok(values.every((v) => v >= -2 && v < 6))
    assert.ok(Math.min(...values) < -1.99 && Math.max(...values) > 5.99)
  })

  it('int(n) gives each of 0..n-1 about equally often and nothing else', () => {
    const random = createRandom(11)
    const counts = new Array<number>(6).fill(0)
    for (let i = 0; i < 60_000; i++) {
      const v = random.int(6)
      assert.ok(Number.isInteger(v) && v >= 0 && v < 6, `int(6) gave ${v}`)
      counts[v]!++
    }
    for (const c of counts) assert.ok(Math.abs(c - 10_000) < 500, `counts ${counts.join(', ')}`)
    assert.equal(createRandom(1).int(1), 0)
  })

  it('normal() has mean 0 and sd 1 over 100k draws', () => {
    const random = createRandom(2024)
    const { mean, sd } = meanAndSd(Array.from({ length: 100_000 }, () => random.normal()))
    assert.ok(Math.abs(mean) < 0.015, `mean ${mean}`)
    assert.ok(Math.abs(sd - 1) < 0.01, `sd ${sd}`)
  })

  it('normal(mean, sd) scales, with about 68% within one sd', () => {
    const random = createRandom('scaled')
    const values = Array.from({ length: 100_000 }, () => random.normal(5, 2))
    const { mean, sd } = meanAndSd(values)
    assert.ok(Math.abs(mean - 5) < 0.03, `mean ${mean}`)
    assert.ok(Math.abs(sd - 2) < 0.02, `sd ${sd}`)
    const within = values.filter((v) => Math.abs(v - 5) < 2).length / values.length
    assert.ok(Math.abs(within - 0.6827) < 0.01, `within one sd: ${within}`)
    assert.ok(values.every(Number.isFinite))
  })
})

describe('Random.fork', () => {
  it('is deterministic: the same label from the same seed gives the same stream', () => {
    assert.deepEqual(
      draw(createRandom(42).fork('drone-0001'), 100),
      draw(createRandom(42).fork('drone-0001'), 100),
    )
    assert.deepEqual(
      uint32(draw(createRandom(42).fork('drone-0001'), 5)),
      [3874067189, 3093657040, 3575454942, 4029883968, 2775546816],
    )
  })

  it('does not depend on how far the parent has been drawn', () => {
    const fresh = createRandom(42)
    const used = createRandom(42)
    draw(used, 1234)
    assert.deepEqual(draw(fresh.fork('x'), 50), draw(used.fork('x'), 50))
  })

  it('leaves the parent sequence untouched', () => {
    const parent = createRandom(42)
    const child = parent.fork('sensors')
    draw(child, 500)
    assert.deepEqual(draw(parent, 50), draw(createRandom(42), 50))
  })

  it('gives different streams for different labels, and differs from the parent', () => {
    const root = createRandom(42)
    const a = draw(root.fork('drone-0001'), 100)
    const b = draw(root.fork('drone-0002'), 100)
    assert.notDeepEqual(a, b)
    assert.notDeepEqual(a, draw(createRandom(42), 100))
    assert.notDeepEqual(draw(createRandom(43).fork('drone-0001'), 100), a)
  })
})
