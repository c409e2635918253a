/**
 * Prometheus's own checks of the project's Prometheus files, with the promtool of Debian's
 * package: the configuration a native run renders (compose's is checked in compose.test.ts), the
 * recording and alerting rules, and the rules' unit tests, of which every alert needs one where it
 * fires and one where it stays silent.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { parse } from 'yaml'
import { defaultOptions } from '@drone-pipeline/shared/cli.ts'
import { ensureCertificates } from '../runner/src/certs.ts'
import { stackConfigFrom, STACK_OPTIONS } from '../runner/src/config.ts'
import { PROMTOOL } from '../runner/src/install.ts'
import { RULES_DIR, writePrometheusConfig } from '../runner/src/prometheus.ts'
import { readRules, RULE_TESTS_DIR, ymlFiles } from './observability-files.ts'

function promtool(...args: string[]): string {
  if (!fs.existsSync(PROMTOOL.binary)) {
    assert.fail(`${PROMTOOL.binary} is missing: apt-get install ${PROMTOOL.pkg} (\`npm test\` installs it)`)
  }
  const result = spawnSync(PROMTOOL.binary, args, { encoding: 'utf8' })
  assert.equal(result.status, 0, `promtool ${args.join(' ')}:\n${result.stdout}${result.stderr}`)
  return result.stdout
}

let work: string
before(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'prometheus-files-'))
})
after(() => fs.rmSync(work, { recursive: true, force: true }))

test("promtool accepts a native run's prometheus.yml and web.yml, rules included", () => {
  const certsDir = path.join(work, 'certs')
  ensureCertificates(certsDir, [])
  const config = stackConfigFrom({
    ...defaultOptions(STACK_OPTIONS),
    runDir: path.join(work, 'run'),
    certsDir,
  })
  const files = writePrometheusConfig(config)
  const checked = promtool('check', 'config', files.config)
  for (const file of ymlFiles(RULES_DIR)) assert.ok(checked.includes(file), `the config loads ${file}`)
  promtool('check', 'web-config', files.web)
})

test('promtool check rules: every rule file is valid', () => {
  promtool('check', 'rules', ...ymlFiles(RULES_DIR))
})

test('promtool test rules: every rule unit test passes', () => {
  promtool('test', 'rules', ...ymlFiles(RULE_TESTS_DIR))
})

interface RuleTests {
  tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] }> }>
}

test('every alert has a unit test where it fires and one where it stays silent', () => {
  const cases = ymlFiles(RULE_TESTS_DIR).flatMap((file) =>
    (parse(fs.readFileSync(file, 'utf8')) as RuleTests).tests.flatMap((t) => t.alert_rule_test ?? []),
  )
  const alerts = readRules().flatMap((rule) => (rule.alert ? [rule.alert] : []))
  assert.ok(alerts.length >= 6, 'the rules define the pipeline alerts')
  for (const alert of alerts) {
    const mine = cases.filter((c) => c.alertname === alert)
    assert.ok(
      mine.some((c) => (c.exp_alerts ?? []).length > 0),
      `no test sees ${alert} fire`,
    )
    assert.ok(
      mine.some((c) => (c.exp_alerts ?? []).length === 0),
      `no test sees ${alert} stay silent`,
    )
  }
  const tested = new Set(cases.map((c) => c.alertname))
  assert.deepEqual(
    [...tested].filter((name) => !alerts.includes(name)),
    [],
    'tests of alerts that do not exist',
  )
})

test('every alert says how bad it is and what it means', () => {
  for (const rule of readRules().filter((r) => r.alert)) {
    assert.match(rule.labels?.severity ?? '', /^(warning|critical)$/, `${rule.alert} severity`)
    assert.ok(rule.annotations?.summary, `${rule.alert} has a summary`)
    assert.ok(rule.annotations?.description, `${rule.alert} has a description`)
  }
})
