/**
 * Which consumer offsets may be committed: only those of records already processed, a batch at a
 * time. A record can be held back (the sequencer reorders a drone's records) while later records of
 * the same partition are processed, so a partition's commit point is its oldest record still in
 * hand, or just past the newest processed one when none is. One commit per partition per interval
 * replaces one per message.
 */
export interface Position {
  topic: string
  partition: number
  offset: bigint
}

export interface CommitPoint {
  topic: string
  partition: number
  /** The offset of the next record to consume: everything before it is processed. */
  offset: bigint
}

/** A partition's log end offset (just past its newest message) and the consumer's next fetch from it. */
export interface PartitionEnd {
  partition: number
  end: bigint
  fetchFrom?: bigint
}

interface PartitionProgress {
  topic: string
  partition: number
  /** Offsets received and not yet processed, with how many copies are in hand (a reconnect redelivers). */
  inHand: Map<bigint, number>
  /** Just past the newest offset processed. */
  processedUpTo: bigint
  committed: bigint
}

export class ProcessedOffsets {
  private readonly partitions = new Map<string, PartitionProgress>()

  received(position: Position): void {
    const progress = this.progress(position)
    progress.inHand.set(position.offset, (progress.inHand.get(position.offset) ?? 0) + 1)
  }

  processed(position: Position): void {
    const progress = this.progress(position)
    const copies = progress.inHand.get(position.offset) ?? 0
    if (copies > 1) progress.inHand.set(position.offset, copies - 1)
    else progress.inHand.delete(position.offset)
    if (position.offset + 1n > progress.processedUpTo) progress.processedUpTo = position.offset + 1n
  }

  /** Partitions whose commit point moved since the last successful commit. */
  pending(): CommitPoint[] {
    const points: CommitPoint[] = []
    for (const p of this.partitions.values()) {
      const offset = commitPoint(p)
      if (offset > p.committed) points.push({ topic: p.topic, partition: p.partition, offset })
    }
    return points
  }

  /**
   * Consumer lag: how many messages of each partition are not processed yet, counted from where
   * processing stands (records held back count as not processed), or, before a partition's first
   * record arrived, from where the consumer will fetch.
   */
  lag(topic: string, partitions: readonly PartitionEnd[]): Map<number, number> {
    const lag = new Map<number, number>()
    for (const { partition, end, fetchFrom } of partitions) {
      const progress = this.partitions.get(`${topic}:${partition}`)
      const started = progress && (progress.inHand.size > 0 || progress.processedUpTo >= 0n)
      const next = started ? commitPoint(progress) : (fetchFrom ?? end)
      lag.set(partition, Math.max(0, Number(end - next)))
    }
    return lag
  }

  /** Commits the pending points with `commit`; a failed commit is tried again next time. */
  async commit(commit: (points: CommitPoint[]) => Promise<void>): Promise<void> {
    const points = this.pending()
    if (points.length === 0) return
    await commit(points)
    for (const point of points) this.progress(point).committed = point.offset
  }

  private progress(position: Pick<Position, 'topic' | 'partition'>): PartitionProgress {
    const id = `${position.topic}:${position.partition}`
    let progress = this.partitions.get(id)
    if (!progress) {
      progress = {
        topic: position.topic,
        partition: position.partition,
        inHand: new Map(),
        processedUpTo: -1n,
        committed: -1n,
      }
      this.partitions.set(id, progress)
    }
    return progress
  }
}

/** The oldest offset still in hand, or just past the newest processed when none is. */
function commitPoint(p: PartitionProgress): bigint {
  let offset: bigint | undefined
  for (const inHand of p.inHand.keys()) if (offset === undefined || inHand < offset) offset = inHand
  return offset ?? p.processedUpTo
}
