import pino, { type Logger } from 'pino'
import pretty from 'pino-pretty'

export type { Logger }

/**
 * Structured JSON logs (pino). On a terminal, or with LOG_FORMAT=pretty, the same records are
 * printed as readable lines; LOG_FORMAT=json forces JSON. LOG_LEVEL sets the level (default info).
 */
export function createLogger(name: string): Logger {
  const format = process.env.LOG_FORMAT ?? (process.stdout.isTTY ? 'pretty' : 'json')
  const options = { name, level: process.env.LOG_LEVEL ?? 'info' }
  if (format === 'pretty') {
    return pino(
      options,
      pretty({
        sync: true,
        colorize: process.stdout.isTTY,
        ignore: 'pid,hostname',
        translateTime: 'HH:MM:ss.l',
      }),
    )
  }
  return pino(options)
}
