import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * A full garbage collection once a burst of sessions starting or ending is over.
 *
 * A thousand clients reconnecting after a restart allocate handshake state that lives
 * for a few round trips: long enough for V8 to promote much of it to the old
 * generation, where it stays (and keeps its pages) until the next mark-compact, which a
 * quiet daemon may not run for a long time. The same goes for the sessions' own state
 * after a burst of hang-ups: RSS stayed at its high-water mark. Here, after at least
 * `threshold` sessions started or ended, and `quietMs` without another, one full
 * collection runs (at most one per `minIntervalMs`), and only once no handshake is under
 * way (`busy`), for at most `maxWaitMs`. Its pause (tens of ms at a thousand sessions)
 * falls where nothing is being set up; packets wait in the socket buffers. (A forced
 * collection also makes V8 recompile part of the handshake path in the burst after it:
 * the path bench's warm second wave cost more with the trim than without.)
 */
export interface HeapTrimOptions {
  /** Sessions started or ended since the last collection before one is considered. */
  threshold: number;
  /** Quiet (no session started or ended) before it runs, ms. */
  quietMs: number;
  /** At most one collection per this many ms. */
  minIntervalMs: number;
  /** Handshakes under way: the collection waits (re-checking every quietMs) while this says so. */
  busy?: () => boolean;
  /** Longest wait for `busy` to clear, ms from when the collection was first due (a flood of half-open SAs must not hold it off forever). */
  maxWaitMs?: number;
  now(): number;
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
  /** The collection (fullGc()). */
  collect(): void;
}

export const HEAP_TRIM_DEFAULTS = { threshold: 64, quietMs: 250, minIntervalMs: 2000, maxWaitMs: 30_000 } as const;

export class HeapTrim {
  private churn = 0;
  private lastChurn = 0;
  private lastCollect = Number.NEGATIVE_INFINITY;
  /** When the pending collection first found the daemon busy (undefined: not waiting on busy). */
  private busySince: number | undefined;
  private timer: unknown;
  /** Collections run (status, tests). */
  collections = 0;

  constructor(private readonly o: HeapTrimOptions) {}

  /** A session started or ended. */
  note(): void {
    this.churn++;
    this.lastChurn = this.o.now();
    if (this.churn >= this.o.threshold && this.timer === undefined) this.arm(this.o.quietMs);
  }

  stop(): void {
    if (this.timer !== undefined) this.o.clear(this.timer);
    this.timer = undefined;
  }

  private arm(ms: number): void {
    this.timer = this.o.set(() => this.fire(), Math.max(1, ms));
  }

  private fire(): void {
    this.timer = undefined;
    const now = this.o.now();
    const quietFor = now - this.lastChurn;
    if (quietFor < this.o.quietMs) return this.arm(this.o.quietMs - quietFor);
    const since = now - this.lastCollect;
    if (since < this.o.minIntervalMs) return this.arm(this.o.minIntervalMs - since);
    if (this.o.busy?.()) {
      this.busySince ??= now;
      if (now - this.busySince < (this.o.maxWaitMs ?? Number.POSITIVE_INFINITY)) return this.arm(this.o.quietMs);
    }
    this.busySince = undefined;
    this.churn = 0;
    this.lastCollect = now;
    this.collections++;
    this.o.collect();
  }
}

/**
 * V8's full collection as a function, or undefined where it cannot be had. The flag
 * exposes `gc` to contexts made after it is set (the way test runners find leaks);
 * the daemon's own context is unchanged.
 */
export function fullGc(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    if (typeof gc !== 'function') return undefined;
    return () => {
      // every old-generation page an evacuation candidate: the survivors of a burst move
      // together and the emptied pages go back to the system (V8's heuristics would leave
      // pages three quarters full of sessions with the handshakes' garbage between them)
      setFlagsFromString('--compact-on-every-full-gc');
      try {
        (gc as () => void)();
      } finally {
        setFlagsFromString('--no-compact-on-every-full-gc');
      }
    };
  } catch {
    return undefined;
  }
}
