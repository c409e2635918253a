/** What a benchmark ran on, for the `machine` key of its JSON: cores, memory and CPU model. */
import os from 'node:os'

export function machineDescription(): string {
  return `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.cpus()[0]?.model ?? 'unknown CPU'}`
}
