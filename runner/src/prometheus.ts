/**
 * Prometheus (Debian's package) as a child process, with deploy/prometheus/prometheus.yml, its
 * rules and web.yml, and a client of its HTTP API for the status line and the tests.
 */
import fs from 'node:fs'
import path from 'node:path'
import { parse, stringify } from 'yaml'
import { DEPLOY_DIR } from '@drone-pipeline/shared/paths.ts'
import { METRICS_IDENTITY } from '@drone-pipeline/shared/service-http.ts'
import { httpsRequest, tlsFilesFor } from '@drone-pipeline/shared/tls.ts'
import type { StackConfig } from './config.ts'
import { PROMETHEUS } from './install.ts'
import { startProcess, stopProcess, waitUntil, type ManagedProcess } from './procs.ts'

export const PROMETHEUS_DIR = path.join(DEPLOY_DIR, 'prometheus')
export const PROMETHEUS_YML = path.join(PROMETHEUS_DIR, 'prometheus.yml')
export const WEB_YML = path.join(PROMETHEUS_DIR, 'web.yml')
export const RULES_DIR = path.join(PROMETHEUS_DIR, 'rules')

/** The TLS files of the scrapes (client) and of the web server, by their names in the config files. */
export interface PrometheusTlsFiles {
  ca_file: string
  cert_file: string
  key_file: string
}

/** What a native run sets in the shared config; everything else stays as the file has it. */
export interface PrometheusSettings {
  /** host:port of each scrape job, by job name. */
  targets: Record<string, string>
  tls: PrometheusTlsFiles
  ruleFiles: string[]
}

interface ScrapeConfig {
  job_name: string
  tls_config?: Record<string, unknown>
  static_configs?: Array<{ targets: string[] }>
}

/**
 * The shared prometheus.yml with this run's targets, TLS files and rule files. Every job of the
 * template needs a target and every target a job, so a job added on one side only is an error
 * rather than a service silently left unscraped.
 */
export function renderPrometheusConfig(template: string, settings: PrometheusSettings): string {
  const config = parse(template) as { rule_files?: string[]; scrape_configs?: ScrapeConfig[] }
  if (!config.rule_files) throw new Error('prometheus.yml has no rule_files to set')
  const jobs = config.scrape_configs ?? []
  for (const name of Object.keys(settings.targets)) {
    if (!jobs.some((job) => job.job_name === name)) throw new Error(`prometheus.yml has no ${name} job`)
  }
  const scrapeConfigs = jobs.map((job) => {
    const target = settings.targets[job.job_name]
    if (!target) throw new Error(`prometheus.yml job ${job.job_name} has no target in a native run`)
    if (!job.tls_config) throw new Error(`prometheus.yml job ${job.job_name} has no tls_config to set`)
    return {
      ...job,
      tls_config: { ...job.tls_config, ...settings.tls },
      static_configs: [{ targets: [target] }],
    }
  })
  return stringify({ ...config, rule_files: settings.ruleFiles, scrape_configs: scrapeConfigs })
}

/** The shared web.yml with this run's server certificate and key (the same identity's as the scrapes). */
export function renderWebConfig(template: string, tls: PrometheusTlsFiles): string {
  const config = parse(template) as { tls_server_config?: Record<string, unknown> }
  if (!config.tls_server_config) throw new Error('web.yml has no tls_server_config to set')
  const { cert_file, key_file } = tls
  return stringify({ ...config, tls_server_config: { ...config.tls_server_config, cert_file, key_file } })
}

export function prometheusSettings(config: StackConfig): PrometheusSettings {
  const files = tlsFilesFor(config.certsDir, METRICS_IDENTITY)
  const at = (port: number) => `${config.host}:${port}`
  return {
    targets: {
      gateway: at(config.ports.gateway),
      'anomaly-detector': at(config.ports.detector),
      simulator: at(config.ports.simulatorMetrics),
    },
    tls: { ca_file: files.ca, cert_file: files.cert, key_file: files.key },
    ruleFiles: [path.join(RULES_DIR, '*.yml')],
  }
}

/** Where a run keeps its rendered config files. */
function prometheusFiles(config: StackConfig) {
  const dir = path.join(config.runDir, 'prometheus')
  return {
    dir,
    config: path.join(dir, 'prometheus.yml'),
    web: path.join(dir, 'web.yml'),
    data: path.join(dir, 'data'),
  }
}

/** Writes this run's prometheus.yml and web.yml; returns their paths. */
export function writePrometheusConfig(config: StackConfig) {
  const files = prometheusFiles(config)
  const settings = prometheusSettings(config)
  fs.mkdirSync(files.data, { recursive: true })
  fs.writeFileSync(files.config, renderPrometheusConfig(fs.readFileSync(PROMETHEUS_YML, 'utf8'), settings))
  fs.writeFileSync(files.web, renderWebConfig(fs.readFileSync(WEB_YML, 'utf8'), settings.tls))
  return files
}

/** Prometheus's HTTP API, over TLS, trusting only the pipeline's CA. */
export interface PrometheusApi {
  url: string
  ca: Buffer
}

export function prometheusApi(config: StackConfig): PrometheusApi {
  return {
    url: `https://${config.host}:${config.ports.prometheus}`,
    ca: fs.readFileSync(tlsFilesFor(config.certsDir, METRICS_IDENTITY).ca),
  }
}

export class PrometheusQueryError extends Error {
  override name = 'PrometheusQueryError'
}

/** One series of an instant query's result: its labels and its value (NaN and ±Inf included). */
export interface InstantSample {
  labels: Record<string, string>
  value: number
}

/**
 * An instant query (`/api/v1/query`) whose result is an instant vector, as every dashboard and
 * rule expression's is; a query Prometheus refuses is an error naming the query.
 */
export async function queryPrometheus(api: PrometheusApi, expr: string): Promise<InstantSample[]> {
  const res = await httpsRequest(`${api.url}/api/v1/query?query=${encodeURIComponent(expr)}`, { ca: api.ca })
  const body = JSON.parse(res.body) as {
    status: string
    error?: string
    data?: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> }
  }
  if (body.status !== 'success' || !body.data) {
    throw new PrometheusQueryError(`Prometheus refused ${expr}: ${body.error ?? res.body}`)
  }
  if (body.data.resultType !== 'vector') {
    throw new PrometheusQueryError(`${expr} is a ${body.data.resultType}, not an instant vector`)
  }
  return body.data.result.map((r) => ({ labels: r.metric, value: sampleValue(r.value[1]) }))
}

/** A sample value as the API writes it: Go's float formatting, with +Inf and -Inf. */
function sampleValue(text: string): number {
  if (text === '+Inf') return Infinity
  if (text === '-Inf') return -Infinity
  return Number(text)
}

export async function startPrometheus(
  config: StackConfig,
  options: { background?: boolean } = {},
): Promise<ManagedProcess> {
  const files = writePrometheusConfig(config)
  const proc = startProcess({
    name: 'prometheus',
    command: PROMETHEUS.binary,
    args: [
      `--config.file=${files.config}`,
      `--web.config.file=${files.web}`,
      `--web.listen-address=${config.host}:${config.ports.prometheus}`,
      `--storage.tsdb.path=${files.data}`,
    ],
    runDir: config.runDir,
    background: options.background,
  })
  const api = prometheusApi(config)
  try {
    await waitUntil(
      proc,
      'ready',
      async () => (await httpsRequest(`${api.url}/-/ready`, { ca: api.ca })).status === 200,
      30_000,
    )
  } catch (err) {
    await stopProcess(config.runDir, proc)
    throw err
  }
  return proc
}
