/**
 * Log events emitted by protocol cores as outputs (cores never log directly).
 * Event names are stable (e.g. "ike.phase1.established", "l2tp.RecvSCCRQ").
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface LogEvent {
  type: 'log';
  level: LogLevel;
  event: string;
  fields?: Record<string, unknown>;
}

export function logEvent(level: LogLevel, event: string, fields?: Record<string, unknown>): LogEvent {
  return fields ? { type: 'log', level, event, fields } : { type: 'log', level, event };
}
