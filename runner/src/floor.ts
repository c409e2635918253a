/**
 * The floor of the load benchmark: the same brokers with nothing of ours between them. Mosquitto's
 * own mosquitto_sub is piped into kcat -P, which writes to its own topic; kcat -C reads that topic
 * back and this process timestamps each line as it arrives. What the pipeline adds (validation,
 * Avro, the detector, PUBACK only after Kafka) is measured against it.
 *
 * Both sides use the admin identity: Mosquitto's ACL lets it read drones/+/telemetry, and it is a
 * Kafka super user, so the floor needs no ACL of its own.
 */
import { tlsFilesFor } from '@drone-pipeline/shared/tls.ts'
import { kafkaBootstrap, type StackConfig } from './config.ts'
import { KCAT, MOSQUITTO_SUB } from './install.ts'
import { allProcStats, childrenOf, type NamedPid } from './procstat.ts'
import { startProcess, type ManagedProcess } from './procs.ts'
import type { Log, Stack } from './stack.ts'
import { parseFloorLine, type FloorRecord } from './sweep.ts'
import { sleep } from '@drone-pipeline/shared/retry.ts'

export const FLOOR_TOPIC = 'bench-floor'
const IDENTITY = 'admin'
/** Between topic and payload on mosquitto_sub's output: kcat -P takes what precedes it as the key. */
const KEY_DELIMITER = '|'
/**
 * kcat 1.7.1 (Debian 12) reads its input 1,024 bytes at a time and blocks until it has them, so a
 * shorter line waits for the lines after it: at 100 msg/s, tens of milliseconds, and the last line
 * of a burst forever. mosquitto_sub pads topic and payload with spaces to exactly this many bytes
 * per line, so each read is one whole message. The key keeps the topic's trailing spaces (it only
 * picks the partition); the value is the JSON record with trailing spaces, still the same JSON.
 */
const LINE_BYTES = 1024
const TOPIC_WIDTH = 40

/** One word for sh: quoted unless it is plainly safe. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`
}

/**
 * librdkafka settings for both kcats: SSL with the admin identity's files, and Nagle's algorithm
 * off (librdkafka 2.0 leaves it on, which on loopback holds a small request back for the peer's
 * delayed ACK, about 40 ms; the broker and the pipeline's Kafka client turn it off).
 */
export function kcatArgs(config: StackConfig): string[] {
  const files = tlsFilesFor(config.certsDir, IDENTITY)
  return [
    ['security.protocol', 'SSL'],
    ['ssl.ca.location', files.ca],
    ['ssl.certificate.location', files.cert],
    ['ssl.key.location', files.key],
    ['socket.nagle.disable', 'true'],
  ].flatMap(([key, value]) => ['-X', `${key}=${value}`])
}

/**
 * The bridge as one shell pipeline. A plain (not shared) QoS 1 subscription: there is one bridge,
 * and it acknowledges each message to Mosquitto as soon as it has it, not after Kafka, which is
 * what a bare bridge does. The key is the MQTT topic, so a drone's records stay in one partition
 * as they do in the pipeline (key drone_id); acks=all is the pipeline's durability. librdkafka's
 * linger.ms stays at its 5 ms: with 0, at 5,000 msg/s, the p50 from publish to the Kafka write was
 * 220 to 444 ms instead of 17 to 22 ms (a request per message; same machine, same minutes).
 */
export function floorBridgeCommand(config: StackConfig): string {
  const files = tlsFilesFor(config.certsDir, IDENTITY)
  const sub = [
    MOSQUITTO_SUB.binary,
    ...['-h', config.host, '-p', String(config.ports.mqtt), '-V', 'mqttv5', '-q', '1'],
    ...['-i', `bench-floor-${config.ports.mqtt}`, '-t', 'drones/+/telemetry', '--nodelay'],
    ...['--cafile', files.ca, '--cert', files.cert, '--key', files.key],
    ...['-F', `%-${TOPIC_WIDTH}t${KEY_DELIMITER}%-${LINE_BYTES - TOPIC_WIDTH - 2}p`],
  ]
  const produce = [
    KCAT.binary,
    ...['-P', '-b', kafkaBootstrap(config), '-t', FLOOR_TOPIC, '-K', KEY_DELIMITER],
    ...kcatArgs(config),
    ...['-X', 'acks=all'],
  ]
  return `${sub.map(shellQuote).join(' ')} | ${produce.map(shellQuote).join(' ')}`
}

/**
 * kcat -C from the end of the floor topic, each record's value on a line, unbuffered. With
 * librdkafka's default fetch.wait.max.ms of 500, records often waited for a fetch in flight to
 * time out: at 1,000 msg/s the p95 from the Kafka write to the reader was 605 ms; with 10 ms it
 * was 58 ms (same machine, same minute; the detector's consumer waits at most 100 ms).
 */
export function floorConsumerArgs(config: StackConfig): string[] {
  return [
    ...['-C', '-b', kafkaBootstrap(config), '-t', FLOOR_TOPIC, '-o', 'end', '-u', '-q'],
    ...['-f', '%s\\n', '-X', 'fetch.wait.max.ms=10'],
    ...kcatArgs(config),
  ]
}

export interface FloorArrival extends FloorRecord {
  /** When the line reached this process, ms since the epoch. */
  arrivalMs: number
}

export const FLOOR_BRIDGE = 'floor-bridge'
export const FLOOR_CONSUMER = 'floor-kcat-consumer'

export interface FloorBridge {
  /** The two sides of the bridge's shell pipeline, for CPU and memory. */
  processes(): NamedPid[]
  /** Called with each record as it comes back out of Kafka. */
  onRecord(listener: (record: FloorArrival) => void): void
  stop(): Promise<void>
}

const nowMs = () => performance.timeOrigin + performance.now()

/** Starts the consumer first (from the topic's end), then the bridge; both are the stack's, so they stop with it. */
export async function startFloor(stack: Stack, log: Log): Promise<FloorBridge> {
  const { config } = stack
  log(`starting the floor: kcat -C from the end of ${FLOOR_TOPIC}, then mosquitto_sub | kcat -P`)
  const consumer = stack.add(
    startProcess({
      name: FLOOR_CONSUMER,
      command: KCAT.binary,
      args: floorConsumerArgs(config),
      runDir: config.runDir,
      pipeStdout: true,
    }),
  )
  let listener: (record: FloorArrival) => void = () => {}
  let partial = ''
  consumer.stdout!.setEncoding('utf8')
  consumer.stdout!.on('data', (chunk: string) => {
    // Stamped before parsing, so the cost of parsing is not counted as latency.
    const arrivalMs = nowMs()
    const lines = (partial + chunk).split('\n')
    partial = lines.pop() ?? ''
    for (const line of lines) {
      const record = parseFloorLine(line)
      if (record) listener({ ...record, arrivalMs })
    }
  })
  // The consumer must hold its partitions before anything is produced, or it starts past it.
  await sleep(3_000)
  const bridge = stack.add(
    startProcess({
      name: FLOOR_BRIDGE,
      command: 'sh',
      args: ['-c', floorBridgeCommand(config)],
      runDir: config.runDir,
    }),
  )
  const parts = await bridgeParts(bridge)
  return {
    processes: () => parts,
    onRecord(next) {
      listener = next
    },
    stop: () => stack.stop(log, [FLOOR_BRIDGE, FLOOR_CONSUMER]),
  }
}

/** The two sides of the shell pipeline, once the shell has started them. */
async function bridgeParts(bridge: ManagedProcess): Promise<NamedPid[]> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const children = childrenOf(bridge.pid, allProcStats())
    const sub = children.find((p) => p.comm === 'mosquitto_sub')
    const producer = children.find((p) => p.comm === 'kcat')
    if (sub && producer) {
      return [
        { name: 'floor-mosquitto_sub', pid: sub.pid },
        { name: 'floor-kcat-producer', pid: producer.pid },
      ]
    }
    if (bridge.hasExited()) break
    await sleep(100)
  }
  throw new Error(`the floor bridge did not start; see ${bridge.logFile}`)
}
