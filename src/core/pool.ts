/**
 * A bounded worker pool: the one way spackle runs work items `jobs` at a time.
 *
 * @module
 */

/**
 * Runs `fn` over `items` (with each item's index) with at most `jobs` calls running at once.
 * After a call fails no new item starts; the running ones are waited for, then the error of the
 * failed item that comes first in `items` is thrown (the same error whatever the timing, when
 * the same items fail). Resolves when every item is done.
 */
export async function runPool<T>(
  items: readonly T[],
  jobs: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed: { index: number; error: unknown } | undefined;
  const fail = (index: number, error: unknown) => {
    if (!failed || index < failed.index) failed = { index, error };
  };
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        await fn(items[i], i);
      } catch (error) {
        fail(i, error);
      }
    }
  };
  const n = Math.max(1, Math.min(Math.floor(jobs) || 1, items.length));
  await Promise.all(Array.from({ length: n }, worker));
  if (failed) throw failed.error;
}
