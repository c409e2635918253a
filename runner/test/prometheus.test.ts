import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { describe, it } from 'node:test'
import { parse } from 'yaml'
import { defaultOptions } from '@drone-pipeline/shared/cli.ts'
import { stackConfigFrom, STACK_OPTIONS } from '../src/config.ts'
import {
  prometheusSettings,
  PROMETHEUS_YML,
  renderPrometheusConfig,
  renderWebConfig,
  RULES_DIR,
  WEB_YML,
  type PrometheusSettings,
} from '../src/prometheus.ts'

const TEMPLATE = fs.readFileSync(PROMETHEUS_YML, 'utf8')
const TLS = { ca_file: '/run/certs/ca.crt', cert_file: '/run/certs/p.crt', key_file: '/run/certs/p.key' }

function settings(overrides: Partial<PrometheusSettings> = {}): PrometheusSettings {
  return {
    targets: {
      gateway: '127.0.0.1:18080',
      'anomaly-detector': '127.0.0.1:18081',
      simulator: '127.0.0.1:19464',
    },
    tls: TLS,
    ruleFiles: ['/repo/deploy/prometheus/rules/*.yml'],
    ...overrides,
  }
}

interface Rendered {
  global: Record<string, string>
  rule_files: string[]
  scrape_configs: Array<{
    job_name: string
    scheme: string
    tls_config: Record<string, unknown>
    static_configs: Array<{ targets: string[] }>
  }>
}

describe('renderPrometheusConfig', () => {
  const rendered = parse(renderPrometheusConfig(TEMPLATE, settings())) as Rendered

  it("points each job at this run's loopback port", () => {
    assert.deepEqual(Object.fromEntries(rendered.scrape_configs.map((j) => [j.job_name, j.static_configs])), {
      gateway: [{ targets: ['127.0.0.1:18080'] }],
      'anomaly-detector': [{ targets: ['127.0.0.1:18081'] }],
      simulator: [{ targets: ['127.0.0.1:19464'] }],
    })
  })

  it("scrapes over HTTPS with this run's certificates, verifying the targets", () => {
    for (const job of rendered.scrape_configs) {
      assert.equal(job.scheme, 'https', job.job_name)
      assert.deepEqual(job.tls_config, TLS, job.job_name)
    }
  })

  it("loads this run's rule files and keeps the shared intervals", () => {
    assert.deepEqual(rendered.rule_files, ['/repo/deploy/prometheus/rules/*.yml'])
    assert.deepEqual(rendered.global, (parse(TEMPLATE) as Rendered).global)
  })

  it('refuses a job without a target, and a target without a job', () => {
    const { simulator: _, ...withoutSimulator } = settings().targets
    assert.throws(
      () => renderPrometheusConfig(TEMPLATE, settings({ targets: withoutSimulator })),
      /job simulator has no target/,
    )
    assert.throws(
      () => renderPrometheusConfig(TEMPLATE, settings({ targets: { ...settings().targets, kafka: 'x:1' } })),
      /prometheus.yml has no kafka job/,
    )
  })

  it('refuses a template without rule_files or a job without tls_config', () => {
    assert.throws(
      () => renderPrometheusConfig('scrape_configs: []\n', settings({ targets: {} })),
      /no rule_files/,
    )
    const plain = 'rule_files: []\nscrape_configs:\n  - job_name: gateway\n'
    assert.throws(
      () => renderPrometheusConfig(plain, settings({ targets: { gateway: 'x:1' } })),
      /job gateway has no tls_config/,
    )
  })
})

describe('renderWebConfig', () => {
  it('serves TLS 1.2+ with the given certificate and key', () => {
    const web = parse(renderWebConfig(fs.readFileSync(WEB_YML, 'utf8'), TLS)) as {
      tls_server_config: Record<string, string>
    }
    assert.deepEqual(web.tls_server_config, {
      cert_file: TLS.cert_file,
      key_file: TLS.key_file,
      min_version: 'TLS12',
    })
  })

  it('refuses a template that does not serve TLS', () => {
    assert.throws(() => renderWebConfig('{}\n', TLS), /no tls_server_config/)
  })
})

describe('prometheusSettings', () => {
  it("uses the stack's ports, Prometheus's identity and the deploy/ rules", () => {
    const config = stackConfigFrom({ ...defaultOptions(STACK_OPTIONS), portOffset: 100 })
    const { targets, tls, ruleFiles } = prometheusSettings(config)
    assert.deepEqual(targets, {
      gateway: '127.0.0.1:8180',
      'anomaly-detector': '127.0.0.1:8181',
      simulator: '127.0.0.1:9564',
    })
    assert.deepEqual(tls, {
      ca_file: path.join(config.certsDir, 'ca.crt'),
      cert_file: path.join(config.certsDir, 'prometheus.crt'),
      key_file: path.join(config.certsDir, 'prometheus.key'),
    })
    assert.deepEqual(ruleFiles, [path.join(RULES_DIR, '*.yml')])
  })
})
