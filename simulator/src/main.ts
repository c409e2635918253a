/**
 * The simulator's command line: `run` flies the fleet and publishes to MQTT, `generate` writes a
 * labeled dataset without a broker, `replay` publishes a dataset at its recorded pacing.
 * The physics lives in flight.ts and fleet.ts, the MQTT connections in publisher.ts; this file only
 * wires them to options, the clock, files, signals and the exit code.
 */
import { once } from 'node:events'
import fs from 'node:fs'
import { finished } from 'node:stream/promises'
import { setImmediate as yieldToEventLoop, setTimeout as sleep } from 'node:timers/promises'
import { ConfigError, exitOnConfigError, parseOrExit, type OptionValues } from '@drone-pipeline/shared/cli.ts'
import { DatasetError, readDataset, stripLabels, toDatasetLine } from '@drone-pipeline/shared/dataset.ts'
import { createLogger } from '@drone-pipeline/shared/log.ts'
import { createRegistry } from '@drone-pipeline/shared/metrics.ts'
import { createServiceHttp } from '@drone-pipeline/shared/service-http.ts'
import { loadTlsMaterial, requireMqttsUrl, tlsFilesFor } from '@drone-pipeline/shared/tls.ts'
import type { Registry } from 'prom-client'
import { fleetDroneIds, isValidDroneId } from '@drone-pipeline/shared/topics.ts'
import { createFleet, type FleetOptions } from './fleet.ts'
import {
  COMMANDS,
  expectPositionals,
  fleetOptionSpecs,
  flightProfiles,
  formatTopLevelHelp,
  generateSpec,
  parseFaults,
  parseStartTime,
  replaySpec,
  requireOption,
  runSpec,
  samplesPerDrone,
  selectCommand,
  type CommandName,
} from './options.ts'
import { connectFleet, ConnectionError, type FleetPublisher } from './publisher.ts'

const logger = createLogger('simulator')

/** In-flight limit for `replay --speed 0`, so a fast file cannot pile up unbounded in the client. */
const UNPACED_MAX_IN_FLIGHT = 1000
const PROGRESS_INTERVAL_MS = 10_000
const GENERATE_PROGRESS_INTERVAL_MS = 2_000
const GENERATE_CHUNK_CHARS = 1 << 16

type SessionOptions = Pick<
  OptionValues<typeof runSpec.options>,
  | 'mqttUrl'
  | 'certsDir'
  | 'connectTimeout'
  | 'drainTimeout'
  | 'metricsPort'
  | 'metricsHost'
  | 'summaryJson'
  | 'quiet'
>

/** The figures `--summary-json` writes; the key names are a stable interface for scripts and benchmarks. */
interface Summary {
  drones: number
  /** Configured samples per second per drone; null for replay, which follows the file's timestamps. */
  rate_hz: number | null
  published: number
  acked: number
  errors: number
  /** Publishes repeated because no gateway was subscribed at that moment (PUBACK reason 0x10). */
  retried: number
  duration_s: number
  /** Acknowledged messages per second over duration_s. */
  msg_per_s: number
}

/** Waits until `due` (performance.now() clock); false if stopped first. Yields even when already late, so
 * catching up never starves the event loop of acknowledgements. */
async function waitUntil(due: number, stop: AbortSignal): Promise<boolean> {
  const delay = due - performance.now()
  try {
    await (delay > 0
      ? sleep(delay, undefined, { signal: stop })
      : yieldToEventLoop(undefined, { signal: stop }))
    return true
  } catch {
    return false
  }
}

/** The first SIGINT/SIGTERM stops publishing and drains; a second one exits at once. */
function stopOnSignals(): AbortSignal {
  const controller = new AbortController()
  const onSignal = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) {
      logger.warn(`${signal} again: exiting without waiting for acknowledgements`)
      process.exit(130)
    }
    logger.info(`${signal}: stopping once the messages in flight are acknowledged`)
    controller.abort()
  }
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal)
  return controller.signal
}

/** Opens a file for writing, so a bad path fails before any work starts. */
async function openOutput(file: string): Promise<fs.WriteStream> {
  const stream = fs.createWriteStream(file)
  await once(stream, 'open')
  return stream
}

async function closeOutput(stream: fs.WriteStream, last = ''): Promise<void> {
  stream.end(last)
  await finished(stream)
}

function formatSummary(s: Summary): string {
  return (
    `${s.drones} drones: ${s.published} published, ${s.acked} acknowledged, ${s.errors} errors, ${s.retried} retried ` +
    `in ${s.duration_s.toFixed(1)} s (${s.msg_per_s.toFixed(1)} msg/s)`
  )
}

/**
 * Connects the drones, lets `produce` publish until it returns or a signal stops it, then waits for
 * the outstanding acknowledgements, disconnects and reports. Returns the exit code: 0 only if every
 * published message was acknowledged.
 */
async function publishSession(
  options: SessionOptions,
  droneIds: readonly string[],
  rateHz: number | null,
  produce: (publisher: FleetPublisher, stop: AbortSignal) => Promise<void>,
): Promise<number> {
  requireMqttsUrl(options.mqttUrl, '--mqtt-url (MQTT_URL)')
  const registry = options.metricsPort > 0 ? createRegistry('simulator') : undefined
  const server = registry ? await serveMetricsOverTls(registry, options) : undefined
  try {
    const publisher = await connectFleet({
      url: options.mqttUrl,
      certsDir: options.certsDir,
      droneIds,
      connectTimeoutMs: options.connectTimeout * 1000,
      logger,
      registry,
    })
    const stop = stopOnSignals()
    const started = performance.now()
    const progress = options.quiet
      ? undefined
      : setInterval(() => {
          const connected = publisher.connectedCount()
          logger.info({ ...publisher.stats, outstanding: publisher.outstanding(), connected }, 'progress')
        }, PROGRESS_INTERVAL_MS)
    try {
      await produce(publisher, stop)
    } finally {
      clearInterval(progress)
    }
    if (!(await publisher.drain(options.drainTimeout * 1000))) {
      logger.warn({ outstanding: publisher.outstanding() }, 'gave up waiting for acknowledgements')
    }
    const duration = (performance.now() - started) / 1000
    await publisher.close()

    const { published, acked, errors, retried } = publisher.stats
    const summary: Summary = {
      drones: droneIds.length,
      rate_hz: rateHz,
      published,
      acked,
      errors,
      retried,
      duration_s: Number(duration.toFixed(3)),
      msg_per_s: Number((acked / duration).toFixed(1)),
    }
    logger.info(summary, formatSummary(summary))
    if (options.summaryJson) fs.writeFileSync(options.summaryJson, JSON.stringify(summary, null, 2) + '\n')
    return acked === published ? 0 : 1
  } finally {
    await server?.close()
  }
}

/** /metrics over HTTPS with the simulator's own certificate; only Prometheus's may read it. */
async function serveMetricsOverTls(registry: Registry, options: SessionOptions) {
  const tls = loadTlsMaterial(tlsFilesFor(options.certsDir, 'simulator'))
  const server = await createServiceHttp({ logger, tls, registry, notReadyReason: () => undefined })
  await server.listen({ host: options.metricsHost, port: options.metricsPort })
  return server
}

/** The fleet the options of `run` and `generate` describe; a bad --faults fails here, before any work. */
function fleetOptions(options: OptionValues<typeof fleetOptionSpecs>): Omit<FleetOptions, 'startTimeMs'> {
  return {
    drones: options.drones,
    rateHz: options.rate,
    seed: options.seed,
    profiles: flightProfiles(options.profile),
    faults: parseFaults(options.faults, fleetDroneIds(options.drones), options.rate),
  }
}

async function run(args: string[]): Promise<number> {
  const { options, positionals } = parseOrExit(runSpec, args)
  expectPositionals(positionals, [])
  const fleetPlan = fleetOptions(options)
  const samples = samplesPerDrone(options)
  const dataset = options.datasetOut ? await openOutput(options.datasetOut) : undefined
  const droneIds = fleetDroneIds(options.drones)
  const code = await publishSession(options, droneIds, options.rate, async (publisher, stop) => {
    const fleet = createFleet({ ...fleetPlan, startTimeMs: Date.now() })
    const start = performance.now()
    // Sample k is due at start + k/rate, never by adding periods, so the schedule cannot drift;
    // a late sample goes out at once rather than being skipped. The drones are not in lockstep, as a
    // real fleet's are not: drone j of n publishes j/n of a period after the first, so the load
    // arrives spread over the period rather than as one burst per period.
    const period = 1000 / options.rate
    for (let k = 0; k < samples; k++) {
      if (!(await waitUntil(start + k * period, stop))) break
      const tick = fleet.nextTick()
      for (let j = 0; j < tick.length; j++) {
        const due = start + (k + j / tick.length) * period
        if (due - performance.now() >= 1 && !(await waitUntil(due, stop))) return
        const { record, label, fault } = tick[j]!
        const sent = publisher.publish(record)
        dataset?.write(toDatasetLine(sent, label, fault) + '\n')
      }
    }
  })
  if (dataset) await closeOutput(dataset)
  return code
}

async function generate(args: string[]): Promise<number> {
  const { options, positionals } = parseOrExit(generateSpec, args)
  expectPositionals(positionals, [])
  const duration = requireOption(options.duration, '--duration')
  const file = requireOption(options.out, '--out')
  const fleet = createFleet({ ...fleetOptions(options), startTimeMs: parseStartTime(options.startTime) })
  const ticks = samplesPerDrone({ duration, rate: options.rate })
  const records = ticks * fleet.droneIds.length
  const faulty: Record<string, number> = {}
  const out = await openOutput(file)
  let chunk = ''
  let lastProgress = performance.now()
  for (let tick = 0; tick < ticks; tick++) {
    for (const { record, label, fault } of fleet.nextTick()) {
      chunk += toDatasetLine(record, label, fault) + '\n'
      if (fault) faulty[fault] = (faulty[fault] ?? 0) + 1
    }
    if (chunk.length < GENERATE_CHUNK_CHARS) continue
    if (!out.write(chunk)) await once(out, 'drain')
    chunk = ''
    if (performance.now() - lastProgress > GENERATE_PROGRESS_INTERVAL_MS) {
      lastProgress = performance.now()
      const done = tick * fleet.droneIds.length
      process.stderr.write(`generate: ${Math.floor((100 * tick) / ticks)}% (${done}/${records} records)\n`)
    }
  }
  await closeOutput(out, chunk)
  logger.info(
    {
      file,
      records,
      drones: options.drones,
      rate_hz: options.rate,
      duration_s: duration,
      seed: options.seed,
      profile: options.profile,
      faults: options.faults,
      faulty_records: faulty,
    },
    `wrote ${records} records to ${file}`,
  )
  return 0
}

/**
 * Reads the whole dataset once before connecting, so a broken file fails without touching the broker,
 * and learns which drones need a connection.
 */
async function datasetDrones(file: string, needTimestamps: boolean): Promise<string[]> {
  const droneIds = new Set<string>()
  let n = 0
  for await (const row of readDataset(file)) {
    n++
    if (!isValidDroneId(row.drone_id))
      throw new DatasetError(`${file}: record ${n}: invalid drone_id "${row.drone_id}"`)
    if (needTimestamps && typeof row.timestamp !== 'number') {
      throw new DatasetError(
        `${file}: record ${n}: timestamp must be a number to pace the replay (or use --speed 0)`,
      )
    }
    droneIds.add(row.drone_id)
  }
  if (n === 0) throw new DatasetError(`${file} holds no records`)
  logger.info({ file, records: n, drones: droneIds.size }, 'replaying dataset')
  return [...droneIds].sort()
}

/** Resolves when `signal` aborts (immediately if it already has). */
function aborted(signal: AbortSignal): Promise<unknown> {
  return signal.aborted ? Promise.resolve() : once(signal, 'abort')
}

async function replay(args: string[]): Promise<number> {
  const { options, positionals } = parseOrExit(replaySpec, args)
  const [file] = expectPositionals(positionals, ['the dataset <file> to replay']) as [string]
  const paced = options.speed > 0
  const droneIds = await datasetDrones(file, paced)
  return publishSession(options, droneIds, null, async (publisher, stop) => {
    const start = performance.now()
    const stopped = aborted(stop)
    let firstTimestamp: number | undefined
    for await (const row of readDataset(file)) {
      const record = stripLabels(row)
      if (paced) {
        firstTimestamp ??= record.timestamp
        if (!(await waitUntil(start + (record.timestamp - firstTimestamp) / options.speed, stop))) break
      } else {
        await Promise.race([publisher.whenOutstandingAtMost(UNPACED_MAX_IN_FLIGHT - 1), stopped])
        if (stop.aborted) break
      }
      publisher.publish(record)
    }
  })
}

const COMMAND_HANDLERS: Record<CommandName, (args: string[]) => Promise<number>> = { run, generate, replay }

/** Failures with a message that says it all: no stack trace for these. */
function isOperationalError(err: unknown): err is Error {
  const systemError = err instanceof Error && typeof (err as NodeJS.ErrnoException).syscall === 'string'
  return err instanceof ConnectionError || err instanceof DatasetError || systemError
}

async function main(argv: string[]): Promise<number> {
  let selected: ReturnType<typeof selectCommand>
  try {
    selected = selectCommand(argv)
  } catch (err) {
    exitOnConfigError(err, 'npm run simulator --')
  }
  if (selected === 'help') {
    process.stdout.write(formatTopLevelHelp())
    return 0
  }
  try {
    return await COMMAND_HANDLERS[selected.command](selected.args)
  } catch (err) {
    if (err instanceof ConfigError) exitOnConfigError(err, COMMANDS[selected.command].usage)
    if (isOperationalError(err)) {
      logger.error(err.message)
      return 1
    }
    throw err
  }
}

process.exitCode = await main(process.argv.slice(2))
// Lingering sockets (a metrics scrape in keep-alive, a client mid-close) must not keep a finished run alive.
process.exit()
