import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { EndedSession } from '../session/table.js';

/**
 * One ended session, as appended to the history file (one JSON line each): what the
 * session table records when a session ends (user, outer peer, address, id, ISO 8601
 * start and end, whole seconds, counters, reason); older lines may lack the address.
 */
export type HistoryEntry = Omit<EndedSession, 'address'> & { address: string | null };

export const HISTORY_MAX_LINES = 10_000;

function isEntry(v: unknown): v is HistoryEntry {
  if (v === null || typeof v !== 'object') return false;
  const o = v as Record<string, unknown>;
  return typeof o['session'] === 'string' && typeof o['start'] === 'string' && typeof o['duration'] === 'number' && typeof o['reason'] === 'string';
}

/** Parse history text; lines that are not entries (torn writes, edits) are skipped. */
export function parseHistory(text: string): HistoryEntry[] {
  const out: HistoryEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const v: unknown = JSON.parse(line);
      if (isEntry(v)) out.push(v);
    } catch {
      // skip
    }
  }
  return out;
}

/**
 * The history file: append-only JSON lines, trimmed to the newest `maxLines`
 * lines (rewritten through a temp file + rename) when it grows past 1.25 × that.
 */
export class HistoryFile {
  private lines: number | undefined;

  constructor(
    readonly path: string,
    readonly maxLines = HISTORY_MAX_LINES,
  ) {}

  append(e: HistoryEntry): void {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    if (this.lines === undefined) this.lines = this.countLines();
    appendFileSync(this.path, JSON.stringify(e) + '\n', { mode: 0o600 });
    this.lines++;
    if (this.lines > Math.floor(this.maxLines * 1.25)) this.trim();
  }

  /** Entries, oldest first; optionally only one user's, optionally the newest `limit`. */
  read(opts: { user?: string; limit?: number } = {}): HistoryEntry[] {
    if (!existsSync(this.path)) return [];
    let all = parseHistory(readFileSync(this.path, 'utf8'));
    if (opts.user !== undefined) all = all.filter((e) => e.user === opts.user);
    if (opts.limit !== undefined && all.length > opts.limit) all = all.slice(all.length - opts.limit);
    return all;
  }

  private countLines(): number {
    if (!existsSync(this.path) || statSync(this.path).size === 0) return 0;
    return readFileSync(this.path, 'utf8').split('\n').filter((l) => l.length > 0).length;
  }

  private trim(): void {
    const keep = readFileSync(this.path, 'utf8')
      .split('\n')
      .filter((l) => l.length > 0)
      .slice(-this.maxLines);
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, keep.join('\n') + '\n', { mode: 0o600 });
    renameSync(tmp, this.path);
    this.lines = keep.length;
  }
}
