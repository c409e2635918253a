/**
 * The gateway's MQTT side: a persistent MQTT 5 session on the shared subscription, where each
 * QoS 1 message is acknowledged (PUBACK) only once Kafka holds it.
 *
 * MQTT.js handles incoming packets strictly one at a time: the next PUBLISH is read only after the
 * previous one's PUBACK is written. Acknowledging after Kafka inside its ack hook would therefore
 * cost one Kafka round trip per message. Instead the hook starts the work and lets MQTT.js read on,
 * and the PUBACK packet itself is held back (OrderedAcks) until that message's work and every
 * earlier message's are done, so PUBACKs leave in the order the PUBLISHes came, as MQTT requires.
 * The broker's receive-maximum bounds how many messages are unacknowledged at once, which is the
 * gateway's backpressure. A PUBACK whose connection has since closed is never sent on the next one
 * (packet ids are per connection); the broker redelivers that message instead.
 */
import mqtt, { type IClientOptions, type ISubscriptionMap, type MqttClient, type Packet } from 'mqtt'
import { MQTT_SHARED_SUBSCRIPTION } from '@drone-pipeline/shared/topics.ts'
import type { Logger } from '@drone-pipeline/shared/log.ts'
import type { TlsMaterial } from '@drone-pipeline/shared/tls.ts'
import { OrderedAcks } from './ordered-acks.ts'

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

type SendPacket = (packet: Packet, cb?: (err?: Error) => void, ...rest: unknown[]) => void

export class MqttSource {
  private client: MqttClient | undefined
  /**
   * Work started for a PUBLISH, by packet id, until MQTT.js writes (and we hold) its PUBACK, with
   * the connection (stream) it arrived on: packet ids belong to one connection, and MQTT.js may
   * still hand over a packet read on a connection that has just closed.
   */
  private readonly started = new Map<number, { work: Promise<unknown>; stream: unknown }>()
  private readonly acks = new OrderedAcks()

  constructor(private readonly options: MqttSourceOptions) {}

  get connected(): boolean {
    return this.client?.connected ?? false
  }

  /** Messages received but not yet acknowledged. */
  get unacknowledged(): number {
    return this.acks.size
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
          this.started.set(packet.messageId, {
            work: this.options.onMessage(topic, payload),
            stream: this.client?.stream,
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
      logger.info({ sessionPresent: connack.sessionPresent }, 'connected to MQTT broker')
      // Subscribe on every connection, even when the broker reports our session as present:
      // Mosquitto 2.0 restores a session from its persistence file after a restart, but not the
      // session's shared subscriptions, so without a fresh SUBSCRIBE nothing would arrive again.
      // `resubscribe` makes MQTT.js send it although it believes the subscription is in place.
      const subscription: ISubscriptionMap = { [MQTT_SHARED_SUBSCRIPTION]: { qos: 1 } }
      subscription.resubscribe = true
      client.subscribe(subscription, (err) => {
        if (err) logger.error({ err: err.message }, 'subscribe failed')
      })
    })
    client.on('close', () => {
      this.started.clear()
      this.acks.clear()
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
      const started = packet.cmd === 'puback' ? this.started.get(packet.messageId!) : undefined
      if (!started) return send(packet, cb, ...rest)
      this.started.delete(packet.messageId!)
      // Tell MQTT.js the ack is written so it reads the next message; write it when the work is done.
      cb?.()
      this.acks.hold(
        started.work,
        () => {
          // On a later connection the same packet id names another message: acknowledging it
          // there would make the broker drop a message nobody has processed.
          if (client.connected && client.stream === started.stream) send(packet)
        },
        (err) =>
          this.options.logger.error(
            { err: err.message },
            'message not acknowledged; the broker will redeliver it',
          ),
      )
    }
  }

  async stop(): Promise<void> {
    await this.client?.endAsync()
  }
}
