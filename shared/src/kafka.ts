/** Connection options every Kafka client of the pipeline uses: TLS with the identity's certificate. */
import type { TlsMaterial } from './tls.ts'

export interface KafkaConnection {
  clientId: string
  bootstrapBrokers: string[]
  tls: { ca: Buffer; cert: Buffer; key: Buffer }
}

export function kafkaConnection(
  clientId: string,
  bootstrapBrokers: string[],
  tls: TlsMaterial,
): KafkaConnection {
  return { clientId, bootstrapBrokers, tls: { ca: tls.ca, cert: tls.cert, key: tls.key } }
}
