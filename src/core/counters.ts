/**
 * Named monotonically increasing counters (drops by reason, packets, bytes).
 * Cheap on the hot path: a Map lookup and an add.
 */
export class Counters {
  private readonly values = new Map<string, number>();

  constructor(readonly scope = '') {}

  inc(name: string, by = 1): void {
    this.values.set(name, (this.values.get(name) ?? 0) + by);
  }

  /** Counters kept elsewhere (sampled), made on first use. */
  private sampledFns: Map<string, () => number> | undefined;

  get(name: string): number {
    const f = this.sampledFns?.get(name);
    return f ? f() : (this.values.get(name) ?? 0);
  }

  /** A counter kept elsewhere (e.g. in the native addon), read when a snapshot is taken. */
  sampled(name: string, read: () => number): void {
    (this.sampledFns ??= new Map()).set(name, read);
  }

  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    const all: Array<[string, number]> = [...this.values];
    for (const [k, f] of this.sampledFns ?? []) all.push([k, f()]);
    for (const [k, v] of all.sort((a, b) => a[0].localeCompare(b[0]))) out[k] = v;
    return out;
  }

  reset(): void {
    this.values.clear();
  }

  /**
   * A view that counts into this registry under `prefix` (e.g. "ppp."), so a
   * core that names its counters "drop.<reason>" reaches the daemon's one
   * registry, and /metrics, as "ppp.drop.<reason>".
   */
  view(prefix: string): Counters {
    return new PrefixedCounters(this, prefix);
  }
}

class PrefixedCounters extends Counters {
  constructor(
    private readonly parent: Counters,
    private readonly prefix: string,
  ) {
    super(parent.scope);
  }

  /** name -> prefix + name, made once: a fresh concatenation per call would be hashed again on every packet. */
  private readonly full = new Map<string, string>();

  override inc(name: string, by = 1): void {
    let key = this.full.get(name);
    if (key === undefined) {
      key = this.prefix + name;
      if (this.full.size < 4096) this.full.set(name, key);
    }
    this.parent.inc(key, by);
  }

  override get(name: string): number {
    return this.parent.get(this.prefix + name);
  }

  override snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(this.parent.snapshot())) if (k.startsWith(this.prefix)) out[k.slice(this.prefix.length)] = v;
    return out;
  }
}

/**
 * Lets at most `burst` events per key through in each `intervalMs` window and
 * reports how many were suppressed, so a flood of bad packets cannot flood the log.
 */
export class RateLimiter {
  /** Made at the first event: most per-session limiters never see one. */
  private windows: Map<string, { start: number; count: number; suppressed: number }> | undefined;

  constructor(
    private readonly burst = 5,
    private readonly intervalMs = 10_000,
    private readonly maxKeys = 1024,
  ) {}

  /** Returns -1 when the event must be suppressed, else the number suppressed since the last one let through. */
  allow(key: string, now: number): number {
    this.windows ??= new Map();
    let w = this.windows.get(key);
    if (!w || now - w.start >= this.intervalMs) {
      const suppressed = w?.suppressed ?? 0;
      // Full: forget the oldest key (clearing all would let every key through again at once).
      if (!w && this.windows.size >= this.maxKeys) this.windows.delete(this.windows.keys().next().value as string);
      this.windows.set(key, (w = { start: now, count: 1, suppressed: 0 }));
      return suppressed;
    }
    if (w.count < this.burst) {
      w.count++;
      const s = w.suppressed;
      w.suppressed = 0;
      return s;
    }
    w.suppressed++;
    return -1;
  }
}

interface ReasonWindow {
  start: number;
  count: number;
  suppressed: number;
}

/**
 * Log limiter for drops of unauthenticated input (spoofable sources). A budget per
 * reason for all sources together comes first, then a budget per (reason, source):
 * packets from thousands of random source addresses write at most `perReason` lines
 * per reason per interval, and one noisy source cannot use up a reason's budget
 * alone. The per-source table is bounded (the oldest entry goes when full). The
 * number suppressed is counted per reason and reported on its next line.
 */
export class DropLimiter {
  private readonly reasons = new Map<string, ReasonWindow>();
  private readonly sources = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly perReason = 20,
    private readonly perSource = 5,
    private readonly intervalMs = 10_000,
    private readonly maxSources = 4096,
    private readonly maxReasons = 256,
  ) {}

  /** Returns -1 when the line must be suppressed, else the number of this reason's lines suppressed since the last one. */
  allow(reason: string, source: string | undefined, now: number): number {
    let r = this.reasons.get(reason);
    if (r === undefined && this.reasons.size >= this.maxReasons) {
      reason = '*';
      r = this.reasons.get(reason);
    }
    if (r === undefined) {
      r = { start: now, count: 0, suppressed: 0 };
      this.reasons.set(reason, r);
    } else if (now - r.start >= this.intervalMs) {
      r.start = now;
      r.count = 0;
    }
    if (r.count >= this.perReason) {
      r.suppressed++;
      return -1;
    }
    if (source !== undefined) {
      const key = `${reason}|${source}`;
      let s = this.sources.get(key);
      if (s === undefined || now - s.start >= this.intervalMs) {
        if (s === undefined && this.sources.size >= this.maxSources) this.sources.delete(this.sources.keys().next().value as string);
        this.sources.set(key, (s = { start: now, count: 0 }));
      }
      if (s.count >= this.perSource) {
        r.suppressed++;
        return -1;
      }
      s.count++;
    }
    r.count++;
    const suppressed = r.suppressed;
    r.suppressed = 0;
    return suppressed;
  }

  /** Entries held (for tests and metrics): bounded by maxSources and maxReasons. */
  get size(): { reasons: number; sources: number } {
    return { reasons: this.reasons.size, sources: this.sources.size };
  }
}
