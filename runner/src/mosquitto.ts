/** Eclipse Mosquitto as a child process, with deploy/mosquitto/mosquitto.conf. */
import fs from 'node:fs'
import path from 'node:path'
import { DEPLOY_DIR } from '@drone-pipeline/shared/paths.ts'
import type { StackConfig } from './config.ts'
import os from 'node:os'
import { MOSQUITTO } from './install.ts'
import { startProcess, waitForPort, type ManagedProcess } from './procs.ts'

/**
 * The shared config with this run's listener and data directory. Only lines the runner owns
 * change; a template missing one of them is an error rather than a silently wrong broker.
 */
export function renderMosquittoConf(template: string, host: string, port: number, dataDir: string): string {
  const replace = (text: string, pattern: RegExp, line: string, what: string): string => {
    if (!pattern.test(text)) throw new Error(`mosquitto.conf has no ${what} line to set`)
    // A function, so `$` in a path is taken literally rather than as a replacement pattern.
    return text.replace(pattern, () => line)
  }
  let text = replace(template, /^listener\s+\d+.*$/m, `listener ${port} ${host}`, 'listener')
  text = replace(
    text,
    /^persistence_location\s+.*$/m,
    `persistence_location ${dataDir}/`,
    'persistence_location',
  )
  // Started as root, Mosquitto would switch to the `mosquitto` user and lose access to the run
  // directory; it keeps the runner's user instead (the option is ignored when not root).
  return `${text}\nuser ${os.userInfo().username}\n`
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
  fs.writeFileSync(confFile, renderMosquittoConf(template, config.host, config.ports.mqtt, dataDir))
  const proc = startProcess({
    name: 'mosquitto',
    command: MOSQUITTO.binary,
    args: ['-c', confFile],
    runDir: config.runDir,
    background: options.background,
  })
  await waitForPort(proc, config.host, config.ports.mqtt, 15_000)
  return proc
}
