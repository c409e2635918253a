import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import {
  freePort,
  freePorts,
  isAlive,
  pidFile,
  recordedPids,
  startProcess,
  stopProcess,
  tailLog,
  waitForPort,
  type ManagedProcess,
} from '../src/procs.ts'

const PROCS_MODULE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'procs.ts')

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls the log until it contains `text`, so signals are only sent once the child is set up. */
async function waitForLog(proc: ManagedProcess, text: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (fs.existsSync(proc.logFile) && fs.readFileSync(proc.logFile, 'utf8').includes(text)) return
    if (proc.hasExited()) break
    await sleep(20)
  }
  assert.fail(`"${text}" never appeared in ${proc.logFile}:\n${tailLog(proc.logFile)}`)
}

/** Gone, or a zombie waiting for a reaper that is not us (a reparented grandchild). */
function isGone(pid: number): boolean {
  if (!isAlive(pid)) return true
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z')
  } catch {
    return true
  }
}

const node = (script: string) => ({ command: process.execPath, args: ['-e', script] })

describe('child processes', () => {
  let runDir: string
  const started: ManagedProcess[] = []
  const start = (name: string, spec: { command: string; args: string[] }, env?: NodeJS.ProcessEnv) => {
    const proc = startProcess({ name, ...spec, runDir, env })
    started.push(proc)
    return proc
  }

  before(() => {
    runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'procs-test-'))
  })
  after(async () => {
    for (const proc of started) if (!proc.hasExited()) await stopProcess(runDir, proc, 200)
    fs.rmSync(runDir, { recursive: true, force: true })
  })

  it('starts a child with a pid file and a log, and stops it with SIGTERM', async () => {
    const proc = start('sleeper', { command: 'sleep', args: ['30'] })
    assert.equal(proc.name, 'sleeper')
    assert.equal(proc.logFile, path.join(runDir, 'logs', 'sleeper.log'))
    assert.equal(fs.readFileSync(pidFile(runDir, 'sleeper'), 'utf8'), String(proc.pid))
    assert.equal(recordedPids(runDir).get('sleeper'), proc.pid)
    assert.ok(isAlive(proc.pid))
    assert.equal(proc.hasExited(), false)

    const t0 = Date.now()
    await stopProcess(runDir, proc, 5_000)
    assert.ok(Date.now() - t0 < 2_000, 'sleep ends on SIGTERM without waiting for the grace period')
    assert.equal(await proc.exited, 'SIGTERM')
    assert.equal(proc.hasExited(), true)
    assert.equal(isAlive(proc.pid), false)
    assert.equal(fs.existsSync(pidFile(runDir, 'sleeper')), false)
    assert.equal(recordedPids(runDir).has('sleeper'), false)
  })

  it('captures stdout and stderr in the log file, and passes env', async () => {
    const proc = start(
      'talker',
      node(
        'console.log("out:" + process.env.GREETING); console.error("err line"); setInterval(() => {}, 1000)',
      ),
      { GREETING: 'hello' },
    )
    await waitForLog(proc, 'err line')
    await stopProcess(runDir, proc, 2_000)
    const log = fs.readFileSync(proc.logFile, 'utf8')
    assert.match(log, /^out:hello$/m)
    assert.match(log, /^err line$/m)
  })

  it('falls back to SIGKILL after the grace period when SIGTERM is ignored', async () => {
    const proc = start(
      'stubborn',
      node(
        'process.on("SIGTERM", () => console.log("ignoring SIGTERM")); console.log("ready"); setInterval(() => {}, 1000)',
      ),
    )
    await waitForLog(proc, 'ready')
    const t0 = Date.now()
    await stopProcess(runDir, proc, 300)
    const took = Date.now() - t0
    assert.ok(took >= 300 && took < 3_000, `stop took ${took} ms`)
    assert.equal(await proc.exited, 'SIGKILL')
    assert.equal(isAlive(proc.pid), false)
    assert.equal(fs.existsSync(pidFile(runDir, 'stubborn')), false)
    assert.match(fs.readFileSync(proc.logFile, 'utf8'), /ignoring SIGTERM/)
  })

  it('stops the whole process group, grandchildren included', async () => {
    const proc = start(
      'parent',
      node(
        'const c = require("node:child_process").spawn("sleep", ["30"], { stdio: "ignore" }); console.log("grandchild " + c.pid); setInterval(() => {}, 1000)',
      ),
    )
    await waitForLog(proc, 'grandchild ')
    const grandchild = Number(/grandchild (\d+)/.exec(fs.readFileSync(proc.logFile, 'utf8'))![1])
    assert.ok(isAlive(grandchild))
    await stopProcess(runDir, proc, 2_000)
    const deadline = Date.now() + 2_000
    while (!isGone(grandchild) && Date.now() < deadline) await sleep(20)
    assert.ok(isGone(grandchild), `grandchild ${grandchild} survived`)
  })

  it('waitForPort resolves once the child listens', async () => {
    const port = await freePort()
    const proc = start(
      'listener',
      node(`require("node:net").createServer().listen(${port}, "127.0.0.1", () => console.log("listening"))`),
    )
    await waitForPort(proc, '127.0.0.1', port, 5_000)
    await stopProcess(runDir, proc, 2_000)
  })

  it('waitForPort fails early, with the log tail, when the process exits', async () => {
    const port = await freePort()
    const proc = start('crasher', node('console.log("fatal: bad config line 3"); process.exit(3)'))
    const t0 = Date.now()
    await assert.rejects(waitForPort(proc, '127.0.0.1', port, 20_000), (err: Error) => {
      assert.match(err.message, new RegExp(`^crasher exited before listening on 127\\.0\\.0\\.1:${port}`))
      assert.ok(err.message.includes(proc.logFile), err.message)
      assert.match(err.message, /fatal: bad config line 3/)
      return true
    })
    assert.ok(Date.now() - t0 < 3_000, 'did not wait for the timeout')
    assert.equal(await proc.exited, 3)
  })

  it('waitForPort names the deadline when the port never opens', async () => {
    const port = await freePort()
    const proc = start('silent', node('console.log("never listens"); setInterval(() => {}, 1000)'))
    await assert.rejects(
      waitForPort(proc, '127.0.0.1', port, 300),
      new RegExp(`^Error: silent: listening on 127\\.0\\.0\\.1:${port} not reached within 0\\.3 s`),
    )
    await stopProcess(runDir, proc, 1_000)
  })

  it('reports a missing executable as an error the caller can catch, without crashing', async () => {
    const script = [
      `const { startProcess } = await import(${JSON.stringify(PROCS_MODULE)})`,
      'try {',
      `  startProcess({ name: 'ghost', command: '/nonexistent/binary', args: [], runDir: ${JSON.stringify(runDir)} })`,
      "} catch (err) { console.log('caught: ' + err.message) }",
      "await new Promise((r) => setTimeout(r, 200)); console.log('still running')",
    ].join('\n')
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', script],
        { cwd: path.dirname(PROCS_MODULE), timeout: 10_000 },
        (err, stdout, stderr) => resolve({ code: err ? ((err.code as number) ?? 1) : 0, stdout, stderr }),
      )
    })
    assert.match(result.stdout, /caught: could not start ghost/)
    assert.equal(result.code, 0, result.stderr.split('\n').slice(0, 6).join('\n'))
    assert.match(result.stdout, /still running/)
  })

  it('tailLog returns the last lines, or says there is no log', () => {
    const file = path.join(runDir, 'logs', 'tail.log')
    fs.writeFileSync(file, Array.from({ length: 30 }, (_, i) => `line ${i + 1}`).join('\n') + '\n')
    assert.equal(tailLog(file, 3), 'line 28\nline 29\nline 30')
    assert.equal(tailLog(file).split('\n').length, 20)
    assert.equal(tailLog(path.join(runDir, 'logs', 'none.log')), '(no log)')
  })

  it('recordedPids ignores files that hold no pid', () => {
    fs.writeFileSync(path.join(runDir, 'pids', 'junk.pid'), 'not a pid')
    fs.writeFileSync(path.join(runDir, 'pids', 'other.txt'), '123')
    fs.writeFileSync(path.join(runDir, 'pids', 'fake.pid'), '4242\n')
    const pids = recordedPids(runDir)
    assert.equal(pids.get('fake'), 4242)
    assert.equal(pids.has('junk'), false)
    assert.equal(pids.has('other'), false)
    assert.deepEqual(recordedPids(path.join(runDir, 'nowhere')), new Map())
  })
})

describe('freePorts', () => {
  it('returns distinct ports, however many are asked for at once', async () => {
    const ports = await freePorts(50)
    assert.equal(new Set(ports).size, 50)
  })
})

describe('freePort', () => {
  it('returns a loopback port that can be bound', async () => {
    const port = await freePort()
    assert.ok(Number.isInteger(port) && port > 0 && port < 65536, String(port))
    const server = net.createServer()
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => resolve())
    })
    assert.equal((server.address() as net.AddressInfo).port, port)
    await new Promise((resolve) => server.close(resolve))
  })
})
