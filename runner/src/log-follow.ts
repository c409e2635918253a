/** Reads what a service appended to its log since the last call, for echoing lines to the console. */
import fs from 'node:fs'

export class LogFollower {
  private offset = 0
  private partial = ''

  constructor(private readonly file: string) {}

  /** Complete lines appended since the last call. */
  read(): string[] {
    if (!fs.existsSync(this.file)) return []
    const size = fs.statSync(this.file).size
    if (size <= this.offset) return []
    const fd = fs.openSync(this.file, 'r')
    const buffer = Buffer.alloc(size - this.offset)
    fs.readSync(fd, buffer, 0, buffer.length, this.offset)
    fs.closeSync(fd)
    this.offset = size
    const lines = (this.partial + buffer.toString('utf8')).split('\n')
    this.partial = lines.pop() ?? ''
    return lines
  }
}

/** The message of a pino JSON line whose message starts with `prefix`. */
export function messageStartingWith(line: string, prefix: string): string | undefined {
  if (!line.includes(prefix)) return undefined
  try {
    const msg = (JSON.parse(line) as { msg?: unknown }).msg
    return typeof msg === 'string' && msg.startsWith(prefix) ? msg : undefined
  } catch {
    return undefined
  }
}
