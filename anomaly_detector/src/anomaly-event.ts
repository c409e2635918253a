/** What the detector reports for each anomaly: the console line and the telemetry-anomalies event. */
import type { DroneTelemetry } from '@drone-pipeline/shared/generated/drone-telemetry.ts'
import type { FeatureContribution, Prediction } from './scorer.ts'

export interface AnomalyEvent {
  drone_id: string
  seq: number
  /** Sample time, ms since the epoch. */
  timestamp: number
  /** When the simulator published the sample, µs since the epoch. */
  publish_timestamp: number
  /** When the detector scored it, ISO 8601. */
  detected_at: string
  score: number
  /** The threshold the score was above: the model's, or its hold threshold while an anomaly goes on. */
  threshold: number
  /** The checks that made this record unusual, most surprising first. */
  top_features: FeatureContribution[]
  record: DroneTelemetry
}

export function toAnomalyEvent(
  record: DroneTelemetry,
  prediction: Prediction,
  detectedAtMs: number,
): AnomalyEvent {
  return {
    drone_id: record.drone_id,
    seq: record.seq,
    timestamp: record.timestamp,
    publish_timestamp: record.publish_timestamp,
    detected_at: new Date(detectedAtMs).toISOString(),
    score: prediction.score,
    threshold: prediction.threshold,
    top_features: prediction.features ?? [],
    record,
  }
}

/** The seed's console line, kept word for word at its start, with the why after it. */
export function anomalyLine(event: AnomalyEvent): string {
  const why = event.top_features.map((f) => `${f.name}=${f.surprise.toPrecision(3)}`).join(', ')
  return (
    `Anomaly detected in message from drone_id: ${event.drone_id} ` +
    `(seq ${event.seq}, score ${event.score.toFixed(3)} > ${event.threshold.toFixed(3)}${why ? `; ${why}` : ''})`
  )
}
