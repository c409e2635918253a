/**
 * The gateway's HTTP API: health and readiness probes, Prometheus metrics, and batch ingest that
 * goes through exactly the validation and Kafka path MQTT messages take.
 */
import Fastify from 'fastify'
import swagger from '@fastify/swagger'
import type { Registry } from 'prom-client'
import { recordJsonSchema } from '@drone-pipeline/shared/json-schema.ts'
import type { AvroRecordSchema } from '@drone-pipeline/shared/schema.ts'
import type { Logger } from '@drone-pipeline/shared/log.ts'
import type { Verdict } from './validate.ts'

export const MAX_BATCH = 1000

export interface ItemResult {
  index: number
  status: 'accepted' | 'rejected'
  reason?: string
  detail?: string
}

export interface HttpDeps {
  logger: Logger
  registry: Registry
  telemetrySchema: AvroRecordSchema
  /** Why the gateway is not ready, or undefined when it is. */
  notReadyReason(): string | undefined
  /** Whether `count` more records fit in the Kafka queue right now. */
  hasRoom(count: number): boolean
  /** Validates one item and resolves once Kafka holds it (valid or dead-lettered). */
  ingest(item: unknown): Promise<Verdict>
}

const ERROR_RESPONSE = { type: 'object', properties: { error: { type: 'string' } } } as const

export async function buildHttpApp(deps: HttpDeps) {
  const app = Fastify({
    // Fastify logs at warn: no line per request, errors still reported.
    loggerInstance: deps.logger.child({}, { level: 'warn' }),
    bodyLimit: 4 * 1024 * 1024,
  })
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Drone telemetry gateway',
        version: '1.0.0',
        description:
          'Validates drone telemetry against the Avro schema and writes it to Kafka. Invalid records go to the ' +
          'dead-letter topic telemetry-dlq with the reason; nothing is dropped.',
      },
    },
  })

  app.get('/healthz', { schema: { description: 'Liveness: the process is up.' } }, async () => ({
    status: 'ok',
  }))

  app.get(
    '/readyz',
    { schema: { description: 'Readiness: connected to both MQTT and Kafka.' } },
    async (_req, reply) => {
      const reason = deps.notReadyReason()
      if (reason) return reply.code(503).send({ status: 'not ready', reason })
      return { status: 'ready' }
    },
  )

  app.get('/metrics', { schema: { description: 'Prometheus metrics.' } }, async (_req, reply) => {
    reply.header('content-type', deps.registry.contentType)
    return deps.registry.metrics()
  })

  app.post(
    '/v1/telemetry',
    {
      schema: {
        description:
          'Ingest a batch of telemetry records. Each item is validated on its own; valid ones are written to ' +
          "telemetry-validated, invalid ones to telemetry-dlq. The response lists every item's outcome and is " +
          'sent after Kafka acknowledged all writes.',
        body: { type: 'array', maxItems: MAX_BATCH, items: recordJsonSchema(deps.telemetrySchema) },
        response: {
          200: {
            type: 'object',
            properties: {
              accepted: { type: 'integer' },
              rejected: { type: 'integer' },
              results: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    index: { type: 'integer' },
                    status: { type: 'string', enum: ['accepted', 'rejected'] },
                    reason: { type: 'string' },
                    detail: { type: 'string' },
                  },
                },
              },
            },
          },
          400: ERROR_RESPONSE,
          413: ERROR_RESPONSE,
          503: ERROR_RESPONSE,
        },
      },
      // The body schema documents the API; the Avro validator decides, so a bad item is
      // dead-lettered with its reason instead of failing the whole request.
      validatorCompiler: () => () => true,
    },
    async (req, reply) => {
      const items = req.body
      if (!Array.isArray(items))
        return reply.code(400).send({ error: 'body must be a JSON array of records' })
      if (items.length > MAX_BATCH)
        return reply.code(413).send({ error: `at most ${MAX_BATCH} records per request` })
      const notReady = deps.notReadyReason()
      if (notReady) return reply.code(503).send({ error: `not ready: ${notReady}` })
      if (!deps.hasRoom(items.length)) {
        return reply.code(503).header('retry-after', '1').send({ error: 'Kafka queue full, retry later' })
      }
      const verdicts = await Promise.all(items.map((item) => deps.ingest(item)))
      const results: ItemResult[] = verdicts.map((v, index) =>
        v.ok
          ? { index, status: 'accepted' }
          : { index, status: 'rejected', reason: v.reason, detail: v.detail },
      )
      const accepted = results.filter((r) => r.status === 'accepted').length
      return { accepted, rejected: results.length - accepted, results }
    },
  )

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
  return app
}
