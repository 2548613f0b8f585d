/** Browser entry of the core suite: runs it and leaves the results for the test to read. */
import { runCoreSuite } from "./_core_suite.ts";

// The tests build streams with ReadableStream.from, which this Chromium lacks.
const RS = ReadableStream as unknown as {
  from?: (it: Iterable<unknown> | AsyncIterable<unknown>) => ReadableStream;
};
RS.from ??= (it) => {
  const src = Symbol.asyncIterator in it
    ? (it as AsyncIterable<unknown>)[Symbol.asyncIterator]()
    : (it as Iterable<unknown>)[Symbol.iterator]();
  return new ReadableStream({
    async pull(c) {
      const r = await src.next();
      if (r.done) c.close();
      else c.enqueue(r.value);
    },
  }, { highWaterMark: 0 });
};

const g = globalThis as { coreSuite?: unknown; coreSuiteError?: string };
try {
  g.coreSuite = await runCoreSuite();
} catch (e) {
  g.coreSuiteError = String(e);
}
