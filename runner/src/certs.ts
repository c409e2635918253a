/**
 * The pipeline's private certificate authority, with openssl: a CA, a certificate per service
 * identity and one per drone. Idempotent: what exists and is still good is kept; what is missing,
 * expires within 30 days, was signed by another CA, or no longer has the usages and host names its
 * identity needs is (re)issued.
 *
 * Algorithms: ECDSA P-256 keys, SHA-256 signatures; CA valid 5 years, leaf certificates 397 days
 * (the longest the CA/Browser Forum allows for server certificates). Keys are 0600.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes, X509Certificate } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

export type Usage = 'serverAuth' | 'clientAuth'

export interface IdentitySpec {
  /** The certificate's CN: the identity the brokers and services authorize. */
  name: string
  usage: Usage[]
  /** Extra host names for server certificates: the compose service name. */
  hostNames?: string[]
  isDrone?: boolean
}

/** Every service identity (DESIGN.md, "certificates"), plus the simulator's metrics endpoint. */
export const SERVICE_IDENTITIES: IdentitySpec[] = [
  { name: 'mosquitto', usage: ['serverAuth'], hostNames: ['mosquitto'] },
  // The broker is also a client of its own controller listener.
  { name: 'kafka', usage: ['serverAuth', 'clientAuth'], hostNames: ['kafka'] },
  { name: 'gateway', usage: ['serverAuth', 'clientAuth'], hostNames: ['gateway'] },
  { name: 'anomaly-detector', usage: ['serverAuth', 'clientAuth'], hostNames: ['anomaly-detector'] },
  { name: 'simulator', usage: ['serverAuth'], hostNames: ['simulator'] },
  // A client of every /metrics, and the server of its own web UI and API.
  { name: 'prometheus', usage: ['serverAuth', 'clientAuth'], hostNames: ['prometheus'] },
  { name: 'admin', usage: ['clientAuth'] },
]

export const CA_DAYS = 1825
export const LEAF_DAYS = 397
const RENEW_WITHIN_DAYS = 30
const ORGANIZATION = 'Drone Telemetry Pipeline'

export function droneIdentity(droneId: string): IdentitySpec {
  return { name: droneId, usage: ['clientAuth'], isDrone: true }
}

export function certPaths(certsDir: string, spec: Pick<IdentitySpec, 'name' | 'isDrone'>) {
  const base = spec.isDrone ? path.join(certsDir, 'drones', spec.name) : path.join(certsDir, spec.name)
  return { cert: `${base}.crt`, key: `${base}.key` }
}

function openssl(args: string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim()
    throw new Error(`openssl ${args[0]} failed: ${stderr || (err as Error).message}`)
  }
}

/** The X.509 v3 extensions of a leaf certificate, in openssl's config syntax. */
export function leafExtensions(spec: IdentitySpec): string {
  const lines = [
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature',
    `extendedKeyUsage = ${spec.usage.join(', ')}`,
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid',
  ]
  if (spec.usage.includes('serverAuth')) {
    const names = [
      'DNS:localhost',
      'IP:127.0.0.1',
      'IP:::1',
      ...(spec.hostNames ?? []).map((h) => `DNS:${h}`),
    ]
    lines.push(`subjectAltName = ${names.join(', ')}`)
  }
  return lines.join('\n') + '\n'
}

function readCertificate(file: string): X509Certificate | undefined {
  try {
    return new X509Certificate(fs.readFileSync(file))
  } catch {
    return undefined
  }
}

const EXTENDED_KEY_USAGE_OIDS: Record<Usage, string> = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
}

/** The certificate grants what its spec says today, so a spec that changed is issued again. */
function matchesSpec(cert: X509Certificate, spec: IdentitySpec): boolean {
  const usages = cert.keyUsage ?? []
  const names = (cert.subjectAltName ?? '').split(', ')
  return (
    usages.length === spec.usage.length &&
    spec.usage.every((usage) => usages.includes(EXTENDED_KEY_USAGE_OIDS[usage])) &&
    (!spec.usage.includes('serverAuth') || (spec.hostNames ?? []).every((h) => names.includes(`DNS:${h}`)))
  )
}

function stillGood(cert: X509Certificate | undefined, now: Date): boolean {
  return (
    cert !== undefined && new Date(cert.validTo).getTime() - now.getTime() > RENEW_WITHIN_DAYS * 86_400_000
  )
}

export function createCa(certsDir: string): void {
  fs.mkdirSync(certsDir, { recursive: true, mode: 0o700 })
  const key = path.join(certsDir, 'ca.key')
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key])
  fs.chmodSync(key, 0o600)
  openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    key,
    '-sha256',
    '-days',
    String(CA_DAYS),
    '-subj',
    `/O=${ORGANIZATION}/CN=${ORGANIZATION} CA`,
    '-addext',
    'basicConstraints=critical,CA:TRUE,pathlen:0',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-out',
    path.join(certsDir, 'ca.crt'),
  ])
}

export interface IssueOptions {
  /** Days of validity; negative issues an already expired certificate (for tests). */
  days?: number
  /** Sign with this CA instead of certsDir's (for tests of a foreign CA). */
  caDir?: string
}

/** Issues (or re-issues) one identity's key and certificate, signed by the CA. */
export function issueCertificate(certsDir: string, spec: IdentitySpec, options: IssueOptions = {}): void {
  const caDir = options.caDir ?? certsDir
  const { cert, key } = certPaths(certsDir, spec)
  fs.mkdirSync(path.dirname(cert), { recursive: true, mode: 0o700 })
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'certs-'))
  try {
    const csr = path.join(work, 'req.csr')
    const ext = path.join(work, 'ext.cnf')
    const newKey = path.join(work, 'new.key')
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', newKey])
    const ou = spec.isDrone ? 'drones' : 'services'
    openssl([
      'req',
      '-new',
      '-key',
      newKey,
      '-subj',
      `/O=${ORGANIZATION}/OU=${ou}/CN=${spec.name}`,
      '-out',
      csr,
    ])
    fs.writeFileSync(ext, leafExtensions(spec))
    openssl([
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      path.join(caDir, 'ca.crt'),
      '-CAkey',
      path.join(caDir, 'ca.key'),
      '-set_serial',
      `0x${randomBytes(16).toString('hex')}`,
      '-sha256',
      '-days',
      String(options.days ?? LEAF_DAYS),
      '-extfile',
      ext,
      '-out',
      path.join(work, 'new.crt'),
    ])
    // Key first, then certificate, each by rename: a reader never sees a certificate without its key.
    fs.chmodSync(newKey, 0o600)
    fs.renameSync(newKey, key)
    fs.renameSync(path.join(work, 'new.crt'), cert)
    fs.chmodSync(cert, 0o644)
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
}

/** Kafka reads its key and certificate chain from one PEM file (ssl.keystore.type=PEM). */
export function kafkaKeystorePath(certsDir: string): string {
  return path.join(certsDir, 'kafka.keystore.pem')
}

function writeKafkaKeystore(certsDir: string): void {
  const { cert, key } = certPaths(certsDir, { name: 'kafka' })
  const file = kafkaKeystorePath(certsDir)
  fs.writeFileSync(file, Buffer.concat([fs.readFileSync(key), fs.readFileSync(cert)]), { mode: 0o600 })
  fs.chmodSync(file, 0o600)
}

export interface EnsureResult {
  issued: string[]
}

/**
 * The CA, every service identity and drone-0001..drone-N (or the given drone ids). A new CA
 * re-issues everything, since nothing signed by the old one would be trusted.
 */
export function ensureCertificates(
  certsDir: string,
  drones: string[],
  now: Date = new Date(),
  force: string[] = [],
): EnsureResult {
  const issued: string[] = []
  const ca = readCertificate(path.join(certsDir, 'ca.crt'))
  const newCa = !stillGood(ca, now) || !fs.existsSync(path.join(certsDir, 'ca.key')) || force.includes('ca')
  if (newCa) {
    createCa(certsDir)
    issued.push('ca')
  }
  const caCert = readCertificate(path.join(certsDir, 'ca.crt'))!
  for (const spec of [...SERVICE_IDENTITIES, ...drones.map(droneIdentity)]) {
    const { cert, key } = certPaths(certsDir, spec)
    const current = readCertificate(cert)
    const good =
      !newCa &&
      !force.includes(spec.name) &&
      fs.existsSync(key) &&
      stillGood(current, now) &&
      matchesSpec(current!, spec) &&
      current!.checkIssued(caCert) &&
      current!.verify(caCert.publicKey)
    if (good) continue
    issueCertificate(certsDir, spec)
    issued.push(spec.name)
  }
  if (issued.includes('kafka') || !fs.existsSync(kafkaKeystorePath(certsDir))) writeKafkaKeystore(certsDir)
  return { issued }
}
