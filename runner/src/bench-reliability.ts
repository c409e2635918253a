/**
 * Reliability benchmark: for each scenario, a fleet flies through the real stack while one fault
 * is injected; it reports what was lost, processed twice, or turned into a duplicate anomaly, and
 * how many records the detector scored otherwise than offline scoring of the published flight.
 *
 *   npm run bench:reliability -- --scenario all --drones 50 --rate 10 --duration 120 --json out.json
 */
import fs from 'node:fs'
import {
  ConfigError,
  exitOnConfigError,
  parseOrExit,
  type CommandSpec,
  type OptionSpecs,
} from '@drone-pipeline/shared/cli.ts'
import { stackConfigFrom, STACK_OPTIONS } from './config.ts'
import { machineDescription } from './machine.ts'
import { runScenario, SCENARIOS, type Scenario, type ScenarioResult } from './reliability.ts'

const COMMAND = {
  usage: 'npm run bench:reliability --',
  summary:
    'Runs the fleet through the real stack while injecting one fault per scenario, and counts by\n' +
    '(drone_id, seq) what the detector processed. Scenarios: ' +
    SCENARIOS.join(', ') +
    '.\n' +
    'JSON keys per scenario: scenario, fault, published, delivered, lost, duplicates_processed,\n' +
    'anomaly_events, duplicate_anomalies, scores_unlike_offline (live scores that differ from scoring the\n' +
    'published flight offline with the same model), delivery_pct, catch_up_s, peak_gateway_rss_mb.',
  options: {
    ...STACK_OPTIONS,
    runDir: { ...STACK_OPTIONS.runDir, default: '.run/reliability' },
    portOffset: { ...STACK_OPTIONS.portOffset, default: 300 },
    scenario: {
      type: 'string',
      description: 'a scenario, or all',
      choices: [...SCENARIOS, 'all'],
      default: 'all',
    },
    drones: { type: 'int', description: 'simulated drones', default: 50, min: 1, max: 10000 },
    rate: { type: 'number', description: 'samples per second per drone', default: 10, min: 0.1, max: 1000 },
    duration: { type: 'number', description: 'seconds the fleet publishes', default: 120, min: 6 },
    slowdown: {
      type: 'number',
      description: 'consumer-slowdown: seconds the detector is slowed',
      default: 60,
      min: 1,
    },
    downtime: {
      type: 'number',
      description: 'seconds a crashed or stopped component stays down',
      default: 10,
      min: 0,
    },
    freeze: {
      type: 'number',
      description:
        "detector-freeze, gateway-freeze: seconds the process stays stopped (SIGSTOP); the default is past the detector's 10 s Kafka session",
      default: 15,
      min: 1,
    },
    catchUpTimeout: {
      type: 'number',
      description: 'longest wait for the detector to catch up',
      default: 300,
      min: 1,
    },
    seed: { type: 'int', description: 'simulation seed', default: 42 },
    json: { type: 'string', description: 'write the figures to this JSON file' },
  },
} as const satisfies CommandSpec<OptionSpecs>

const log = (message: string) => console.error(`[reliability] ${message}`)

const { options } = parseOrExit(COMMAND, process.argv.slice(2))
const scenarios: Scenario[] = options.scenario === 'all' ? [...SCENARIOS] : [options.scenario as Scenario]
let config
try {
  config = stackConfigFrom(options, options.drones)
  if (scenarios.includes('consumer-slowdown') && options.slowdown >= options.duration) {
    throw new ConfigError('--slowdown must be shorter than --duration')
  }
} catch (err) {
  exitOnConfigError(err, COMMAND.usage)
}
const results: ScenarioResult[] = []
let failed = false
for (const scenario of scenarios) {
  try {
    const result = await runScenario(
      scenario,
      config,
      {
        drones: options.drones,
        rateHz: options.rate,
        durationS: options.duration,
        slowdownS: options.slowdown,
        downtimeS: options.downtime,
        freezeS: options.freeze,
        catchUpTimeoutS: options.catchUpTimeout,
        seed: options.seed,
      },
      log,
    )
    results.push(result)
    log(
      `${scenario}: published ${result.published}, delivered ${result.delivered}, lost ${result.lost}, ` +
        `processed twice ${result.duplicates_processed}, duplicate anomalies ${result.duplicate_anomalies}, ` +
        `scores unlike offline ${result.scores_unlike_offline}, catch-up ${result.catch_up_s ?? 'never'} s, peak gateway RSS ${result.peak_gateway_rss_mb} MB`,
    )
    if (result.lost > 0 || result.duplicate_anomalies > 0) failed = true
  } catch (err) {
    log(`${scenario} failed to run: ${(err as Error).stack ?? String(err)}`)
    failed = true
  }
}
const report = {
  machine: machineDescription(),
  scenarios: results,
}
console.log(JSON.stringify(report, null, 2))
if (options.json) fs.writeFileSync(options.json, JSON.stringify(report, null, 2) + '\n')
process.exit(failed ? 1 : 0)
