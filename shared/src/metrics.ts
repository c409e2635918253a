/**
 * Prometheus metrics helpers (prom-client). Each service owns one Registry with default process
 * metrics; names follow Prometheus conventions (base units, _total counters, _seconds histograms).
 */
import { collectDefaultMetrics, Registry } from 'prom-client'

export function createRegistry(service: string): Registry {
  const registry = new Registry()
  registry.setDefaultLabels({ service })
  collectDefaultMetrics({ register: registry })
  return registry
}

/**
 * Latency buckets in seconds: fine below 50 ms where the pipeline should live, coarse up to 10 s
 * so a backlog is still measured rather than clipped.
 */
export const LATENCY_BUCKETS_SECONDS = [
  0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.0125, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15,
  0.2, 0.25, 0.3, 0.5, 0.75, 1, 2, 5, 10,
]
