/**
 * docker-compose.yml describes the same pipeline as the native runner, secure by default. No Docker
 * engine runs here, so the file is checked statically: Debian's docker-compose (v1) parses and
 * resolves it without an engine, and the resolved configuration is compared with what the native
 * runner does (config files, certificates, ports, topics, ACLs, model training), with what each
 * service reads, and with the Dockerfiles it builds.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import { isBuiltin } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { AclOperations, ResourceTypes } from '@platformatic/kafka'
import { parse } from 'yaml'
import { DEPLOY_DIR, REPO_ROOT } from '@drone-pipeline/shared/paths.ts'
import { METRICS_IDENTITY } from '@drone-pipeline/shared/service-http.ts'
import { tlsFilesFor } from '@drone-pipeline/shared/tls.ts'
import { KAFKA_TOPICS } from '@drone-pipeline/shared/topics.ts'
import { RUN_COMMAND as DETECTOR_RUN } from '../anomaly_detector/src/config.ts'
import { GATEWAY_COMMAND } from '../gateway/src/config.ts'
import {
  certPaths,
  droneIdentity,
  kafkaKeystorePath,
  SERVICE_IDENTITIES,
  type IdentitySpec,
} from '../runner/src/certs.ts'
import { DEFAULT_PORTS, STACK_OPTIONS } from '../runner/src/config.ts'
import { DOCKER_COMPOSE, kafkaVersion, PROMTOOL } from '../runner/src/install.ts'
import { SERVICE_ACLS } from '../runner/src/kafka.ts'
import { TRAINING_FLIGHT } from '../runner/src/stack.ts'
import { runSpec as SIMULATOR_RUN } from '../simulator/src/options.ts'
import { dashboardPanels, readDashboard } from './observability-files.ts'

const COMPOSE_FILE = path.join(REPO_ROOT, 'docker-compose.yml')
const MOSQUITTO_CONF = path.join(DEPLOY_DIR, 'mosquitto', 'mosquitto.conf')
const SERVER_PROPERTIES = path.join(DEPLOY_DIR, 'kafka', 'server.properties')
const PROMETHEUS_YML = path.join(DEPLOY_DIR, 'prometheus', 'prometheus.yml')
const PROMETHEUS_RULES = path.join(DEPLOY_DIR, 'prometheus', 'rules')
const PROMETHEUS_WEB_YML = path.join(DEPLOY_DIR, 'prometheus', 'web.yml')

/** Where `npm run certs` writes (runner/src/certs.ts); compose mounts from ./certs. */
const CERTS_DIR = path.join(REPO_ROOT, 'certs')
const CA_CERT = path.join(CERTS_DIR, 'ca.crt')
const DRONES_DIR = path.dirname(certPaths(CERTS_DIR, droneIdentity('drone-0001')).cert)
/** The identity of the simulator's HTTPS metrics endpoint (simulator/src/main.ts). */
const SIMULATOR_IDENTITY = 'simulator'
/** The variable naming the host group that may read the keys (docs/compose.md, "Certificates"). */
const CERTS_GID_VAR = 'PIPELINE_CERTS_GID'

const TOPOLOGY = [
  'mosquitto',
  'kafka',
  'kafka-init',
  'model-trainer',
  'gateway',
  'anomaly-detector',
  'simulator',
  'prometheus',
  'grafana',
]

/** Host ports of the services the native runner does not start (DESIGN.md, "default ports"). */
const COMPOSE_ONLY_PORTS = { grafana: 3000 }

/** The image each Node service is built from: its own workspace's Dockerfile. */
const DOCKERFILES: Record<string, string> = {
  gateway: 'gateway/Dockerfile',
  'anomaly-detector': 'anomaly_detector/Dockerfile',
  'model-trainer': 'anomaly_detector/Dockerfile',
  simulator: 'simulator/Dockerfile',
}

type Condition = 'service_started' | 'service_healthy' | 'service_completed_successfully'

interface Service {
  image?: string
  build?: { context: string; dockerfile?: string }
  user?: string
  group_add?: Array<string | number>
  entrypoint?: string | string[]
  command?: string | string[]
  environment?: Record<string, string | number | null> | string[]
  volumes?: Array<string | { type: string; source?: string; target: string; read_only?: boolean }>
  ports?: Array<string | number | { host_ip?: string; published?: string | number; target: number }>
  depends_on?: string[] | Record<string, { condition?: Condition }>
  healthcheck?: { test?: string | string[]; disable?: boolean }
}

interface Compose {
  services: Record<string, Service>
  volumes?: Record<string, unknown>
}

const resolved = new Map<string, Compose>()

/**
 * `docker-compose config`: the file parsed, validated and resolved by Compose itself, with the
 * defaults of its variables unless `variables` sets them (the caller's own environment never
 * leaks into the result).
 */
function composeConfig(variables: Record<string, string> = {}): Compose {
  const cacheKey = JSON.stringify(variables)
  const cached = resolved.get(cacheKey)
  if (cached) return cached
  if (!fs.existsSync(DOCKER_COMPOSE.binary)) {
    assert.fail(
      `${DOCKER_COMPOSE.binary} is missing, so docker-compose.yml cannot be checked. Install Debian's ` +
        `${DOCKER_COMPOSE.pkg} package (apt-get install ${DOCKER_COMPOSE.pkg}); \`npm test\` installs it.`,
    )
  }
  const env = { ...process.env }
  delete env[CERTS_GID_VAR]
  const result = spawnSync(DOCKER_COMPOSE.binary, ['-f', COMPOSE_FILE, 'config'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...env, ...variables },
  })
  if (result.error) throw result.error
  assert.equal(result.status, 0, `docker-compose config rejected docker-compose.yml:\n${result.stderr}`)
  const config = parse(result.stdout) as Compose
  assert.ok(config?.services, `docker-compose config printed no services:\n${result.stdout}`)
  resolved.set(cacheKey, config)
  return config
}

function service(name: string): Service {
  const svc = composeConfig().services[name]
  assert.ok(svc, `docker-compose.yml has no ${name} service`)
  return svc
}

function env(svc: Service): Record<string, string> {
  const entries = Array.isArray(svc.environment)
    ? svc.environment.map((line) => {
        const at = line.indexOf('=')
        return [line.slice(0, at), line.slice(at + 1)]
      })
    : Object.entries(svc.environment ?? {}).map(([key, value]) => [key, String(value ?? '')])
  return Object.fromEntries(entries)
}

function envVar(name: string, key: string): string {
  const value = env(service(name))[key]
  assert.ok(value !== undefined, `${name} does not set ${key}`)
  return value
}

interface Mount {
  source: string
  target: string
  readOnly: boolean
  bind: boolean
  /** Written in the long syntax, which never creates a missing host path. */
  long: boolean
}

function mounts(svc: Service): Mount[] {
  return (svc.volumes ?? []).map((volume) => {
    if (typeof volume === 'string') {
      const [source = '', target = '', mode = ''] = volume.split(':')
      const bind = source.startsWith('/')
      return { source, target, readOnly: mode.split(',').includes('ro'), bind, long: false }
    }
    return {
      source: volume.source ?? '',
      target: volume.target,
      readOnly: volume.read_only === true,
      bind: volume.type === 'bind',
      long: true,
    }
  })
}

function isInside(dir: string, file: string): boolean {
  const relative = path.relative(dir, file)
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative))
}

/** A mounted file, or every file under a mounted directory. */
function filesUnder(source: string): string[] {
  if (fs.statSync(source).isFile()) return [source]
  return fs
    .readdirSync(source, { recursive: true, encoding: 'utf8' })
    .map((entry) => path.join(source, entry))
    .filter((file) => fs.statSync(file).isFile())
}

/** Bind mounts of files from certs/. */
function certMounts(svc: Service): Mount[] {
  return mounts(svc).filter((m) => m.bind && isInside(CERTS_DIR, m.source))
}

/** Bind mounts of everything else: the deploy/ config files. */
function configMounts(name: string): Mount[] {
  return mounts(service(name)).filter((m) => m.bind && !isInside(CERTS_DIR, m.source))
}

/** The host file mounted at `target` in a container (a path the container's config refers to). */
function mountSource(name: string, target: string | undefined): string | undefined {
  return mounts(service(name)).find((m) => m.bind && m.target === target)?.source
}

/** What must never leave the host's 0600 files unless a container needs it: keys and key stores. */
function isSecret(source: string): boolean {
  return source.endsWith('.key') || source.endsWith('.pem') || source === DRONES_DIR
}

/** Every file `npm run certs` writes that a container may be given; the CA key is not one of them. */
function certificateFiles(): Set<string> {
  const files = new Set([CA_CERT, kafkaKeystorePath(CERTS_DIR), DRONES_DIR])
  for (const spec of SERVICE_IDENTITIES) {
    const { cert, key } = certPaths(CERTS_DIR, spec)
    files.add(cert)
    files.add(key)
  }
  return files
}

/** The service identity whose certificate (or key) is `file`. */
function identityOf(file: string | undefined): IdentitySpec | undefined {
  return SERVICE_IDENTITIES.find((spec) => {
    const { cert, key } = certPaths(CERTS_DIR, spec)
    return file === cert || file === key
  })
}

interface Published {
  hostIp: string
  published: number
  target: number
}

function publishedPorts(svc: Service): Published[] {
  return (svc.ports ?? []).map((port) => {
    if (typeof port === 'object') {
      return { hostIp: port.host_ip ?? '', published: Number(port.published), target: port.target }
    }
    // [host_ip:][published:]target[/protocol]; a bare target port is published on a random host port.
    const parts = String(port)
      .replace(/\/\w+$/, '')
      .split(':')
    const target = Number(parts.pop())
    const published = parts.length ? Number(parts.pop()) : NaN
    return { hostIp: parts.join(':'), published, target }
  })
}

/** The one port mapping of a service. */
function portOf(name: string): Published {
  const ports = publishedPorts(service(name))
  assert.equal(ports.length, 1, `${name} should publish exactly one port, publishes ${JSON.stringify(ports)}`)
  return ports[0]!
}

function dependsOn(svc: Service): Record<string, Condition> {
  const deps = svc.depends_on ?? {}
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((name) => [name, 'service_started' as const]))
  return Object.fromEntries(
    Object.entries(deps).map(([name, dep]) => [name, dep.condition ?? ('service_started' as const)]),
  )
}

const words = (value: string | string[] | undefined): string[] =>
  Array.isArray(value) ? value : value ? [value] : []

/** Entry point and command as one shell text, for the one-shot services. */
function commandText(svc: Service): string {
  return [...words(svc.entrypoint), ...words(svc.command)].join(' ')
}

/** The health check's command: its words after CMD, or its shell text after CMD-SHELL. */
function healthcheckWords(svc: Service): string[] {
  const [kind, ...rest] = words(svc.healthcheck?.test)
  return kind === 'CMD' || kind === 'CMD-SHELL' ? rest : words(svc.healthcheck?.test)
}

function readProperties(file: string): Map<string, string> {
  const props = new Map<string, string>()
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const match = /^\s*([^#!\s][^=]*?)\s*=\s*(.*?)\s*$/.exec(line)
    if (match) props.set(match[1]!, match[2]!)
  }
  return props
}

/** The apache/kafka image's naming: KAFKA_ prefix, `.` as `_`, `_` as `__`, `-` as `___`. */
function kafkaProperty(variable: string): string {
  return variable
    .slice('KAFKA_'.length)
    .toLowerCase()
    .replace(/___/g, '-')
    .replace(/__/g, '\0')
    .replace(/_/g, '.')
    .replace(/\0/g, '_')
}

/** server.properties as the broker in the container reads it: the image appends KAFKA_* (they win). */
function kafkaConfig(): Map<string, string> {
  const props = readProperties(SERVER_PROPERTIES)
  for (const [variable, value] of Object.entries(env(service('kafka')))) {
    // *_OPTS are the JVM's options (KAFKA_LOG4J_OPTS, ...), not broker properties.
    if (variable.startsWith('KAFKA_') && !variable.endsWith('_OPTS'))
      props.set(kafkaProperty(variable), value)
  }
  return props
}

function kafkaSetting(key: string): string {
  const value = kafkaConfig().get(key)
  assert.ok(value !== undefined, `the broker in compose has no ${key}`)
  return value
}

/** `NAME://host:port,...` as listener name -> { host, port }. */
function listenerMap(text: string): Map<string, { host: string; port: number }> {
  return new Map(
    text.split(',').map((entry) => {
      const match = /^([A-Z_]+):\/\/([^:]*):(\d+)$/.exec(entry.trim())
      assert.ok(match, `not a NAME://host:port listener: ${entry}`)
      return [match[1]!, { host: match[2]!, port: Number(match[3]) }]
    }),
  )
}

function protocolMap(): Map<string, string> {
  return new Map(
    kafkaSetting('listener.security.protocol.map')
      .split(',')
      .map((entry) => {
        const [name = '', protocol = ''] = entry.trim().split(':')
        return [name, protocol]
      }),
  )
}

/** The container address of the broker that clients in the compose network use. */
function internalBootstrap(): string {
  const advertised = listenerMap(kafkaSetting('advertised.listeners'))
  const internal = advertised.get(kafkaSetting('inter.broker.listener.name'))
  assert.ok(internal, 'the inter-broker listener is not advertised')
  return `${internal.host}:${internal.port}`
}

/** Mosquitto's directives: name -> values, in file order. */
function mosquittoConf(): Map<string, string[]> {
  const directives = new Map<string, string[]>()
  for (const line of fs.readFileSync(MOSQUITTO_CONF, 'utf8').split('\n')) {
    const match = /^\s*([a-z_]+)\s+(.*?)\s*$/.exec(line)
    if (match) directives.set(match[1]!, [...(directives.get(match[1]!) ?? []), match[2]!])
  }
  return directives
}

function mosquittoDirective(name: string): string {
  const values = mosquittoConf().get(name) ?? []
  assert.equal(values.length, 1, `mosquitto.conf should set ${name} once, sets ${JSON.stringify(values)}`)
  return values[0]!
}

/** The port of Mosquitto's one listener. */
function mqttPort(): number {
  return Number(mosquittoDirective('listener').split(/\s+/)[0])
}

function readDockerfile(relative: string): string {
  return fs.readFileSync(path.join(REPO_ROOT, relative), 'utf8').replace(/\\\n/g, ' ')
}

/**
 * The Kafka client a shell text configures for the tools it runs: every tool must use the same
 * --command-config, the text must write it, and its TLS settings must point at mounted certificates.
 * Returns the identity it authenticates as.
 */
function kafkaToolsClient(name: string, text: string): IdentitySpec {
  const tools = [...text.matchAll(/\/opt\/kafka\/bin\/(kafka-[\w-]+\.sh)([^\n]*)/g)]
  assert.ok(tools.length > 0, `${name} runs no Kafka tool`)
  const configs = new Set(
    tools.map(([, tool, args]) => {
      assert.match(args!, new RegExp(`--bootstrap-server ${internalBootstrap()}(\\s|$)`), `${name}: ${tool}`)
      const file = /--command-config (\S+)/.exec(args!)?.[1]
      assert.ok(file, `${name}: ${tool} has no --command-config, so it would not speak TLS`)
      return file
    }),
  )
  assert.equal(configs.size, 1, `${name}: every Kafka tool should use one client config`)
  const [configFile] = [...configs]
  assert.match(text, new RegExp(`>\\s*${configFile}(\\s|$)`), `${name} never writes ${configFile}`)

  const props = new Map(
    [...text.matchAll(/(?:^|\s)((?:security|ssl)\.[a-z.]+)=(\S+)/gm)].map((m) => [m[1]!, m[2]!]),
  )
  assert.equal(props.get('security.protocol'), 'SSL', `${name}: security.protocol`)
  assert.equal(props.get('ssl.truststore.type'), 'PEM', `${name}: ssl.truststore.type`)
  assert.equal(mountSource(name, props.get('ssl.truststore.location')), CA_CERT, `${name}: truststore`)
  assert.equal(props.get('ssl.keystore.type'), 'PEM', `${name}: ssl.keystore.type`)
  assert.ok(
    !props.has('ssl.endpoint.identification.algorithm'),
    `${name}: the client must verify the broker's host name (the default)`,
  )
  const keystore = props.get('ssl.keystore.location')
  assert.ok(keystore, `${name}: no ssl.keystore.location`)
  if (mountSource(name, keystore) === kafkaKeystorePath(CERTS_DIR))
    return identityOf(certPaths(CERTS_DIR, { name: 'kafka' }).cert)!
  // Otherwise a key store the text assembles from a mounted key and its certificate.
  const assembled = new RegExp(`\\bcat (\\S+) (\\S+) > ${keystore}(\\s|$)`).exec(text)
  assert.ok(assembled, `${name}: ${keystore} is neither mounted nor assembled from a key and certificate`)
  const identity = identityOf(mountSource(name, assembled[1]))
  assert.ok(identity, `${name}: ${assembled[1]} is not a mounted identity's key`)
  assert.deepEqual(
    [mountSource(name, assembled[1]), mountSource(name, assembled[2])],
    [certPaths(CERTS_DIR, identity).key, certPaths(CERTS_DIR, identity).cert],
    `${name}: the key store holds one identity's key and certificate`,
  )
  return identity
}

const KAFKA_ACLS_FLAGS = new Set(['--add', '--remove', '--list', '--force'])
const KAFKA_ACLS_SHORTCUTS = ['--cluster', '--producer', '--consumer', '--idempotent', '--transactional-id']

/** "DescribeConfigs" and "describe-configs" as Kafka's enum name DESCRIBE_CONFIGS. */
function enumName(text: string): string {
  return text
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .replace(/-/g, '_')
    .toUpperCase()
}

/** Every ACL the kafka-acls.sh calls of a shell text add, one line each (principal, resource, operation). */
function aclsAdded(text: string): string[] {
  const added: string[] = []
  for (const [, args = ''] of text.matchAll(/kafka-acls\.sh\s([^\n]*)/g)) {
    const options = new Map<string, string[]>()
    const tokens = args.trim().split(/\s+/)
    for (let i = 0; i < tokens.length; i++) {
      const flag = tokens[i]!
      assert.ok(flag.startsWith('--'), `kafka-acls.sh: unexpected argument ${flag}`)
      assert.ok(
        !KAFKA_ACLS_SHORTCUTS.includes(flag),
        `kafka-acls.sh ${flag}: spell out principals, resources and operations, so they can be compared`,
      )
      const value = KAFKA_ACLS_FLAGS.has(flag) ? '' : tokens[++i]
      assert.ok(value !== undefined, `kafka-acls.sh ${flag} has no value`)
      options.set(flag, [...(options.get(flag) ?? []), value])
    }
    const all = (flag: string) => options.get(flag) ?? []
    assert.ok(options.has('--add') && !options.has('--remove'), `kafka-acls.sh should only add: ${args}`)
    assert.deepEqual(all('--deny-principal'), [], 'the pipeline grants; it denies nothing explicitly')
    const resources = [
      ...all('--topic').map((name) => `TOPIC:${name}`),
      ...all('--group').map((name) => `GROUP:${name}`),
    ]
    const pattern = enumName(all('--resource-pattern-type')[0] ?? 'literal')
    const hosts = options.get('--allow-host') ?? ['*']
    for (const principal of all('--allow-principal'))
      for (const resource of resources)
        for (const operation of all('--operation'))
          for (const host of hosts)
            added.push(`${principal} ALLOW ${enumName(operation)} ${resource} ${pattern} host=${host}`)
  }
  return added.sort()
}

function enumKey(table: Record<string, number>, value: number): string {
  const key = Object.entries(table).find(([, v]) => v === value)?.[0]
  assert.ok(key, `unknown enum value ${value}`)
  return key
}

test('docker-compose config parses and resolves docker-compose.yml without an engine', () => {
  const config = composeConfig()
  assert.ok(Object.keys(config.services).length > 0)
})

test('every service of the topology is there, and nothing else', () => {
  assert.deepEqual(Object.keys(composeConfig().services).sort(), [...TOPOLOGY].sort())
})

test('every bind-mounted config path exists and is read-only (Docker would create a missing one as a directory)', () => {
  for (const [name, svc] of Object.entries(composeConfig().services)) {
    for (const mount of mounts(svc).filter((m) => m.bind && !isInside(CERTS_DIR, m.source))) {
      assert.ok(fs.existsSync(mount.source), `${name} mounts ${mount.source}, which does not exist`)
      assert.ok(mount.readOnly, `${name} should mount ${mount.source} read-only`)
    }
  }
})

test('certificates are mounted file by file, read-only, only what `npm run certs` writes, never the CA key', () => {
  const files = certificateFiles()
  let count = 0
  for (const [name, svc] of Object.entries(composeConfig().services)) {
    for (const mount of certMounts(svc)) {
      count++
      assert.ok(
        files.has(mount.source),
        `${name} mounts ${mount.source}: not one identity's file (the CA key and the whole directory stay on the host)`,
      )
      assert.ok(mount.readOnly, `${name} should mount ${mount.source} read-only`)
      // Certificates are git-ignored, so they may be missing: the long syntax makes that an error
      // at start-up, where the short one would create an empty directory in their place.
      assert.ok(mount.long, `${name} should mount ${mount.source} with the long syntax`)
    }
  }
  assert.ok(count > 0, 'no container mounts a certificate')
})

test('a container holds only the certificates and keys it uses', () => {
  const boundary = (target: string) =>
    // A path stands alone, or in braces (Grafana's $__file{...}).
    new RegExp(`(^|[\\s'"=,{])${target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[\\s'",}])`, 'm')
  for (const [name, svc] of Object.entries(composeConfig().services)) {
    const vars = env(svc)
    const texts = [
      ...Object.values(vars),
      commandText(svc),
      healthcheckWords(svc).join(' '),
      ...configMounts(name).flatMap((m) => filesUnder(m.source).map((file) => fs.readFileSync(file, 'utf8'))),
    ]
    // The simulator finds its files by layout under PIPELINE_CERTS_DIR.
    const certsDir = vars[SIMULATOR_RUN.options.certsDir.env]
    const layout = certsDir
      ? [
          ...Object.values(tlsFilesFor(certsDir, SIMULATOR_IDENTITY)),
          path.dirname(tlsFilesFor(certsDir, 'any', true).cert),
        ]
      : []
    for (const mount of certMounts(svc)) {
      const used = layout.includes(mount.target) || texts.some((text) => boundary(mount.target).test(text))
      assert.ok(used, `${name} mounts ${mount.source} at ${mount.target} but nothing in it reads that path`)
    }
  }
})

test('containers that read a key join the certs group and keep their own unprivileged user', () => {
  const gid = '4242'
  const withGid = composeConfig({ [CERTS_GID_VAR]: gid })
  const byDefault = composeConfig()
  for (const [name, svc] of Object.entries(withGid.services)) {
    const readsKey = certMounts(svc).some((m) => isSecret(m.source))
    if (readsKey) {
      assert.deepEqual(
        svc.group_add?.map(String),
        [gid],
        `${name} reads a key, so it joins the group ${CERTS_GID_VAR} names`,
      )
      const fallback = byDefault.services[name]!.group_add?.map(String) ?? []
      assert.ok(
        fallback.length === 1 && /^[1-9]\d*$/.test(fallback[0]!),
        `${name}: ${CERTS_GID_VAR} needs a default that is a group id other than root's: ${fallback}`,
      )
    } else {
      assert.equal(svc.group_add, undefined, `${name} reads no key, so it needs no extra group`)
    }
    assert.ok(!/^(root|0)(:|$)/.test(svc.user ?? ''), `${name} should not run as root`)
  }
  // Started as root, Mosquitto would switch users with initgroups(), dropping the certs group.
  assert.ok(service('mosquitto').user, 'Mosquitto must start as its own user, not as root')
})

test('Mosquitto mounts the deploy/ config and ACL the native runner reads, and its own certificate', () => {
  assert.deepEqual(
    configMounts('mosquitto')
      .map((m) => [m.source, m.target])
      .sort(),
    [
      [path.join(DEPLOY_DIR, 'mosquitto', 'acl'), mosquittoDirective('acl_file')],
      [MOSQUITTO_CONF, '/mosquitto/config/mosquitto.conf'],
    ],
  )
  const server = certPaths(CERTS_DIR, { name: 'mosquitto' })
  assert.equal(mountSource('mosquitto', mosquittoDirective('cafile')), CA_CERT)
  assert.equal(mountSource('mosquitto', mosquittoDirective('certfile')), server.cert)
  assert.equal(mountSource('mosquitto', mosquittoDirective('keyfile')), server.key)

  const dataDir = /^(\S+?)\/?$/.exec(mosquittoDirective('persistence_location'))?.[1]
  assert.ok(
    mounts(service('mosquitto')).some((m) => !m.bind && m.target === dataDir),
    `Mosquitto's persistence_location ${dataDir} should be a named volume`,
  )
})

test('Mosquitto listens only with TLS and client certificates', () => {
  assert.equal(mosquittoConf().get('listener')?.length, 1, 'one listener, the TLS one')
  assert.equal(mosquittoDirective('require_certificate'), 'true')
  assert.equal(mosquittoDirective('allow_anonymous'), 'false')
  assert.equal(mosquittoDirective('use_identity_as_username'), 'true')
  assert.equal(portOf('mosquitto').target, mqttPort())
})

test("Mosquitto's health check connects over TLS as an identity that is no Kafka super user", () => {
  const check = healthcheckWords(service('mosquitto'))
  const arg = (flag: string) => check[check.indexOf(flag) + 1]
  assert.ok(['mosquitto_pub', 'mosquitto_sub'].includes(check[0]!), `not a Mosquitto client: ${check[0]}`)
  assert.ok(!check.includes('--insecure'), 'the health check verifies the broker certificate')
  assert.equal(Number(arg('-p')), mqttPort())
  assert.equal(mountSource('mosquitto', arg('--cafile')), CA_CERT)
  const identity = identityOf(mountSource('mosquitto', arg('--cert')))
  assert.ok(
    identity && identity.usage.includes('clientAuth'),
    `--cert ${arg('--cert')} is not a client identity`,
  )
  assert.equal(mountSource('mosquitto', arg('--key')), certPaths(CERTS_DIR, identity).key)
  const superUsers = kafkaSetting('super.users').split(';')
  assert.ok(
    !superUsers.includes(`User:${identity.name}`),
    `the broker's container should not hold ${identity.name}'s key: a Kafka super user`,
  )
})

test('Kafka mounts the deploy/ config files the native runner reads, as the image expects them', () => {
  const kafka = path.join(DEPLOY_DIR, 'kafka')
  assert.deepEqual(
    configMounts('kafka')
      .map((m) => [m.source, m.target])
      .sort(),
    [
      [path.join(kafka, 'log4j2.properties'), '/mnt/shared/config/log4j2.properties'],
      [SERVER_PROPERTIES, '/mnt/shared/config/server.properties'],
    ],
  )
  assert.equal(
    envVar('kafka', 'KAFKA_LOG4J_OPTS'),
    '-Dlog4j2.configurationFile=/mnt/shared/config/log4j2.properties',
  )
  const logDirs = kafkaSetting('log.dirs')
  assert.ok(
    mounts(service('kafka')).some((m) => !m.bind && m.target === logDirs),
    `Kafka's log.dirs ${logDirs} should be a named volume`,
  )
  assert.ok(envVar('kafka', 'CLUSTER_ID'), 'KRaft storage is formatted with CLUSTER_ID')
})

test('Kafka is the version the native runner fetches (deploy/kafka/pom.xml)', () => {
  for (const name of ['kafka', 'kafka-init']) {
    assert.equal(service(name).image, `apache/kafka:${kafkaVersion()}`, name)
  }
})

test('Kafka: every listener is TLS with client certificates, from its own mounted key store', () => {
  const protocols = protocolMap()
  for (const setting of ['listeners', 'advertised.listeners']) {
    for (const name of listenerMap(kafkaSetting(setting)).keys())
      assert.equal(protocols.get(name), 'SSL', `${setting}: listener ${name} must be SSL`)
  }
  assert.equal(kafkaSetting('ssl.client.auth'), 'required')
  assert.equal(kafkaSetting('ssl.endpoint.identification.algorithm'), 'https', 'hostname verification')
  assert.equal(kafkaSetting('ssl.keystore.type'), 'PEM')
  assert.equal(kafkaSetting('ssl.truststore.type'), 'PEM')
  assert.equal(mountSource('kafka', kafkaSetting('ssl.keystore.location')), kafkaKeystorePath(CERTS_DIR))
  assert.equal(mountSource('kafka', kafkaSetting('ssl.truststore.location')), CA_CERT)
  assert.ok(
    !envVar('kafka', 'KAFKA_ADVERTISED_LISTENERS').includes('SSL://'),
    'the image reads "SSL://" in KAFKA_ADVERTISED_LISTENERS as a request for JKS key stores in ' +
      '/etc/kafka/secrets and refuses to start without them: name the listeners otherwise',
  )
  // The broker's certificate must name the host it is reached at, or clients would refuse it.
  const kafkaIdentity = SERVICE_IDENTITIES.find((spec) => spec.name === 'kafka')
  for (const { host } of listenerMap(kafkaSetting('advertised.listeners')).values())
    assert.ok(
      ['localhost', '127.0.0.1', ...(kafkaIdentity?.hostNames ?? [])].includes(host),
      `kafka's certificate does not name ${host}`,
    )
})

test('Kafka listeners: clients in the network and on the host, controller quorum on its own listener', () => {
  const listeners = listenerMap(kafkaSetting('listeners'))
  const advertised = listenerMap(kafkaSetting('advertised.listeners'))
  const protocols = protocolMap()
  for (const name of listeners.keys())
    assert.ok(protocols.has(name), `no security protocol for listener ${name}`)

  const interBroker = kafkaSetting('inter.broker.listener.name')
  assert.ok(advertised.has(interBroker), `the inter-broker listener ${interBroker} must be advertised`)

  const host = portOf('kafka')
  const [hostListener] = [...advertised].find(([, a]) => a.host === '127.0.0.1') ?? []
  assert.ok(hostListener, 'no listener is advertised to clients on the host (127.0.0.1)')
  assert.equal(
    advertised.get(hostListener)!.port,
    host.published,
    'the host listener advertises the published port',
  )
  assert.equal(listeners.get(hostListener)?.port, host.target, 'the published port maps to the host listener')

  const controller = kafkaSetting('controller.listener.names')
  assert.equal(
    kafkaSetting('controller.quorum.voters'),
    `${kafkaSetting('node.id')}@kafka:${listeners.get(controller)?.port}`,
  )

  const internal = internalBootstrap()
  assert.equal(internal, `kafka:${listeners.get(interBroker)?.port}`)
  for (const name of ['gateway', 'anomaly-detector'])
    assert.equal(envVar(name, 'KAFKA_BROKERS'), internal, name)
})

test("Kafka's health check asks the TLS client listener, with a mounted client identity", () => {
  const identity = kafkaToolsClient('kafka', healthcheckWords(service('kafka')).join(' '))
  assert.ok(identity.usage.includes('clientAuth'), `${identity.name} is not a client identity`)
})

test('published ports are on loopback only and are the native defaults', () => {
  for (const [name, svc] of Object.entries(composeConfig().services)) {
    for (const port of publishedPorts(svc)) {
      assert.equal(port.hostIp, '127.0.0.1', `${name} publishes ${JSON.stringify(port)} beyond loopback`)
    }
  }
  const expected: Record<string, number> = {
    mosquitto: DEFAULT_PORTS.mqtt,
    kafka: DEFAULT_PORTS.kafka,
    gateway: DEFAULT_PORTS.gateway,
    'anomaly-detector': DEFAULT_PORTS.detector,
    simulator: DEFAULT_PORTS.simulatorMetrics,
    prometheus: DEFAULT_PORTS.prometheus,
    ...COMPOSE_ONLY_PORTS,
  }
  for (const [name, port] of Object.entries(expected)) assert.equal(portOf(name).published, port, name)
  for (const name of ['kafka-init', 'model-trainer'])
    assert.deepEqual(publishedPorts(service(name)), [], name)
})

test('no pipeline port is published in plaintext; only the Grafana UI is plain HTTP', () => {
  const listeners = listenerMap(kafkaSetting('listeners'))
  const protocols = protocolMap()
  const plain: string[] = []
  for (const [name, svc] of Object.entries(composeConfig().services)) {
    for (const port of publishedPorts(svc)) {
      let tls: boolean
      if (name === 'mosquitto') tls = port.target === mqttPort()
      else if (name === 'kafka') {
        const listener = [...listeners].find(([, l]) => l.port === port.target)?.[0]
        tls = listener !== undefined && protocols.get(listener) === 'SSL'
      } else if (svc.build) {
        // The Node services serve HTTPS only (shared/src/service-http.ts), given their TLS files.
        const vars = env(svc)
        tls = ('TLS_CERT' in vars && 'TLS_KEY' in vars) || SIMULATOR_RUN.options.certsDir.env in vars
      } else if (name === 'prometheus') tls = prometheusWebTls() !== undefined
      else tls = false
      if (!tls) plain.push(`${name}:${port.published}`)
    }
  }
  assert.deepEqual(
    plain.sort(),
    Object.entries(COMPOSE_ONLY_PORTS)
      .map(([name, port]) => `${name}:${port}`)
      .sort(),
  )
})

test('each service listens on all interfaces of its container, on the port that is published', () => {
  for (const name of ['gateway', 'simulator'])
    assert.equal(envVar(name, 'MQTT_URL'), `mqtts://mosquitto:${mqttPort()}`)

  const http: Array<[string, string, string]> = [
    ['gateway', 'GATEWAY_HOST', 'GATEWAY_PORT'],
    ['anomaly-detector', 'DETECTOR_HOST', 'DETECTOR_PORT'],
    ['simulator', 'SIM_METRICS_HOST', 'SIM_METRICS_PORT'],
  ]
  for (const [name, hostVar, portVar] of http) {
    assert.equal(envVar(name, hostVar), '0.0.0.0', `${name} ${hostVar}`)
    assert.equal(portOf(name).target, Number(envVar(name, portVar)), `${name} publishes its ${portVar}`)
  }
})

interface TlsOptions {
  tlsCa: { env: string; default: string }
  tlsCert: { env: string; default: string }
  tlsKey: { env: string; default: string }
}

test('the gateway and the detector read their TLS files from the certs mounts, as their own identity', () => {
  const services: Array<[string, TlsOptions]> = [
    ['gateway', GATEWAY_COMMAND.options],
    ['anomaly-detector', DETECTOR_RUN.options],
  ]
  for (const [name, options] of services) {
    for (const option of [options.tlsCa, options.tlsCert, options.tlsKey]) {
      // The variable points at a mount of the very file the service reads natively (certs/<identity>).
      assert.equal(
        mountSource(name, envVar(name, option.env)),
        option.default,
        `${name} ${option.env} should be where ${path.relative(REPO_ROOT, option.default)} is mounted`,
      )
    }
  }
})

test('the simulator finds its CA, its metrics certificate and every drone certificate under its certs mount', () => {
  const { env: variable, default: nativeDir } = SIMULATOR_RUN.options.certsDir
  const dir = envVar('simulator', variable)
  const layout = (root: string) => [
    ...Object.values(tlsFilesFor(root, SIMULATOR_IDENTITY)),
    path.dirname(tlsFilesFor(root, 'drone-0001', true).cert),
  ]
  const inContainer = layout(dir)
  layout(nativeDir).forEach((file, i) =>
    assert.equal(mountSource('simulator', inContainer[i]), file, `the simulator reads ${inContainer[i]}`),
  )
})

test('the services log JSON', () => {
  for (const name of ['gateway', 'anomaly-detector', 'simulator', 'model-trainer']) {
    assert.equal(envVar(name, 'LOG_FORMAT'), 'json', name)
  }
})

test('kafka-init creates the topics of shared/src/topics.ts with the native partition counts', () => {
  const text = commandText(service('kafka-init'))
  const created = new Map<string, number>()
  for (const match of text.matchAll(/kafka-topics\.sh ([^\n]*?--create[^\n]*)/g)) {
    const args = match[1]!
    assert.match(args, /--if-not-exists/, 'topic creation must be idempotent across restarts')
    const topic = /--topic (\S+)/.exec(args)?.[1]
    assert.ok(topic, `no --topic in: ${args}`)
    created.set(topic, Number(/--partitions (\d+)/.exec(args)?.[1]))
  }
  assert.deepEqual(
    Object.fromEntries(created),
    Object.fromEntries([
      [KAFKA_TOPICS.validated, STACK_OPTIONS.partitions.default],
      [KAFKA_TOPICS.dlq, 1],
      [KAFKA_TOPICS.anomalies, 1],
    ]),
  )
})

test('kafka-init grants exactly the ACLs the native runner grants (runner/src/kafka.ts SERVICE_ACLS)', () => {
  const expected = SERVICE_ACLS.map(
    (acl) =>
      `${acl.principal} ALLOW ${enumKey(AclOperations, acl.operation)} ` +
      `${enumKey(ResourceTypes, acl.resourceType)}:${acl.name} LITERAL host=*`,
  ).sort()
  assert.deepEqual(aclsAdded(commandText(service('kafka-init'))), expected)
})

test('kafka-init talks to the TLS listener as admin, a super user, from mounted certificates', () => {
  const identity = kafkaToolsClient('kafka-init', commandText(service('kafka-init')))
  assert.ok(
    kafkaSetting('super.users').split(';').includes(`User:${identity.name}`),
    `kafka-init runs as ${identity.name}, which may not create topics and ACLs`,
  )
})

test('model-trainer trains the model the native runner trains, where the detector reads it', () => {
  const text = commandText(service('model-trainer'))
  const { drones, durationS, seed, profile } = TRAINING_FLIGHT
  const dataset = new RegExp(
    `simulator/src/main\\.ts generate --drones ${drones} --duration ${durationS} --seed ${seed} --profile ${profile} --out (\\S+)`,
  ).exec(text)?.[1]
  assert.ok(dataset, `model-trainer does not generate the training flight ${JSON.stringify(TRAINING_FLIGHT)}`)
  const trained = /anomaly_detector\/src\/main\.ts train --in (\S+) --out (\S+)/.exec(text)
  assert.equal(trained?.[1], dataset, 'model-trainer trains on the flight it generated')

  const model = envVar('anomaly-detector', 'DETECTOR_MODEL')
  assert.ok(
    text.includes(trained![2]!) && text.trimEnd().endsWith(model),
    `the trained model ends up at ${model}`,
  )
  const volumeAt = (name: string) => mounts(service(name)).find((m) => m.target === path.posix.dirname(model))
  assert.equal(volumeAt('model-trainer')?.source, volumeAt('anomaly-detector')?.source)
  assert.ok(
    volumeAt('anomaly-detector') && !volumeAt('anomaly-detector')!.bind,
    'the model is on a named volume',
  )
  assert.deepEqual(service('model-trainer').build, service('anomaly-detector').build)
})

test('services start in the native order, each once what it needs is ready', () => {
  const expected: Record<string, Record<string, Condition>> = {
    'kafka-init': { kafka: 'service_healthy' },
    gateway: { mosquitto: 'service_healthy', 'kafka-init': 'service_completed_successfully' },
    'anomaly-detector': {
      'kafka-init': 'service_completed_successfully',
      'model-trainer': 'service_completed_successfully',
    },
    simulator: { gateway: 'service_healthy', 'anomaly-detector': 'service_healthy' },
  }
  for (const [name, deps] of Object.entries(expected)) assert.deepEqual(dependsOn(service(name)), deps, name)

  for (const [name, svc] of Object.entries(composeConfig().services)) {
    for (const [dep, condition] of Object.entries(dependsOn(svc))) {
      if (condition !== 'service_healthy') continue
      const target = service(dep)
      const dockerfile = target.build ? readDockerfile(target.build.dockerfile ?? 'Dockerfile') : ''
      const checked =
        (target.healthcheck?.test && !target.healthcheck.disable) ||
        /^HEALTHCHECK\s+(?!NONE)/m.test(dockerfile)
      assert.ok(checked, `${name} waits for ${dep} to be healthy, but ${dep} has no healthcheck`)
    }
  }
})

test('the Node services are built from their own Dockerfile, with the repository root as context', () => {
  for (const [name, svc] of Object.entries(composeConfig().services)) {
    if (!svc.build) continue
    assert.equal(svc.build.context, REPO_ROOT, `${name} build context`)
    const dockerfile = svc.build.dockerfile ?? 'Dockerfile'
    assert.ok(fs.existsSync(path.join(REPO_ROOT, dockerfile)), `${name}: ${dockerfile} does not exist`)
  }
  for (const [name, dockerfile] of Object.entries(DOCKERFILES)) {
    assert.equal(service(name).build?.dockerfile, dockerfile, name)
  }
})

test('each Dockerfile installs from the root lockfile without dev tools, runs unprivileged, bakes in no certificate', () => {
  for (const relative of new Set(Object.values(DOCKERFILES))) {
    const text = readDockerfile(relative)
    assert.match(text, /^FROM node:20-bookworm-slim\b/m, relative)
    assert.match(text, /^RUN npm ci --omit=dev /m, relative)
    assert.match(text, /^COPY package\.json package-lock\.json \.\/$/m, relative)
    assert.match(
      text,
      /^COPY schemas\/ schemas\/$/m,
      `${relative} should copy the Avro schemas the codec loads`,
    )
    const user = /^USER\s+(\S+)/m.exec(text)?.[1]
    assert.ok(user && user !== 'root' && user !== '0', `${relative} should switch to a non-root USER`)
    for (const [, sources = ''] of text.matchAll(/^COPY\s+(.*)\s+\S+$/gm)) {
      assert.ok(
        !sources.split(/\s+/).some((s) => s === '.' || s === './' || s.startsWith('certs')),
        `${relative} copies ${sources}: certificates must never be baked into an image`,
      )
    }
  }
  const ignored = fs.readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n')
  for (const pattern of ['**/node_modules', '.git', '.run', 'certs', '**/*.key', '**/*.pem']) {
    assert.ok(ignored.includes(pattern), `.dockerignore should exclude ${pattern}`)
  }
})

test("the Node images probe /readyz over HTTPS, trusting only the pipeline's CA, where compose mounts it", () => {
  for (const [name, relative] of Object.entries(DOCKERFILES)) {
    const text = readDockerfile(relative)
    const check = /^HEALTHCHECK\s+(?!NONE).*?\bCMD\s+(\[.*\])\s*$/m.exec(text)?.[1]
    if (!check) continue
    const [node, flag, script = ''] = JSON.parse(check) as string[]
    assert.deepEqual([node, flag], ['node', '-e'], relative)
    assert.match(script, /require\('node:https'\)/, `${relative}: the probe should use HTTPS`)
    assert.match(script, /path: '\/readyz'/, `${relative}: the probe should ask /readyz`)
    assert.match(script, /ca: require\('node:fs'\)\.readFileSync\(process\.env\.TLS_CA\)/, relative)
    assert.doesNotMatch(
      script,
      /http:|rejectUnauthorized/,
      `${relative}: no plaintext, no skipped verification`,
    )
    if (name === 'model-trainer') continue
    const defaults = Object.fromEntries(
      [...text.matchAll(/^ENV\s+(.*)$/gm)].flatMap(([, pairs = '']) =>
        pairs.split(/\s+/).map((pair) => pair.split('=') as [string, string]),
      ),
    )
    assert.equal(envVar(name, 'TLS_CA'), defaults.TLS_CA, `${name}: the image's TLS_CA default is the mount`)
  }
})

test("the simulator image's certs directory is where compose mounts it", () => {
  const text = readDockerfile(DOCKERFILES.simulator!)
  const variable = SIMULATOR_RUN.options.certsDir.env
  assert.equal(new RegExp(`^ENV\\s+${variable}=(\\S+)`, 'm').exec(text)?.[1], envVar('simulator', variable))
})

/** Package names a TypeScript file loads at run time (type-only imports are erased). */
function runtimeImports(source: string): string[] {
  const specifiers = [
    ...source.matchAll(/^\s*(?:import|export)\s+(?!type\s)(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]/gm),
    ...source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g),
  ].map((m) => m[1]!)
  return specifiers
    .filter((s) => !s.startsWith('.') && !s.startsWith('/') && !isBuiltin(s))
    .map((s) =>
      s
        .split('/')
        .slice(0, s.startsWith('@') ? 2 : 1)
        .join('/'),
    )
}

function sourceFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => path.join(dir, file))
}

interface PackageJson {
  name: string
  dependencies?: Record<string, string>
  workspaces?: string[]
}

function readPackage(dir: string): PackageJson {
  return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as PackageJson
}

/** Dockerfile -> the compose services built from it. */
function servicesByDockerfile(): Map<string, string[]> {
  const groups = new Map<string, string[]>()
  for (const [name, dockerfile] of Object.entries(DOCKERFILES)) {
    groups.set(dockerfile, [...(groups.get(dockerfile) ?? []), name])
  }
  return groups
}

test('each image installs every package its code imports, and copies the code it runs', () => {
  const root = readPackage(REPO_ROOT)
  const workspaceDirs = new Map(
    (root.workspaces ?? []).map((dir) => [readPackage(path.join(REPO_ROOT, dir)).name, dir]),
  )
  const problems: string[] = []
  for (const [relative, services] of servicesByDockerfile()) {
    const text = readDockerfile(relative)
    const installed = [...text.matchAll(/--workspace=(\S+)/g)].map((m) => m[1]!)
    const dirs = installed.map((name) => {
      const dir = workspaceDirs.get(name)
      assert.ok(dir, `${relative} installs ${name}, which is not a workspace`)
      return dir
    })
    for (const dir of dirs) {
      if (!new RegExp(`^COPY ${dir}/ ${dir}/$`, 'm').test(text))
        problems.push(`${relative} does not copy ${dir}/`)
    }
    const declared = new Set([
      ...Object.keys(root.dependencies ?? {}),
      ...installed,
      ...dirs.flatMap((dir) => Object.keys(readPackage(path.join(REPO_ROOT, dir)).dependencies ?? {})),
    ])
    const entries = [
      ...[...text.matchAll(/^CMD \[(.*)\]$/gm)].flatMap((m) => JSON.parse(`[${m[1]}]`) as string[]),
      ...services.flatMap((name) => commandText(service(name)).split(/\s+/)),
    ].filter((word) => word.endsWith('.ts'))
    assert.ok(entries.length > 0, `${relative} runs no TypeScript entry point`)
    for (const entry of entries) {
      if (!dirs.some((dir) => entry.startsWith(`${dir}/`)))
        problems.push(`${relative} runs ${entry} but does not copy it`)
    }
    if (/--import tsx/.test(text) && !declared.has('tsx'))
      problems.push(`${relative} runs tsx without installing it`)
    for (const dir of dirs) {
      for (const file of sourceFiles(path.join(REPO_ROOT, dir, 'src'))) {
        for (const pkg of runtimeImports(fs.readFileSync(file, 'utf8'))) {
          if (!declared.has(pkg)) {
            problems.push(
              `${relative}: ${path.relative(REPO_ROOT, file)} imports ${pkg}, which no installed workspace declares`,
            )
          }
        }
      }
    }
  }
  assert.deepEqual([...new Set(problems)], [])
})

/** The value of a `--flag=value` word of a service's command. */
function commandFlag(name: string, flag: string): string | undefined {
  return words(service(name).command)
    .find((word) => word.startsWith(`${flag}=`))
    ?.slice(flag.length + 1)
}

/** The host files Prometheus serves its UI and API with (web.yml), or undefined when it serves plain HTTP. */
function prometheusWebTls(): { cert?: string; key?: string } | undefined {
  const source = mountSource('prometheus', commandFlag('prometheus', '--web.config.file'))
  if (!source) return undefined
  const web = parse(fs.readFileSync(source, 'utf8')) as {
    tls_server_config?: { cert_file?: string; key_file?: string }
  }
  const tls = web.tls_server_config
  return (
    tls && { cert: mountSource('prometheus', tls.cert_file), key: mountSource('prometheus', tls.key_file) }
  )
}

test('Prometheus scrapes every /metrics over HTTPS with its client certificate, with the deploy/ config and rules', () => {
  assert.deepEqual(
    configMounts('prometheus').map((m) => [m.source, m.target]),
    [
      [PROMETHEUS_YML, '/etc/prometheus/prometheus.yml'],
      [PROMETHEUS_RULES, '/etc/prometheus/rules'],
      [PROMETHEUS_WEB_YML, '/etc/prometheus/web.yml'],
    ],
  )
  assert.equal(mountSource('prometheus', commandFlag('prometheus', '--config.file')), PROMETHEUS_YML)
  const config = parse(fs.readFileSync(PROMETHEUS_YML, 'utf8')) as {
    rule_files: string[]
    scrape_configs: Array<{
      job_name: string
      scheme?: string
      metrics_path?: string
      tls_config?: {
        ca_file?: string
        cert_file?: string
        key_file?: string
        server_name?: string
        insecure_skip_verify?: boolean
      }
      static_configs: Array<{ targets: string[] }>
    }>
  }
  for (const glob of config.rule_files) {
    assert.equal(mountSource('prometheus', path.posix.dirname(glob)), PROMETHEUS_RULES, `rule_files ${glob}`)
  }
  const client = tlsFilesFor(CERTS_DIR, METRICS_IDENTITY)
  const targets = config.scrape_configs.flatMap((job) => {
    assert.equal(job.metrics_path ?? '/metrics', '/metrics', job.job_name)
    assert.equal(job.scheme, 'https', `${job.job_name} should be scraped over HTTPS`)
    const tls = job.tls_config
    assert.ok(tls, `${job.job_name} has no tls_config`)
    assert.equal(mountSource('prometheus', tls.ca_file), client.ca, `${job.job_name} ca_file`)
    assert.equal(mountSource('prometheus', tls.cert_file), client.cert, `${job.job_name} cert_file`)
    assert.equal(mountSource('prometheus', tls.key_file), client.key, `${job.job_name} key_file`)
    assert.notEqual(tls.insecure_skip_verify, true, `${job.job_name} must verify the target`)
    // The services' certificates name their compose service, so the target host is verified as is.
    assert.equal(tls.server_name, undefined, `${job.job_name} needs no server_name`)
    return job.static_configs.flatMap((s) => s.targets)
  })
  assert.deepEqual(targets.sort(), [
    `anomaly-detector:${envVar('anomaly-detector', 'DETECTOR_PORT')}`,
    `gateway:${envVar('gateway', 'GATEWAY_PORT')}`,
    `simulator:${envVar('simulator', 'SIM_METRICS_PORT')}`,
  ])
  for (const target of targets) {
    const identity = SERVICE_IDENTITIES.find((spec) => spec.hostNames?.includes(target.split(':')[0]!))
    assert.ok(identity?.usage.includes('serverAuth'), `no server certificate names ${target}`)
  }
  const storage = commandFlag('prometheus', '--storage.tsdb.path')
  assert.ok(
    mounts(service('prometheus')).some((m) => !m.bind && m.target === storage),
    `Prometheus keeps its data (${storage}) on a named volume`,
  )
})

test('Prometheus serves its UI and API over HTTPS with its own certificate, which names its service', () => {
  const own = tlsFilesFor(CERTS_DIR, METRICS_IDENTITY)
  assert.deepEqual(prometheusWebTls(), { cert: own.cert, key: own.key })
  const identity = SERVICE_IDENTITIES.find((spec) => spec.name === METRICS_IDENTITY)
  assert.ok(identity?.usage.includes('serverAuth'), 'the prometheus certificate is a server certificate too')
  assert.ok(identity?.hostNames?.includes('prometheus'), 'and names the compose service')
})

test("promtool accepts compose's Prometheus config, rules and web config as the container sees them", () => {
  if (!fs.existsSync(PROMTOOL.binary)) {
    assert.fail(`${PROMTOOL.binary} is missing: apt-get install ${PROMTOOL.pkg} (\`npm test\` installs it)`)
  }
  // Each container path that is a bind mount becomes its host path, longest first, so promtool
  // finds the very certificates and rule files the container would.
  const binds = mounts(service('prometheus'))
    .filter((m) => m.bind)
    .sort((a, b) => b.target.length - a.target.length)
  const asOnHost = (file: string) =>
    binds.reduce((text, m) => text.replaceAll(m.target, m.source), fs.readFileSync(file, 'utf8'))
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'compose-prometheus-'))
  try {
    const checks: Array<[string, string, string]> = [
      ['config', '--config.file', 'prometheus.yml'],
      ['web-config', '--web.config.file', 'web.yml'],
    ]
    for (const [check, flag, name] of checks) {
      const source = mountSource('prometheus', commandFlag('prometheus', flag))
      assert.ok(source, `prometheus has no ${flag} from a mounted file`)
      const file = path.join(work, name)
      fs.writeFileSync(file, asOnHost(source))
      const result = spawnSync(PROMTOOL.binary, ['check', check, file], { encoding: 'utf8' })
      assert.equal(result.status, 0, `promtool check ${check} ${name}:\n${result.stdout}${result.stderr}`)
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
})

test('Grafana is provisioned from grafana-provisioning/: the Prometheus datasource over HTTPS, the pipeline dashboard as home', () => {
  const provisioning = path.join(REPO_ROOT, 'grafana-provisioning')
  const mount = configMounts('grafana').find((m) => m.source === provisioning)
  assert.equal(mount?.target, '/etc/grafana/provisioning')
  const inMount = (target: string) => {
    const inside = path.posix.relative(mount!.target, target)
    assert.ok(!inside.startsWith('..'), `${target} is outside the provisioning mount`)
    const file = path.join(provisioning, inside)
    assert.ok(fs.existsSync(file), `grafana-provisioning/${inside} does not exist`)
    return file
  }

  const datasources = parse(
    fs.readFileSync(path.join(provisioning, 'datasources', 'prometheus.yml'), 'utf8'),
  ) as {
    datasources: Array<{
      type: string
      uid: string
      url: string
      jsonData?: { tlsAuthWithCACert?: boolean; tlsSkipVerify?: boolean }
      secureJsonData?: { tlsCACert?: string }
    }>
  }
  const prometheus = datasources.datasources.find((d) => d.type === 'prometheus')
  assert.ok(prometheus, 'no Prometheus datasource')
  assert.equal(prometheus.url, `https://prometheus:${portOf('prometheus').target}`)
  assert.equal(prometheus.jsonData?.tlsAuthWithCACert, true, "Grafana verifies Prometheus's certificate")
  assert.notEqual(prometheus.jsonData?.tlsSkipVerify, true)
  const caFile = /^\$__file\{(.+)\}$/.exec(prometheus.secureJsonData?.tlsCACert ?? '')?.[1]
  assert.equal(mountSource('grafana', caFile), CA_CERT, 'with the pipeline CA, read from its mount')

  const dashboards = parse(
    fs.readFileSync(path.join(provisioning, 'dashboards', 'dashboards.yml'), 'utf8'),
  ) as {
    providers: Array<{ type: string; options: { path: string } }>
  }
  for (const provider of dashboards.providers) inMount(provider.options.path)

  const home = inMount(envVar('grafana', 'GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH'))
  const datasourceUids = new Set(
    dashboardPanels(readDashboard(home)).flatMap((panel) => [
      panel.datasource?.uid,
      ...(panel.targets ?? []).map((t) => t.datasource?.uid),
    ]),
  )
  assert.deepEqual([...datasourceUids].filter(Boolean), [prometheus.uid], 'every query asks that datasource')
})
