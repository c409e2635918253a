/**
 * Which anomaly events are already on telemetry-anomalies, so that a record processed again (after
 * a detector crash, offsets since the last commit are consumed again) never yields a second event.
 * Seeded at start-up from the topic's recent tail, then kept up to date with every event sent.
 *
 * A record is identified by drone_id, seq and timestamp: a redelivered record is byte-identical,
 * while a restarted drone counts seq from 0 again and must still be able to raise an anomaly.
 */

/** How many events per partition of telemetry-anomalies are read back at start-up. */
export const DEFAULT_TAIL_EVENTS = 50_000

export function anomalyKey(record: { drone_id: string; seq: number; timestamp: number }): string {
  return `${record.drone_id}/${record.seq}/${record.timestamp}`
}

/** The key of an event read back from telemetry-anomalies, or undefined for anything that is not one. */
export function keyOfEvent(value: Buffer | null | undefined): string | undefined {
  if (!value) return undefined
  let event: unknown
  try {
    event = JSON.parse(value.toString('utf8'))
  } catch {
    return undefined
  }
  if (typeof event !== 'object' || event === null) return undefined
  const { drone_id, seq, timestamp } = event as Record<string, unknown>
  if (typeof drone_id !== 'string' || !Number.isInteger(seq) || !Number.isFinite(timestamp)) return undefined
  return anomalyKey({ drone_id, seq: seq as number, timestamp: timestamp as number })
}

/** The offsets to read back from a partition: the last `events` before `end`, or all it still has. */
export function tailRange(start: bigint, end: bigint, events: number): { from: bigint; to: bigint } {
  const from = end - BigInt(events)
  return { from: from > start ? from : start, to: end }
}

/** A set of event keys that forgets the oldest beyond `capacity`, so memory stays bounded. */
export class EmittedAnomalies {
  private readonly keys = new Set<string>()

  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.keys.size
  }

  has(key: string): boolean {
    return this.keys.has(key)
  }

  add(key: string): void {
    this.keys.delete(key)
    this.keys.add(key)
    for (const oldest of this.keys) {
      if (this.keys.size <= this.capacity) break
      this.keys.delete(oldest)
    }
  }

  /** Adds the keys of events read back from the topic (values that are not events are ignored). */
  seed(values: Iterable<Buffer | null | undefined>): number {
    let seeded = 0
    for (const value of values) {
      const key = keyOfEvent(value)
      if (key === undefined) continue
      this.add(key)
      seeded++
    }
    return seeded
  }
}
