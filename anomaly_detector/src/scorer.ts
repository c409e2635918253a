/**
 * Scores telemetry records one at a time with a trained model, keeping each drone's tracker between
 * calls. The live detector and the offline `score` command both go through this, so what is
 * measured offline is what runs live.
 */
import type { DroneTelemetry } from '@drone-pipeline/shared/generated/drone-telemetry.ts'
import { CHECK_NAMES, CHECKS, DroneTracker, surpriseOf, toFeatures, type Checks } from './features.ts'
import { compileForest } from './isolation-forest.ts'
import { fillUnknown, type DetectorModel } from './model.ts'

/** A check that made a record unusual: its surprise (from its ordinary value to its training tail). */
export interface FeatureContribution {
  name: string
  /**
   * 0 at the check's ordinary value, 1 at its tail; above 1: beyond what the training fleet showed in
   * all but its rarest moments. Repeats: the run length.
   */
  surprise: number
}

export interface Prediction {
  drone_id: string
  seq: number
  /** Isolation Forest score in (0, 1]; higher is more anomalous. */
  score: number
  /**
   * score > threshold: the model's threshold, or its lower hold threshold while the drone's
   * anomaly goes on (see DetectorModel.hold_threshold).
   */
  anomaly: boolean
  /** The threshold the score was judged against. */
  threshold: number
  /** Anomalies only: the checks furthest beyond their training tail, most surprising first. */
  features?: FeatureContribution[]
}

/** A prediction as the predictions file holds it (DESIGN: drone_id, seq, score, anomaly). */
export function predictionRow({ drone_id, seq, score, anomaly }: Prediction): PredictionRow {
  return { drone_id, seq, score, anomaly }
}
export type PredictionRow = Pick<Prediction, 'drone_id' | 'seq' | 'score' | 'anomaly'>

export interface Scorer {
  score(record: DroneTelemetry): Prediction
}

export interface ScorerOptions {
  /** How many contributing checks an anomaly lists. Default 3. */
  topFeatures?: number
}

export function createScorer(model: DetectorModel, options: ScorerOptions = {}): Scorer {
  const topFeatures = options.topFeatures ?? 3
  const forest = compileForest(model.forest)
  const { threshold, hold_threshold: holdThreshold } = model
  const tails = Float64Array.from(model.check_tails)
  const medians = Float64Array.from(model.feature_medians)
  /** Per drone: its history, and whether the last record pushed to it was an anomaly. */
  const drones = new Map<string, { tracker: DroneTracker; anomaly: boolean }>()

  const explain = (checks: Checks): FeatureContribution[] =>
    CHECK_NAMES.map((name, c) => ({
      name,
      surprise: CHECKS[c]!.family === 'repeat' ? checks[c]! : surpriseOf(c, checks[c]!, tails),
    }))
      .filter((f) => f.surprise > 0)
      .sort((a, b) => b.surprise - a.surprise)
      .slice(0, topFeatures)

  return {
    score(record) {
      let drone = drones.get(record.drone_id)
      if (!drone) {
        drone = { tracker: new DroneTracker(), anomaly: false }
        drones.set(record.drone_id, drone)
      }
      // At-least-once delivery can hand a record over late; it is scored against the drone's history
      // without moving it. A lower seq with a later timestamp is a restarted drone, which moves on.
      const late = drone.tracker.isBehind(record)
      // An anomaly goes on only into a record that continues the drone's history: not into a late
      // one, nor across a gap or a restart, where the history starts afresh.
      const holding = drone.anomaly && drone.tracker.follows(record)
      const checks = late ? drone.tracker.peek(record) : drone.tracker.push(record)
      const score = forest(fillUnknown(toFeatures(checks, tails), medians))
      const judgedBy = holding && score > holdThreshold ? holdThreshold : threshold
      const prediction: Prediction = {
        drone_id: record.drone_id,
        seq: record.seq,
        score,
        anomaly: score > judgedBy,
        threshold: judgedBy,
      }
      if (!late) drone.anomaly = prediction.anomaly
      if (prediction.anomaly) prediction.features = explain(checks)
      return prediction
    },
  }
}
