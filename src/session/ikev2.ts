/**
 * IKEv2 sessions: an IKEv2 SA that logged a user in (EAP-MSCHAPv2, or the user's own
 * pre-shared key selected by the identity the client sends) and got a
 * virtual IP is a session of kind `ikev2` in the same table as the L2TP/PPP ones
 * (same users, pool, per-user limit, status, history and disconnect). Its child
 * SAs run ESP in tunnel mode: what they deliver is an IPv4 packet for the TUN,
 * checked against the session's virtual IP like PPP's.
 */
import type { Counters } from '../core/counters.js';
import type { KeyObject } from 'node:crypto';
import { logEvent } from '../core/log.js';
import { endpointText, type ChildSaUp, type Endpoint } from '../core/sa.js';
import type { EspEngine, EspOutbound } from '../esp/engine.js';
import { DEFAULT_IKEV2_POLICY, Ikev2Responder, peekMajorVersion, withoutModp1024, type Ikev2Output } from '../ikev2/index.js';
import type { AuthBackoff } from '../ikev2/ike-auth.js';
import type { IdPayload } from '../ikev2/wire/id.js';
import type { Forwarder } from '../nat/forwarder.js';
import type { PppUser } from '../ppp/session.js';
import type { PipelineSink } from './ports.js';
import type { EapVerdict, RemoteAuthPort } from './remote-auth.js';
import type { SessionHandle, SessionRecord, SessionTable } from './table.js';

export { peekMajorVersion };

/** What the IKEv2 side needs: the server's identity, and the same users and pool as PPP. */
export interface Ikev2Options {
  /** DER, the server's certificate first. */
  certificates: Buffer[];
  privateKey: KeyObject;
  localId: IdPayload;
  /** Accept MODP1024 (Windows proposes it by default); default true. */
  allowModp1024?: boolean;
  /** Tests: extra responder settings. */
  responder?: Partial<ConstructorParameters<typeof Ikev2Responder>[0]>;
}

export interface Ikev2Host {
  readonly counters: Counters;
  readonly sink: PipelineSink;
  readonly table: SessionTable;
  readonly esp: EspEngine;
  readonly forwarder: Forwarder<SessionHandle>;
  lookup(name: string): PppUser | undefined;
  /** A user's IKEv2 pre-shared key (AUTH method 2); undefined when they have none. */
  ikev2Key?(name: string): Buffer | undefined;
  /** Failed logins and backoff, shared with PPP (per user and per address). */
  failures?: AuthBackoff;
  userLimit(name: string): number;
  /** Queue a datagram's worth for ESP (flushed with the turn). */
  send(o: EspOutbound): void;
  /** IKE sends go out in order with ESP queued before them. */
  sendIke(from: Endpoint, to: Endpoint, data: Buffer): void;
  random?: (n: number) => Buffer;
  /** EAP-MSCHAPv2 checked by RADIUS (remote-auth.ts) instead of the users file. */
  remoteAuth?: RemoteAuthPort;
}

interface V2Session {
  readonly rec: SessionRecord;
  readonly ikeSaId: string;
  /** Child SA ids, oldest first: the newest carries what we send. */
  readonly children: string[];
  peer: Endpoint;
  suite: string;
  transform: string | undefined;
  /** Why it ends, when we decided it (admin disconnect, idle). */
  endReason: string | undefined;
  lastIn: number;
  /** The last IPv4 packet either way (the idle timeout, as PPP counts it). */
  lastTraffic: number;
  /** This session's idle timeout: RADIUS's Idle-Timeout, else `ppp.idle_timeout` (0 = off). */
  idleMs: number;
  /** When RADIUS's Session-Timeout ends it. */
  endAt: number | undefined;
  /** MOBIKE moved it to an address whose return routability check is not answered yet: bulk data waits (RFC 4555 §3.5). */
  held: boolean;
}

export class Ikev2Sessions {
  readonly responder: Ikev2Responder;
  private readonly bySa = new Map<string, V2Session>();
  private readonly byHandle = new Map<SessionHandle, V2Session>();
  private readonly childOwner = new Map<string, V2Session>();
  /** Children that came up before their SA's session (IKE_AUTH outputs them first). */
  private readonly pendingChildren = new Map<string, ChildSaUp[]>();
  private readonly idleMs: number;
  /** No session's idle timeout or Session-Timeout is due before this (traffic only moves it later). */
  private idleDue: number | undefined;
  /** The time of the call in progress (the backoff's clock). */
  private now = 0;
  /** The address RADIUS gave an IKE SA's user (Framed-IP-Address), until its session opens. */
  private readonly grantedAddress = new Map<string, string>();
  /** RADIUS's Session-Timeout and Idle-Timeout (seconds) for an IKE SA's user, until its session opens. */
  private readonly grantedTimers = new Map<string, { sessionTimeout?: number; idleTimeout?: number }>();
  due: number | undefined;

  constructor(
    private readonly host: Ikev2Host,
    o: Ikev2Options,
    common: { cookieSecret: Buffer; dns: string[]; serverName: string; dpdIdle: number; childLifetimeMax: number; ikeLifetimeMax?: number; idleTimeout?: number },
  ) {
    this.idleMs = Math.max(0, common.idleTimeout ?? 0) * 1000;
    this.responder = new Ikev2Responder({
      cookieSecret: common.cookieSecret,
      counters: host.counters,
      forceEncapsulation: true,
      dpdIdle: common.dpdIdle,
      // a child the client has not rekeyed by 90% of child_lifetime_max is rekeyed by us
      childRekey: Math.floor(common.childLifetimeMax * 0.9),
      // and an IKE SA by 90% of ike_lifetime_max (less up to a tenth at random)
      ikeRekey: Math.floor((common.ikeLifetimeMax ?? 0) * 0.9),
      policy: o.allowModp1024 === false ? withoutModp1024(DEFAULT_IKEV2_POLICY) : DEFAULT_IKEV2_POLICY,
      ...(host.random ? { random: host.random } : {}),
      auth: {
        certificates: o.certificates,
        privateKey: o.privateKey,
        localId: o.localId,
        serverName: common.serverName,
        dns: common.dns,
        childLifetimeSeconds: common.childLifetimeMax,
        users: {
          lookup: (name) => {
            const u = host.lookup(name);
            return u ? { name: u.name, ntHash: u.ntHash } : undefined;
          },
          ...(host.failures ? { backoff: backoffOf(host.failures, () => this.now) } : {}),
          admit: (name) => {
            const limit = host.userLimit(name);
            if (limit > 0 && host.table.countUser(name) >= limit) return { ok: false, message: `session limit of ${limit} reached` };
            if (!host.table.hasRoom()) return { ok: false, message: 'server full' };
            return { ok: true };
          },
        },
        assignAddress: (user, requested, saId) => this.assign(user, requested, saId),
        // the identity a client sends (IDi) is the user's name; their own key, no group key
        psk: {
          lookup: (identity) => {
            const u = host.lookup(identity);
            return u ? { name: u.name, key: host.ikev2Key?.(u.name) } : undefined;
          },
        },
        ...(host.failures ? { failures: host.failures } : {}),
        ...(host.remoteAuth?.requestEap
          ? { remote: { request: (saId: string, attempt, peer) => host.remoteAuth?.requestEap?.(saId, attempt, { peer }), localFallback: host.remoteAuth.localFallback } }
          : {}),
      },
      ...o.responder,
    });
  }

  /**
   * The virtual IP for a user who just logged in: the users file's static address, else
   * the one asked for when free, else the next free one. IKE_AUTH reports it in
   * 'ikev2-sa-up' of the same call, where the session takes it over.
   */
  private assign(user: string, requested: string | undefined, saId?: string): string | undefined {
    const pool = this.host.table.pool;
    // RADIUS's Framed-IP-Address: that one or none (in use or outside the pool: INTERNAL_ADDRESS_FAILURE)
    const granted = saId === undefined ? undefined : this.grantedAddress.get(saId);
    if (granted !== undefined) {
      this.grantedAddress.delete(saId!);
      if (pool.reserve(granted, user)) return granted;
      this.host.sink.log(logEvent('warn', 'ikev2.address-conflict', { user, address: granted, from: 'radius' }));
      return undefined;
    }
    const u = this.host.lookup(user);
    if (u?.staticAddress) return pool.reserve(u.staticAddress, user) ? u.staticAddress : undefined;
    return pool.allocate(user, requested !== undefined && pool.isFreeDynamic(requested) ? requested : undefined);
  }

  get size(): number {
    return this.bySa.size;
  }

  has(handle: SessionHandle): boolean {
    return this.byHandle.has(handle);
  }

  receive(msg: Uint8Array, from: Endpoint, to: Endpoint, now: number): void {
    this.now = now;
    this.apply(this.responder.receive(msg, from, to, now), now);
    this.schedule();
  }

  /** RADIUS's answer for the pending EAP-MSCHAPv2 Response of IKE SA `saId`. */
  eapResult(saId: string, verdict: EapVerdict, now: number): void {
    if (verdict.kind === 'accept' && verdict.address !== undefined) this.grantedAddress.set(saId, verdict.address);
    if (verdict.kind === 'accept' && (verdict.sessionTimeout !== undefined || verdict.idleTimeout !== undefined)) {
      this.grantedTimers.set(saId, { sessionTimeout: verdict.sessionTimeout, idleTimeout: verdict.idleTimeout });
    }
    this.now = now;
    this.apply(this.responder.eapResult(saId, verdict, now), now);
    this.schedule();
  }

  tick(now: number): void {
    this.now = now;
    this.apply(this.responder.tick(now), now);
    if (this.idleDue !== undefined && now >= this.idleDue) this.idleCheck(now);
    this.schedule();
  }

  private schedule(): void {
    const r = this.responder.nextDeadline();
    this.due = r === undefined ? this.idleDue : this.idleDue === undefined ? r : Math.min(r, this.idleDue);
  }

  /**
   * The idle timeout (`ppp.idle_timeout` as for L2TP, or RADIUS's Idle-Timeout for the
   * session): a session without an IPv4 packet either way for that long is ended like an
   * admin disconnect (the IKE SA's Delete), with the reason PPP gives, `idle timeout`.
   * RADIUS's Session-Timeout ends it the same way that long after it came up, with
   * `session timeout` (accounting's Acct-Terminate-Cause Session-Timeout).
   */
  private idleCheck(now: number): void {
    let next: number | undefined;
    for (const s of [...this.bySa.values()]) {
      if (s.endReason !== undefined) continue;
      if (s.endAt !== undefined && now >= s.endAt) {
        this.host.sink.log(logEvent('info', 'ikev2.session-timeout', { session: s.rec.id, user: s.rec.user, seconds: (s.endAt - s.rec.started) / 1000 }));
        this.disconnect(s.rec.handle, 'session timeout', now);
        continue;
      }
      const at = s.idleMs > 0 ? s.lastTraffic + s.idleMs : undefined;
      if (at !== undefined && now >= at) {
        this.host.sink.log(logEvent('info', 'ikev2.idle-timeout', { session: s.rec.id, user: s.rec.user, idleSeconds: s.idleMs / 1000 }));
        this.disconnect(s.rec.handle, 'idle timeout', now);
        continue;
      }
      for (const t of [at, s.endAt]) if (t !== undefined && (next === undefined || t < next)) next = t;
    }
    this.idleDue = next;
  }

  /** A tunnel-mode packet one of our children decrypted. */
  fromClient(saId: string, packet: Buffer, now: number): Buffer | undefined {
    const s = this.childOwner.get(saId);
    if (!s) {
      this.host.counters.inc('session.drop.no-ikev2-session');
      return undefined;
    }
    const r = this.host.forwarder.fromClient(s.rec.handle, packet);
    if (!r.ok) {
      const ev = this.host.forwarder.dropEvent(r.reason, s.rec.id, now);
      if (ev) this.host.sink.log(logEvent(r.reason === 'spoofed-source' ? 'warn' : ev.level, ev.event, { ...ev.fields, user: s.rec.user, peer: endpointText(s.peer) }));
      return undefined;
    }
    s.lastIn = now;
    s.lastTraffic = now;
    s.rec.bytesIn += r.packet.length;
    s.rec.packetsIn++;
    return r.packet;
  }

  /** An IPv4 packet from the TUN for this session: out on its newest child. */
  toClient(handle: SessionHandle, packet: Buffer, now?: number): boolean {
    const s = this.byHandle.get(handle);
    if (!s) return false;
    if (now !== undefined && now > s.lastTraffic) s.lastTraffic = now;
    const saId = s.children[s.children.length - 1];
    if (saId === undefined) {
      this.host.counters.inc('session.drop.ikev2-no-child');
      return true;
    }
    if (s.held) {
      // not to an address the client has not shown it can receive at (bounded: the check ends the SA when unanswered)
      this.host.counters.inc('session.drop.ikev2-path-unverified');
      return true;
    }
    s.rec.bytesOut += packet.length;
    s.rec.packetsOut++;
    this.host.send({ saId, innerDstPort: 0, payload: packet });
    return true;
  }

  /** Whether this child SA belongs to an IKEv2 session. */
  ownsChild(saId: string): boolean {
    return this.childOwner.has(saId);
  }

  /** Authenticated ESP of `saId` came from a new endpoint (ESP already sends there): its IKE SA and session follow. */
  espMoved(saId: string, to: Endpoint, now: number): void {
    const s = this.childOwner.get(saId);
    if (!s) return;
    this.apply(this.responder.followPeer(s.ikeSaId, to), now);
    this.due = this.responder.nextDeadline();
  }

  disconnect(handle: SessionHandle, reason: string, now: number): void {
    const s = this.byHandle.get(handle);
    if (!s) return;
    s.endReason = reason;
    const r = this.responder.disconnect(s.ikeSaId, now);
    this.apply(r.outputs, now);
    this.schedule();
  }

  /** Everything still up ends now (server stopping). */
  finish(reason: string, now: number): void {
    for (const s of [...this.bySa.values()]) this.end(s, s.endReason ?? reason, now);
  }

  view(handle: SessionHandle, now: number): { peer: string; ike: string; esp: string | null; idle: number } | undefined {
    const s = this.byHandle.get(handle);
    if (!s) return undefined;
    return { peer: endpointText(s.peer), ike: s.suite, esp: s.transform ?? null, idle: Math.max(0, Math.floor((now - s.lastIn) / 1000)) };
  }

  private apply(outs: Ikev2Output[], now: number): void {
    const h = this.host;
    for (const o of outs) {
      switch (o.type) {
        case 'send':
          h.sendIke(o.from, o.to, o.data);
          break;
        case 'ikev2-sa-init':
          h.sink.log(logEvent('info', 'ikev2.sa.init', { id: o.id, peer: endpointText(o.peer), suite: o.suite, fragmentation: o.fragmentation }));
          break;
        case 'ikev2-sa-up': {
          const known = this.bySa.get(o.id);
          if (known) {
            // an IKE SA rekey keeps the id, the user and the address
            known.peer = { ...o.peer };
            known.suite = o.suite;
            break;
          }
          const rec = h.table.open('ikev2', `${endpointText(o.peer)}/ikev2/${o.id}`, 0, o.peer, now);
          const admitted = h.table.admit(rec.handle, o.user);
          rec.address = o.virtualIp;
          const timers = this.grantedTimers.get(o.id);
          this.grantedTimers.delete(o.id);
          const idleMs = timers?.idleTimeout !== undefined && timers.idleTimeout > 0 ? timers.idleTimeout * 1000 : this.idleMs;
          const endAt = timers?.sessionTimeout !== undefined && timers.sessionTimeout > 0 ? now + timers.sessionTimeout * 1000 : undefined;
          const s: V2Session = { rec, ikeSaId: o.id, children: [], peer: { ...o.peer }, suite: o.suite, transform: undefined, endReason: undefined, lastIn: now, lastTraffic: now, idleMs, endAt, held: false };
          for (const t of [idleMs > 0 ? now + idleMs : undefined, endAt]) if (t !== undefined && (this.idleDue === undefined || t < this.idleDue)) this.idleDue = t;
          this.bySa.set(o.id, s);
          this.byHandle.set(rec.handle, s);
          try {
            h.forwarder.addSession(rec.handle, o.virtualIp);
          } catch (e) {
            h.counters.inc('session.address-conflict');
            h.sink.log(logEvent('error', 'session.address-conflict', { session: rec.id, address: o.virtualIp, error: (e as Error).message }));
            this.disconnect(rec.handle, 'address conflict', now);
            break;
          }
          if (!admitted.ok) {
            this.disconnect(rec.handle, admitted.message, now);
            break;
          }
          for (const c of this.pendingChildren.get(o.id) ?? []) this.childUp(s, c);
          this.pendingChildren.delete(o.id);
          const fields = { user: o.user, address: o.virtualIp, session: rec.id, peer: endpointText(o.peer), kind: 'ikev2' };
          h.sink.log(logEvent('info', 'session.start', fields));
          h.sink.event({ type: 'session.start', fields });
          h.sink.event({ type: 'ike.sa.up', fields: { id: o.id, peer: endpointText(o.peer), algorithms: o.suite } });
          break;
        }
        case 'child-sa-up': {
          const s = this.bySa.get(o.ikeSaId);
          if (!s) {
            const list = this.pendingChildren.get(o.ikeSaId) ?? [];
            list.push(o);
            this.pendingChildren.set(o.ikeSaId, list);
            break;
          }
          this.childUp(s, o);
          break;
        }
        case 'child-sa-down': {
          h.esp.removeSa(o.id);
          const s = this.childOwner.get(o.id);
          this.childOwner.delete(o.id);
          if (s) {
            const i = s.children.indexOf(o.id);
            if (i >= 0) s.children.splice(i, 1);
          }
          h.sink.log(logEvent('info', 'ipsec.sa.down', { id: o.id, reason: o.reason }));
          h.sink.event({ type: 'ipsec.sa.down', fields: { id: o.id, reason: o.reason } });
          break;
        }
        case 'ikev2-sa-moved': {
          // the same session (handle, pool address, counters) at the client's new address
          const s = this.bySa.get(o.id);
          if (!s) break;
          for (const c of s.children) h.esp.moveSa(c, o.peer);
          s.peer = { ...o.peer };
          if (o.by === 'mobike') s.held = !o.verified;
          const fields = { session: s.rec.id, user: s.rec.user, address: s.rec.address, from: endpointText(o.from), to: endpointText(o.peer), by: o.by, verified: o.verified };
          h.counters.inc('session.ikev2.moved');
          h.sink.log(logEvent('info', 'session.moved', fields));
          h.sink.event({ type: 'session.moved', fields });
          break;
        }
        case 'ikev2-path-verified': {
          const s = this.bySa.get(o.id);
          if (!s) break;
          s.held = false;
          h.sink.log(logEvent('info', 'session.path-verified', { session: s.rec.id, peer: endpointText(o.peer) }));
          break;
        }
        case 'ikev2-sa-gone': {
          this.pendingChildren.delete(o.id);
          this.grantedAddress.delete(o.id);
          this.grantedTimers.delete(o.id);
          h.remoteAuth?.endedEap?.(o.id);
          const s = this.bySa.get(o.id);
          if (s) this.end(s, s.endReason ?? `ikev2 ${o.reason}`, now);
          h.sink.event({ type: 'ike.sa.down', fields: { id: o.id, peer: endpointText(o.peer), reason: o.reason } });
          break;
        }
        case 'log':
          h.sink.log(o);
          break;
      }
    }
  }

  private childUp(s: V2Session, o: ChildSaUp): void {
    const h = this.host;
    const refused = h.esp.tryAddSa({ ...o, mode: 'tunnel' });
    for (const e of h.esp.takeEvents()) if (e.type === 'log') h.sink.log(e);
    if (refused !== undefined) return;
    s.children.push(o.id);
    s.transform = o.ikeAlgorithms;
    this.childOwner.set(o.id, s);
    h.sink.log(logEvent('info', 'ipsec.sa.up', { id: o.id, peer: endpointText(o.peer), spiIn: o.inbound.spi.toString(16), spiOut: o.outbound.spi.toString(16), transform: o.ikeAlgorithms, lifetime: o.lifetimeSeconds, mode: 'tunnel' }));
    h.sink.event({ type: 'ipsec.sa.up', fields: { id: o.id, peer: endpointText(o.peer), natT: o.encapsulation === 'udp' } });
  }

  private end(s: V2Session, reason: string, now: number): void {
    const h = this.host;
    this.bySa.delete(s.ikeSaId);
    this.byHandle.delete(s.rec.handle);
    for (const c of s.children) {
      h.esp.removeSa(c);
      this.childOwner.delete(c);
    }
    s.children.length = 0;
    h.forwarder.removeSession(s.rec.handle);
    if (s.rec.address) h.table.pool.release(s.rec.address);
    const entry = h.table.close(s.rec.handle, reason, now);
    if (!entry) return;
    h.sink.log(logEvent('info', 'session.stop', { user: entry.user ?? undefined, address: entry.address, session: entry.session, reason, duration: entry.duration, bytesIn: entry.bytesIn, bytesOut: entry.bytesOut }));
    h.sink.event({ type: 'session.stop', fields: { ...entry } });
    h.sink.ended(entry);
  }
}

function backoffOf(t: AuthBackoff, now: () => number): { blockedFor(n: string, a: string): number; failure(n: string, a: string): void; success(n: string): void } {
  return {
    blockedFor: (n, a) => t.blockedFor(n, a, now()),
    failure: (n, a) => void t.failure(n, a, now()),
    success: (n) => t.success(n),
  };
}
