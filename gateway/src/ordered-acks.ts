/**
 * Acknowledgements held until their message is durable, and released in the order the messages
 * arrived, as MQTT requires of PUBACKs. Each ack waits for its own work and for every ack before it,
 * so a later message whose write completed first never overtakes an earlier one.
 *
 * A message whose work failed is never acknowledged: the broker keeps it and redelivers it on the
 * next connection. Its ack is skipped rather than holding back the ones after it. Acks are bound to
 * one connection (packet ids are per connection): `clear()` on disconnect drops them all, and work
 * that completes afterwards sends nothing.
 */
export class OrderedAcks {
  private pending: HeldAck[] = []

  /** Acks waiting for their message's work or for an earlier ack. */
  get size(): number {
    return this.pending.length
  }

  /** Holds `send` until `work` resolves and every earlier ack has been released. */
  hold(work: Promise<unknown>, send: () => void, onFailure: (err: Error) => void): void {
    const held: HeldAck = { state: 'waiting', send }
    this.pending.push(held)
    work.then(
      () => {
        held.state = 'durable'
        this.release()
      },
      (err: Error) => {
        held.state = 'failed'
        onFailure(err)
        this.release()
      },
    )
  }

  /** The connection is gone: none of the held acks may be sent. */
  clear(): void {
    this.pending = []
  }

  private release(): void {
    while (this.pending.length > 0 && this.pending[0]!.state !== 'waiting') {
      const held = this.pending.shift()!
      if (held.state === 'durable') held.send()
    }
  }
}

interface HeldAck {
  state: 'waiting' | 'durable' | 'failed'
  send: () => void
}
