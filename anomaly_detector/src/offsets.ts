/**
 * Commits consumer offsets only for records already processed, a batch at a time: committing the
 * last processed message of a partition covers every earlier one, so one commit per partition
 * per interval replaces one per message.
 */
interface Committable {
  partition: number
  topic: string
  commit(): void | Promise<void>
}

export class ProcessedOffsets<M extends Committable> {
  private readonly latest = new Map<string, M>()

  markProcessed(message: M): void {
    this.latest.set(`${message.topic}:${message.partition}`, message)
  }

  get pending(): number {
    return this.latest.size
  }

  async commit(): Promise<void> {
    const messages = [...this.latest.values()]
    this.latest.clear()
    await Promise.all(messages.map((m) => m.commit()))
  }
}
