/**
 * TLS material for every hop: loads a service's CA, certificate and key once at start-up and
 * checks them, so a missing, unreadable, expired or mismatched file stops the service with one
 * line that names the file and the problem, never a hang or a stack trace later.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto'
import fs from 'node:fs'
import type { IncomingHttpHeaders } from 'node:http'
import https from 'node:https'
import path from 'node:path'
import type { TLSSocket } from 'node:tls'
import { ConfigError } from './cli.ts'
import { REPO_ROOT } from './paths.ts'

export const DEFAULT_CERTS_DIR = path.join(REPO_ROOT, 'certs')

export interface TlsFiles {
  ca: string
  cert: string
  key: string
}

export interface TlsMaterial {
  ca: Buffer
  cert: Buffer
  key: Buffer
  /** The certificate's common name: the identity it proves. */
  identity: string
  expiresAt: Date
  files: TlsFiles
}

/** Where an identity's files live: services at certs/<name>, drones at certs/drones/<id>. */
export function tlsFilesFor(certsDir: string, identity: string, isDrone = false): TlsFiles {
  const base = isDrone ? path.join(certsDir, 'drones', identity) : path.join(certsDir, identity)
  return { ca: path.join(certsDir, 'ca.crt'), cert: `${base}.crt`, key: `${base}.key` }
}

function readFile(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why =
      code === 'ENOENT'
        ? 'does not exist (create certificates with: npm run certs)'
        : code === 'EACCES'
          ? 'is not readable by this user (permission denied)'
          : (err as Error).message
    throw new ConfigError(`${what} ${file} ${why}`)
  }
}

function parseCertificate(pem: Buffer, file: string, what: string): X509Certificate {
  try {
    return new X509Certificate(pem)
  } catch {
    throw new ConfigError(`${what} ${file} is not a PEM certificate`)
  }
}

/** The CN of a certificate subject as Node prints it ("O=...\nCN=name"). */
export function commonName(subject: string): string | undefined {
  return /(?:^|\n)CN=([^\n]+)/.exec(subject)?.[1]
}

export function loadTlsMaterial(files: TlsFiles, now: Date = new Date()): TlsMaterial {
  const ca = readFile(files.ca, 'CA certificate')
  const cert = readFile(files.cert, 'certificate')
  const key = readFile(files.key, 'private key')
  const caCert = parseCertificate(ca, files.ca, 'CA certificate')
  const x509 = parseCertificate(cert, files.cert, 'certificate')
  let privateKey
  try {
    privateKey = createPrivateKey(key)
  } catch {
    throw new ConfigError(`private key ${files.key} is not a PEM private key`)
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new ConfigError(`private key ${files.key} does not belong to certificate ${files.cert}`)
  }
  const expiresAt = new Date(x509.validTo)
  if (expiresAt <= now)
    throw new ConfigError(`certificate ${files.cert} expired on ${expiresAt.toISOString()}`)
  const validFrom = new Date(x509.validFrom)
  if (validFrom > now) {
    throw new ConfigError(`certificate ${files.cert} is not valid before ${validFrom.toISOString()}`)
  }
  if (new Date(caCert.validTo) <= now) {
    throw new ConfigError(`CA certificate ${files.ca} expired on ${new Date(caCert.validTo).toISOString()}`)
  }
  if (!x509.checkIssued(caCert) || !x509.verify(caCert.publicKey)) {
    throw new ConfigError(`certificate ${files.cert} is not signed by the CA in ${files.ca}`)
  }
  const identity = commonName(x509.subject)
  if (!identity) throw new ConfigError(`certificate ${files.cert} has no common name (CN) to identify it`)
  return { ca, cert, key, identity, expiresAt, files }
}

/** The identity a TLS peer proved with a certificate our CA signed, or undefined. */
export function peerIdentity(socket: TLSSocket): string | undefined {
  if (!socket.authorized) return undefined
  const subject = socket.getPeerCertificate()?.subject
  return typeof subject?.CN === 'string' ? subject.CN : undefined
}

export interface HttpsRequest {
  method?: 'GET' | 'POST' | 'PUT'
  /** Trust only this CA. */
  ca: Buffer
  /** Present this identity's certificate. */
  client?: Pick<TlsMaterial, 'cert' | 'key'>
  /** Sent as JSON. */
  json?: unknown
  timeoutMs?: number
}

/** One HTTPS request to a pipeline service (Node's fetch cannot be given a CA or a client certificate). */
export interface HttpsResponse {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

export function httpsRequest(url: string, options: HttpsRequest): Promise<HttpsResponse> {
  const body = options.json === undefined ? undefined : Buffer.from(JSON.stringify(options.json))
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: options.method ?? 'GET',
        ca: options.ca,
        cert: options.client?.cert,
        key: options.client?.key,
        timeout: options.timeoutMs ?? 2_000,
        headers: body ? { 'content-type': 'application/json', 'content-length': body.length } : {},
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        )
        res.on('error', reject)
      },
    )
    req.on('timeout', () => req.destroy(new Error(`${options.method ?? 'GET'} ${url} timed out`)))
    req.on('error', reject)
    req.end(body)
  })
}

/** The three flags (and variables) that name a service's TLS files, defaulting to certs/<identity>. */
export function tlsOptionSpecs(identity: string) {
  const files = tlsFilesFor(DEFAULT_CERTS_DIR, identity)
  return {
    tlsCa: {
      type: 'string',
      description: 'CA certificate that signs every identity',
      default: files.ca,
      env: 'TLS_CA',
    },
    tlsCert: {
      type: 'string',
      description: `this service's certificate`,
      default: files.cert,
      env: 'TLS_CERT',
    },
    tlsKey: { type: 'string', description: `this service's private key`, default: files.key, env: 'TLS_KEY' },
  } as const
}

/** The pipeline speaks MQTT over TLS only; a plaintext URL is a configuration error, not a mode. */
export function requireMqttsUrl(url: string, flag: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new ConfigError(`${flag}: "${url}" is not a URL`)
  }
  if (parsed.protocol !== 'mqtts:') {
    throw new ConfigError(`${flag} must be an mqtts:// URL (MQTT over TLS); got ${parsed.protocol}//`)
  }
  return url
}
