/**
 * The session table: who is connected. One record per session of any kind
 * (`l2tp-ppp` today, `ikev2` next), identified by a numeric handle given at
 * start and carried through the pipeline (never looked up again by outer
 * address and port). Admission (per-user and global limits), the address
 * pool, counters and the history record of an ended session go through here;
 * status, sessions, disconnect and metrics read it.
 */
import type { Endpoint } from '../core/sa.js';
import { endpointText } from '../core/sa.js';
import { AddressPool } from '../ppp/pool.js';

/** A session's handle: a small integer, unique for the life of the table. */
export type SessionHandle = number & { readonly __session: unique symbol };

export type SessionKind = 'l2tp-ppp' | 'ikev2';

export interface SessionRecord {
  readonly handle: SessionHandle;
  readonly kind: SessionKind;
  /** Shown in status and accepted by disconnect, e.g. "100.64.1.1:4500/1701/64601/1540". */
  readonly id: string;
  /** The IPsec SA lineage (see pipeline) that carries this session. */
  readonly lineage: number;
  /** The client's outer identity endpoint when the session started. */
  readonly peer: Endpoint;
  user: string | undefined;
  address: string | undefined;
  /** Monotonic ms, for durations. */
  readonly started: number;
  /** Wall clock ms since the epoch, for history and status. */
  readonly startedAt: number;
  bytesIn: number;
  bytesOut: number;
  packetsIn: number;
  packetsOut: number;
  /** Set by an administrative disconnect: delete the carrying SA once the session is gone. */
  disconnectRequested: boolean;
}

/** What history, events and logs keep of an ended session. */
export interface EndedSession {
  user: string | null;
  peer: string | null;
  address: string;
  session: string;
  start: string;
  end: string;
  duration: number;
  bytesIn: number;
  bytesOut: number;
  packetsIn: number;
  packetsOut: number;
  reason: string;
}

export interface SessionLimits {
  /** Default sessions per user (config ppp.max_sessions_per_user); 0 = unlimited. */
  perUser: number;
  /** Per-user override (users file `max_sessions`). */
  userLimit?: (user: string) => number | undefined;
  /** Sessions in all (authenticated or not); 0 = unlimited. */
  total?: number;
}

export class SessionTable {
  readonly pool: AddressPool;
  private readonly byHandle = new Map<SessionHandle, SessionRecord>();
  private readonly byId = new Map<string, SessionHandle>();
  private readonly perUser = new Map<string, number>();
  private nextHandle = 1;

  constructor(
    pool: string | AddressPool,
    private limits: SessionLimits,
    private readonly wallClock: () => number = Date.now,
  ) {
    this.pool = typeof pool === 'string' ? new AddressPool(pool) : pool;
  }

  setLimits(limits: SessionLimits): void {
    this.limits = limits;
  }

  get size(): number {
    return this.byHandle.size;
  }

  /** Room for one more session (before any login)? */
  hasRoom(): boolean {
    const total = this.limits.total ?? 0;
    return total <= 0 || this.byHandle.size < total;
  }

  open(kind: SessionKind, id: string, lineage: number, peer: Endpoint, now: number): SessionRecord {
    let handle = this.nextHandle as SessionHandle;
    while (this.byHandle.has(handle)) handle = ++this.nextHandle as SessionHandle;
    this.nextHandle = (this.nextHandle % 0x3fffffff) + 1;
    const rec: SessionRecord = {
      handle,
      kind,
      id,
      lineage,
      peer: { address: peer.address, port: peer.port },
      user: undefined,
      address: undefined,
      started: now,
      startedAt: this.wallClock(),
      bytesIn: 0,
      bytesOut: 0,
      packetsIn: 0,
      packetsOut: 0,
      disconnectRequested: false,
    };
    this.byHandle.set(handle, rec);
    this.byId.set(id, handle);
    return rec;
  }

  get(handle: SessionHandle): SessionRecord | undefined {
    return this.byHandle.get(handle);
  }

  findById(id: string): SessionRecord | undefined {
    const h = this.byId.get(id);
    return h === undefined ? undefined : this.byHandle.get(h);
  }

  /** Sessions of a user that passed authentication. */
  countUser(user: string): number {
    return this.perUser.get(user) ?? 0;
  }

  /**
   * Admission after a correct password: the per-user limit counts every kind
   * of session together. On success the session belongs to the user.
   */
  admit(handle: SessionHandle, user: string): { ok: true } | { ok: false; message: string } {
    const rec = this.byHandle.get(handle);
    if (!rec) return { ok: false, message: 'no such session' };
    const limit = this.limits.userLimit?.(user) ?? this.limits.perUser;
    const active = this.countUser(user) - (rec.user === user ? 1 : 0);
    if (limit > 0 && active >= limit) return { ok: false, message: `session limit of ${limit} reached` };
    this.bindUser(rec, user);
    return { ok: true };
  }

  private bindUser(rec: SessionRecord, user: string): void {
    if (rec.user === user) return;
    if (rec.user !== undefined) this.unbindUser(rec);
    rec.user = user;
    this.perUser.set(user, (this.perUser.get(user) ?? 0) + 1);
  }

  private unbindUser(rec: SessionRecord): void {
    const u = rec.user;
    if (u === undefined) return;
    const n = (this.perUser.get(u) ?? 1) - 1;
    if (n <= 0) this.perUser.delete(u);
    else this.perUser.set(u, n);
  }

  /**
   * Remove a session; returns its history record when it had reached an
   * address (a session that never came up leaves no history).
   */
  close(handle: SessionHandle, reason: string, now: number): EndedSession | undefined {
    const rec = this.byHandle.get(handle);
    if (!rec) return undefined;
    this.byHandle.delete(handle);
    if (this.byId.get(rec.id) === handle) this.byId.delete(rec.id);
    this.unbindUser(rec);
    if (rec.address === undefined) return undefined;
    return {
      user: rec.user ?? null,
      peer: endpointText(rec.peer),
      address: rec.address,
      session: rec.id,
      start: new Date(rec.startedAt).toISOString(),
      end: new Date(this.wallClock()).toISOString(),
      duration: Math.round((now - rec.started) / 1000),
      bytesIn: rec.bytesIn,
      bytesOut: rec.bytesOut,
      packetsIn: rec.packetsIn,
      packetsOut: rec.packetsOut,
      reason,
    };
  }

  /** Sessions matching a disconnect target: its id, or every session of a user. */
  match(target: { user?: string; session?: string }): SessionRecord[] {
    const out: SessionRecord[] = [];
    for (const r of this.byHandle.values()) {
      if ((target.session !== undefined && r.id === target.session) || (target.user !== undefined && r.user === target.user)) out.push(r);
    }
    return out;
  }

  /** Sessions of an SA lineage that have not passed authentication. */
  unauthenticatedOf(lineage: number): number {
    let n = 0;
    for (const r of this.byHandle.values()) if (r.lineage === lineage && r.user === undefined) n++;
    return n;
  }

  /** Sessions carried by an SA lineage. */
  ofLineage(lineage: number): SessionRecord[] {
    const out: SessionRecord[] = [];
    for (const r of this.byHandle.values()) if (r.lineage === lineage) out.push(r);
    return out;
  }

  list(): SessionRecord[] {
    return [...this.byHandle.values()];
  }
}
