import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  quantile,
  scoresUnlikeOffline,
  summarizeDelivery,
  type Published,
  type Scored,
} from '../src/delivery.ts'

describe('quantile (nearest rank)', () => {
  const ten = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]

  it('returns observed values without interpolation', () => {
    assert.equal(quantile(ten, 0.5), 5)
    assert.equal(quantile(ten, 0.55), 6)
    assert.equal(quantile(ten, 0.95), 10)
    assert.equal(quantile(ten, 0.9), 9)
    assert.equal(quantile(ten, 0.1), 1)
    assert.equal(quantile(ten, 1), 10)
    assert.equal(quantile(ten, 0), 1)
  })

  it('handles 100 values as the textbook nearest rank', () => {
    const hundred = Array.from({ length: 100 }, (_, i) => (i + 1) * 10)
    assert.equal(quantile(hundred, 0.5), 500)
    assert.equal(quantile(hundred, 0.95), 950)
    assert.equal(quantile(hundred, 0.99), 990)
  })

  it('is null for no values and the value itself for one', () => {
    assert.equal(quantile([], 0.5), null)
    assert.equal(quantile([42], 0.01), 42)
    assert.equal(quantile([42], 0.99), 42)
  })
})

describe('summarizeDelivery', () => {
  const published: Published[] = [
    { drone_id: 'drone-0001', seq: 0 },
    { drone_id: 'drone-0001', seq: 1 },
    { drone_id: 'drone-0001', seq: 2 },
    { drone_id: 'drone-0002', seq: 0 },
    { drone_id: 'drone-0002', seq: 1 },
  ]

  it('counts delivered, lost and duplicates and takes latency from the first delivery', () => {
    const scored: Scored[] = [
      { drone_id: 'drone-0001', seq: 0, latency_ms: 12.345 },
      { drone_id: 'drone-0002', seq: 0, latency_ms: 8 },
      { drone_id: 'drone-0001', seq: 2, latency_ms: 30 },
      // A redelivery: counted as a duplicate, its latency ignored.
      { drone_id: 'drone-0001', seq: 0, latency_ms: 999 },
      // Scored but never published in this run: ignored entirely.
      { drone_id: 'drone-0003', seq: 0, latency_ms: 5000 },
      { drone_id: 'drone-0001', seq: 7, latency_ms: 4000 },
      { drone_id: 'drone-0003', seq: 0, latency_ms: 5000 },
    ]
    assert.deepEqual(summarizeDelivery(published, scored), {
      published: 5,
      delivered: 3,
      lost: 2,
      duplicates: 1,
      p50_ms: 12.35,
      p95_ms: 30,
      p99_ms: 30,
      max_ms: 30,
    })
  })

  it('does not confuse drone ids that share a prefix with seq digits', () => {
    const summary = summarizeDelivery(
      [
        { drone_id: 'd1', seq: 12 },
        { drone_id: 'd11', seq: 2 },
      ],
      [{ drone_id: 'd11', seq: 2, latency_ms: 1 }],
    )
    assert.equal(summary.delivered, 1)
    assert.equal(summary.lost, 1)
  })

  it('reports nulls when nothing arrived', () => {
    assert.deepEqual(summarizeDelivery(published, []), {
      published: 5,
      delivered: 0,
      lost: 5,
      duplicates: 0,
      p50_ms: null,
      p95_ms: null,
      p99_ms: null,
      max_ms: null,
    })
  })
})

describe('scoresUnlikeOffline', () => {
  const offline = [
    { drone_id: 'drone-0001', seq: 0, score: 0.61 },
    { drone_id: 'drone-0001', seq: 1, score: 0.62 },
    { drone_id: 'drone-0002', seq: 0, score: 0.63 },
  ]

  it('is 0 when every live score is the offline one, scored twice or not', () => {
    assert.equal(scoresUnlikeOffline(offline, [...offline, offline[1]!]), 0)
  })

  it('counts live scores that differ, and records offline scoring left out', () => {
    const live = [
      { drone_id: 'drone-0001', seq: 0, score: 0.61 },
      { drone_id: 'drone-0001', seq: 1, score: 0.7 },
      { drone_id: 'drone-0002', seq: 0, score: 0.63 },
      { drone_id: 'drone-0002', seq: 1, score: 0.63 },
    ]
    assert.equal(scoresUnlikeOffline(offline, live), 2)
  })
})
