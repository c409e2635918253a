/**
 * The gateway's MQTT side: a persistent MQTT 5 session on the shared subscription, where each
 * QoS 1 message is acknowledged (PUBACK) only once Kafka holds it.
 *
 * MQTT.js handles incoming packets strictly one at a time: the next PUBLISH is read only after the
 * previous one's PUBACK is written. Acknowledging after Kafka inside its ack hook would therefore
 * cost one Kafka round trip per message. Instead the hook starts the work and lets MQTT.js read on,
 * and the PUBACK packet itself is held back until that message's work completes. Work completes in
 * arrival order (see KafkaSink), so the PUBACKs leave in the order the PUBLISHes came, as MQTT
 * requires. The broker's receive-maximum bounds how many messages are unacknowledged at once,
 * which is the gateway's backpressure. A PUBACK whose connection has since closed is never sent
 * on the next one (packet ids are per connection); the broker redelivers that message instead.
 */
import mqtt, { type IClientOptions, type MqttClient, type Packet } from 'mqtt'
import { MQTT_SHARED_SUBSCRIPTION } from '@drone-pipeline/shared/topics.ts'
import type { Logger } from '@drone-pipeline/shared/log.ts'
import type { TlsMaterial } from '@drone-pipeline/shared/tls.ts'

export interface MqttSourceOptions {
  /** mqtts:// */
  url: string
  tls: TlsMaterial
  clientId: string
  /** Most unacknowledged QoS 1 messages the broker may send us at once. */
  receiveMaximum: number
  /** How long the broker keeps our session and queue while we are away. */
  sessionExpirySeconds: number
  logger: Logger
  /** Resolves when the message is durable downstream; only then is it acknowledged. */
  onMessage(topic: string, payload: Buffer): Promise<unknown>
}

interface HeldAck {
  connection: number
  work: Promise<unknown>
}

type SendPacket = (packet: Packet, cb?: (err?: Error) => void, ...rest: unknown[]) => void

export class MqttSource {
  private client: MqttClient | undefined
  /** Counts connections, so an ack held across a reconnect is recognised as stale. */
  private connection = 0
  private readonly held = new Map<number, HeldAck>()

  constructor(private readonly options: MqttSourceOptions) {}

  get connected(): boolean {
    return this.client?.connected ?? false
  }

  /** Messages received but not yet acknowledged. */
  get unacknowledged(): number {
    return this.held.size
  }

  async start(): Promise<void> {
    const { logger } = this.options
    const clientOptions: IClientOptions = {
      protocolVersion: 5,
      clientId: this.options.clientId,
      ca: this.options.tls.ca,
      cert: this.options.tls.cert,
      key: this.options.tls.key,
      clean: false,
      reconnectPeriod: 1_000,
      connectTimeout: 10_000,
      properties: {
        sessionExpiryInterval: this.options.sessionExpirySeconds,
        receiveMaximum: this.options.receiveMaximum,
      },
      customHandleAcks: (topic, payload, packet, done) => {
        if (packet.messageId !== undefined) {
          this.held.set(packet.messageId, {
            connection: this.connection,
            work: this.options.onMessage(topic, payload),
          })
        }
        done(0)
      },
    }
    const client = mqtt.connect(this.options.url, clientOptions)
    this.client = client
    this.holdPubacks(client)
    // QoS 0 messages have no PUBACK and bypass the ack hook.
    client.on('message', (topic, payload, packet) => {
      if (packet.qos === 0) void this.options.onMessage(topic, payload)
    })
    client.on('connect', (connack) => {
      this.connection++
      logger.info({ sessionPresent: connack.sessionPresent }, 'connected to MQTT broker')
      client.subscribe(MQTT_SHARED_SUBSCRIPTION, { qos: 1 }, (err) => {
        if (err) logger.error({ err: err.message }, 'subscribe failed')
      })
    })
    client.on('close', () => {
      this.connection++
      this.held.clear()
    })
    client.on('error', (err) => logger.warn({ err: err.message }, 'MQTT error'))
    client.on('reconnect', () => logger.info('reconnecting to MQTT broker'))
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no connection to MQTT broker ${this.options.url} within 30 s`)),
        30_000,
      )
      client.once('connect', () => {
        clearTimeout(timer)
        resolve()
      })
    })
  }

  private holdPubacks(client: MqttClient): void {
    const internals = client as unknown as { _sendPacket: SendPacket }
    const send = internals._sendPacket.bind(client)
    internals._sendPacket = (packet, cb, ...rest) => {
      const held = packet.cmd === 'puback' ? this.held.get(packet.messageId!) : undefined
      if (!held) return send(packet, cb, ...rest)
      // Tell MQTT.js the ack is written so it reads the next message; write it when the work is done.
      cb?.()
      const release = () => {
        if (this.held.get(packet.messageId!) === held) this.held.delete(packet.messageId!)
        if (held.connection === this.connection && client.connected) send(packet)
      }
      held.work.then(release, (err: Error) => {
        this.options.logger.error(
          { err: err.message },
          'message not acknowledged; the broker will redeliver it',
        )
        if (this.held.get(packet.messageId!) === held) this.held.delete(packet.messageId!)
      })
    }
  }

  async stop(): Promise<void> {
    await this.client?.endAsync()
  }
}
