/**
 * docker-compose.yml describes the same pipeline as the native runner. No Docker engine runs here,
 * so the file is checked statically: Debian's docker-compose (v1) parses and resolves it without an
 * engine, and the resolved configuration is compared with what the native runner does (config
 * files, ports, topics, model training) and with the Dockerfiles it builds.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import { isBuiltin } from 'node:module'
import path from 'node:path'
import { test } from 'node:test'
import { parse } from 'yaml'
import { DEPLOY_DIR, REPO_ROOT } from '@drone-pipeline/shared/paths.ts'
import { KAFKA_TOPICS } from '@drone-pipeline/shared/topics.ts'
import { DEFAULT_PORTS, STACK_OPTIONS } from '../runner/src/config.ts'
import { DOCKER_COMPOSE, kafkaVersion } from '../runner/src/install.ts'
import { TRAINING_FLIGHT } from '../runner/src/stack.ts'

const COMPOSE_FILE = path.join(REPO_ROOT, 'docker-compose.yml')

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
const COMPOSE_ONLY_PORTS = { prometheus: 9090, grafana: 3000 }

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

let resolved: Compose | undefined

/** `docker-compose config`: the file parsed, validated and resolved by Compose itself. */
function composeConfig(): Compose {
  if (resolved) return resolved
  if (!fs.existsSync(DOCKER_COMPOSE.binary)) {
    assert.fail(
      `${DOCKER_COMPOSE.binary} is missing, so docker-compose.yml cannot be checked. Install Debian's ` +
        `${DOCKER_COMPOSE.pkg} package (apt-get install ${DOCKER_COMPOSE.pkg}); \`npm test\` installs it.`,
    )
  }
  const result = spawnSync(DOCKER_COMPOSE.binary, ['-f', COMPOSE_FILE, 'config'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  })
  if (result.error) throw result.error
  assert.equal(result.status, 0, `docker-compose config rejected docker-compose.yml:\n${result.stderr}`)
  const config = parse(result.stdout) as Compose
  assert.ok(config?.services, `docker-compose config printed no services:\n${result.stdout}`)
  resolved = config
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
}

function mounts(svc: Service): Mount[] {
  return (svc.volumes ?? []).map((volume) => {
    if (typeof volume === 'string') {
      const [source = '', target = '', mode = ''] = volume.split(':')
      return { source, target, readOnly: mode.split(',').includes('ro'), bind: source.startsWith('/') }
    }
    return {
      source: volume.source ?? '',
      target: volume.target,
      readOnly: volume.read_only === true,
      bind: volume.type === 'bind',
    }
  })
}

function bindMounts(name: string): Mount[] {
  return mounts(service(name)).filter((m) => m.bind)
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

/** Entry point and command as one shell text, for the one-shot services. */
function commandText(svc: Service): string {
  const words = (value: string | string[] | undefined) =>
    Array.isArray(value) ? value : value ? [value] : []
  return [...words(svc.entrypoint), ...words(svc.command)].join(' ')
}

function readProperties(file: string): Map<string, string> {
  const props = new Map<string, string>()
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const match = /^\s*([^#!\s][^=]*?)\s*=\s*(.*?)\s*$/.exec(line)
    if (match) props.set(match[1]!, match[2]!)
  }
  return props
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

function readDockerfile(relative: string): string {
  return fs.readFileSync(path.join(REPO_ROOT, relative), 'utf8').replace(/\\\n/g, ' ')
}

test('docker-compose config parses and resolves docker-compose.yml without an engine', () => {
  const config = composeConfig()
  assert.ok(Object.keys(config.services).length > 0)
})

test('every service of the topology is there, and nothing else', () => {
  assert.deepEqual(Object.keys(composeConfig().services).sort(), [...TOPOLOGY].sort())
})

test('every bind-mounted host path exists (Docker would silently create a missing one as a directory)', () => {
  for (const [name, svc] of Object.entries(composeConfig().services)) {
    for (const mount of mounts(svc).filter((m) => m.bind)) {
      assert.ok(fs.existsSync(mount.source), `${name} mounts ${mount.source}, which does not exist`)
      assert.ok(mount.readOnly, `${name} should mount ${mount.source} read-only`)
    }
  }
})

test('Mosquitto mounts exactly the deploy/ config file the native runner reads', () => {
  assert.deepEqual(
    bindMounts('mosquitto').map((m) => [m.source, m.target]),
    [[path.join(DEPLOY_DIR, 'mosquitto', 'mosquitto.conf'), '/mosquitto/config/mosquitto.conf']],
  )
  const conf = fs.readFileSync(path.join(DEPLOY_DIR, 'mosquitto', 'mosquitto.conf'), 'utf8')
  const dataDir = /^persistence_location\s+(\S+?)\/?$/m.exec(conf)?.[1]
  assert.ok(
    mounts(service('mosquitto')).some((m) => !m.bind && m.target === dataDir),
    `Mosquitto's persistence_location ${dataDir} should be a named volume`,
  )
})

test('Kafka mounts exactly the deploy/ config files the native runner reads, as the image expects them', () => {
  const kafka = path.join(DEPLOY_DIR, 'kafka')
  assert.deepEqual(
    bindMounts('kafka')
      .map((m) => [m.source, m.target])
      .sort(),
    [
      [path.join(kafka, 'log4j2.properties'), '/mnt/shared/config/log4j2.properties'],
      [path.join(kafka, 'server.properties'), '/mnt/shared/config/server.properties'],
    ],
  )
  assert.equal(
    envVar('kafka', 'KAFKA_LOG4J_OPTS'),
    '-Dlog4j2.configurationFile=/mnt/shared/config/log4j2.properties',
  )
  const logDirs = readProperties(path.join(kafka, 'server.properties')).get('log.dirs')
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

test('Kafka listeners: clients in the network and on the host, controller quorum on its own listener', () => {
  const props = readProperties(path.join(DEPLOY_DIR, 'kafka', 'server.properties'))
  const listeners = listenerMap(envVar('kafka', 'KAFKA_LISTENERS'))
  const advertised = listenerMap(envVar('kafka', 'KAFKA_ADVERTISED_LISTENERS'))
  const protocols = new Set(
    envVar('kafka', 'KAFKA_LISTENER_SECURITY_PROTOCOL_MAP')
      .split(',')
      .map((p) => p.split(':')[0]),
  )
  for (const name of listeners.keys())
    assert.ok(protocols.has(name), `no security protocol for listener ${name}`)

  const interBroker = props.get('inter.broker.listener.name')!
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

  const controller = props.get('controller.listener.names')!
  assert.equal(
    envVar('kafka', 'KAFKA_CONTROLLER_QUORUM_VOTERS'),
    `${props.get('node.id')}@kafka:${listeners.get(controller)?.port}`,
  )

  const internal = `${advertised.get(interBroker)!.host}:${advertised.get(interBroker)!.port}`
  assert.equal(internal, `kafka:${listeners.get(interBroker)?.port}`)
  for (const name of ['gateway', 'anomaly-detector'])
    assert.equal(envVar(name, 'KAFKA_BROKERS'), internal, name)
  assert.match(commandText(service('kafka-init')), new RegExp(`--bootstrap-server ${internal} `))
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
    ...COMPOSE_ONLY_PORTS,
  }
  for (const [name, port] of Object.entries(expected)) assert.equal(portOf(name).published, port, name)
  for (const name of ['kafka-init', 'model-trainer'])
    assert.deepEqual(publishedPorts(service(name)), [], name)
})

test('each service listens on all interfaces of its container, on the port that is published', () => {
  const conf = fs.readFileSync(path.join(DEPLOY_DIR, 'mosquitto', 'mosquitto.conf'), 'utf8')
  const mqttPort = Number(/^listener\s+(\d+)/m.exec(conf)?.[1])
  assert.equal(portOf('mosquitto').target, mqttPort)
  for (const name of ['gateway', 'simulator'])
    assert.equal(envVar(name, 'MQTT_URL'), `mqtt://mosquitto:${mqttPort}`)

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

test('model-trainer trains the model the native runner trains, where the detector reads it', () => {
  const text = commandText(service('model-trainer'))
  const { drones, durationS, seed } = TRAINING_FLIGHT
  const dataset = new RegExp(
    `simulator/src/main\\.ts generate --drones ${drones} --duration ${durationS} --seed ${seed} --out (\\S+)`,
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

test('each Dockerfile installs from the root lockfile without dev tools and runs unprivileged', () => {
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
  }
  const ignored = fs.readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n')
  for (const pattern of ['**/node_modules', '.git', '.run', 'certs']) {
    assert.ok(ignored.includes(pattern), `.dockerignore should exclude ${pattern}`)
  }
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

test("Prometheus scrapes every service's metrics port, with the deploy/ config", () => {
  assert.deepEqual(
    bindMounts('prometheus').map((m) => [m.source, m.target]),
    [[path.join(DEPLOY_DIR, 'prometheus', 'prometheus.yml'), '/etc/prometheus/prometheus.yml']],
  )
  const config = parse(fs.readFileSync(path.join(DEPLOY_DIR, 'prometheus', 'prometheus.yml'), 'utf8')) as {
    scrape_configs: Array<{
      job_name: string
      metrics_path?: string
      static_configs: Array<{ targets: string[] }>
    }>
  }
  const targets = config.scrape_configs.flatMap((job) => {
    assert.equal(job.metrics_path ?? '/metrics', '/metrics', job.job_name)
    return job.static_configs.flatMap((s) => s.targets)
  })
  assert.deepEqual(targets.sort(), [
    `anomaly-detector:${envVar('anomaly-detector', 'DETECTOR_PORT')}`,
    `gateway:${envVar('gateway', 'GATEWAY_PORT')}`,
    `simulator:${envVar('simulator', 'SIM_METRICS_PORT')}`,
  ])
})

test('Grafana is provisioned from grafana-provisioning/ with the Prometheus datasource', () => {
  const provisioning = path.join(REPO_ROOT, 'grafana-provisioning')
  const mount = bindMounts('grafana').find((m) => m.source === provisioning)
  assert.equal(mount?.target, '/etc/grafana/provisioning')

  const datasources = parse(
    fs.readFileSync(path.join(provisioning, 'datasources', 'prometheus.yml'), 'utf8'),
  ) as {
    datasources: Array<{ type: string; url: string }>
  }
  const prometheus = datasources.datasources.find((d) => d.type === 'prometheus')
  assert.equal(prometheus?.url, `http://prometheus:${portOf('prometheus').target}`)

  const dashboards = parse(
    fs.readFileSync(path.join(provisioning, 'dashboards', 'dashboards.yml'), 'utf8'),
  ) as {
    providers: Array<{ type: string; options: { path: string } }>
  }
  for (const provider of dashboards.providers) {
    const inside = path.posix.relative(mount!.target, provider.options.path)
    assert.ok(
      !inside.startsWith('..'),
      `dashboards provider path ${provider.options.path} is outside the mount`,
    )
    assert.ok(fs.existsSync(path.join(provisioning, inside)), `grafana-provisioning/${inside} does not exist`)
  }
})
