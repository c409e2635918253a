/**
 * The MQTT side of the simulator: one connection per drone (the broker authorises each drone's topic by
 * its client identity), QoS 1 publishes that never wait for one another, and the accounting of sent,
 * acknowledged and failed messages behind the summary and the metrics.
 */
import { loadTlsMaterial, tlsFilesFor, type TlsMaterial } from '@drone-pipeline/shared/tls.ts'
import { setTimeout as sleep } from 'node:timers/promises'
import { connect, ErrorWithReasonCode, type MqttClient, type Packet } from 'mqtt'
import { Counter, Gauge, type Registry } from 'prom-client'
import type { DroneTelemetry } from '@drone-pipeline/shared/generated/drone-telemetry.ts'
import type { Logger } from '@drone-pipeline/shared/log.ts'
import { backoffMs } from '@drone-pipeline/shared/retry.ts'
import { telemetryTopic } from '@drone-pipeline/shared/topics.ts'

/** The broker could not be reached or refused a drone; a clear message, no stack trace needed. */
export class ConnectionError extends Error {
  override name = 'ConnectionError'
}

export interface PublishStats {
  /** Handed to the MQTT client (sent, or queued while offline). */
  published: number
  /** PUBACK received with a success code. */
  acked: number
  /** PUBACK with an error reason code, or the client gave up on the message. */
  errors: number
  /** Publishes repeated because the broker had no subscriber for the message (PUBACK reason 0x10). */
  retried: number
}

export interface FleetPublisher {
  readonly stats: Readonly<PublishStats>
  /** Publishes at QoS 1 without waiting for the PUBACK; returns the record as sent, publish time stamped. */
  publish(record: DroneTelemetry): DroneTelemetry
  outstanding(): number
  connectedCount(): number
  /** Resolves once at most `limit` messages await their PUBACK (back-pressure for unpaced replay). */
  whenOutstandingAtMost(limit: number): Promise<void>
  /** Waits for every outstanding PUBACK; false if `timeoutMs` ran out first. */
  drain(timeoutMs: number): Promise<boolean>
  close(): Promise<void>
}

export interface PublisherOptions {
  /** mqtts:// */
  url: string
  /** Each drone connects with certs/drones/<drone_id>.crt and .key. */
  certsDir: string
  droneIds: readonly string[]
  connectTimeoutMs: number
  logger: Logger
  /** Where to register the simulator's metrics, if they are served. */
  registry?: Registry
}

/**
 * PUBACK reason code 0x10: the broker took the message, but no subscription matched it, so it was
 * delivered to nobody. It happens while no gateway is subscribed, for example in the moment after a
 * Mosquitto restart before the gateways have subscribed again (Mosquitto restores their sessions but
 * not their shared subscriptions). A drone that wants its telemetry to arrive keeps such a message
 * and publishes it again, rather than count it as delivered.
 */
const NO_MATCHING_SUBSCRIBERS = 0x10
/** Retries of an unrouted message back off from 100 ms to at most this. */
const MAX_UNROUTED_BACKOFF_MS = 1_000

/** Microseconds since the epoch, below the millisecond: the latency budget is tens of ms. */
function nowMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000)
}

function createClient(url: string, droneId: string, tls: TlsMaterial, connectTimeoutMs: number): MqttClient {
  return connect(url, {
    protocolVersion: 5,
    clientId: droneId,
    ca: tls.ca,
    cert: tls.cert,
    key: tls.key,
    // A clean start: the simulator only publishes, so a broker-side session would hold nothing of
    // value, yet cost broker memory per drone. Unacknowledged QoS 1 messages survive reconnects anyway:
    // MQTT.js keeps them in its outgoing store and re-sends them after every reconnect.
    clean: true,
    reconnectPeriod: 1000,
    connectTimeout: connectTimeoutMs,
  })
}

/**
 * Resolves on the client's first CONNACK. Network errors are retried (the broker may still be
 * starting) until the deadline; a refusal in CONNACK (not authorised, bad client id) fails at once.
 */
function firstConnect(client: MqttClient, url: string, droneId: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let lastError = 'no answer'
    const done = (err?: Error): void => {
      clearTimeout(timer)
      client.off('connect', onConnect).off('error', onError).off('end', onEnd)
      if (err) reject(err)
      else resolve()
    }
    const onConnect = (): void => done()
    const onError = (err: Error): void => {
      if (err instanceof ErrorWithReasonCode)
        done(new ConnectionError(`${url} refused ${droneId}: ${err.message}`))
      else lastError = err.message
    }
    const onEnd = (): void =>
      done(new ConnectionError(`connection of ${droneId} closed before it was established`))
    const timer = setTimeout(
      () => done(new ConnectionError(`cannot connect to ${url} within ${timeoutMs / 1000} s (${lastError})`)),
      timeoutMs,
    )
    client.on('connect', onConnect).on('error', onError).on('end', onEnd)
  })
}

/** Connects every drone; if any cannot connect in time, closes them all and throws a ConnectionError. */
export async function connectFleet(options: PublisherOptions): Promise<FleetPublisher> {
  const { logger } = options
  // Every certificate is checked before the first connection, so a missing one is named at once.
  const identities = options.droneIds.map(
    (id) => [id, loadTlsMaterial(tlsFilesFor(options.certsDir, id, true))] as const,
  )
  const clients = new Map(
    identities.map(([id, tls]) => [id, createClient(options.url, id, tls, options.connectTimeoutMs)]),
  )
  for (const [droneId, client] of clients) {
    // Retries raise an error every second per drone while the broker is away; the outage itself is
    // reported once, by the 'offline' listener below.
    client.on('error', (err) => logger.debug({ droneId, err: err.message }, 'MQTT client error'))
  }
  try {
    await Promise.all(
      [...clients].map(([id, client]) => firstConnect(client, options.url, id, options.connectTimeoutMs)),
    )
  } catch (err) {
    await Promise.all([...clients.values()].map((client) => client.endAsync(true)))
    throw err
  }
  for (const [droneId, client] of clients) {
    client.on('offline', () => logger.warn({ droneId }, 'lost the broker connection, reconnecting'))
    client.on('connect', () => logger.info({ droneId }, 'reconnected to the broker'))
  }
  logger.info({ url: options.url, drones: clients.size }, 'all drones connected')

  const stats: PublishStats = { published: 0, acked: 0, errors: 0, retried: 0 }
  const outstanding = (): number => stats.published - stats.acked - stats.errors
  const connectedCount = (): number => [...clients.values()].filter((client) => client.connected).length
  const waiters = new Set<() => void>()
  const reportedErrors = new Set<string>()

  const registers = options.registry ? [options.registry] : []
  const sentTotal = new Counter({
    name: 'simulator_messages_sent_total',
    help: 'Telemetry messages published (handed to the MQTT client), each record once; retries are not counted.',
    registers,
  })
  const ackedTotal = new Counter({
    name: 'simulator_messages_published_total',
    help: 'Telemetry messages the broker acknowledged (PUBACK received).',
    registers,
  })
  const retriedTotal = new Counter({
    name: 'simulator_publish_retries_total',
    help: 'Publishes repeated because the broker had no subscriber for the message (PUBACK reason 0x10).',
    registers,
  })
  const errorsTotal = new Counter({
    name: 'simulator_publish_errors_total',
    help: 'Telemetry messages that failed: error PUBACK or given up by the client.',
    registers,
  })
  new Gauge({
    name: 'simulator_drones_connected',
    help: 'Drones whose MQTT connection is currently up.',
    registers,
    collect() {
      this.set(connectedCount())
    },
  })

  function settled(err: Error | undefined, droneId: string): void {
    if (err) {
      stats.errors++
      errorsTotal.inc()
      // Each distinct failure once: a broker rejecting everything must not flood the log.
      if (!reportedErrors.has(err.message)) {
        reportedErrors.add(err.message)
        logger.warn({ droneId, err: err.message }, 'publish failed')
      }
    } else {
      stats.acked++
      ackedTotal.inc()
    }
    for (const wake of waiters) wake()
  }

  /** Messages waiting to be published again; cancelled on close. */
  const retryTimers = new Set<NodeJS.Timeout>()
  /**
   * Per client, the packet ids whose PUBACK said "no matching subscribers". MQTT.js hands a publish
   * callback the stored PUBLISH rather than the PUBACK, so the reason code is caught on the way in
   * ('packetreceive' comes before the callback, and an id is reused only after its callback).
   */
  const unrouted = new Map<MqttClient, Set<number>>()
  for (const client of clients.values()) {
    const ids = new Set<number>()
    unrouted.set(client, ids)
    client.on('packetreceive', (packet: Packet) => {
      if (packet.cmd === 'puback' && packet.reasonCode === NO_MATCHING_SUBSCRIBERS) ids.add(packet.messageId!)
    })
  }

  /** Publishes until the broker acknowledges the message with a subscriber for it, or fails it. */
  function send(client: MqttClient, droneId: string, payload: string, attempt: number): void {
    client.publish(telemetryTopic(droneId), payload, { qos: 1 }, (err?: Error, packet?: Packet) => {
      const messageId = packet?.messageId
      if (!err && messageId !== undefined && unrouted.get(client)!.delete(messageId)) {
        stats.retried++
        retriedTotal.inc()
        const timer = setTimeout(
          () => {
            retryTimers.delete(timer)
            send(client, droneId, payload, attempt + 1)
          },
          Math.min(MAX_UNROUTED_BACKOFF_MS, backoffMs(attempt, 100)),
        )
        retryTimers.add(timer)
        return
      }
      settled(err, droneId)
    })
  }

  function whenOutstandingAtMost(limit: number): Promise<void> {
    if (outstanding() <= limit) return Promise.resolve()
    return new Promise((resolve) => {
      const wake = (): void => {
        if (outstanding() > limit) return
        waiters.delete(wake)
        resolve()
      }
      waiters.add(wake)
    })
  }

  return {
    stats,
    outstanding,
    connectedCount,
    whenOutstandingAtMost,
    publish(record) {
      const client = clients.get(record.drone_id)
      if (!client) throw new Error(`no connection for ${record.drone_id}`)
      const sent = { ...record, publish_timestamp: nowMicros() }
      stats.published++
      sentTotal.inc()
      send(client, record.drone_id, JSON.stringify(sent), 1)
      return sent
    },
    async drain(timeoutMs) {
      const timeout = new AbortController()
      const drained = await Promise.race([
        whenOutstandingAtMost(0).then(() => true),
        sleep(timeoutMs, false, { signal: timeout.signal }),
      ])
      timeout.abort()
      return drained
    },
    async close() {
      // A polite DISCONNECT when everything is acknowledged; otherwise nothing is left worth waiting for.
      const force = outstanding() > 0
      for (const timer of retryTimers) clearTimeout(timer)
      await Promise.all([...clients.values()].map((client) => client.endAsync(force || !client.connected)))
    },
  }
}
