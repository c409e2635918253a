/**
 * Writes to Kafka with an idempotent, acks=all producer, and tells each caller when its message is
 * durable. Messages are grouped: while one batch is in flight the next one fills, so a quiet
 * gateway sends each message at once and a busy one sends large batches (group commit).
 * Batches complete in submission order, which keeps MQTT acknowledgements in order too.
 * A failed batch is retried with backoff until it succeeds: the caller is never told "durable"
 * for a message Kafka did not take, and the queue bound pushes back on the sources meanwhile.
 */
import { Producer, type MessageToProduce } from '@platformatic/kafka'
import type { KafkaConnection } from '@drone-pipeline/shared/kafka.ts'
import type { Logger } from '@drone-pipeline/shared/log.ts'
import { backoffMs, sleep } from '@drone-pipeline/shared/retry.ts'

interface Pending {
  message: MessageToProduce
  resolve: () => void
}

export interface SinkEvents {
  onBatch(size: number, seconds: number): void
  onError(err: Error): void
}

export interface KafkaSinkOptions {
  connection: KafkaConnection
  /** Most messages waiting or in flight; HTTP ingest is refused past this (MQTT is bounded by receive-maximum). */
  maxQueued: number
  maxBatch: number
  logger: Logger
  events: SinkEvents
}

export class KafkaSink {
  private readonly producer: Producer
  private queue: Pending[] = []
  private inFlight = 0
  private flushing = false
  private closed = false
  private healthy = false

  constructor(private readonly options: KafkaSinkOptions) {
    this.producer = new Producer({
      ...options.connection,
      idempotent: true,
      acks: -1,
      retries: 3,
      retryDelay: 250,
      timeout: 10_000,
    })
  }

  /** Connects and fetches topic metadata, so readiness means "a write would go through". */
  async connect(topics: string[]): Promise<void> {
    await this.producer.metadata({ topics })
    this.healthy = true
  }

  isHealthy(): boolean {
    return this.healthy && !this.closed
  }

  /** Messages accepted but not yet acknowledged by Kafka. */
  get depth(): number {
    return this.queue.length + this.inFlight
  }

  hasRoom(count: number): boolean {
    return this.depth + count <= this.options.maxQueued
  }

  /** Resolves once Kafka has acknowledged the message (acks=all). */
  submit(message: MessageToProduce): Promise<void> {
    if (this.closed) return Promise.reject(new Error('gateway is shutting down'))
    return new Promise((resolve) => {
      this.queue.push({ message, resolve })
      if (!this.flushing) {
        this.flushing = true
        // Let the messages of this tick join the batch before it is sent.
        setImmediate(() => void this.flushLoop())
      }
    })
  }

  private async flushLoop(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.maxBatch)
      this.inFlight = batch.length
      for (let attempt = 1; ; attempt++) {
        const started = performance.now()
        try {
          await this.producer.send({ messages: batch.map((p) => p.message) })
          this.healthy = true
          this.options.events.onBatch(batch.length, (performance.now() - started) / 1000)
          break
        } catch (err) {
          this.healthy = false
          this.options.events.onError(err as Error)
          if (this.closed) return
          this.options.logger.warn(
            { err: (err as Error).message, batch: batch.length },
            'Kafka write failed; retrying',
          )
          await sleep(backoffMs(attempt, 100))
        }
      }
      this.inFlight = 0
      for (const pending of batch) pending.resolve()
    }
    this.flushing = false
  }

  /** Waits (bounded) for what was accepted to reach Kafka, then closes the producer. */
  async close(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (this.depth > 0 && Date.now() < deadline) await sleep(20)
    this.closed = true
    await this.producer.close()
  }
}
