/**
 * The load sweep in miniature on the real brokers: two small loads, a few seconds each, the floor
 * included, then the report and its PNG. `npm run bench:latency -- --sweep` runs it at full size.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { after, before, test } from 'node:test'
import type { StackConfig } from '../../runner/src/config.ts'
import { runSweep, sweepStack } from '../../runner/src/load-sweep.ts'
import { MAIN_CHART, mainChartHtml, renderPng, reportHtml } from '../../runner/src/report.ts'
import { log, testStackConfig } from './helpers.ts'

let config: StackConfig

before(async () => {
  config = { ...(await testStackConfig('sweep')), drones: 10 }
})
after(() => fs.rmSync(config.runDir, { recursive: true, force: true }))

test('a two-step sweep measures the pipeline and the floor, and reports them', async () => {
  const result = await runSweep(
    sweepStack(config),
    { loads: [50, 200], durationS: 3, maxDrones: 10, drainTimeoutS: 30, warmupS: 1, floor: true, seed: 3 },
    log,
  )
  log(JSON.stringify({ ...result, pipeline: undefined, floor: undefined }))
  for (const [name, steps] of [
    ['pipeline', result.pipeline],
    ['floor', result.floor],
  ] as const) {
    assert.deepEqual(
      steps.map((s) => s.offered_msg_s),
      [50, 200],
      `${name}: one step per load`,
    )
    for (const step of steps) {
      log(`${name} ${step.offered_msg_s}: ${JSON.stringify({ ...step, latency_histogram: undefined })}`)
      assert.equal(
        step.published,
        step.offered_msg_s * 3,
        `${name} ${step.offered_msg_s}: the fleet published`,
      )
      assert.equal(step.lost, 0, `${name} ${step.offered_msg_s}: nothing lost`)
      assert.ok(step.p95_ms !== null && step.p95_ms > 0, `${name}: a latency was measured`)
      assert.ok(step.processes.simulator!.cpu_s > 0, `${name}: the simulator's CPU was counted`)
      assert.ok(step.processes.kafka!.peak_rss_mb > 50, `${name}: Kafka's memory was sampled`)
    }
  }
  for (const name of ['gateway', 'anomaly-detector', 'mosquitto', 'prometheus'])
    assert.ok(name in result.pipeline[0]!.processes, `pipeline step measures ${name}`)
  for (const name of ['floor-mosquitto_sub', 'floor-kcat-producer', 'floor-kcat-consumer'])
    assert.ok(name in result.floor[0]!.processes, `floor step measures ${name}`)
  assert.ok(result.pipeline[0]!.peak_backlog, 'the pipeline reports its backlog')
  assert.equal(result.floor_comparison.p95_by_load.length, 2)

  const html = path.join(config.runDir, 'chart.html')
  const png = path.join(config.runDir, 'chart.png')
  fs.writeFileSync(html, mainChartHtml(result))
  await renderPng(html, png, MAIN_CHART, log)
  assert.deepEqual([...fs.readFileSync(png).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
  assert.match(reportHtml(result, { command: 'test' }), /Floor: mosquitto_sub/)
})
