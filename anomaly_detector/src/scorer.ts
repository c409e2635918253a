/**
 * Scores telemetry records one at a time with a trained model, keeping each drone's feature state
 * between calls. The live detector and the offline `score` command both go through this, so what
 * is measured offline is what runs live.
 */
import type { DroneTelemetry } from '@drone-pipeline/shared/generated/drone-telemetry.ts'
import { FEATURE_NAMES, fillUnknown, nextFeatures, type DroneState, type FeatureName } from './features.ts'
import { compileForest } from './isolation-forest.ts'
import type { DetectorModel } from './model.ts'

/** A feature that made a record unusual: its value and how many training stds it is from the training mean. */
export interface FeatureContribution {
  name: FeatureName
  value: number
  z: number
}

export interface Prediction {
  drone_id: string
  seq: number
  /** Isolation Forest score in (0, 1]; higher is more anomalous. */
  score: number
  /** score > the model's threshold. */
  anomaly: boolean
  /** Anomalies only: the features furthest from what training saw, most unusual first. */
  features?: FeatureContribution[]
}

export interface Scorer {
  score(record: DroneTelemetry): Prediction
}

export interface ScorerOptions {
  /** How many contributing features an anomaly lists. Default 3. */
  topFeatures?: number
}

/** Keeps a z-score finite for a feature that was constant in training. */
const MIN_STD = 1e-9

export function createScorer(model: DetectorModel, options: ScorerOptions = {}): Scorer {
  const topFeatures = options.topFeatures ?? 3
  const forest = compileForest(model.forest)
  const { threshold } = model
  const typical = Float64Array.from(model.feature_stats.median)
  const mean = Float64Array.from(model.feature_stats.mean)
  const std = Float64Array.from(model.feature_stats.std, (s) => Math.max(s, MIN_STD))
  const states = new Map<string, DroneState>()

  // Deviation from training is a simple, honest attribution: it names what was unusual, not how
  // much each feature moved the forest's path lengths.
  const explain = (features: Float64Array): FeatureContribution[] =>
    FEATURE_NAMES.map((name, i) => ({
      name,
      value: features[i]!,
      z: Math.abs(features[i]! - mean[i]!) / std[i]!,
    }))
      .sort((a, b) => b.z - a.z)
      .slice(0, topFeatures)

  return {
    score(record) {
      const step = nextFeatures(states.get(record.drone_id), record)
      states.set(record.drone_id, step.state)
      const features = fillUnknown(step, typical)
      const score = forest(features)
      const prediction: Prediction = {
        drone_id: record.drone_id,
        seq: record.seq,
        score,
        anomaly: score > threshold,
      }
      if (prediction.anomaly) prediction.features = explain(features)
      return prediction
    },
  }
}
