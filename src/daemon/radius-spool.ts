import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { logEvent, type LogEvent } from '../core/log.js';
import type { Attribute } from '../radius/index.js';

/**
 * Accounting-Requests no RADIUS server took, kept on disk (one JSON line each, mode
 * 0600) until one does: accounting is billing, a Stop must survive an outage and a
 * restart. The file is rewritten whole (temporary file + rename) on each change, so a
 * crash leaves the old or the new list, never half of one. Bounded: past maxEntries
 * the oldest is dropped and logged.
 */
export interface SpooledRequest {
  /** Wall clock ms when it was first spooled (Acct-Delay-Time grows by its age). */
  savedAt: number;
  attributes: Attribute[];
}

type Stored = { savedAt: number; attributes: Array<{ name: string; s?: string; i?: number; h?: string }> };

function toStored(r: SpooledRequest): Stored {
  return {
    savedAt: r.savedAt,
    attributes: r.attributes.map((a) =>
      typeof a.value === 'string' ? { name: a.name, s: a.value } : typeof a.value === 'number' ? { name: a.name, i: a.value } : { name: a.name, h: Buffer.from(a.value).toString('hex') },
    ),
  };
}

function fromStored(v: unknown): SpooledRequest | undefined {
  if (v === null || typeof v !== 'object') return undefined;
  const o = v as Stored;
  if (typeof o.savedAt !== 'number' || !Array.isArray(o.attributes)) return undefined;
  const attributes: Attribute[] = [];
  for (const a of o.attributes) {
    if (a === null || typeof a !== 'object' || typeof a.name !== 'string') return undefined;
    if (typeof a.s === 'string') attributes.push({ name: a.name, value: a.s });
    else if (typeof a.i === 'number') attributes.push({ name: a.name, value: a.i });
    else if (typeof a.h === 'string' && /^(?:[0-9a-f]{2})*$/.test(a.h)) attributes.push({ name: a.name, value: Buffer.from(a.h, 'hex') });
    else return undefined;
  }
  return { savedAt: o.savedAt, attributes };
}

export class AcctSpool {
  private list: SpooledRequest[] = [];

  constructor(
    readonly path: string,
    private readonly log: (ev: LogEvent) => void,
    private readonly maxEntries = 100_000,
  ) {}

  get size(): number {
    return this.list.length;
  }

  entries(): readonly SpooledRequest[] {
    return this.list;
  }

  /** Read what a previous run left; a line that does not parse is skipped and logged. Returns the count. */
  load(): number {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (e) {
      if ((e as { code?: string }).code !== 'ENOENT') this.log(logEvent('warn', 'radius.spool.read-error', { file: this.path, error: (e as Error).message }));
      return 0;
    }
    let bad = 0;
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      let r: SpooledRequest | undefined;
      try {
        r = fromStored(JSON.parse(line));
      } catch {
        r = undefined;
      }
      if (r) this.list.push(r);
      else bad++;
    }
    if (bad > 0) this.log(logEvent('warn', 'radius.spool.bad-lines', { file: this.path, skipped: bad }));
    return this.list.length;
  }

  add(attributes: Attribute[], savedAt: number): void {
    this.list.push({ savedAt, attributes });
    while (this.list.length > this.maxEntries) {
      this.list.shift();
      this.log(logEvent('error', 'radius.spool.full', { file: this.path, max: this.maxEntries }));
    }
    this.save();
  }

  remove(r: SpooledRequest): void {
    const i = this.list.indexOf(r);
    if (i < 0) return;
    this.list.splice(i, 1);
    this.save();
  }

  private save(): void {
    try {
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
      const tmp = `${this.path}.tmp`;
      writeFileSync(tmp, this.list.map((r) => JSON.stringify(toStored(r)) + '\n').join(''), { mode: 0o600 });
      chmodSync(tmp, 0o600);
      renameSync(tmp, this.path);
    } catch (e) {
      this.log(logEvent('error', 'radius.spool.write-error', { file: this.path, error: (e as Error).message }));
    }
  }
}
