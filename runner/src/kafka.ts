/**
 * Apache Kafka (KRaft, broker and controller in one JVM) as a child process, with
 * deploy/kafka/server.properties; only ports and paths are overridden for this run.
 */
import { randomBytes } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import {
  AclOperations,
  AclPermissionTypes,
  Admin,
  Consumer,
  type Message,
  ResourcePatternTypes,
  ResourceTypes,
  type AclOperationValue,
  type ResourceTypeValue,
} from '@platformatic/kafka'
import { kafkaConnection } from '@drone-pipeline/shared/kafka.ts'
import { loadTlsMaterial, tlsFilesFor } from '@drone-pipeline/shared/tls.ts'
import { DEPLOY_DIR } from '@drone-pipeline/shared/paths.ts'
import { DETECTOR_GROUP_ID, KAFKA_TOPICS } from '@drone-pipeline/shared/topics.ts'
import { kafkaKeystorePath } from './certs.ts'
import { kafkaBootstrap, type StackConfig } from './config.ts'
import { startProcess, stopProcess, waitForPort, waitUntil, type ManagedProcess } from './procs.ts'

const SERVER_PROPERTIES = path.join(DEPLOY_DIR, 'kafka', 'server.properties')
const LOG4J = path.join(DEPLOY_DIR, 'kafka', 'log4j2.properties')

export function kafkaOverrides(config: StackConfig, dataDir: string): string[] {
  const { host } = config
  const { kafka, controller } = config.ports
  const settings = {
    'controller.quorum.voters': `1@${host}:${controller}`,
    listeners: `SSL://${host}:${kafka},CONTROLLER://${host}:${controller}`,
    'advertised.listeners': `SSL://${host}:${kafka}`,
    'ssl.keystore.location': kafkaKeystorePath(config.certsDir),
    'ssl.truststore.location': path.join(config.certsDir, 'ca.crt'),
    'log.dirs': dataDir,
    'num.partitions': String(config.partitions),
  }
  return Object.entries(settings).flatMap(([key, value]) => ['--override', `${key}=${value}`])
}

function javaArgs(libDir: string): string[] {
  return [
    '-Xms256m',
    '-Xmx1g',
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    // C1 only: the C2 compiler kept about a tenth of a core busy for minutes after start, and with
    // it the broker used 0.27 to 0.36 cores at 1,000 to 5,000 msg/s against 0.16 to 0.17 without
    // (docs/benchmarks.md). On two cores shared by everything, that CPU is worth more elsewhere.
    '-XX:TieredStopAtLevel=1',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${LOG4J}`,
    '-cp',
    path.join(libDir, '*'),
  ]
}

/** Kafka's cluster id: 16 random bytes, URL-safe base64 without padding. */
function newClusterId(): string {
  return randomBytes(16).toString('base64url')
}

/** Formats KRaft storage once per run directory; a formatted directory is reused as it is. */
function formatStorage(config: StackConfig, libDir: string, dataDir: string): void {
  if (fs.existsSync(path.join(dataDir, 'meta.properties'))) return
  fs.mkdirSync(dataDir, { recursive: true })
  // StorageTool reads the same properties the broker will run with, overrides included.
  const props = path.join(config.runDir, 'kafka', 'format.properties')
  const overrides = kafkaOverrides(config, dataDir).filter((arg) => arg !== '--override')
  fs.writeFileSync(props, fs.readFileSync(SERVER_PROPERTIES, 'utf8') + '\n' + overrides.join('\n') + '\n')
  execFileSync(
    'java',
    // `--cluster-id=`: one id in 64 starts with `-`, which the tool would take for an option.
    [...javaArgs(libDir), 'kafka.tools.StorageTool', 'format', `--cluster-id=${newClusterId()}`, '-c', props],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
}

export async function startKafka(
  config: StackConfig,
  libDir: string,
  options: { background?: boolean } = {},
): Promise<ManagedProcess> {
  const dataDir = path.join(config.runDir, 'kafka', 'data')
  formatStorage(config, libDir, dataDir)
  const proc = startProcess({
    name: 'kafka',
    command: 'java',
    args: [...javaArgs(libDir), 'kafka.Kafka', SERVER_PROPERTIES, ...kafkaOverrides(config, dataDir)],
    runDir: config.runDir,
    background: options.background,
  })
  try {
    await waitForPort(proc, config.host, config.ports.kafka, 60_000)
    await waitUntil(proc, 'answering metadata requests', () => listTopics(config).then(() => true), 60_000)
  } catch (err) {
    await stopProcess(config.runDir, proc)
    throw err
  }
  return proc
}

/** An admin client with the admin identity: the only super user among the clients. */
function admin(config: StackConfig): Admin {
  const tls = loadTlsMaterial(tlsFilesFor(config.certsDir, 'admin'))
  return new Admin({ ...kafkaConnection('pipeline-runner', [kafkaBootstrap(config)], tls), timeout: 5_000 })
}

async function listTopics(config: StackConfig): Promise<string[]> {
  const client = admin(config)
  try {
    return await client.listTopics()
  } finally {
    await client.close()
  }
}

const { TOPIC, GROUP } = ResourceTypes
const { READ, WRITE, DESCRIBE } = AclOperations

interface ServiceAcl {
  principal: string
  resourceType: ResourceTypeValue
  name: string
  operation: AclOperationValue
}

/**
 * What each service identity may do in Kafka, and nothing more: the gateway writes the validated
 * and dead-letter topics; the detector reads the validated topic in its group, writes anomalies,
 * and reads them back (without a group) at start-up so that it never reports an anomaly twice.
 */
export const SERVICE_ACLS: ServiceAcl[] = [
  { principal: 'User:gateway', resourceType: TOPIC, name: KAFKA_TOPICS.validated, operation: WRITE },
  { principal: 'User:gateway', resourceType: TOPIC, name: KAFKA_TOPICS.validated, operation: DESCRIBE },
  { principal: 'User:gateway', resourceType: TOPIC, name: KAFKA_TOPICS.dlq, operation: WRITE },
  { principal: 'User:gateway', resourceType: TOPIC, name: KAFKA_TOPICS.dlq, operation: DESCRIBE },
  { principal: 'User:anomaly-detector', resourceType: TOPIC, name: KAFKA_TOPICS.validated, operation: READ },
  {
    principal: 'User:anomaly-detector',
    resourceType: TOPIC,
    name: KAFKA_TOPICS.validated,
    operation: DESCRIBE,
  },
  { principal: 'User:anomaly-detector', resourceType: GROUP, name: DETECTOR_GROUP_ID, operation: READ },
  { principal: 'User:anomaly-detector', resourceType: TOPIC, name: KAFKA_TOPICS.anomalies, operation: WRITE },
  { principal: 'User:anomaly-detector', resourceType: TOPIC, name: KAFKA_TOPICS.anomalies, operation: READ },
  {
    principal: 'User:anomaly-detector',
    resourceType: TOPIC,
    name: KAFKA_TOPICS.anomalies,
    operation: DESCRIBE,
  },
]

/** Sets the service ACLs (creating an ACL that exists is a no-op in Kafka). */
export async function createAcls(config: StackConfig): Promise<void> {
  const client = admin(config)
  try {
    await client.createAcls({
      creations: SERVICE_ACLS.map((acl) => ({
        resourceType: acl.resourceType,
        resourceName: acl.name,
        resourcePatternType: ResourcePatternTypes.LITERAL,
        principal: acl.principal,
        host: '*',
        operation: acl.operation,
        permissionType: AclPermissionTypes.ALLOW,
      })),
    })
  } finally {
    await client.close()
  }
}

/** The pipeline's topics and any extra ones (name, partitions), created if absent (idempotent across restarts). */
export async function createTopics(config: StackConfig, extra: Array<[string, number]> = []): Promise<void> {
  const wanted: Array<[string, number]> = [
    [KAFKA_TOPICS.validated, config.partitions],
    [KAFKA_TOPICS.dlq, 1],
    [KAFKA_TOPICS.anomalies, 1],
    ...extra,
  ]
  const client = admin(config)
  try {
    const existing = new Set(await client.listTopics())
    for (const [topic, partitions] of wanted) {
      if (!existing.has(topic)) await client.createTopics({ topics: [topic], partitions, replicas: 1 })
    }
  } finally {
    await client.close()
  }
}

export interface ReadTopicOptions {
  /** Stop as soon as the messages read so far suffice. */
  enough?: (messages: Message[]) => boolean
  /** Stop when nothing new arrived for this long (ms); the first wait allows twice as long. */
  idleMs?: number
}

/**
 * A topic's messages from the beginning, read as admin (for tests and benchmarks), until `enough`
 * says they suffice or the topic has gone quiet; 30 s at most.
 */
export async function readTopic(
  config: StackConfig,
  topic: string,
  options: ReadTopicOptions = {},
): Promise<Message[]> {
  const idleMs = options.idleMs ?? 30_000
  const tls = loadTlsMaterial(tlsFilesFor(config.certsDir, 'admin'))
  const consumer = new Consumer({
    ...kafkaConnection('pipeline-reader', [kafkaBootstrap(config)], tls),
    groupId: `reader-${topic}-${Date.now()}`,
    autocommit: false,
    maxWaitTime: 200,
  })
  const stream = await consumer.consume({ topics: [topic], mode: 'earliest' })
  const messages: Message[] = []
  const deadline = setTimeout(() => void stream.close(), 30_000)
  let idle = setTimeout(() => void stream.close(), 2 * idleMs)
  try {
    for await (const message of stream) {
      messages.push(message)
      if (options.enough?.(messages)) break
      clearTimeout(idle)
      idle = setTimeout(() => void stream.close(), idleMs)
    }
  } finally {
    clearTimeout(deadline)
    clearTimeout(idle)
    await stream.close().catch(() => {})
    await consumer.close().catch(() => {})
  }
  return messages
}
