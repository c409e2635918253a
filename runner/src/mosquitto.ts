/** Eclipse Mosquitto as a child process, with deploy/mosquitto/mosquitto.conf and its ACL. */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { DEPLOY_DIR } from '@drone-pipeline/shared/paths.ts'
import { certPaths } from './certs.ts'
import type { StackConfig } from './config.ts'
import { MOSQUITTO } from './install.ts'
import { startProcess, stopProcess, waitForPort, type ManagedProcess } from './procs.ts'

/** The directives the native runner sets; every other line of the shared config stays as it is. */
export interface MosquittoSettings {
  listener: string
  cafile: string
  certfile: string
  keyfile: string
  acl_file: string
  persistence_location: string
}

/**
 * The shared config with this run's values. Only lines the runner owns change; a template missing
 * one of them is an error rather than a silently different broker.
 */
export function renderMosquittoConf(template: string, settings: MosquittoSettings): string {
  let text = template
  for (const [key, value] of Object.entries(settings)) {
    const pattern = new RegExp(`^${key}\\s+.*$`, 'm')
    if (!pattern.test(text)) throw new Error(`mosquitto.conf has no ${key} line to set`)
    // A function, so `$` in a path is taken literally rather than as a replacement pattern.
    text = text.replace(pattern, () => `${key} ${value}`)
  }
  // Started as root, Mosquitto would switch to the `mosquitto` user and lose access to the run
  // directory and the keys; it keeps the runner's user instead (ignored when not root).
  return `${text}\nuser ${os.userInfo().username}\n`
}

export function mosquittoSettings(config: StackConfig, dataDir: string): MosquittoSettings {
  const server = certPaths(config.certsDir, { name: 'mosquitto' })
  return {
    listener: `${config.ports.mqtt} ${config.host}`,
    cafile: path.join(config.certsDir, 'ca.crt'),
    certfile: server.cert,
    keyfile: server.key,
    acl_file: path.join(DEPLOY_DIR, 'mosquitto', 'acl'),
    persistence_location: `${dataDir}/`,
  }
}

export async function startMosquitto(
  config: StackConfig,
  options: { background?: boolean } = {},
): Promise<ManagedProcess> {
  const dir = path.join(config.runDir, 'mosquitto')
  const dataDir = path.join(dir, 'data')
  fs.mkdirSync(dataDir, { recursive: true })
  const template = fs.readFileSync(path.join(DEPLOY_DIR, 'mosquitto', 'mosquitto.conf'), 'utf8')
  const confFile = path.join(dir, 'mosquitto.conf')
  fs.writeFileSync(confFile, renderMosquittoConf(template, mosquittoSettings(config, dataDir)))
  const proc = startProcess({
    name: 'mosquitto',
    command: MOSQUITTO.binary,
    args: ['-c', confFile],
    runDir: config.runDir,
    background: options.background,
  })
  try {
    await waitForPort(proc, config.host, config.ports.mqtt, 15_000)
  } catch (err) {
    await stopProcess(config.runDir, proc)
    throw err
  }
  return proc
}
