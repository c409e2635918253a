/**
 * Every reliability scenario in a shortened form (a small fleet for 18 s, the fault a third of the
 * way in), on the real brokers: nothing may be lost and no anomaly may be reported twice, and
 * where the detector alone is disturbed, it must judge every record as if nothing had happened.
 * `npm run bench:reliability` runs the same scenarios at full size.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs'
import { after, before, test } from 'node:test'
import type { StackConfig } from '../../runner/src/config.ts'
import { runScenario, SCENARIOS } from '../../runner/src/reliability.ts'
import { log, testStackConfig } from './helpers.ts'

let config: StackConfig

/**
 * Scenarios where the detector sees each drone's records in the order flown, so its scores must be
 * exactly those of scoring the published flight offline: a restarted detector rebuilds the drones'
 * history (without it, two thirds of a crash run's records scored otherwise). Where records go
 * through MQTT again (a gateway or Mosquitto restarted), one may arrive late and be judged without
 * its neighbours; there the figure is only reported.
 */
const JUDGED_AS_IF_NOTHING_HAPPENED = new Set(['consumer-slowdown', 'detector-crash', 'detector-freeze'])

before(async () => {
  config = await testStackConfig('reliability')
})
after(() => fs.rmSync(config.runDir, { recursive: true, force: true }))

for (const scenario of SCENARIOS) {
  test(`${scenario}: nothing lost, no duplicate anomaly`, async () => {
    const result = await runScenario(
      scenario,
      config,
      {
        drones: 5,
        rateHz: 10,
        durationS: 18,
        slowdownS: 6,
        downtimeS: 3,
        freezeS: 12,
        catchUpTimeoutS: 90,
        seed: 7,
      },
      log,
    )
    log(JSON.stringify(result))
    assert.ok(result.published >= 5 * 10 * 17, `the fleet published (${result.published})`)
    assert.equal(result.lost, 0, 'every published record was processed')
    assert.equal(result.duplicate_anomalies, 0, 'no anomaly event twice')
    assert.equal(result.delivered, result.published)
    if (JUDGED_AS_IF_NOTHING_HAPPENED.has(scenario)) {
      assert.equal(
        result.scores_unlike_offline,
        0,
        'the detector scored every record as offline scoring of the published flight does',
      )
    }
  })
}
