/**
 * Puts each drone's records back in sequence order and recognises the ones already processed, so
 * that at-least-once delivery (MQTT and Kafka both redeliver after a crash, and two gateways can
 * reorder a drone's records) becomes effectively once, in order, in the detector's output. Pure:
 * time is whatever clock the caller passes (wall clock live, record timestamps offline).
 *
 * Per drone it keeps `next`, the next seq expected: every seq below it is settled (processed, or
 * skipped as a gap). A record
 * - with seq === next is processed, and so are the held records that follow on from it;
 * - with seq > next is held in a small reorder buffer until the seqs before it arrive. When the
 *   oldest held record has waited `maxWaitMs`, or more than `maxHeld` are held, the missing seqs
 *   are skipped: counted once each as gaps, and remembered (a bounded number of them) as missing;
 * - with seq < next is a duplicate, unless its seq is one remembered as missing: then it is late,
 *   processed once, and no longer counted among the missing. A late record must not rewind the
 *   drone's feature state; features.ts `nextFeatures` already leaves the state alone for a record
 *   that is not newer than the last one;
 * - with seq < next and a timestamp later than the newest processed one is the drone restarted
 *   (seq back to 0): the held records are released, and the drone starts a new sequence (the same
 *   rule as features.ts, so both agree on what a restart is). A record from before the restart
 *   (a seq ahead, but older than what was processed) is then a duplicate.
 *
 * The first record of a drone the sequencer has not seen (at start-up, or after a restart) could
 * follow records that are still on their way: the `maxHeld` seqs below it are remembered as
 * missing (not counted as gaps), so a straggler among them is still processed once rather than
 * dropped. After a detector restart that may process again a record processed before the crash;
 * anomaly events are protected from that separately (emitted.ts).
 *
 * Memory per drone is bounded: at most `maxHeld` held records and `maxMissing` remembered missing
 * seqs (the oldest forgotten first; a record for a forgotten seq is then treated as a duplicate).
 */

/** What the sequencer needs to know of a record. */
export interface SequenceKey {
  drone_id: string
  seq: number
  /** Sample time, ms since the epoch. */
  timestamp: number
}

/** What became of an offered record. */
export type Decision = 'process' | 'late' | 'duplicate' | 'held'

/** A record to process now; `late` when its seq was skipped earlier (it must not move the drone's state). */
export interface Ready<T> {
  item: T
  late: boolean
}

export interface Offered<T> {
  decision: Decision
  /** Records to process now, in order: the offered one if it is next or late, then any it released. */
  ready: Ready<T>[]
}

export interface SequencerOptions {
  /** Records held per drone before a gap is skipped. */
  maxHeld: number
  /** How long (on the caller's clock) a held record waits for the seqs before it. */
  maxWaitMs: number
  /** Skipped seqs remembered per drone, so that a late one is still processed once. */
  maxMissing: number
}

export const DEFAULT_SEQUENCER_OPTIONS: SequencerOptions = {
  maxHeld: 256,
  maxWaitMs: 2_000,
  maxMissing: 4_096,
}

export interface SequencerStats {
  /** Records dropped because their seq was already processed. */
  duplicates: number
  /** Seqs skipped over because they had not arrived in time (each counted once). */
  gaps: number
  /** Records processed after their seq had been skipped, or from before a drone's first record seen. */
  late: number
  /** Records held in the reorder buffers now. */
  held: number
}

interface Held<T> {
  key: SequenceKey
  item: T
  /** When it was held, on the caller's clock. */
  since: number
}

interface DroneSequence<T> {
  next: number
  /** Timestamp of the newest record processed in sequence: a lower seq after it is a restart. */
  newest: number
  /** Seqs below `next` that have not been processed and may still arrive, oldest first. */
  missing: Set<number>
  held: Map<number, Held<T>>
}

export class Sequencer<T> {
  private readonly options: SequencerOptions
  private readonly drones = new Map<string, DroneSequence<T>>()
  /** Drones with held records, so that expiry looks only at them. */
  private readonly holding = new Set<string>()
  private readonly counts = { duplicates: 0, gaps: 0, late: 0, held: 0 }

  constructor(
    private readonly keyOf: (item: T) => SequenceKey,
    options: Partial<SequencerOptions> = {},
  ) {
    this.options = { ...DEFAULT_SEQUENCER_OPTIONS, ...options }
  }

  get stats(): SequencerStats {
    return { ...this.counts }
  }

  /** Decides what to do with `item`; `now` is the caller's clock (ms), which bounds how long records are held. */
  offer(item: T, now: number): Offered<T> {
    const key = this.keyOf(item)
    const drone = this.drones.get(key.drone_id)
    if (drone === undefined) {
      const ready = [{ item, late: false }]
      this.drones.set(key.drone_id, this.begin(key))
      return { decision: 'process', ready }
    }
    if (key.seq < drone.next && key.timestamp > drone.newest) {
      const ready = this.releaseAll(key.drone_id, drone)
      ready.push({ item, late: false })
      this.drones.set(key.drone_id, this.begin(key))
      return { decision: 'process', ready }
    }
    if (key.seq < drone.next) {
      if (!drone.missing.delete(key.seq)) return this.duplicate()
      this.counts.late++
      return { decision: 'late', ready: [{ item, late: true }] }
    }
    // Ahead in seq but older than what was processed: a copy from before the drone restarted.
    if (key.timestamp < drone.newest) return this.duplicate()
    if (key.seq === drone.next) {
      const ready = [{ item, late: false }]
      this.advance(drone, key)
      this.releaseFollowing(key.drone_id, drone, ready)
      return { decision: 'process', ready }
    }
    if (drone.held.has(key.seq)) return this.duplicate()
    drone.held.set(key.seq, { key, item, since: now })
    this.counts.held++
    this.holding.add(key.drone_id)
    const ready: Ready<T>[] = []
    while (drone.held.size > this.options.maxHeld || this.waitedTooLong(drone, now)) {
      this.skipGap(key.drone_id, drone, ready)
    }
    return { decision: ready.some((r) => r.item === item) ? 'process' : 'held', ready }
  }

  /** Releases the held records that have waited too long, for drones that have gone quiet. */
  expire(now: number): Ready<T>[] {
    const ready: Ready<T>[] = []
    for (const id of [...this.holding]) {
      const drone = this.drones.get(id)!
      while (this.waitedTooLong(drone, now)) this.skipGap(id, drone, ready)
    }
    return ready
  }

  /** Releases every held record (the end of an offline input), skipping the gaps before them. */
  flush(): Ready<T>[] {
    const ready: Ready<T>[] = []
    for (const id of [...this.holding]) ready.push(...this.releaseAll(id, this.drones.get(id)!))
    return ready
  }

  private begin(first: SequenceKey): DroneSequence<T> {
    const missing = new Set<number>()
    for (let seq = Math.max(0, first.seq - this.options.maxHeld); seq < first.seq; seq++) missing.add(seq)
    return { next: first.seq + 1, newest: first.timestamp, missing, held: new Map() }
  }

  private duplicate(): Offered<T> {
    this.counts.duplicates++
    return { decision: 'duplicate', ready: [] }
  }

  private advance(drone: DroneSequence<T>, key: SequenceKey): void {
    drone.next = key.seq + 1
    drone.newest = Math.max(drone.newest, key.timestamp)
  }

  private waitedTooLong(drone: DroneSequence<T>, now: number): boolean {
    for (const held of drone.held.values()) if (now - held.since >= this.options.maxWaitMs) return true
    return false
  }

  /** Moves `next` up to the lowest held seq, remembering the seqs skipped, and releases what follows. */
  private skipGap(id: string, drone: DroneSequence<T>, ready: Ready<T>[]): void {
    const lowest = Math.min(...drone.held.keys())
    this.counts.gaps += lowest - drone.next
    for (let seq = Math.max(drone.next, lowest - this.options.maxMissing); seq < lowest; seq++) {
      drone.missing.add(seq)
    }
    for (const seq of drone.missing) {
      if (drone.missing.size <= this.options.maxMissing) break
      drone.missing.delete(seq)
    }
    drone.next = lowest
    this.releaseFollowing(id, drone, ready)
  }

  private releaseFollowing(id: string, drone: DroneSequence<T>, ready: Ready<T>[]): void {
    for (let held = drone.held.get(drone.next); held; held = drone.held.get(drone.next)) {
      drone.held.delete(held.key.seq)
      this.counts.held--
      ready.push({ item: held.item, late: false })
      this.advance(drone, held.key)
    }
    if (drone.held.size === 0) this.holding.delete(id)
  }

  private releaseAll(id: string, drone: DroneSequence<T>): Ready<T>[] {
    const ready: Ready<T>[] = []
    while (drone.held.size > 0) this.skipGap(id, drone, ready)
    return ready
  }
}
