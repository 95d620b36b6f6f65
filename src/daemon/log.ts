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
  flush(): void;
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

export function createLogger(opts: { level: LogLevel; format: 'json' | 'pretty'; stream?: NodeJS.WritableStream }): Logger {
  const min = LEVELS[opts.level];
  const out = opts.stream ?? process.stdout;
  if (opts.format === 'pretty') {
    const write = (level: LogLevel, event: string, fields?: Record<string, unknown>): void => {
      if (LEVELS[level] < min) return;
      out.write(formatPretty(level, event, fields, new Date()) + '\n');
    };
    return wrap(write, () => undefined);
  }
  const p = pino(
    { level: opts.level, base: null, messageKey: 'msg', timestamp: pino.stdTimeFunctions.isoTime },
    opts.stream ?? pino.destination({ dest: 1, sync: true }),
  );
  const write = (level: LogLevel, event: string, fields?: Record<string, unknown>): void => {
    if (LEVELS[level] < min) return;
    p[level]({ event, ...fields });
  };
  return wrap(write, () => p.flush());
}

function wrap(write: (level: LogLevel, event: string, fields?: Record<string, unknown>) => void, flush: () => void): Logger {
  return {
    event: (ev) => write(ev.level, ev.event, ev.fields),
    log: write,
    info: (e, f) => write('info', e, f),
    warn: (e, f) => write('warn', e, f),
    error: (e, f) => write('error', e, f),
    debug: (e, f) => write('debug', e, f),
    flush,
  };
}
