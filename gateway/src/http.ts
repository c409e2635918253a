/**
 * The gateway's HTTPS API: the service endpoints every service has (health, readiness, metrics)
 * plus batch ingest, which goes through exactly the validation and Kafka path MQTT messages take.
 * Ingest requires a client certificate, and each record must be the caller's own: the identity a
 * certificate proves is the drone_id its records may carry.
 */
import { recordJsonSchema } from '@drone-pipeline/shared/json-schema.ts'
import type { AvroRecordSchema } from '@drone-pipeline/shared/schema.ts'
import {
  callerIdentity,
  createServiceHttp,
  type ServiceHttpOptions,
} from '@drone-pipeline/shared/service-http.ts'
import type { Verdict } from './validate.ts'

export const MAX_BATCH = 1000

export interface ItemResult {
  index: number
  status: 'accepted' | 'rejected'
  reason?: string
  detail?: string
}

export interface HttpDeps extends ServiceHttpOptions {
  telemetrySchema: AvroRecordSchema
  /** Whether `count` more records fit in the Kafka queue right now. */
  hasRoom(count: number): boolean
  /** Validates one item as `identity`'s and resolves once Kafka holds it (valid or dead-lettered). */
  ingest(item: unknown, identity: string): Promise<Verdict>
}

const ERROR_RESPONSE = { type: 'object', properties: { error: { type: 'string' } } } as const

export async function buildHttpApp(deps: HttpDeps) {
  const app = await createServiceHttp({
    ...deps,
    bodyLimit: 4 * 1024 * 1024,
    openapi: {
      title: 'Drone telemetry gateway',
      version: '1.0.0',
      description:
        'Validates drone telemetry against the Avro schema and writes it to Kafka. Invalid records go to the ' +
        'dead-letter topic telemetry-dlq with the reason; nothing is dropped. HTTPS only; ingest requires a ' +
        'client certificate from the pipeline CA, whose CN must equal each record’s drone_id.',
    },
  })

  app.post(
    '/v1/telemetry',
    {
      schema: {
        description:
          'Ingest a batch of telemetry records. Each item is validated on its own; valid ones are written to ' +
          "telemetry-validated, invalid ones to telemetry-dlq. A record whose drone_id is not the caller's " +
          "certificate identity is rejected as identity_mismatch. The response lists every item's outcome and " +
          'is sent after Kafka acknowledged all writes.',
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
          401: ERROR_RESPONSE,
          413: ERROR_RESPONSE,
          503: ERROR_RESPONSE,
        },
      },
      // The body schema documents the API; the Avro validator decides, so a bad item is
      // dead-lettered with its reason instead of failing the whole request.
      validatorCompiler: () => () => true,
    },
    async (req, reply) => {
      const identity = callerIdentity(req)
      if (identity === undefined) {
        return reply.code(401).send({ error: 'a client certificate signed by the pipeline CA is required' })
      }
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
      const verdicts = await Promise.all(items.map((item) => deps.ingest(item, identity)))
      const results: ItemResult[] = verdicts.map((v, index) =>
        v.ok
          ? { index, status: 'accepted' }
          : { index, status: 'rejected', reason: v.reason, detail: v.detail },
      )
      const accepted = results.filter((r) => r.status === 'accepted').length
      return { accepted, rejected: results.length - accepted, results }
    },
  )

  return app
}
