/** Waiting and retrying, the same way in every service that waits for a broker. */

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Exponential backoff: firstMs, twice that, ... capped at 5 s. */
export function backoffMs(attempt: number, firstMs = 500): number {
  return Math.min(firstMs * 2 ** (attempt - 1), 5_000)
}

/**
 * Runs `action` until it succeeds, reporting each failure and backing off, for what must become
 * reachable eventually (a broker still starting), so a service waits visibly instead of failing.
 */
export async function retryUntilDone<T>(
  action: () => Promise<T>,
  onFailure: (err: Error, attempt: number) => void,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await action()
    } catch (err) {
      onFailure(err as Error, attempt)
      await sleep(backoffMs(attempt))
    }
  }
}
