/** The native stack's configuration: where it keeps its state and which loopback ports it uses. */
import path from 'node:path'
import { ConfigError, type OptionSpecs, type OptionValues } from '@drone-pipeline/shared/cli.ts'
import { REPO_ROOT } from '@drone-pipeline/shared/paths.ts'

export interface StackPorts {
  mqtt: number
  kafka: number
  controller: number
  gateway: number
  detector: number
  simulatorMetrics: number
  prometheus: number
}

export interface StackConfig {
  /** Broker data, logs and pid files of this run; git-ignored. */
  runDir: string
  /** Downloads shared by every run directory (the Kafka jars). */
  cacheDir: string
  /** The CA and every identity's certificate and key (runner/src/certs.ts). */
  certsDir: string
  /** Drones that get a certificate: drone-0001 .. drone-N. */
  drones: number
  host: string
  ports: StackPorts
  /** Partitions of telemetry-validated: the most detectors that can share the load. */
  partitions: number
}

export const DEFAULT_PORTS: StackPorts = {
  mqtt: 8883,
  kafka: 9092,
  controller: 9093,
  gateway: 8080,
  detector: 8081,
  simulatorMetrics: 9464,
  prometheus: 9090,
}

export const STACK_OPTIONS = {
  runDir: {
    type: 'string',
    description: 'run directory for broker data, logs and pids',
    default: '.run/default',
    env: 'PIPELINE_RUN_DIR',
  },
  portOffset: {
    type: 'int',
    description: 'added to every default port, so two stacks can run side by side',
    default: 0,
    min: 0,
    max: 50000,
    env: 'PIPELINE_PORT_OFFSET',
  },
  mqttPort: {
    type: 'int',
    description: `Mosquitto port (default ${DEFAULT_PORTS.mqtt})`,
    min: 1,
    max: 65535,
  },
  kafkaPort: {
    type: 'int',
    description: `Kafka client port (default ${DEFAULT_PORTS.kafka})`,
    min: 1,
    max: 65535,
  },
  controllerPort: {
    type: 'int',
    description: `Kafka controller port (default ${DEFAULT_PORTS.controller})`,
    min: 1,
    max: 65535,
  },
  gatewayPort: {
    type: 'int',
    description: `gateway HTTP port (default ${DEFAULT_PORTS.gateway})`,
    min: 1,
    max: 65535,
  },
  detectorPort: {
    type: 'int',
    description: `detector HTTP port (default ${DEFAULT_PORTS.detector})`,
    min: 1,
    max: 65535,
  },
  certsDir: {
    type: 'string',
    description: 'certificates and keys (created on first use)',
    default: 'certs',
    env: 'PIPELINE_CERTS_DIR',
  },
  simulatorMetricsPort: {
    type: 'int',
    description: `simulator metrics port (default ${DEFAULT_PORTS.simulatorMetrics})`,
    min: 1,
    max: 65535,
  },
  prometheusPort: {
    type: 'int',
    description: `Prometheus web UI and API port (default ${DEFAULT_PORTS.prometheus})`,
    min: 1,
    max: 65535,
  },
  partitions: {
    type: 'int',
    description: 'partitions of telemetry-validated',
    default: 6,
    min: 1,
    max: 256,
  },
} as const satisfies OptionSpecs

export function stackConfigFrom(options: OptionValues<typeof STACK_OPTIONS>, drones = 10): StackConfig {
  const offset = options.portOffset
  const ports: StackPorts = {
    mqtt: options.mqttPort ?? DEFAULT_PORTS.mqtt + offset,
    kafka: options.kafkaPort ?? DEFAULT_PORTS.kafka + offset,
    controller: options.controllerPort ?? DEFAULT_PORTS.controller + offset,
    gateway: options.gatewayPort ?? DEFAULT_PORTS.gateway + offset,
    detector: options.detectorPort ?? DEFAULT_PORTS.detector + offset,
    simulatorMetrics: options.simulatorMetricsPort ?? DEFAULT_PORTS.simulatorMetrics + offset,
    prometheus: options.prometheusPort ?? DEFAULT_PORTS.prometheus + offset,
  }
  const seen = new Map<number, string>()
  for (const [name, port] of Object.entries(ports)) {
    if (port > 65535) throw new ConfigError(`--port-offset ${offset} puts the ${name} port past 65535`)
    const other = seen.get(port)
    if (other) throw new ConfigError(`the ${name} and ${other} ports are both ${port}`)
    seen.set(port, name)
  }
  const runDir = path.resolve(REPO_ROOT, options.runDir)
  return {
    runDir,
    cacheDir: path.join(REPO_ROOT, '.run', 'cache'),
    certsDir: path.resolve(REPO_ROOT, options.certsDir),
    drones,
    host: '127.0.0.1',
    ports,
    partitions: options.partitions,
  }
}

export function kafkaBootstrap(config: StackConfig): string {
  return `${config.host}:${config.ports.kafka}`
}

export function mqttUrl(config: StackConfig): string {
  return `mqtts://${config.host}:${config.ports.mqtt}`
}
