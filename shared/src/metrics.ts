/**
 * Prometheus metrics helpers (prom-client). Each service owns one Registry with default process
 * metrics; names follow Prometheus conventions (base units, _total counters, _seconds histograms).
 */
import http from 'node:http'
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

/** A bare /metrics endpoint for processes without an HTTP API of their own (the simulator). */
export function serveMetrics(registry: Registry, port: number, host = '127.0.0.1'): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end('not found\n')
      return
    }
    registry
      .metrics()
      .then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text))
      .catch((err: Error) => res.writeHead(500).end(err.message))
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve(server))
  })
}
