/**
 * The HTTPS endpoints every service has: /healthz and /readyz for orchestration probes (TLS, no
 * client certificate needed) and /metrics, which only Prometheus's certificate may read.
 * Clients may present a certificate signed by the pipeline's CA; routes decide what they require.
 */
import type { TLSSocket } from 'node:tls'
import swagger from '@fastify/swagger'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import type { Registry } from 'prom-client'
import type { Logger } from './log.ts'
import { peerIdentity, type TlsMaterial } from './tls.ts'

/** The identity allowed to scrape metrics. */
export const METRICS_IDENTITY = 'prometheus'

export interface ServiceHttpOptions {
  logger: Logger
  tls: TlsMaterial
  registry: Registry
  /** Why the service is not ready, or undefined when it is. */
  notReadyReason(): string | undefined
  bodyLimit?: number
  /** Describe the API at /openapi.json (OpenAPI 3, from the routes' schemas). */
  openapi?: { title: string; version: string; description: string }
}

export function httpsOptions(tls: TlsMaterial) {
  return {
    key: tls.key,
    cert: tls.cert,
    ca: tls.ca,
    minVersion: 'TLSv1.2' as const,
    // Ask for a client certificate and verify it against our CA, but let each route decide
    // whether it needs one: health probes must work without.
    requestCert: true,
    rejectUnauthorized: false,
  }
}

/** The identity the caller proved with a certificate from our CA, if any. */
export function callerIdentity(req: FastifyRequest): string | undefined {
  return peerIdentity(req.raw.socket as TLSSocket)
}

/** Refuses the request unless the caller's certificate is one of `allowed`; returns true if refused. */
export function refuseUnlessIdentity(
  req: FastifyRequest,
  reply: FastifyReply,
  allowed: (id: string) => boolean,
): boolean {
  const identity = callerIdentity(req)
  if (identity === undefined) {
    void reply.code(401).send({ error: 'a client certificate signed by the pipeline CA is required' })
    return true
  }
  if (!allowed(identity)) {
    void reply.code(403).send({ error: `identity ${identity} may not use ${req.url}` })
    return true
  }
  return false
}

export async function createServiceHttp(options: ServiceHttpOptions) {
  const app = Fastify({
    https: httpsOptions(options.tls),
    // Fastify logs at warn: no line per request, errors still reported.
    loggerInstance: options.logger.child({}, { level: 'warn' }),
    bodyLimit: options.bodyLimit,
  })
  // Before any route, so that every route is described.
  if (options.openapi) {
    await app.register(swagger, { openapi: { info: options.openapi } })
    app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
  }

  app.get('/healthz', { schema: { description: 'Liveness: the process is up.' } }, async () => ({
    status: 'ok',
  }))

  app.get(
    '/readyz',
    { schema: { description: 'Readiness: connected to what the service needs.' } },
    async (_req, reply) => {
      const reason = options.notReadyReason()
      if (reason) return reply.code(503).send({ status: 'not ready', reason })
      return { status: 'ready' }
    },
  )

  app.get(
    '/metrics',
    { schema: { description: "Prometheus metrics; requires Prometheus's client certificate." } },
    async (req, reply) => {
      if (refuseUnlessIdentity(req, reply, (id) => id === METRICS_IDENTITY)) return reply
      reply.header('content-type', options.registry.contentType)
      return options.registry.metrics()
    },
  )
  return app
}
