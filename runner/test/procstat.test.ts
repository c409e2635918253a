import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { childrenOf, cpuSecondsBetween, parseProcStat, parseRssMb, readProcStat } from '../src/procstat.ts'

/** A /proc/<pid>/stat line with the given name, ppid, utime and stime (other fields plausible). */
function statLine(pid: number, comm: string, ppid: number, utime: number, stime: number): string {
  return `${pid} (${comm}) S ${ppid} ${pid} ${pid} 0 -1 4194560 1234 0 5 0 ${utime} ${stime} 0 0 20 0 11 0 987654 1000000 2500 18446744073709551615`
}

describe('parseProcStat', () => {
  it('reads pid, name, parent, utime and stime', () => {
    assert.deepEqual(parseProcStat(statLine(4242, 'kcat', 4200, 150, 30)), {
      pid: 4242,
      comm: 'kcat',
      ppid: 4200,
      utimeTicks: 150,
      stimeTicks: 30,
    })
  })

  it('counts fields from the last parenthesis, whatever the name holds', () => {
    const stat = parseProcStat(statLine(7, 'a (weird) name', 1, 9, 4))
    assert.equal(stat.comm, 'a (weird) name')
    assert.equal(stat.ppid, 1)
    assert.equal(stat.utimeTicks, 9)
    assert.equal(stat.stimeTicks, 4)
  })

  it('refuses text that is not a stat line', () => {
    assert.throws(() => parseProcStat('no parentheses here'), /not a \/proc/)
    assert.throws(() => parseProcStat('1 (x) S'), /field/)
  })

  it('parses this process as the kernel writes it', () => {
    const self = readProcStat(process.pid)
    assert.ok(self)
    assert.equal(self.pid, process.pid)
    assert.equal(self.ppid, process.ppid)
    assert.ok(self.utimeTicks + self.stimeTicks > 0)
  })
})

describe('CPU and memory', () => {
  it('CPU seconds are the growth of utime + stime over the tick rate', () => {
    const before = parseProcStat(statLine(1, 'java', 0, 1000, 200))
    const after = parseProcStat(statLine(1, 'java', 0, 1450, 250))
    assert.equal(cpuSecondsBetween(before, after, 100), 5)
  })

  it('resident memory comes from VmRSS in kB, 0 without it', () => {
    assert.equal(parseRssMb('Name:\tnode\nVmHWM:\t  300000 kB\nVmRSS:\t  153600 kB\n'), 150)
    assert.equal(parseRssMb('Name:\tzombie\nState:\tZ (zombie)\n'), 0)
  })

  it('finds the two sides of a shell pipeline by their parent', () => {
    const all = [
      parseProcStat(statLine(10, 'sh', 1, 0, 0)),
      parseProcStat(statLine(11, 'mosquitto_sub', 10, 0, 0)),
      parseProcStat(statLine(12, 'kcat', 10, 0, 0)),
      parseProcStat(statLine(13, 'kcat', 99, 0, 0)),
    ]
    assert.deepEqual(
      childrenOf(10, all).map((p) => p.comm),
      ['mosquitto_sub', 'kcat'],
    )
  })
})
