import { type Counters, DropLimiter, type RateLimiter } from './counters.js';
import { type LogEvent, type LogLevel, logEvent } from './log.js';

/**
 * Drops and their telemetry, one facility for every core: a dropped packet or
 * message is counted under "<counterPrefix><reason>" and gets a log line
 * (event name fixed per core) limited in rate, with what the reason means
 * (from the core's reason table) and how many lines were held back. The names
 * of counters and events are each core's, unchanged: metrics and operators
 * read them.
 */

/** What limits the lines: a DropLimiter (per reason, then per source) or a per-key RateLimiter (perKey). */
export interface LineLimiter {
  /** -1 when the line must be suppressed, else how many were suppressed since the last one let through. */
  allow(key: string, source: string | undefined, now: number): number;
}

/** A RateLimiter (a budget per key, sources not told apart) as a LineLimiter. */
export function perKey(limiter: RateLimiter): LineLimiter {
  return { allow: (key, _source, now) => limiter.allow(key, now) };
}

export interface DropsOptions<R extends string> {
  counters: Counters;
  /** A drop is counted as `${counterPrefix}${reason}` ("ike.drop.", "esp.in.drop.", "drop." in a view). */
  counterPrefix: string;
  /** Event name of the log lines ("ike.drop", "l2tp.drop", ...). */
  event: string;
  /** What each reason means: the `detail` field of its lines. */
  reasons?: Readonly<Record<R, string>>;
  /** Level of the lines, or of each reason's lines. Default 'warn'. */
  level?: LogLevel | ((reason: R) => LogLevel);
  /** Default: new DropLimiter(5, 5, 10_000). May be shared with other lines of the core. */
  limiter?: LineLimiter;
  /** The limiter key of a reason is `${limitKey}${reason}`; default `${event}|` (of the line's event). */
  limitKey?: string;
  /** Put `suppressed` on every line, 0 included (default: only when lines were held back). */
  alwaysSuppressed?: boolean;
}

/** What one line may add to or change in the defaults. */
export interface DropLine {
  /** Address of the sender: a DropLimiter budgets each source on its own. */
  source?: string;
  /** Fields after `reason` and `detail`; a function is called only for a line the limiter lets through. */
  fields?: Record<string, unknown> | (() => Record<string, unknown>);
  /** Another event name for this line (its counter stays `${counterPrefix}${reason}`). */
  event?: string;
  level?: LogLevel;
}

/** The most counter names kept built (reasons are a closed set in code; this only bounds a mistake). */
const MAX_KEYS = 1024;

export class Drops<R extends string = string> {
  readonly limiter: LineLimiter;
  private readonly counters: Counters;
  /** Counter names built (made at the first drop when the core has no reason table: per-session cores mostly see none). */
  private keys: Map<string, string> | undefined;

  constructor(private readonly o: DropsOptions<R>) {
    this.counters = o.counters;
    this.limiter = o.limiter ?? new DropLimiter(5, 5, 10_000);
    // Counter names of known reasons built once: the hot path (forwarder) does not build strings.
    if (o.reasons) this.keys = new Map(Object.keys(o.reasons).map((r) => [r, o.counterPrefix + r]));
  }

  /** The counter name of a reason. */
  counterName(reason: R): string {
    let k = this.keys?.get(reason);
    if (k === undefined) {
      k = this.o.counterPrefix + reason;
      this.keys ??= new Map();
      if (this.keys.size < MAX_KEYS) this.keys.set(reason, k);
    }
    return k;
  }

  /** Counts a drop, no line. */
  count(reason: R): void {
    this.counters.inc(this.counterName(reason));
  }

  /** Drops of a reason so far. */
  get(reason: R): number {
    return this.counters.get(this.counterName(reason));
  }

  /** The log line of a drop (not counted), or undefined when the rate limit holds it back. */
  line(reason: R, now: number, line: DropLine = {}): LogEvent | undefined {
    const event = line.event ?? this.o.event;
    const key = (this.o.limitKey ?? `${event}|`) + reason;
    const suppressed = this.limiter.allow(key, line.source, now);
    if (suppressed < 0) return undefined;
    const lv = this.o.level;
    const level = line.level ?? (typeof lv === 'function' ? lv(reason) : (lv ?? 'warn'));
    const detail = this.o.reasons?.[reason];
    return logEvent(level, event, {
      reason,
      ...(detail !== undefined ? { detail } : {}),
      ...(typeof line.fields === 'function' ? line.fields() : line.fields),
      ...(suppressed > 0 || this.o.alwaysSuppressed ? { suppressed } : {}),
    });
  }

  /** Counts a drop and returns its log line, or undefined when the rate limit holds it back. */
  drop(reason: R, now: number, line?: DropLine): LogEvent | undefined {
    this.count(reason);
    return this.line(reason, now, line);
  }
}
