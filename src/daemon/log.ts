import type { Writable } from 'node:stream';
import pino from 'pino';
import type { LogEvent, LogLevel } from '../core/log.js';

/**
 * The daemon's logger: pino JSON lines by default ({"level":30,"time":...,"event":"ike.sa.up",...}),
 * or a short human form with `--log-format pretty`. Protocol cores emit LogEvent
 * outputs; the daemon passes them here.
 */
export interface Logger {
  event(ev: LogEvent): void;
  log(level: LogLevel, event: string, fields?: Record<string, unknown>): void;
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
  debug(event: string, fields?: Record<string, unknown>): void;
  /** Writes out what is buffered, synchronously (before exit). */
  flush(): void;
  /** Lines dropped because the output could not keep up (see createLogger). */
  dropped(): number;
  /** Whether lines of this level are written (the cores skip building debug lines nobody reads). */
  enabled?(level: LogLevel): boolean;
}

/** Bytes of log lines that may wait for a slow output before new lines are dropped. */
export const LOG_BUFFER_BYTES = 1 << 20;

export interface LoggerOptions {
  level: LogLevel;
  format: 'json' | 'pretty';
  /** Where lines go (tests); default: file descriptor `fd`, written asynchronously. */
  stream?: NodeJS.WritableStream;
  /** Default 1 (stdout). */
  fd?: number;
  /** Default LOG_BUFFER_BYTES. */
  bufferBytes?: number;
}

/**
 * Where formatted lines go. Writes never block the event loop: the default output is a
 * SonicBoom on the file descriptor in asynchronous mode, and when the output (a slow
 * journal, a full pipe) falls behind by more than `bufferBytes`, new lines are dropped
 * and counted instead of queued without bound or written synchronously.
 */
interface Sink {
  write(line: string): void;
  flush(): void;
  dropped(): number;
}

function createSink(opts: LoggerOptions): Sink {
  const limit = Math.max(1024, opts.bufferBytes ?? LOG_BUFFER_BYTES);
  let dropped = 0;
  const stream = opts.stream;
  if (stream) {
    const pending = (): number => (stream as Partial<Writable>).writableLength ?? 0;
    return {
      write(line) {
        if (pending() + line.length > limit) {
          dropped++;
          return;
        }
        stream.write(line);
      },
      flush: () => undefined,
      dropped: () => dropped,
    };
  }
  const dest = pino.destination({ dest: opts.fd ?? 1, sync: false, minLength: 0, maxLength: limit });
  dest.on('drop', () => {
    dropped++;
  });
  const flush = (): void => {
    try {
      dest.flushSync();
    } catch {
      // nothing buffered, or the output is gone: nothing more we can do at exit
    }
  };
  process.once('exit', flush);
  return {
    write: (line) => {
      dest.write(line);
    },
    flush,
    dropped: () => dropped,
  };
}

const LEVELS: Record<LogLevel, number> = { debug: 20, info: 30, warn: 40, error: 50 };

function formatValue(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) ? JSON.stringify(v) : v;
  if (v instanceof Error) return JSON.stringify(v.message);
  return JSON.stringify(v);
}

/** One line per event: `12:00:01.123 INFO  ike.sa.up peer=1.2.3.4:4500 algorithms=aes128-sha1-modp1024`. */
export function formatPretty(level: LogLevel, event: string, fields: Record<string, unknown> | undefined, time: Date): string {
  const t = time.toISOString().slice(11, 23);
  const kv = fields
    ? Object.entries(fields)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${k}=${formatValue(v)}`)
        .join(' ')
    : '';
  return `${t} ${level.toUpperCase().padEnd(5)} ${event}${kv ? ' ' + kv : ''}`;
}

export function createLogger(opts: LoggerOptions): Logger {
  const min = LEVELS[opts.level];
  const sink = createSink(opts);
  if (opts.format === 'pretty') {
    const write = (level: LogLevel, event: string, fields?: Record<string, unknown>): void => {
      if (LEVELS[level] < min) return;
      sink.write(formatPretty(level, event, fields, new Date()) + '\n');
    };
    return wrap(write, sink, min);
  }
  const p = pino({ level: opts.level, base: null, messageKey: 'msg', timestamp: pino.stdTimeFunctions.isoTime }, { write: (line: string) => sink.write(line) });
  const write = (level: LogLevel, event: string, fields?: Record<string, unknown>): void => {
    if (LEVELS[level] < min) return;
    p[level]({ event, ...fields });
  };
  return wrap(write, sink, min);
}

function wrap(write: (level: LogLevel, event: string, fields?: Record<string, unknown>) => void, sink: Sink, min: number): Logger {
  return {
    enabled: (level) => LEVELS[level] >= min,
    event: (ev) => write(ev.level, ev.event, ev.fields),
    log: write,
    info: (e, f) => write('info', e, f),
    warn: (e, f) => write('warn', e, f),
    error: (e, f) => write('error', e, f),
    debug: (e, f) => write('debug', e, f),
    flush: () => sink.flush(),
    dropped: () => sink.dropped(),
  };
}
