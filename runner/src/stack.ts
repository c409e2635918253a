/**
 * The whole native stack: install what is missing, start the brokers, create the topics, start
 * the services, and stop everything in reverse order.
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { REPO_ROOT } from '@drone-pipeline/shared/paths.ts'
import { httpsRequest, tlsFilesFor } from '@drone-pipeline/shared/tls.ts'
import { sleep } from '@drone-pipeline/shared/retry.ts'
import { fleetDroneIds } from '@drone-pipeline/shared/topics.ts'
import { kafkaBootstrap, mqttUrl, type StackConfig } from './config.ts'
import { ensureAptPackages, ensureKafkaJars, MOSQUITTO, OPENSSL, PROMETHEUS } from './install.ts'
import { createAcls, createTopics, startKafka } from './kafka.ts'
import { ensureCertificates } from './certs.ts'
import { startMosquitto } from './mosquitto.ts'
import { startPrometheus } from './prometheus.ts'
import { startProcess, stopProcess, waitUntil, type ManagedProcess } from './procs.ts'

export type Log = (message: string) => void

export interface StartOptions {
  log: Log
  /** Leave the processes running after this process exits (stack up). */
  background?: boolean
}

export class Stack {
  readonly processes: ManagedProcess[] = []
  constructor(readonly config: StackConfig) {}

  add(proc: ManagedProcess): ManagedProcess {
    this.processes.push(proc)
    return proc
  }

  get(name: string): ManagedProcess | undefined {
    return this.processes.find((p) => p.name === name)
  }

  /** SIGKILL, as a crash would: no shutdown handler runs. */
  async kill(name: string, log: Log = () => {}): Promise<void> {
    const proc = this.get(name)
    if (!proc) throw new Error(`no process ${name} to kill`)
    log(`killing ${name} (pid ${proc.pid}) with SIGKILL`)
    await stopProcess(this.config.runDir, proc, 0)
    this.processes.splice(this.processes.indexOf(proc), 1)
  }

  /**
   * SIGSTOP, then SIGCONT after `seconds`: the process stays alive with its sockets open but does
   * nothing, as under a starved CPU, a long garbage collection or a suspended VM.
   */
  async freeze(name: string, seconds: number, log: Log = () => {}): Promise<void> {
    const proc = this.get(name)
    if (!proc) throw new Error(`no process ${name} to freeze`)
    log(`freezing ${name} (pid ${proc.pid}) with SIGSTOP for ${seconds} s`)
    process.kill(proc.pid, 'SIGSTOP')
    try {
      await sleep(seconds * 1000)
    } finally {
      process.kill(proc.pid, 'SIGCONT')
    }
    log(`resumed ${name} (pid ${proc.pid}) with SIGCONT`)
  }

  /** Stops in reverse start order (producers of data first, brokers last), or only the named ones. */
  async stop(log: Log = () => {}, only?: string[]): Promise<void> {
    for (const proc of [...this.processes].reverse()) {
      if (only && !only.includes(proc.name)) continue
      log(`stopping ${proc.name} (pid ${proc.pid})`)
      await stopProcess(this.config.runDir, proc, proc.name === 'kafka' ? 30_000 : 10_000)
      this.processes.splice(this.processes.indexOf(proc), 1)
    }
  }
}

/** Every identity's certificate: the services and drone-0001..drone-N. */
export function ensureStackCertificates(config: StackConfig, log: Log): void {
  const { issued } = ensureCertificates(config.certsDir, fleetDroneIds(config.drones))
  if (issued.length > 0) {
    const shown = issued.length > 12 ? [...issued.slice(0, 12), `... ${issued.length - 12} more`] : issued
    log(`issued certificates in ${config.certsDir}: ${shown.join(', ')}`)
  }
}

/** Everything the native run needs that can be missing on a fresh machine; returns Kafka's lib dir. */
export function ensureInstalled(config: StackConfig, log: Log): string {
  ensureAptPackages([MOSQUITTO, PROMETHEUS, OPENSSL], log)
  return ensureKafkaJars(config.cacheDir, log)
}

/** Mosquitto and Kafka with the pipeline's topics and ACLs (and any extra topics). */
export async function startBrokers(
  stack: Stack,
  options: StartOptions & { extraTopics?: Array<[string, number]> },
): Promise<void> {
  const { config } = stack
  const libDir = ensureInstalled(config, options.log)
  ensureStackCertificates(config, options.log)
  fs.mkdirSync(config.runDir, { recursive: true })
  options.log(`starting Mosquitto on ${config.host}:${config.ports.mqtt}`)
  stack.add(await startMosquitto(config, options))
  options.log(`starting Kafka on ${config.host}:${config.ports.kafka} (KRaft)`)
  stack.add(await startKafka(config, libDir, options))
  await createTopics(config, options.extraTopics)
  await createAcls(config)
}

export async function startPrometheusFor(stack: Stack, options: StartOptions): Promise<void> {
  const { config } = stack
  options.log(`starting Prometheus on https://${config.host}:${config.ports.prometheus}`)
  stack.add(await startPrometheus(config, options))
}

export async function startInfra(stack: Stack, options: StartOptions): Promise<void> {
  await startBrokers(stack, options)
  // Before the services, so that their first minutes are on the dashboard too.
  await startPrometheusFor(stack, options)
}

/** A TypeScript entry point of this repository as a child process. */
export function startNodeService(
  stack: Stack,
  name: string,
  entry: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  options: StartOptions,
): ManagedProcess {
  return stack.add(
    startProcess({
      name,
      command: process.execPath,
      args: ['--import', 'tsx', path.join(REPO_ROOT, entry), ...args],
      cwd: REPO_ROOT,
      env: { LOG_FORMAT: 'json', ...env },
      runDir: stack.config.runDir,
      background: options.background,
    }),
  )
}

/** The TLS files of a service identity, as the environment variables every service reads. */
function tlsEnv(config: StackConfig, identity: string): NodeJS.ProcessEnv {
  const files = tlsFilesFor(config.certsDir, identity)
  return { TLS_CA: files.ca, TLS_CERT: files.cert, TLS_KEY: files.key }
}

/** A readiness probe over HTTPS, trusting only the pipeline's CA (no client certificate needed). */
function readinessProbe(config: StackConfig, port: number): () => Promise<boolean> {
  const ca = fs.readFileSync(path.join(config.certsDir, 'ca.crt'))
  const url = `https://${config.host}:${port}/readyz`
  return async () => (await httpsRequest(url, { ca })).status === 200
}

/**
 * A gateway instance. More instances share the MQTT subscription; each has its own process name,
 * HTTPS port and stable MQTT client id, so a restarted instance resumes its broker session.
 */
export async function startGateway(
  stack: Stack,
  options: StartOptions & { instance?: { name: string; port: number } },
): Promise<ManagedProcess> {
  const { config } = stack
  const { name, port } = options.instance ?? { name: 'gateway', port: config.ports.gateway }
  options.log(`starting ${name} on ${config.host}:${port}`)
  const proc = startNodeService(
    stack,
    name,
    'gateway/src/main.ts',
    [],
    {
      MQTT_URL: mqttUrl(config),
      KAFKA_BROKERS: kafkaBootstrap(config),
      GATEWAY_HOST: config.host,
      GATEWAY_PORT: String(port),
      GATEWAY_CLIENT_ID: `${name}-${config.ports.gateway}`,
      ...tlsEnv(config, 'gateway'),
    },
    options,
  )
  await waitUntil(proc, 'ready', readinessProbe(config, port), 60_000)
  return proc
}

/** Runs a TypeScript entry point of this repository to completion, failing with its output. */
export function runNode(entry: string, args: string[]): void {
  const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, entry), ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, LOG_FORMAT: 'json' },
  })
  if (result.status !== 0) {
    throw new Error(
      `${entry} ${args.join(' ')} failed (exit ${result.status}):\n${result.stderr || result.stdout}`,
    )
  }
}

/**
 * Training flight: a fleet of healthy drones flying every kind of mission (the kinds of flight the
 * detector will judge), seeded apart from the live fleet's default seed. An hour each: the speed
 * checks' healthy extremes are the GPS's rare fast wanders (about one in 5 drone-hours, 15 s long),
 * which half of a 20 × 1800 s flight, where the tails are learned, could miss
 * (docs/anomaly-detection.md).
 */
export const TRAINING_FLIGHT = { drones: 20, durationS: 3600, seed: 7, profile: 'all' }

/** A digest of the code that makes and reads a model, so a stale cached model is never used. */
function modelCodeDigest(): string {
  const hash = createHash('sha256').update(JSON.stringify(TRAINING_FLIGHT))
  for (const dir of ['simulator/src', 'anomaly_detector/src']) {
    const abs = path.join(REPO_ROOT, dir)
    for (const file of fs.readdirSync(abs).sort())
      hash.update(file).update(fs.readFileSync(path.join(abs, file)))
  }
  return hash.digest('hex').slice(0, 12)
}

/**
 * The detector's model: the given file, or one trained on a simulated healthy flight and cached
 * (keyed by the code that makes it), so every run trains at most once.
 */
export function ensureModel(config: StackConfig, log: Log, modelFile?: string): string {
  if (modelFile) return path.resolve(modelFile)
  const model = path.join(config.cacheDir, `model-${modelCodeDigest()}.json`)
  if (fs.existsSync(model)) return model
  fs.mkdirSync(config.cacheDir, { recursive: true })
  const dataset = path.join(config.cacheDir, 'training.jsonl')
  const { drones, durationS, seed, profile } = TRAINING_FLIGHT
  log(
    `training the detector's model on a simulated healthy flight (${drones} drones x ${durationS} s, ${profile} profiles)`,
  )
  runNode('simulator/src/main.ts', [
    'generate',
    '--drones',
    String(drones),
    '--duration',
    String(durationS),
    '--seed',
    String(seed),
    '--profile',
    profile,
    '--out',
    dataset,
  ])
  const partial = `${model}.partial`
  runNode('anomaly_detector/src/main.ts', ['train', '--in', dataset, '--out', partial])
  fs.renameSync(partial, model)
  return model
}

export async function startDetector(
  stack: Stack,
  options: StartOptions & { model: string; predictionsOut?: string },
): Promise<ManagedProcess> {
  const { config } = stack
  options.log(`starting anomaly detector on ${config.host}:${config.ports.detector}`)
  const proc = startNodeService(
    stack,
    'anomaly-detector',
    'anomaly_detector/src/main.ts',
    ['run'],
    {
      KAFKA_BROKERS: kafkaBootstrap(config),
      DETECTOR_HOST: config.host,
      DETECTOR_PORT: String(config.ports.detector),
      DETECTOR_MODEL: options.model,
      ...tlsEnv(config, 'anomaly-detector'),
      ...(options.predictionsOut ? { DETECTOR_PREDICTIONS_OUT: options.predictionsOut } : {}),
    },
    options,
  )
  await waitUntil(proc, 'ready', readinessProbe(config, config.ports.detector), 60_000)
  return proc
}

/**
 * Brokers, topics, model, gateway and detector: everything but the fleet, each ready before the
 * next starts.
 */
export async function startPipeline(
  stack: Stack,
  options: StartOptions & { model?: string; predictionsOut?: string },
): Promise<{ model: string }> {
  await startInfra(stack, options)
  return startServices(stack, options)
}

/** The model, the gateway and the detector, on brokers already running. */
export async function startServices(
  stack: Stack,
  options: StartOptions & { model?: string; predictionsOut?: string },
): Promise<{ model: string }> {
  const model = ensureModel(stack.config, options.log, options.model)
  await startGateway(stack, options)
  await startDetector(stack, { ...options, model })
  return { model }
}

export interface FleetOptions {
  drones: number
  rateHz: number
  seed: number
  /** Seconds; 0 runs until stopped. */
  durationS: number
  summaryJson?: string
  datasetOut?: string
}

export function startSimulator(stack: Stack, fleet: FleetOptions, options: StartOptions): ManagedProcess {
  options.log(`starting simulator: ${fleet.drones} drones at ${fleet.rateHz} Hz`)
  const args = [
    'run',
    '--drones',
    String(fleet.drones),
    '--rate',
    String(fleet.rateHz),
    '--seed',
    String(fleet.seed),
  ]
  args.push('--duration', String(fleet.durationS))
  if (fleet.summaryJson) args.push('--summary-json', fleet.summaryJson)
  if (fleet.datasetOut) args.push('--dataset-out', fleet.datasetOut)
  return simulatorProcess(stack, args, options)
}

/** Replays a labeled dataset through the stack (`--speed 0`: as fast as Mosquitto acknowledges). */
export function startReplay(
  stack: Stack,
  dataset: string,
  speed: number,
  options: StartOptions,
): ManagedProcess {
  options.log(`replaying ${dataset} at speed ${speed === 0 ? 'unpaced' : speed}`)
  return simulatorProcess(stack, ['replay', dataset, '--speed', String(speed)], options)
}

function simulatorProcess(stack: Stack, args: string[], options: StartOptions): ManagedProcess {
  const { config } = stack
  return startNodeService(
    stack,
    'simulator',
    'simulator/src/main.ts',
    args,
    {
      MQTT_URL: mqttUrl(config),
      PIPELINE_CERTS_DIR: config.certsDir,
      SIM_METRICS_PORT: String(config.ports.simulatorMetrics),
    },
    options,
  )
}
