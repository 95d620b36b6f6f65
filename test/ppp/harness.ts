import { AddressPool, ntPasswordHash, PppSession, type PppAuthBackend, type PppConfig, type PppOutput, type PppUser } from '../../src/ppp/index.js';
import { TestClient, type ClientOptions } from './client.js';

/** Deterministic randomness for tests (xorshift), never for production. */
export function seededRandom(seed = 1): (n: number) => Buffer {
  let s = seed >>> 0 || 1;
  return (n: number) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) {
      s ^= s << 13;
      s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      b[i] = s & 0xff;
    }
    return b;
  };
}

export class Backend implements PppAuthBackend {
  users = new Map<string, PppUser>();
  sessions = new Map<string, number>();
  limit = 2;
  add(name: string, password: string, extra: Partial<PppUser> = {}): this {
    this.users.set(name, { name, ntHash: ntPasswordHash(password), ...extra });
    return this;
  }
  lookup(name: string): PppUser | undefined {
    return this.users.get(name);
  }
  admit(name: string): { ok: true } | { ok: false; message: string } {
    const n = this.sessions.get(name) ?? 0;
    const max = this.users.get(name)?.maxSessions ?? this.limit;
    if (n >= max) return { ok: false, message: `session limit ${max} reached` };
    this.sessions.set(name, n + 1);
    return { ok: true };
  }
}

export function config(extra: Partial<PppConfig> = {}): PppConfig {
  return { serverAddress: '10.40.0.1', dns: ['10.40.0.1', '9.9.9.9'], random: seededRandom(7), ...extra };
}

export interface Run {
  server: PppSession;
  client: TestClient;
  outputs: PppOutput[];
  now: number;
  /** Frames the server sent. */
  sent: Buffer[];
}

/** Shuttle frames between server and client until both are quiet (bounded). */
export function pump(r: Run, fromClient: Buffer[], maxRounds = 200): void {
  let queue = fromClient;
  for (let i = 0; i < maxRounds && queue.length > 0; i++) {
    const next: Buffer[] = [];
    for (const f of queue) {
      const outs = r.server.receive(f, r.now);
      r.outputs.push(...outs);
      for (const o of outs) {
        if (o.type === 'send') {
          r.sent.push(o.frame);
          next.push(...r.client.receive(o.frame));
        }
      }
    }
    queue = next;
  }
}

/** Deliver server outputs (from start/tick/close) to the client and pump the answers. */
export function deliver(r: Run, outs: PppOutput[]): void {
  r.outputs.push(...outs);
  const replies: Buffer[] = [];
  for (const o of outs) {
    if (o.type === 'send') {
      r.sent.push(o.frame);
      replies.push(...r.client.receive(o.frame));
    }
  }
  pump(r, replies);
}

export function connect(opts: ClientOptions, backend: Backend, pool: AddressPool, cfg: PppConfig = config(), now = 1000): Run {
  const server = new PppSession(cfg, backend, pool, now);
  const client = new TestClient(opts);
  const r: Run = { server, client, outputs: [], now, sent: [] };
  const first = client.start();
  deliver(r, server.start(now));
  pump(r, first);
  return r;
}

/** Advance time by ticks at each deadline until `until` or quiet. */
export function runTimers(r: Run, until: number): void {
  for (let i = 0; i < 1000; i++) {
    const d = r.server.nextDeadline();
    if (d === undefined || d > until) break;
    r.now = Math.max(r.now, d);
    deliver(r, r.server.tick(r.now));
  }
  r.now = Math.max(r.now, until);
}

export function ofType<T extends PppOutput['type']>(outs: PppOutput[], t: T): Array<Extract<PppOutput, { type: T }>> {
  return outs.filter((o): o is Extract<PppOutput, { type: T }> => o.type === t);
}
