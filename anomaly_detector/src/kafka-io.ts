/**
 * The detector's Kafka I/O, made to outlast a broker restart: a consumer of telemetry-validated
 * that reconnects by itself, an anomaly publisher that retries without writing an event twice, and
 * the read-back of telemetry-anomalies that tells a restarted detector what it already reported.
 */
import { Consumer, Producer, type Message, type MessagesStream } from '@platformatic/kafka'
import type { KafkaConnection } from '@drone-pipeline/shared/kafka.ts'
import type { Logger } from '@drone-pipeline/shared/log.ts'
import { backoffMs, sleep } from '@drone-pipeline/shared/retry.ts'
import { KAFKA_TOPICS } from '@drone-pipeline/shared/topics.ts'
import { tailRange } from './emitted.ts'
import { historyStart } from './history.ts'
import type { CommitPoint, PartitionEnd } from './offsets.ts'

/** Kafka offsets: the earliest it still has and just past the newest. */
const EARLIEST = -2n
const LATEST = -1n

export interface ConsumerSettings {
  connection: KafkaConnection
  groupId: string
  maxWaitMs: number
}

/**
 * The messages of telemetry-validated, in partition order, from the committed offsets. When the
 * stream fails (a broker restarted, the network dropped) the failure is logged, the consumer is
 * closed and made anew with backoff, and consumption resumes from the committed offsets; records
 * consumed again are the caller's to recognise (the sequencer's duplicates).
 */
export class ReconnectingConsumer {
  private consumer: Consumer | undefined
  private stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined
  private stopping = false

  constructor(
    private readonly settings: ConsumerSettings,
    private readonly logger: Logger,
    /** Told when the consumer starts and stops fetching. */
    private readonly onConnected: (connected: boolean) => void,
  ) {}

  async *messages(): AsyncGenerator<Message> {
    let failures = 0
    while (!this.stopping) {
      const consumer = new Consumer({
        ...this.settings.connection,
        groupId: this.settings.groupId,
        autocommit: false,
        maxWaitTime: this.settings.maxWaitMs,
        sessionTimeout: 10_000,
        heartbeatInterval: 1_000,
      })
      this.consumer = consumer
      try {
        this.stream = await consumer.consume({
          topics: [KAFKA_TOPICS.validated],
          mode: 'committed',
          fallbackMode: 'earliest',
        })
        this.onConnected(true)
        for await (const message of this.stream) {
          failures = 0
          yield message
        }
        if (!this.stopping) throw new Error('the message stream ended')
      } catch (err) {
        if (this.stopping) break
        this.onConnected(false)
        failures++
        this.logger.warn(
          { err: (err as Error).message, attempt: failures },
          'Kafka consumer failed; reconnecting from the committed offsets',
        )
        await leave(consumer)
        await sleep(backoffMs(failures))
      }
    }
  }

  /** Commits processed offsets through the current consumer (leader epoch unknown: -1). */
  async commit(points: CommitPoint[]): Promise<void> {
    if (!this.consumer) throw new Error('not connected')
    await this.consumer.commit({ offsets: points.map((p) => ({ ...p, leaderEpoch: -1 })) })
  }

  /**
   * The partitions of telemetry-validated assigned to this consumer, each with its log end offset
   * (one ListOffsets request) and the stream's next fetch offset; none while not consuming.
   */
  async assignedPartitionEnds(): Promise<PartitionEnd[]> {
    const { consumer, stream } = this
    const topic = KAFKA_TOPICS.validated
    const assigned = consumer?.assignments?.find((a) => a.topic === topic)?.partitions ?? []
    if (!consumer || !stream || assigned.length === 0) return []
    const ends = (await consumer.listOffsets({ topics: [topic], timestamp: LATEST })).get(topic) ?? []
    return assigned.flatMap((partition) => {
      const end = ends[partition]
      return end === undefined
        ? []
        : [{ partition, end, fetchFrom: stream.offsetsToFetch.get(`${topic}:${partition}`) }]
    })
  }

  /** Ends the message stream; the consumer stays open for a last commit until `close`. */
  async stop(): Promise<void> {
    this.stopping = true
    this.onConnected(false)
    await this.stream?.close().catch(() => {})
  }

  async close(): Promise<void> {
    if (this.consumer) await leave(this.consumer)
  }
}

/** Leaves the group if the broker answers soon, so partitions move on without waiting for a session timeout. */
async function leave(consumer: Consumer): Promise<void> {
  const left = consumer.close().then(
    () => true,
    () => false,
  )
  if (!(await Promise.race([left, sleep(2_000).then(() => false)]))) {
    await new Promise<void>((resolve) => consumer.close(true, () => resolve()))
  }
}

/**
 * The values of the last `events` messages of each partition of telemetry-anomalies (all of them
 * when there are fewer), read without a consumer group: listOffsets, then fetches from each
 * partition's leader. Gives up at `deadline` (ms since the epoch) with what it has read.
 */
export async function readAnomalyTail(
  connection: KafkaConnection,
  events: number,
  deadline: number,
  logger: Logger,
): Promise<{ values: Buffer[]; partitions: number }> {
  // A consumer that never joins its group: metadata, offsets and fetches need none.
  const client = new Consumer({ ...connection, groupId: `${connection.clientId}-tail` })
  const topic = KAFKA_TOPICS.anomalies
  try {
    const partitions = await partitionsOf(client, topic)
    const starts = (await client.listOffsets({ topics: [topic], timestamp: EARLIEST })).get(topic)!
    const ends = (await client.listOffsets({ topics: [topic], timestamp: LATEST })).get(topic)!
    const values: Buffer[] = []
    for (const partition of partitions) {
      const { from, to } = tailRange(starts[partition.index]!, ends[partition.index]!, events)
      if (!(await readValues(client, partition, from, to, deadline, values, logger))) break
    }
    return { values, partitions: partitions.length }
  } finally {
    await client.close().catch(() => {})
  }
}

/**
 * The values of the records of telemetry-validated from `seconds` (by Kafka's record time) before
 * each partition's committed offset in `groupId` up to it, at most `maxRecords` in all: what the
 * group had processed last (see history.ts). Read without joining the group, like the tail above.
 * Gives up at `deadline` with what it has read.
 */
export async function readHistory(
  connection: KafkaConnection,
  groupId: string,
  seconds: number,
  maxRecords: number,
  deadline: number,
  logger: Logger,
): Promise<Buffer[]> {
  const client = new Consumer({ ...connection, groupId })
  const topic = KAFKA_TOPICS.validated
  try {
    const partitions = await partitionsOf(client, topic)
    const committed =
      (
        await client.listCommittedOffsets({
          topics: [{ topic, partitions: partitions.map((p) => p.index) }],
        })
      ).get(topic) ?? []
    const starts = (await client.listOffsets({ topics: [topic], timestamp: EARLIEST })).get(topic)!
    const values: Buffer[] = []
    const perPartition = BigInt(Math.ceil(maxRecords / Math.max(1, partitions.length)))
    for (const partition of partitions) {
      const to = committed[partition.index]
      const logStart = starts[partition.index]!
      // Nothing committed yet (-1), or nothing before the committed offset left in the log.
      if (to === undefined || to <= logStart) continue
      const last = await readRange(client, partition, to - 1n, to, deadline)
      const lastTime = last.records.at(-1)?.timestamp
      if (lastTime === undefined) continue
      const since = lastTime - BigInt(Math.round(seconds * 1000))
      const byTime = (await client.listOffsets({ topics: [topic], timestamp: since })).get(topic)?.[
        partition.index
      ]
      const from = historyStart(logStart, byTime, to, perPartition)
      if (!(await readValues(client, partition, from, to, deadline, values, logger))) break
    }
    return values
  } finally {
    await client.close().catch(() => {})
  }
}

interface PartitionInfo {
  topic: string
  topicId: string
  index: number
  leader: number
}

async function partitionsOf(client: Consumer, topic: string): Promise<PartitionInfo[]> {
  const metadata = await client.metadata({ topics: [topic] })
  const { id: topicId, partitions } = metadata.topics.get(topic)!
  return partitions.map((p, index) => ({ topic, topicId, index, leader: p.leader }))
}

/**
 * Appends the values at offsets from..to-1 of one partition to `values`; false, with a warning,
 * if `deadline` came first (the caller then goes on with what was read).
 */
async function readValues(
  client: Consumer,
  partition: PartitionInfo,
  from: bigint,
  to: bigint,
  deadline: number,
  values: Buffer[],
  logger: Logger,
): Promise<boolean> {
  const range = await readRange(client, partition, from, to, deadline)
  for (const record of range.records) values.push(record.value)
  if (!range.complete) {
    logger.warn(
      {
        topic: partition.topic,
        partition: partition.index,
        read: range.records.length,
        of: String(to - from),
      },
      'reading back took too long; going on with what was read',
    )
  }
  return range.complete
}

interface RangeRecord {
  /** Kafka's record time, ms since the epoch. */
  timestamp: bigint
  value: Buffer
}

/**
 * The records at offsets from..to-1 of one partition, fetched from its leader; `complete` false if
 * `deadline` (ms since the epoch) came first.
 */
async function readRange(
  client: Consumer,
  partition: PartitionInfo,
  from: bigint,
  to: bigint,
  deadline: number,
): Promise<{ records: RangeRecord[]; complete: boolean }> {
  const records: RangeRecord[] = []
  let offset = from
  while (offset < to) {
    if (Date.now() > deadline) return { records, complete: false }
    const response = await client.fetch({
      node: partition.leader,
      maxWaitTime: 100,
      topics: [
        {
          topicId: partition.topicId,
          partitions: [
            {
              partition: partition.index,
              fetchOffset: offset,
              partitionMaxBytes: 1_048_576,
              currentLeaderEpoch: -1,
              lastFetchedEpoch: -1,
            },
          ],
        },
      ],
    })
    const next = offset
    for (const batch of response.responses[0]?.partitions[0]?.records ?? []) {
      for (const record of batch.records) {
        const at = batch.firstOffset + BigInt(record.offsetDelta)
        if (at >= offset && at < to && record.value) {
          records.push({ timestamp: batch.firstTimestamp + record.timestampDelta, value: record.value })
        }
      }
      const after = batch.firstOffset + BigInt(batch.lastOffsetDelta) + 1n
      if (after > offset) offset = after
    }
    // Nothing readable there (a transaction marker, a compacted range): nothing more to read.
    if (offset === next) break
  }
  return { records, complete: true }
}

/** Events sent in one request at most (the detector reads the topic's last 1,000 back after a failure). */
const MAX_EVENTS_PER_SEND = 500

interface QueuedEvent {
  droneId: string
  eventKey: string
  value: Buffer
  sent: () => void
}

/**
 * Publishes anomaly events, retrying until Kafka acknowledges. The producer is idempotent, so its
 * own retries never duplicate an event; when a send still fails, the events may nevertheless have
 * been written, so `alreadyPublished` (which reads the topic back) is asked which were before
 * sending the others again.
 *
 * One send is in flight at a time (the idempotent producer refuses more), and events that arrive
 * meanwhile go out together in the next one: a storm of anomalies costs a round trip per batch,
 * not per event, and events keep their order.
 */
export class AnomalyPublisher {
  private readonly producer: Producer
  private closing = false
  private readonly queue: QueuedEvent[] = []
  private pumping = false

  constructor(
    connection: KafkaConnection,
    private readonly logger: Logger,
    private readonly alreadyPublished: (eventKeys: string[]) => Promise<Set<string>>,
  ) {
    this.producer = new Producer({ ...connection, idempotent: true, acks: -1, retries: 10, retryDelay: 500 })
  }

  /** Resolves once Kafka acknowledged the event (or the detector is stopping). */
  publish(droneId: string, eventKey: string, value: Buffer): Promise<void> {
    return new Promise((sent) => {
      this.queue.push({ droneId, eventKey, value, sent })
      if (!this.pumping) {
        this.pumping = true
        void this.pump()
      }
    })
  }

  private async pump(): Promise<void> {
    while (this.queue.length > 0 && !this.closing) {
      const batch = this.queue.splice(0, MAX_EVENTS_PER_SEND)
      await this.send(batch)
      for (const event of batch) event.sent()
    }
    // No await between the loop's last check and this: an event queued now starts a new pump.
    this.pumping = false
  }

  private async send(batch: QueuedEvent[]): Promise<void> {
    let unsent = batch
    for (let attempt = 1; !this.closing; attempt++) {
      try {
        await this.producer.send({
          messages: unsent.map((e) => ({
            topic: KAFKA_TOPICS.anomalies,
            key: Buffer.from(e.droneId),
            value: e.value,
          })),
        })
        return
      } catch (err) {
        this.logger.warn(
          { err: (err as Error).message, attempt, events: unsent.length },
          'anomaly events not acknowledged; retrying',
        )
      }
      // The failed send may have been written all the same, or some of it: look before sending again.
      for (let check = 1; !this.closing; check++) {
        await sleep(backoffMs(check))
        try {
          const written = await this.alreadyPublished(unsent.map((e) => e.eventKey))
          unsent = unsent.filter((e) => !written.has(e.eventKey))
          if (unsent.length === 0) return
          break
        } catch (err) {
          this.logger.warn({ err: (err as Error).message }, 'cannot read telemetry-anomalies back yet')
        }
      }
    }
  }

  async close(): Promise<void> {
    this.closing = true
    for (const event of this.queue.splice(0)) event.sent()
    await this.producer.close().catch(() => {})
  }
}
