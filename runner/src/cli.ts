/**
 * The native runner. Commands:
 *   start            everything in the foreground with a live status line, until Ctrl-C or --duration
 *   stack up|down|status   the same stack in the background, as `docker compose up -d` would
 *   test             installs what the tests need, then runs every test suite
 */
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import {
  ConfigError,
  exitOnConfigError,
  formatHelp,
  parseOrExit,
  type CommandSpec,
  type OptionSpecs,
} from '@drone-pipeline/shared/cli.ts'
import { REPO_ROOT } from '@drone-pipeline/shared/paths.ts'
import { fleetDroneIds, isValidDroneId } from '@drone-pipeline/shared/topics.ts'
import { stackConfigFrom, STACK_OPTIONS, type StackConfig } from './config.ts'
import { ensureCertificates } from './certs.ts'
import {
  CHART_FONTS,
  CHROMIUM,
  DOCKER_COMPOSE,
  ensureAptPackages,
  InstallError,
  KCAT,
  MOSQUITTO,
  MOSQUITTO_CLIENTS,
  MOSQUITTO_SUB,
  OPENSSL,
} from './install.ts'
import { LogFollower, messageStartingWith } from './log-follow.ts'
import { isAlive, recordedPids, stopPid, tailLog } from './procs.ts'
import {
  ensureInstalled,
  ensureStackCertificates,
  Stack,
  startPipeline,
  startSimulator,
  type Log,
} from './stack.ts'
import { prometheusApi } from './prometheus.ts'
import { allScored, formatStatus, formatSummary, readLiveFigures, readTotals } from './status.ts'
import { sleep } from '@drone-pipeline/shared/retry.ts'

const FLEET_OPTIONS = {
  drones: { type: 'int', description: 'simulated drones', default: 10, min: 1, max: 10000 },
  rate: { type: 'number', description: 'samples per second per drone', default: 10, min: 0.1, max: 1000 },
  seed: { type: 'int', description: 'simulation seed', default: 42 },
  model: { type: 'string', description: 'detector model file (default: trained on first use)' },
} as const satisfies OptionSpecs

const START_COMMAND = {
  usage: 'npm start --',
  summary:
    'Starts Mosquitto, Kafka, the gateway, the anomaly detector and a simulated fleet on loopback, prints a\n' +
    'status line every second, and stops everything on Ctrl-C or after --duration.',
  options: {
    ...STACK_OPTIONS,
    ...FLEET_OPTIONS,
    duration: { type: 'number', description: 'seconds to run; 0 = until Ctrl-C', default: 0, min: 0 },
  },
} as const satisfies CommandSpec<OptionSpecs>

const STACK_COMMAND = {
  usage: 'npm run stack --',
  positionals: 'up|down|status',
  summary: 'Starts (up), stops (down) or reports on (status) the pipeline running in the background.',
  options: { ...STACK_OPTIONS, ...FLEET_OPTIONS },
} as const satisfies CommandSpec<OptionSpecs>

const CERTS_COMMAND = {
  usage: 'npm run certs --',
  summary:
    "Creates or renews the pipeline's certificates with openssl: the CA, every service identity, and one per\n" +
    'drone. Idempotent: what exists and is good for more than 30 days is kept. --rotate re-issues on purpose.',
  options: {
    certsDir: STACK_OPTIONS.certsDir,
    drones: {
      type: 'int',
      description: 'drone certificates drone-0001..drone-N',
      default: 10,
      min: 0,
      max: 100000,
    },
    drone: { type: 'string', description: 'also issue a certificate for this drone id (e.g. a real drone)' },
    rotate: {
      type: 'string',
      description: 're-issue this identity now (a name, or "ca" for a new CA and everything it signs)',
    },
  },
} as const satisfies CommandSpec<OptionSpecs>

const log: Log = (message) => console.log(`[runner] ${message}`)
const ANOMALY_PREFIX = 'Anomaly detected in message from drone_id:'

/** The order processes start in; they stop in reverse. */
const START_ORDER = ['mosquitto', 'kafka', 'prometheus', 'gateway', 'anomaly-detector', 'simulator']

async function start(argv: string[]): Promise<number> {
  const { options } = parseOrExit(START_COMMAND, argv)
  const config = stackConfigFrom(options, options.drones)
  const stack = new Stack(config)
  let stopRequested = false
  const onSignal = () => {
    if (stopRequested) return
    stopRequested = true
    console.log('')
    log('stopping (Ctrl-C again is not needed; shutting down in order)')
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  let exitCode = 0
  try {
    await startPipeline(stack, { log, model: options.model })
    const simulatorSummary = path.join(config.runDir, 'simulator-summary.json')
    fs.rmSync(simulatorSummary, { force: true })
    const simulator = startSimulator(
      stack,
      {
        drones: options.drones,
        rateHz: options.rate,
        seed: options.seed,
        durationS: options.duration,
        summaryJson: simulatorSummary,
      },
      { log },
    )
    log(`running; logs in ${path.relative(process.cwd(), path.join(config.runDir, 'logs'))}/`)
    log(`dashboard figures below, from Prometheus at https://${config.host}:${config.ports.prometheus}`)
    const prometheus = prometheusApi(config)
    const detectorLog = new LogFollower(stack.get('anomaly-detector')!.logFile)
    const started = Date.now()
    const live = process.stdout.isTTY
    await sleep(1000)
    while (!stopRequested && !simulator.hasExited()) {
      const crashed = stack.processes.find((p) => p.hasExited() && p !== simulator)
      if (crashed) throw new Error(`${crashed.name} stopped unexpectedly:\n${tailLog(crashed.logFile)}`)
      // The detector's own console line, above the status line.
      for (const entry of detectorLog.read()) {
        const anomaly = messageStartingWith(entry, ANOMALY_PREFIX)
        if (anomaly) process.stdout.write(`${live ? '\r\x1b[2K' : ''}${anomaly}\n`)
      }
      const line = formatStatus(await readLiveFigures(prometheus), (Date.now() - started) / 1000)
      if (live) process.stdout.write(`\r\x1b[2K${line}`)
      else if (Math.round((Date.now() - started) / 1000) % 5 === 0) console.log(line)
      await sleep(1000)
    }
    if (live) process.stdout.write('\n')
    await stack.stop(log, ['simulator'])
    // The simulator's own summary has the final published count; its /metrics is gone now.
    const published = fs.existsSync(simulatorSummary)
      ? (JSON.parse(fs.readFileSync(simulatorSummary, 'utf8')) as { acked: number }).acked
      : undefined
    // Let what was published reach the detector, and Prometheus scrape it, before the final count.
    let counts = await readTotals(prometheus)
    const drainDeadline = Date.now() + 20_000
    while (!allScored(counts, published) && Date.now() < drainDeadline) {
      await sleep(1000)
      counts = await readTotals(prometheus)
    }
    log(`summary: ${formatSummary(counts ?? {}, published, (Date.now() - started) / 1000)}`)
  } catch (err) {
    if (!(err instanceof InstallError || err instanceof ConfigError)) console.error(err)
    else console.error(`error: ${err.message}`)
    exitCode = 1
  } finally {
    await stack.stop(log)
  }
  return exitCode
}

async function stackUp(
  config: StackConfig,
  options: { drones: number; rate: number; seed: number; model?: string },
) {
  const running = [...recordedPids(config.runDir)].filter(([, pid]) => isAlive(pid))
  if (running.length) {
    throw new ConfigError(
      `already running in ${config.runDir}: ${running.map(([n]) => n).join(', ')} (stack down first)`,
    )
  }
  const stack = new Stack(config)
  const background = { log, background: true }
  try {
    await startPipeline(stack, { ...background, model: options.model })
    startSimulator(
      stack,
      { drones: options.drones, rateHz: options.rate, seed: options.seed, durationS: 0 },
      background,
    )
  } catch (err) {
    await stack.stop(log)
    throw err
  }
  fs.writeFileSync(path.join(config.runDir, 'stack.json'), JSON.stringify(config, null, 2))
  log(
    `up: gateway https://${config.host}:${config.ports.gateway}, detector https://${config.host}:${config.ports.detector}`,
  )
  log(`logs in ${path.join(config.runDir, 'logs')}; stop with: npm run stack -- down`)
}

async function stackDown(config: StackConfig): Promise<void> {
  const pids = recordedPids(config.runDir)
  const names = [...pids.keys()].sort((a, b) => START_ORDER.indexOf(b) - START_ORDER.indexOf(a))
  if (names.length === 0) log(`nothing running in ${config.runDir}`)
  for (const name of names) {
    log(`stopping ${name} (pid ${pids.get(name)})`)
    await stopPid(config.runDir, name, pids.get(name)!, name === 'kafka' ? 30_000 : 10_000)
  }
}

async function stackStatus(config: StackConfig): Promise<number> {
  const pids = recordedPids(config.runDir)
  let allUp = pids.size > 0
  for (const name of START_ORDER) {
    const pid = pids.get(name)
    const state =
      pid === undefined ? 'not started' : isAlive(pid) ? `running (pid ${pid})` : `DEAD (pid ${pid})`
    if (pid === undefined || !isAlive(pid)) allUp = false
    console.log(`${name.padEnd(17)} ${state}`)
  }
  if (pids.size > 0)
    console.log(formatStatus(await readLiveFigures(prometheusApi(config)), 0).replace(/^\s*0s \| /, ''))
  return allUp ? 0 : 3
}

async function stackCommand(argv: string[]): Promise<number> {
  const { options, positionals } = parseOrExit(STACK_COMMAND, argv)
  const action = positionals[0]
  const config = stackConfigFrom(options, options.drones)
  const saved = path.join(config.runDir, 'stack.json')
  // down and status act on the ports the stack was started with.
  const running: StackConfig = fs.existsSync(saved) ? JSON.parse(fs.readFileSync(saved, 'utf8')) : config
  switch (action) {
    case 'up':
      await stackUp(config, options)
      return 0
    case 'down':
      await stackDown(running)
      return 0
    case 'status':
      return stackStatus(running)
    default:
      throw new ConfigError(`stack needs up, down or status, got ${action ?? 'nothing'}`)
  }
}

/** Every *.test.ts under the packages' test folders and test/, unit tests first. */
function testFiles(): string[] {
  const roots = ['shared', 'simulator', 'gateway', 'anomaly_detector', 'runner', 'test']
  const files: string[] = []
  for (const root of roots) {
    const dir = path.join(REPO_ROOT, root, 'test')
    const base = root === 'test' ? path.join(REPO_ROOT, 'test') : dir
    if (!fs.existsSync(base)) continue
    for (const entry of fs.readdirSync(base, { recursive: true, encoding: 'utf8' })) {
      if (entry.endsWith('.test.ts')) files.push(path.join(base, entry))
    }
  }
  const integration = (f: string) => f.includes(`${path.sep}integration${path.sep}`)
  return [...files.filter((f) => !integration(f)).sort(), ...files.filter(integration).sort()]
}

function test(argv: string[]): number {
  const config = stackConfigFrom(
    parseOrExit({ usage: 'npm test --', summary: 'Runs every test.', options: STACK_OPTIONS }, argv).options,
  )
  // kcat, mosquitto_sub and Chromium for the load sweep's test (its floor and its chart).
  ensureAptPackages(
    [MOSQUITTO, MOSQUITTO_CLIENTS, MOSQUITTO_SUB, KCAT, CHROMIUM, CHART_FONTS, DOCKER_COMPOSE],
    log,
  )
  ensureInstalled(config, log)
  ensureStackCertificates(config, log)
  const files = testFiles()
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=1', ...files],
    { cwd: REPO_ROOT, stdio: 'inherit' },
  )
  return result.status ?? 1
}

function certs(argv: string[]): void {
  const { options } = parseOrExit(CERTS_COMMAND, argv)
  ensureAptPackages([OPENSSL], log)
  const drones = fleetDroneIds(options.drones)
  if (options.drone !== undefined) {
    if (!isValidDroneId(options.drone))
      throw new ConfigError(`--drone: "${options.drone}" is not 1-64 of [A-Za-z0-9_-]`)
    drones.push(options.drone)
  }
  const certsDir = path.resolve(REPO_ROOT, options.certsDir)
  const { issued } = ensureCertificates(certsDir, drones, new Date(), options.rotate ? [options.rotate] : [])
  log(
    issued.length
      ? `issued in ${certsDir}: ${issued.join(', ')}`
      : `all certificates in ${certsDir} are current`,
  )
  if (issued.length)
    log('running services read their certificates at start-up: restart them to use the new ones')
}

const [command, ...rest] = process.argv.slice(2)
try {
  switch (command) {
    case 'start':
      process.exitCode = await start(rest)
      break
    case 'stack':
      process.exitCode = await stackCommand(rest)
      break
    case 'test':
      process.exitCode = test(rest)
      break
    case 'certs':
      certs(rest)
      break
    default:
      process.stdout.write(
        'Usage: node runner/src/cli.ts start|stack|certs|test [options]\n\n' +
          [formatHelp(START_COMMAND), formatHelp(STACK_COMMAND), formatHelp(CERTS_COMMAND)].join('\n'),
      )
      process.exitCode = command === undefined || command === '--help' ? 0 : 2
  }
} catch (err) {
  if (err instanceof InstallError) {
    console.error(`error: ${err.message}`)
    process.exitCode = 1
  } else {
    exitOnConfigError(err)
  }
}
