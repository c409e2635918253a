/**
 * Labeled datasets (DESIGN.md): JSON Lines, one telemetry record per line exactly as published on
 * MQTT, plus `label` (0 normal, 1 fault) and `fault` (fault type name, or null).
 */
import fs from 'node:fs'
import readline from 'node:readline'
import type { DroneTelemetry } from './generated/drone-telemetry.ts'

export interface LabeledRecord extends DroneTelemetry {
  label: 0 | 1
  fault: string | null
}

export function toDatasetLine(record: DroneTelemetry, label: 0 | 1 = 0, fault: string | null = null): string {
  return JSON.stringify({ ...record, label, fault })
}

/** The record as it is published: the dataset's `label` and `fault` removed. */
export function stripLabels(row: LabeledRecord): DroneTelemetry {
  const { label: _label, fault: _fault, ...record } = row
  return record
}

export class DatasetError extends Error {
  override name = 'DatasetError'
}

export function parseDatasetLine(line: string, where: string): LabeledRecord {
  let row: unknown
  try {
    row = JSON.parse(line)
  } catch (err) {
    throw new DatasetError(`${where}: not JSON (${(err as Error).message})`)
  }
  if (typeof row !== 'object' || row === null || Array.isArray(row)) {
    throw new DatasetError(`${where}: expected a JSON object`)
  }
  const r = row as Record<string, unknown>
  if (r.label !== 0 && r.label !== 1) throw new DatasetError(`${where}: label must be 0 or 1`)
  if (r.fault !== null && typeof r.fault !== 'string')
    throw new DatasetError(`${where}: fault must be a string or null`)
  if (typeof r.drone_id !== 'string' || typeof r.seq !== 'number') {
    throw new DatasetError(`${where}: drone_id (string) and seq (number) are required`)
  }
  return r as unknown as LabeledRecord
}

/** Streams a dataset file; each bad line fails with its file name and line number. */
export async function* readDataset(file: string): AsyncGenerator<LabeledRecord> {
  if (!fs.existsSync(file)) throw new DatasetError(`dataset ${file} does not exist`)
  const lines = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity })
  let n = 0
  for await (const line of lines) {
    n++
    if (line.trim() === '') continue
    yield parseDatasetLine(line, `${file}:${n}`)
  }
}
