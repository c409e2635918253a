import type { DroneTelemetry } from '@drone-pipeline/shared/generated/drone-telemetry.ts'

/** A valid telemetry record, hovering near Zurich; tests change only what they are about. */
export function sampleRecord(overrides: Partial<DroneTelemetry> = {}): DroneTelemetry {
  return {
    drone_id: 'drone-0001',
    seq: 0,
    timestamp: 1_700_000_000_000,
    publish_timestamp: 1_700_000_000_000_000,
    latitude: 47.397,
    longitude: 8.545,
    altitude: 30,
    velocity: 5,
    acceleration_x: 0.1,
    acceleration_y: -0.2,
    acceleration_z: -9.81,
    gyro_x: 0.01,
    gyro_y: -0.02,
    gyro_z: 0.03,
    ...overrides,
  }
}
