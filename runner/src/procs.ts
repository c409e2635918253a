/**
 * Child processes of the native runner: each one logs to a file in the run directory, leads its
 * own process group (so the runner decides the shutdown order, not the terminal's Ctrl-C), and
 * records its pid so `stack down` can stop what `stack up` left running.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { sleep } from '@drone-pipeline/shared/retry.ts'

export interface ManagedProcess {
  name: string
  pid: number
  logFile: string
  /** Resolves with the exit code (or the signal's name) when the process ends. */
  exited: Promise<number | string>
  /** True once `exited` has resolved. */
  hasExited(): boolean
  /** Standard output, when the runner reads it rather than the log (`pipeStdout`). */
  stdout?: Readable
}

export interface StartOptions {
  name: string
  command: string
  args: string[]
  runDir: string
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** Keep running after the runner exits (stack up). */
  background?: boolean
  /** Hand standard output to the runner; standard error still goes to the log. */
  pipeStdout?: boolean
}

export function pidFile(runDir: string, name: string): string {
  return path.join(runDir, 'pids', `${name}.pid`)
}

export function startProcess(options: StartOptions): ManagedProcess {
  const logFile = path.join(options.runDir, 'logs', `${options.name}.log`)
  fs.mkdirSync(path.dirname(logFile), { recursive: true })
  fs.mkdirSync(path.join(options.runDir, 'pids'), { recursive: true })
  const out = fs.openSync(logFile, 'a')
  const child = spawn(options.command, options.args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', options.pipeStdout ? 'pipe' : out, out],
    detached: true,
  })
  fs.closeSync(out)
  let done = false
  // Listeners first: a command that cannot be spawned reports through 'error' on the next tick,
  // and an 'error' without a listener would crash the runner.
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true
      resolve(code ?? signal ?? 'unknown')
    })
    child.once('error', (err) => {
      done = true
      fs.appendFileSync(logFile, `spawn error: ${err.message}\n`)
      resolve('spawn-error')
    })
  })
  if (child.pid === undefined)
    throw new Error(`could not start ${options.name}: ${options.command} not found or not executable`)
  if (options.background) child.unref()
  fs.writeFileSync(pidFile(options.runDir, options.name), String(child.pid))
  return {
    name: options.name,
    pid: child.pid,
    logFile,
    exited,
    hasExited: () => done,
    stdout: child.stdout ?? undefined,
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch {
    try {
      process.kill(pid, signal)
    } catch {
      // already gone
    }
  }
}

/** SIGTERM, then SIGKILL after the grace period (a grace of 0 is SIGKILL at once); removes the pid file. */
export async function stopPid(runDir: string, name: string, pid: number, graceMs = 10_000): Promise<void> {
  if (isAlive(pid)) {
    if (graceMs > 0) signalGroup(pid, 'SIGTERM')
    const deadline = Date.now() + graceMs
    while (isAlive(pid) && Date.now() < deadline) await sleep(50)
    if (isAlive(pid)) signalGroup(pid, 'SIGKILL')
    while (isAlive(pid)) await sleep(20)
  }
  fs.rmSync(pidFile(runDir, name), { force: true })
}

export async function stopProcess(runDir: string, proc: ManagedProcess, graceMs?: number): Promise<void> {
  await stopPid(runDir, proc.name, proc.pid, graceMs)
  // A child we spawned is reaped through its 'exit' event; wait for it so no zombie is left.
  if (!proc.hasExited()) await Promise.race([proc.exited, sleep(2_000)])
}

/** Pids recorded in the run directory, for stack status/down. */
export function recordedPids(runDir: string): Map<string, number> {
  const dir = path.join(runDir, 'pids')
  const pids = new Map<string, number>()
  if (!fs.existsSync(dir)) return pids
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.pid'))) {
    const pid = Number(fs.readFileSync(path.join(dir, file), 'utf8').trim())
    if (Number.isInteger(pid) && pid > 0) pids.set(file.slice(0, -4), pid)
  }
  return pids
}

export function tailLog(file: string, lines = 20): string {
  if (!fs.existsSync(file)) return '(no log)'
  return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port })
    socket.setTimeout(1_000)
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
    socket.once('timeout', () => {
      socket.destroy()
      resolve(false)
    })
  })
}

/**
 * Polls until `check` passes; fails early, with the log's tail, if the process dies first, and
 * with a clear message if the deadline passes.
 */
export async function waitUntil(
  proc: ManagedProcess,
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (proc.hasExited()) {
      throw new Error(
        `${proc.name} exited before ${what}; last lines of ${proc.logFile}:\n${tailLog(proc.logFile)}`,
      )
    }
    if (await check().catch(() => false)) return
    await sleep(100)
  }
  throw new Error(
    `${proc.name}: ${what} not reached within ${timeoutMs / 1000} s; last lines of ${proc.logFile}:\n${tailLog(proc.logFile)}`,
  )
}

export function waitForPort(
  proc: ManagedProcess,
  host: string,
  port: number,
  timeoutMs = 30_000,
): Promise<void> {
  return waitUntil(proc, `listening on ${host}:${port}`, () => portOpen(host, port), timeoutMs)
}

/** A free TCP port on loopback (for tests that run beside a default stack). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const [port] = await freePorts(1, host)
  return port!
}

/**
 * `count` distinct free TCP ports on loopback. They are held open together until all are known:
 * asked one after another, the kernel may hand out a port it just handed out and saw closed.
 */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers: net.Server[] = []
  try {
    for (let i = 0; i < count; i++) {
      const server = net.createServer()
      servers.push(server)
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(0, host, () => resolve())
      })
    }
    return servers.map((server) => (server.address() as net.AddressInfo).port)
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))))
  }
}
