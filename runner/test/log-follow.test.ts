import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'
import { LogFollower, messageStartingWith } from '../src/log-follow.ts'

describe('LogFollower', () => {
  it('returns only complete lines appended since the last read', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'follow-'))
    const file = path.join(dir, 'a.log')
    const follower = new LogFollower(file)
    assert.deepEqual(follower.read(), [], 'no file yet')
    fs.writeFileSync(file, 'one\ntw')
    assert.deepEqual(follower.read(), ['one'])
    fs.appendFileSync(file, 'o\nthree\n')
    assert.deepEqual(follower.read(), ['two', 'three'])
    assert.deepEqual(follower.read(), [])
    fs.rmSync(dir, { recursive: true })
  })
})

describe('messageStartingWith', () => {
  const prefix = 'Anomaly detected in message from drone_id:'
  it('finds the message of a pino line', () => {
    const line = JSON.stringify({ level: 40, msg: `${prefix} drone-0001 (seq 3)` })
    assert.equal(messageStartingWith(line, prefix), `${prefix} drone-0001 (seq 3)`)
  })
  it('ignores other messages, the prefix elsewhere, and lines that are not JSON', () => {
    assert.equal(messageStartingWith(JSON.stringify({ msg: 'gateway ready' }), prefix), undefined)
    assert.equal(messageStartingWith(JSON.stringify({ msg: `x ${prefix}` }), prefix), undefined)
    assert.equal(messageStartingWith(`${prefix} not json`, prefix), undefined)
  })
})
