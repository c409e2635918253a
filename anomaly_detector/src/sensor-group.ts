/**
 * The detector's guess at which sensor an anomaly comes from, for the `sensor` label of
 * detector_anomalies_total: a handful of values, so the label stays bounded however many features
 * the model grows. Feature names are matched by keyword, not listed one by one, so a renamed or
 * added feature still lands in its group (or in `other`) without touching this file.
 */
export const SENSOR_GROUPS = ['gps', 'altitude', 'velocity', 'accelerometer', 'gyroscope', 'other'] as const

export type SensorGroup = (typeof SENSOR_GROUPS)[number]

/**
 * First match wins: a feature comparing two sensors is named after the one it checks (GPS speed
 * against reported speed is about the GPS; speed change against the accelerometer is about the
 * accelerometer), so those keywords come before `speed`.
 */
const KEYWORDS: ReadonlyArray<readonly [RegExp, SensorGroup]> = [
  [/gps|position|latitude|longitude/, 'gps'],
  [/accel/, 'accelerometer'],
  [/gyro/, 'gyroscope'],
  [/altitude/, 'altitude'],
  [/velocity|speed/, 'velocity'],
]

export function sensorGroupOf(featureName: string): SensorGroup {
  const name = featureName.toLowerCase()
  return KEYWORDS.find(([pattern]) => pattern.test(name))?.[1] ?? 'other'
}

/**
 * The sensor group of the most unusual feature that names a sensor. A summary feature (the largest
 * z-score of all, say) says nothing about which sensor failed, so the next feature decides.
 */
export function faultGuess(topFeatureNames: readonly string[]): SensorGroup {
  for (const name of topFeatureNames) {
    const group = sensorGroupOf(name)
    if (group !== 'other') return group
  }
  return 'other'
}
