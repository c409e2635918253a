/** What the integration suites share: a stack on free loopback ports, and ways to look into it. */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { Message } from '@platformatic/kafka'
import { defaultOptions } from '@drone-pipeline/shared/cli.ts'
import type { DroneTelemetry } from '@drone-pipeline/shared/generated/drone-telemetry.ts'
import { loadTlsMaterial, tlsFilesFor, type TlsMaterial } from '@drone-pipeline/shared/tls.ts'
import { sampleRecord } from '../../gateway/test/fixtures.ts'
import { stackConfigFrom, STACK_OPTIONS, type StackConfig } from '../../runner/src/config.ts'
import { freePorts } from '../../runner/src/procs.ts'

export const log = (m: string) => console.error(`# ${m}`)

/** A stack configuration on free loopback ports in a fresh temporary run directory. */
export async function testStackConfig(name: string): Promise<StackConfig> {
  const [
    mqttPort,
    kafkaPort,
    controllerPort,
    gatewayPort,
    detectorPort,
    simulatorMetricsPort,
    prometheusPort,
  ] = await freePorts(7)
  return stackConfigFrom({
    ...defaultOptions(STACK_OPTIONS),
    runDir: fs.mkdtempSync(path.join(os.tmpdir(), `pipeline-${name}-`)),
    mqttPort,
    kafkaPort,
    controllerPort,
    gatewayPort,
    detectorPort,
    simulatorMetricsPort,
    prometheusPort,
    partitions: 3,
  })
}

export function identity(config: StackConfig, name: string, isDrone = false): TlsMaterial {
  return loadTlsMaterial(tlsFilesFor(config.certsDir, name, isDrone))
}

export { readJsonLines as readLines } from '../../runner/src/delivery.ts'

export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

export function header(message: Message, name: string): string | undefined {
  for (const [k, v] of message.headers) if (k.toString() === name) return v.toString()
  return undefined
}

/** A valid record stamped now, so the detector's latency figures stay sane. */
export function recordNow(droneId: string, overrides: Partial<DroneTelemetry> = {}): DroneTelemetry {
  const now = Date.now()
  return sampleRecord({
    drone_id: droneId,
    seq: 999,
    timestamp: now,
    publish_timestamp: now * 1000,
    ...overrides,
  })
}
