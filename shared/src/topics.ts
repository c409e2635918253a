/** MQTT and Kafka names that every service agrees on (see DESIGN.md, "Contracts"). */

export const MQTT_TOPIC_FILTER = 'drones/+/telemetry'
/** Gateways share the subscription, so N gateways split the load instead of each getting everything. */
export const MQTT_SHARED_SUBSCRIPTION = `$share/gateway/${MQTT_TOPIC_FILTER}`

export const KAFKA_TOPICS = {
  validated: 'telemetry-validated',
  dlq: 'telemetry-dlq',
  anomalies: 'telemetry-anomalies',
} as const

export const DETECTOR_GROUP_ID = 'anomaly-detector'

const DRONE_ID = /^[A-Za-z0-9_-]{1,64}$/

export function isValidDroneId(id: string): boolean {
  return DRONE_ID.test(id)
}

export function telemetryTopic(droneId: string): string {
  return `drones/${droneId}/telemetry`
}

/** The drone id named by a telemetry topic, or undefined when the topic is not one. */
export function droneIdFromTopic(topic: string): string | undefined {
  const parts = topic.split('/')
  if (parts.length !== 3 || parts[0] !== 'drones' || parts[2] !== 'telemetry') return undefined
  return parts[1] && isValidDroneId(parts[1]) ? parts[1] : undefined
}

/** drone-0001 style ids, zero-padded so they sort. */
export function droneIdFor(index: number): string {
  return `drone-${String(index + 1).padStart(4, '0')}`
}

/** The ids of a fleet of `count` drones: drone-0001 .. */
export function fleetDroneIds(count: number): string[] {
  return Array.from({ length: count }, (_, index) => droneIdFor(index))
}
