/**
 * A restarted detector's per-drone history, rebuilt from the records just before the committed
 * offsets. The checks compare each reading with the drone's own recent past and its own typical
 * residuals; a detector that starts afresh in mid-flight leaves each drone unchecked for 5 s and
 * relearns its typical sizes over the next minute, which gave a false alarm after a crash
 * (docs/reliability.md). Fed the records it had already scored, without scoring them again for
 * anyone to see, it carries on where it stopped.
 */
import type { DroneTelemetry } from '@drone-pipeline/shared/generated/drone-telemetry.ts'

/** Default span of the rebuild: the consistency checks learn over their first minute, plus margin. */
export const DEFAULT_HISTORY_S = 70

/**
 * The records in the order a drone flew them: by drone, then time, then seq (a restarted drone
 * starts a new seq at a later time), each (drone, seq, timestamp) once. A partition holds them in
 * arrival order, where a drone's records may be out of order or repeated (redelivered).
 */
export function historyOrder(records: DroneTelemetry[]): DroneTelemetry[] {
  const sorted = [...records].sort(
    (a, b) =>
      (a.drone_id < b.drone_id ? -1 : a.drone_id > b.drone_id ? 1 : 0) ||
      a.timestamp - b.timestamp ||
      a.seq - b.seq,
  )
  return sorted.filter((r, i) => {
    const before = sorted[i - 1]
    return !(
      before &&
      before.drone_id === r.drone_id &&
      before.seq === r.seq &&
      before.timestamp === r.timestamp
    )
  })
}

/**
 * Where a partition's rebuild starts: at `byTime` (the first offset Kafka has at the rebuild's start
 * time; -1 or undefined for none), never before the log start, past the committed offset, or more
 * than `maxRecords` before it.
 */
export function historyStart(
  logStart: bigint,
  byTime: bigint | undefined,
  committed: bigint,
  maxRecords: bigint,
): bigint {
  const from = byTime === undefined || byTime < 0n ? committed : byTime
  const floor = committed - maxRecords > logStart ? committed - maxRecords : logStart
  return from < floor ? floor : from > committed ? committed : from
}
