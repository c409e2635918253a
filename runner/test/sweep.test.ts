import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ConfigError } from '@drone-pipeline/shared/cli.ts'
import {
  compareToFloor,
  fleetForLoad,
  largestFleet,
  LatencyCollector,
  latencyHistogram,
  maxSustained,
  parseFloorLine,
  parseLoads,
  seriesValue,
  summarizeStep,
  type StepResult,
} from '../src/sweep.ts'

describe('parseLoads', () => {
  it('sorts and removes repeats', () => {
    assert.deepEqual(parseLoads('5000, 100,1000,100'), [100, 1000, 5000])
  })

  it('names the flag for anything that is not a whole positive load', () => {
    for (const bad of ['', 'abc', '100,-5', '1.5', '0']) {
      assert.throws(
        () => parseLoads(bad),
        (err: Error) => err instanceof ConfigError && /--loads/.test(err.message),
      )
    }
  })
})

describe('fleetForLoad', () => {
  it('flies drones at 10 Hz while the fleet fits', () => {
    assert.deepEqual(fleetForLoad(100, 100), { drones: 10, rate_hz: 10 })
    assert.deepEqual(fleetForLoad(1000, 100), { drones: 100, rate_hz: 10 })
  })

  it('past the most drones, the same drones sample faster', () => {
    assert.deepEqual(fleetForLoad(20000, 100), { drones: 100, rate_hz: 200 })
    assert.deepEqual(fleetForLoad(5000, 200), { drones: 200, rate_hz: 25 })
  })

  it('always offers the load exactly, with at least one drone', () => {
    for (const load of [1, 7, 155, 999, 12345]) {
      const fleet = fleetForLoad(load, 100)
      assert.ok(fleet.drones >= 1)
      assert.ok(Math.abs(fleet.drones * fleet.rate_hz - load) < 1e-9, `load ${load}`)
    }
  })
})

describe('largestFleet', () => {
  it('is the biggest step fleet, capped by the most drones', () => {
    assert.equal(largestFleet([100, 1000], 2000), 100)
    assert.equal(largestFleet([100, 1000, 20000], 2000), 2000)
    assert.equal(largestFleet([5], 2000), 1)
  })
})

describe('LatencyCollector', () => {
  it('counts each (drone_id, seq) once and the rest as duplicates', () => {
    const c = new LatencyCollector()
    c.add('drone-0001', 0, 5, 1000)
    c.add('drone-0001', 1, 7, 1100)
    c.add('drone-0001', 0, 50, 1200)
    c.add('drone-0002', 0, 3, 1300)
    assert.equal(c.delivered, 3)
    assert.equal(c.duplicates, 1)
    assert.deepEqual(c.sorted(), [3, 5, 7])
    assert.equal(c.firstPublishMs, 995)
    assert.equal(c.lastArrivalMs, 1300)
  })
})

describe('latencyHistogram', () => {
  it('puts each latency in the first bucket whose upper edge holds it, and the rest above the last', () => {
    assert.deepEqual(latencyHistogram([0.5, 1, 1.5, 10, 11, 1e6], [1, 10, 100]), {
      edges_ms: [1, 10, 100],
      counts: [2, 2, 1, 1],
    })
  })
})

function step(offered: number, sustained: boolean, p95: number | null = 10): StepResult {
  return { offered_msg_s: offered, sustained, p95_ms: p95 } as StepResult
}

describe('summarizeStep', () => {
  const fleet = { drones: 10, rate_hz: 10 }
  const base = {
    offered: 100,
    fleet,
    durationS: 10,
    simulatorS: 10.5,
    peakBacklog: null,
    processes: {},
    wallS: 12.34,
  }

  it('a step with every record on time is sustained, and achieved throughput spans publish to arrival', () => {
    const c = new LatencyCollector()
    for (let i = 0; i < 1000; i++) c.add('d', i, 10, 1_000_000 + i * 10 + 10)
    const result = summarizeStep({ ...base, published: 1000, collector: c })
    assert.equal(result.lost, 0)
    assert.equal(result.drained, true)
    assert.equal(result.sustained, true)
    assert.equal(result.p95_ms, 10)
    assert.equal(result.wall_s, 12.3)
    assert.equal(result.simulator_s, 10.5)
    // 1000 records between the first publish (1,000,000 ms) and the last arrival 10 s later.
    assert.equal(result.achieved_msg_s, 100)
  })

  it('a loss or a p95 at the limit is not sustained', () => {
    const c = new LatencyCollector()
    for (let i = 0; i < 100; i++) c.add('d', i, 1, i)
    const lossy = summarizeStep({ ...base, published: 101, collector: c })
    assert.equal(lossy.lost, 1)
    assert.equal(lossy.drained, false)
    assert.equal(lossy.sustained, false)
    const slow = new LatencyCollector()
    for (let i = 0; i < 100; i++) slow.add('d', i, 250, i)
    assert.equal(summarizeStep({ ...base, published: 100, collector: slow }).sustained, false)
  })

  it('nothing published is not sustained and achieved nothing', () => {
    const result = summarizeStep({ ...base, published: 0, collector: new LatencyCollector() })
    assert.equal(result.sustained, false)
    assert.equal(result.achieved_msg_s, 0)
    assert.equal(result.p95_ms, null)
  })
})

describe('maxSustained', () => {
  it('is the highest load of the unbroken run of sustained steps from the lowest', () => {
    assert.equal(maxSustained([step(100, true), step(1000, true), step(5000, false)]), 1000)
    assert.equal(maxSustained([step(5000, true), step(100, true), step(1000, false)]), 100)
  })

  it('ignores a pass above a failure, and is null when the lowest fails', () => {
    assert.equal(maxSustained([step(100, true), step(1000, false), step(5000, true)]), 100)
    assert.equal(maxSustained([step(100, false)]), null)
    assert.equal(maxSustained([]), null)
  })
})

describe('compareToFloor', () => {
  it('gives the p95 ratio per load and the ratio of the highest sustained loads', () => {
    const pipeline = [step(100, true, 30), step(1000, true, 45), step(5000, false, 900)]
    const floor = [step(100, true, 10), step(1000, true, 15), step(5000, true, 20)]
    assert.deepEqual(compareToFloor(pipeline, floor), {
      p95_by_load: [
        { offered_msg_s: 100, pipeline_p95_ms: 30, floor_p95_ms: 10, p95_ratio: 3 },
        { offered_msg_s: 1000, pipeline_p95_ms: 45, floor_p95_ms: 15, p95_ratio: 3 },
        { offered_msg_s: 5000, pipeline_p95_ms: 900, floor_p95_ms: 20, p95_ratio: 45 },
      ],
      max_sustained_ratio: 0.2,
    })
  })

  it('has no ratio where the floor was not measured', () => {
    const result = compareToFloor([step(100, true, 30)], [])
    assert.equal(result.p95_by_load[0]!.p95_ratio, null)
    assert.equal(result.max_sustained_ratio, null)
  })
})

describe('seriesValue', () => {
  const text = [
    '# HELP gateway_messages_produced_total Messages Kafka acknowledged, by topic.',
    '# TYPE gateway_messages_produced_total counter',
    'gateway_messages_produced_total{topic="telemetry-validated",service="gateway"} 12345',
    'gateway_messages_produced_total{topic="telemetry-dlq",service="gateway"} 2',
    'simulator_messages_sent_total{service="simulator"} 777',
    'simulator_messages_sent_total_extra 1',
    'plain_total 5',
  ].join('\n')

  it('reads the sample with the labels asked for, whatever others it carries', () => {
    const produced = (topic: string) => seriesValue(text, 'gateway_messages_produced_total', { topic })
    assert.equal(produced('telemetry-validated'), 12345)
    assert.equal(produced('telemetry-dlq'), 2)
    assert.equal(seriesValue(text, 'simulator_messages_sent_total'), 777)
    assert.equal(seriesValue(text, 'plain_total'), 5)
  })

  it('is undefined for a metric or a label value that is not there', () => {
    assert.equal(seriesValue(text, 'detector_messages_consumed_total'), undefined)
    assert.equal(seriesValue(text, 'gateway_messages_produced_total', { topic: 'other' }), undefined)
  })
})

describe('parseFloorLine', () => {
  it('takes the identity and publish time of a record as published', () => {
    const line = JSON.stringify({
      drone_id: 'drone-0003',
      seq: 17,
      timestamp: 1,
      publish_timestamp: 1_700_000_000_000_123,
    })
    assert.deepEqual(parseFloorLine(line), {
      drone_id: 'drone-0003',
      seq: 17,
      publish_timestamp: 1_700_000_000_000_123,
    })
  })

  it('ignores what is not a record', () => {
    assert.equal(parseFloorLine('% Reached end of topic'), undefined)
    assert.equal(parseFloorLine('{"drone_id":"x"}'), undefined)
    assert.equal(parseFloorLine(''), undefined)
  })
})
