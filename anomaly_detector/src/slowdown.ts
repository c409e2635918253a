/**
 * Fault injection for the reliability benchmark's consumer-slowdown scenario: `PUT /debug/slowdown`
 * makes the detector pause after each record for a while, so that the pressure a slow consumer puts
 * on the pipeline can be measured. Only the `admin` certificate may use it.
 */
import { createServiceHttp, refuseUnlessIdentity } from '@drone-pipeline/shared/service-http.ts'

type ServiceHttp = Awaited<ReturnType<typeof createServiceHttp>>

export const SLOWDOWN_IDENTITY = 'admin'
const MAX_DELAY_MS = 10_000
const MAX_SECONDS = 3_600

export class Slowdown {
  private delayMs = 0
  private untilMs = 0

  constructor(private readonly clock: () => number = Date.now) {}

  /** Sleep `delayMs` after each record for the next `seconds`; a new request replaces the last. */
  set(delayMs: number, seconds: number): { delayMs: number; until: string } {
    this.delayMs = delayMs
    this.untilMs = this.clock() + seconds * 1000
    return { delayMs, until: new Date(this.untilMs).toISOString() }
  }

  /** The pause due after a record now: 0 outside a slowdown. */
  delayNow(): number {
    return this.clock() < this.untilMs ? this.delayMs : 0
  }
}

export function registerSlowdownRoute(app: ServiceHttp, slowdown: Slowdown): void {
  app.put<{ Body: { delayMs: number; seconds: number } }>(
    '/debug/slowdown',
    {
      schema: {
        description:
          'Fault injection: sleep delayMs after each record for the next `seconds` (admin certificate only).',
        body: {
          type: 'object',
          required: ['delayMs', 'seconds'],
          additionalProperties: false,
          properties: {
            delayMs: { type: 'number', minimum: 0, maximum: MAX_DELAY_MS },
            seconds: { type: 'number', minimum: 0, maximum: MAX_SECONDS },
          },
        },
      },
      // Before the body is validated, so a caller without the right certificate learns nothing.
      preValidation: async (req, reply) => {
        if (refuseUnlessIdentity(req, reply, (id) => id === SLOWDOWN_IDENTITY)) return reply
      },
    },
    async (req) => {
      const { delayMs, seconds } = req.body
      req.log.warn({ delayMs, seconds }, 'slowdown injected')
      return slowdown.set(delayMs, seconds)
    },
  )
}
