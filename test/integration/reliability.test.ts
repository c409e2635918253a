/**
 * Every reliability scenario in a shortened form (a small fleet for 18 s, the fault a third of the
 * way in), on the real brokers: nothing may be lost and no anomaly may be reported twice.
 * `npm run bench:reliability` runs the same scenarios at full size.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs'
import { after, before, test } from 'node:test'
import type { StackConfig } from '../../runner/src/config.ts'
import { runScenario, SCENARIOS } from '../../runner/src/reliability.ts'
import { log, testStackConfig } from './helpers.ts'

let config: StackConfig

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
  })
}
