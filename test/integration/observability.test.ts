/**
 * The dashboard and the rules, proven against a real Prometheus. The pipeline runs with a small
 * fleet, a malformed message and an anomalous flight; the runner's Prometheus scrapes every service
 * over mutual TLS and evaluates the rules. Then every PromQL expression of the dashboard and of the
 * rule files is evaluated through Prometheus's HTTP API, and each must return data: a panel that
 * would show nothing, or an alert watching a series that does not exist, fails.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs'
import { after, before, test } from 'node:test'
import mqtt from 'mqtt'
import type { DroneTelemetry } from '@drone-pipeline/shared/generated/drone-telemetry.ts'
import { sleep } from '@drone-pipeline/shared/retry.ts'
import { httpsRequest } from '@drone-pipeline/shared/tls.ts'
import { telemetryTopic } from '@drone-pipeline/shared/topics.ts'
import { WARMUP } from '../../anomaly_detector/src/features.ts'
import { mqttUrl, type StackConfig } from '../../runner/src/config.ts'
import { prometheusApi, queryPrometheus, type PrometheusApi } from '../../runner/src/prometheus.ts'
import { Stack, startPipeline, startSimulator } from '../../runner/src/stack.ts'
import { readLiveFigures } from '../../runner/src/status.ts'
import { dashboardQueries, readRules } from '../observability-files.ts'
import { identity, log, recordNow, testStackConfig, waitFor } from './helpers.ts'

const FLEET = { drones: 3, rateHz: 10, seed: 11, durationS: 0 }
/** Not in the fleet: its records come over HTTPS, one of them far off its flight. */
const ODD_DRONE = 'drone-0009'
const SCRAPED_JOBS = ['anomaly-detector', 'gateway', 'simulator']

let config: StackConfig
let stack: Stack
let prometheus: PrometheusApi

before(async () => {
  config = await testStackConfig('observability')
  stack = new Stack(config)
  await startPipeline(stack, { log })
  prometheus = prometheusApi(config)
  startSimulator(stack, FLEET, { log })
  await publishMalformed()
  await postOddFlight()
})

after(async () => {
  await stack?.stop(log)
  if (config) fs.rmSync(config.runDir, { recursive: true, force: true })
})

/** A payload that is not JSON, as drone-0001 on its own topic: a rejection and a DLQ write. */
async function publishMalformed(): Promise<void> {
  const tls = identity(config, 'drone-0001', true)
  const client = await mqtt.connectAsync(mqttUrl(config), {
    protocolVersion: 5,
    clientId: 'observability-malformed',
    ca: tls.ca,
    cert: tls.cert,
    key: tls.key,
  })
  await client.publishAsync(telemetryTopic('drone-0001'), '{"drone_id": "drone-0001", ', { qos: 1 })
  await client.endAsync()
}

const SAMPLE_MS = 100

/** Record `seq` of a steady hover, with a little sensor noise, sampled every 100 ms. */
function hover(seq: number, startMs: number): DroneTelemetry {
  const noise = (k: number) => Math.sin(seq * 1.7 + k) * 0.05
  return recordNow(ODD_DRONE, {
    seq,
    timestamp: startMs + seq * SAMPLE_MS,
    latitude: 47.397 + seq * 1e-6,
    altitude: 30 + noise(1),
    velocity: 5 + noise(2),
    acceleration_x: 0.1 + noise(3),
    acceleration_y: -0.2 + noise(4),
    acceleration_z: -9.81 + noise(5),
    gyro_x: 0.01 + noise(6),
    gyro_y: -0.02 + noise(7),
    gyro_z: 0.03 + noise(8),
  })
}

async function post(records: DroneTelemetry[]): Promise<void> {
  const tls = identity(config, ODD_DRONE, true)
  const res = await httpsRequest(`https://${config.host}:${config.ports.gateway}/v1/telemetry`, {
    method: 'POST',
    ca: tls.ca,
    client: tls,
    json: records,
  })
  assert.equal(res.status, 200, res.body)
}

async function hasData(expr: string): Promise<boolean> {
  return (await queryPrometheus(prometheus, expr)).some((s) => Number.isFinite(s.value))
}

/**
 * Hover past the detector's warm-up (a drone's first WARMUP records go unchecked), then, once
 * Prometheus has seen the drone, a jolt on every sensor at once and a calm hover again: the anomaly
 * lands between two scrapes, so its rate shows.
 */
async function postOddFlight(): Promise<void> {
  const startMs = Date.now() - 60_000
  const hovered = WARMUP + 30
  await post(Array.from({ length: hovered }, (_, seq) => hover(seq, startMs)))
  await waitFor(
    `Prometheus to see ${ODD_DRONE}`,
    async () => (await hasData(`detector_drone_anomalies_total{drone_id="${ODD_DRONE}"}`)) || undefined,
  )
  const calm = hover(hovered, startMs)
  const jolt = {
    ...hover(hovered + 1, startMs),
    latitude: calm.latitude + 0.001,
    altitude: calm.altitude + 50,
    velocity: calm.velocity + 15,
    acceleration_z: calm.acceleration_z + 60,
    gyro_x: calm.gyro_x + 5,
  }
  await post([calm, jolt, ...Array.from({ length: 5 }, (_, i) => hover(hovered + 2 + i, startMs))])
}

/** Every series of the result: labels and value, for a failure message. */
async function describe(expr: string): Promise<string> {
  const samples = await queryPrometheus(prometheus, expr)
  return samples.length ? samples.map((s) => `${JSON.stringify(s.labels)} ${s.value}`).join('; ') : 'no data'
}

/**
 * The expressions (keyed by what they are for) that still return no data once the scrapes and
 * rules have had time, each with what Prometheus answered.
 */
async function withoutData(exprs: Map<string, string>, timeoutMs = 30_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs
  let pending = [...exprs]
  for (;;) {
    const checked = await Promise.all(pending.map(async (entry) => [entry, await hasData(entry[1])] as const))
    pending = checked.filter(([, ok]) => !ok).map(([entry]) => entry)
    if (pending.length === 0 || Date.now() > deadline) break
    await sleep(2_000)
  }
  return Promise.all(pending.map(async ([what, expr]) => `${what}: ${expr} -> ${await describe(expr)}`))
}

/**
 * An alert's expression with each comparison turned into its `bool` form: the series it watches,
 * 0 or 1 whatever their values. Data then means the alert can fire: it watches series that exist.
 * Label matchers (inside braces) and strings are left alone.
 */
function comparisonsAsBool(expr: string): string {
  let out = ''
  let braces = 0
  let quote: string | undefined
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i]!
    if (quote) {
      if (c === '\\') out += c + expr[++i]
      else {
        out += c
        if (c === quote) quote = undefined
      }
      continue
    }
    if (c === '"' || c === "'" || c === '`') quote = c
    else if (c === '{') braces++
    else if (c === '}') braces--
    const op = braces === 0 ? /^(==|!=|>=|<=|>|<)/.exec(expr.slice(i))?.[0] : undefined
    if (op && !/^\s*bool\b/.test(expr.slice(i + op.length))) {
      out += `${op} bool`
      i += op.length - 1
    } else out += c
  }
  return out
}

test('comparisonsAsBool turns comparisons into bool form, leaving matchers and strings alone', () => {
  assert.equal(
    comparisonsAsBool('sum(x{a!="b>c",d=~"e"}) > 0.5 and y >= bool 2 or z == 0'),
    'sum(x{a!="b>c",d=~"e"}) > bool 0.5 and y >= bool 2 or z == bool 0',
  )
})

test('Prometheus scrapes every service over mutual TLS, and the fleet, the malformed message and the anomaly are on it', async () => {
  const up = await waitFor('every scrape target up', async () => {
    const samples = await queryPrometheus(prometheus, 'up')
    return samples.length === SCRAPED_JOBS.length && samples.every((s) => s.value === 1) ? samples : undefined
  })
  assert.deepEqual(up.map((s) => s.labels.job).sort(), SCRAPED_JOBS)
  const positive = async (expr: string) => (await queryPrometheus(prometheus, expr)).some((s) => s.value > 0)
  for (const expr of [
    'stage:pipeline_messages:rate30s{stage="published"}',
    'stage:pipeline_messages:rate30s{stage="scored"}',
    'gateway_messages_rejected_total{reason="invalid_json"}',
    'gateway_messages_produced_total{topic="telemetry-dlq"}',
    'sum(rate(detector_anomalies_total[1m]))',
  ]) {
    await waitFor(`${expr} > 0`, async () => (await positive(expr)) || undefined, 90_000)
  }
})

test('every query of the dashboard returns data', async () => {
  const queries = dashboardQueries()
  assert.ok(queries.length >= 20, 'the dashboard has its panels')
  const panels = new Map(queries.map(({ panel, expr }, i) => [`${i + 1}. ${panel}`, expr]))
  assert.deepEqual(await withoutData(panels), [], 'panels that would show nothing')
})

test('every recording rule returns data, and Prometheus has recorded its series', async () => {
  const recording = readRules().filter((rule) => rule.record)
  assert.ok(recording.length > 0)
  const exprs = new Map<string, string>()
  for (const rule of recording) {
    const matchers = Object.entries(rule.labels ?? {}).map(([k, v]) => `${k}="${v}"`)
    const recorded = `${rule.record}{${matchers.join(',')}}`
    exprs.set(`${recorded} evaluated`, rule.expr)
    exprs.set(`${recorded} recorded`, recorded)
  }
  assert.deepEqual(await withoutData(exprs), [])
})

test('every alert watches series that exist, and every rule evaluates without error', async () => {
  const alerts = readRules().filter((rule) => rule.alert)
  const watched = new Map(alerts.map((rule) => [rule.alert!, comparisonsAsBool(rule.expr)]))
  assert.deepEqual(await withoutData(watched), [], 'alerts that could never fire')

  const res = await httpsRequest(`${prometheus.url}/api/v1/rules`, { ca: prometheus.ca })
  const groups = (
    JSON.parse(res.body) as {
      data: { groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }> }
    }
  ).data.groups
  const evaluated = groups.flatMap((g) => g.rules)
  assert.equal(evaluated.length, readRules().length, 'Prometheus loaded every rule')
  const unhealthy = evaluated
    .filter((r) => r.health !== 'ok')
    .map((r) => `${r.name}: ${r.health} ${r.lastError}`)
  assert.deepEqual(unhealthy, [])
})

test("npm start's status line shows every figure, from the same series", async () => {
  const figures = await readLiveFigures(prometheus)
  assert.ok(figures, 'Prometheus answers')
  assert.deepEqual(Object.keys(figures.rates).sort(), ['published', 'rejected', 'scored', 'validated'])
  for (const key of ['anomalyRatio', 'p95Ms', 'p99Ms', 'lag'] as const) {
    assert.ok(figures[key] !== undefined && Number.isFinite(figures[key]), `${key}: ${figures[key]}`)
  }
  assert.ok(figures.rates.published! > 0, 'the fleet is publishing')
  assert.deepEqual(figures.down, [])
})
