import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { FEATURE_NAMES } from '../src/features.ts'
import { faultGuess, SENSOR_GROUPS, sensorGroupOf } from '../src/sensor-group.ts'

describe('sensorGroupOf', () => {
  it('names the sensor a feature is about, by keyword', () => {
    const expected: Record<string, string> = {
      delta_position_m: 'gps',
      repeat_position: 'gps',
      latitude_jump: 'gps',
      gps_speed_error_mps: 'gps',
      zscore_gps_speed_error: 'gps',
      delta_altitude_m: 'altitude',
      zscore_altitude_change: 'altitude',
      delta_velocity_mps: 'velocity',
      zscore_velocity_change: 'velocity',
      ground_speed: 'velocity',
      delta_acceleration_mps2: 'accelerometer',
      accel_speed_error_mps: 'accelerometer',
      zscore_acceleration: 'accelerometer',
      repeat_gyro: 'gyroscope',
      Zscore_Gyro: 'gyroscope',
    }
    for (const [name, group] of Object.entries(expected)) assert.equal(sensorGroupOf(name), group, name)
  })

  it('falls back to other for a feature that names no sensor', () => {
    assert.equal(sensorGroupOf('zscore_max'), 'other')
    assert.equal(sensorGroupOf('battery_voltage'), 'other')
    assert.equal(sensorGroupOf(''), 'other')
  })

  it("maps every one of the model's features into the bounded label set", () => {
    for (const name of FEATURE_NAMES) assert.ok(SENSOR_GROUPS.includes(sensorGroupOf(name)), name)
  })
})

describe('faultGuess', () => {
  it('takes the most unusual feature that names a sensor', () => {
    assert.equal(faultGuess(['zscore_gyro', 'delta_altitude_m']), 'gyroscope')
    assert.equal(faultGuess(['zscore_max', 'delta_altitude_m', 'zscore_gyro']), 'altitude')
  })

  it('is other when no feature names a sensor, or none is given', () => {
    assert.equal(faultGuess(['zscore_max']), 'other')
    assert.equal(faultGuess([]), 'other')
  })
})
