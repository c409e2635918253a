/**
 * Installs what the native run needs and is missing: Debian packages (Mosquitto, Prometheus, ...) through
 * apt-get, and the pinned Apache Kafka broker through Maven from Maven Central. Nothing is
 * downloaded from anywhere else. Without root, it stops with the exact command to run.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { DEPLOY_DIR } from '@drone-pipeline/shared/paths.ts'

export class InstallError extends Error {
  override name = 'InstallError'
}

/** Debian package and the executable that shows it is there. */
export interface AptRequirement {
  pkg: string
  binary: string
}

export const OPENSSL: AptRequirement = { pkg: 'openssl', binary: '/usr/bin/openssl' }
export const MOSQUITTO: AptRequirement = { pkg: 'mosquitto', binary: '/usr/sbin/mosquitto' }
export const MOSQUITTO_CLIENTS: AptRequirement = {
  pkg: 'mosquitto-clients',
  binary: '/usr/bin/mosquitto_pub',
}
export const MOSQUITTO_SUB: AptRequirement = { pkg: 'mosquitto-clients', binary: '/usr/bin/mosquitto_sub' }
/** Prometheus 2.42 from Debian 12, with promtool. */
export const PROMETHEUS: AptRequirement = { pkg: 'prometheus', binary: '/usr/bin/prometheus' }
export const PROMTOOL: AptRequirement = { pkg: 'prometheus', binary: '/usr/bin/promtool' }
/** The floor of the load benchmark: a bare Mosquitto-to-Kafka bridge (mosquitto_sub | kcat -P, kcat -C). */
export const KCAT: AptRequirement = { pkg: 'kcat', binary: '/usr/bin/kcat' }
/** Headless Chromium renders the load benchmark's chart to PNG. */
export const CHROMIUM: AptRequirement = { pkg: 'chromium', binary: '/usr/bin/chromium' }
/**
 * Installed without its recommended packages, Chromium has no fonts and would draw every label as
 * boxes; DejaVu is the font the report asks for.
 */
export const CHART_FONTS: AptRequirement = {
  pkg: 'fonts-dejavu-core',
  binary: '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
}
export const DOCKER_COMPOSE: AptRequirement = { pkg: 'docker-compose', binary: '/usr/bin/docker-compose' }

function onPath(binary: string): boolean {
  if (binary.includes('/')) return fs.existsSync(binary)
  return spawnSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' }).status === 0
}

export function ensureAptPackages(requirements: AptRequirement[], log: (msg: string) => void): void {
  const missing = [...new Set(requirements.filter((r) => !onPath(r.binary)).map((r) => r.pkg))]
  if (missing.length === 0) return
  const command = `apt-get update && apt-get install -y --no-install-recommends ${missing.join(' ')}`
  if (process.getuid?.() !== 0) {
    throw new InstallError(
      `missing Debian packages: ${missing.join(', ')}. Install them as root:\n  sudo sh -c '${command}'`,
    )
  }
  log(`installing ${missing.join(', ')} from Debian's packages (apt-get)`)
  const result = spawnSync('sh', ['-c', command], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  })
  if (result.status !== 0) throw new InstallError(`apt-get failed (exit ${result.status}): ${command}`)
}

export function ensureJava(): void {
  if (!onPath('java'))
    throw new InstallError(
      'Java 17+ is required for the Kafka broker: apt-get install openjdk-17-jre-headless',
    )
  const out = spawnSync('java', ['-version'], { encoding: 'utf8' })
  const match = /version "(\d+)/.exec(out.stderr + out.stdout)
  if (!match || Number(match[1]) < 17) {
    throw new InstallError(
      `Java 17+ is required for the Kafka broker; found: ${(out.stderr || out.stdout).split('\n')[0]}`,
    )
  }
}

export function kafkaVersion(): string {
  const pom = fs.readFileSync(path.join(DEPLOY_DIR, 'kafka', 'pom.xml'), 'utf8')
  const match = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pom)
  if (!match) throw new InstallError('deploy/kafka/pom.xml does not pin <kafka.version>')
  return match[1]!
}

/**
 * The Kafka broker's jars, fetched once per pinned version into the cache directory. The marker
 * file is written last, so an interrupted download is retried rather than half-used.
 */
export function ensureKafkaJars(cacheDir: string, log: (msg: string) => void): string {
  const version = kafkaVersion()
  const libDir = path.join(cacheDir, `kafka-${version}`, 'libs')
  const marker = path.join(libDir, '.complete')
  if (fs.existsSync(marker)) return libDir
  ensureJava()
  if (!onPath('mvn')) {
    throw new InstallError('Maven is required to fetch Kafka from Maven Central: apt-get install maven')
  }
  log(`fetching Apache Kafka ${version} from Maven Central (mvn dependency:copy-dependencies)`)
  fs.rmSync(libDir, { recursive: true, force: true })
  fs.mkdirSync(libDir, { recursive: true })
  try {
    execFileSync(
      'mvn',
      [
        '-B',
        '-q',
        '-f',
        path.join(DEPLOY_DIR, 'kafka', 'pom.xml'),
        'dependency:copy-dependencies',
        `-DoutputDirectory=${libDir}`,
        '-DincludeScope=runtime',
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    )
  } catch {
    throw new InstallError(`mvn could not fetch Kafka ${version}; see the Maven output above`)
  }
  fs.writeFileSync(marker, `${version}\n`)
  return libDir
}
