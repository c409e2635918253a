import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { formatStatus, type PipelineFigures } from '../src/status.ts'

const FIGURES: PipelineFigures = {
  published: 1200,
  validated: 1190,
  rejected: 10,
  consumed: 1185,
  anomalies: 7,
  p95Ms: 12.345,
  down: [],
}

describe('formatStatus', () => {
  it('prints every figure on one line, elapsed seconds rounded and padded', () => {
    assert.equal(
      formatStatus(FIGURES, 4.6),
      '   5s | published 1200 | validated 1190 | rejected 10 | consumed 1185 | anomalies 7 | p95 12.3 ms',
    )
  })

  it('shows - without a latency figure and lists services that are down', () => {
    assert.equal(
      formatStatus({ ...FIGURES, p95Ms: undefined, down: ['gateway', 'detector'] }, 12345.2),
      '12345s | published 1200 | validated 1190 | rejected 10 | consumed 1185 | anomalies 7 | p95 - | DOWN: gateway, detector',
    )
  })

  it('prints a zero latency as 0.0 ms, not as missing', () => {
    assert.match(formatStatus({ ...FIGURES, p95Ms: 0 }, 0), /^ {3}0s \| .* \| p95 0\.0 ms$/)
  })
})
