import type { Counters } from '../core/counters.js';
import { DecodeError } from '../core/errors.js';
import { endpointText, type Endpoint } from '../core/sa.js';
import { NotifyType, ProtocolId } from './wire/constants.js';
import { cookieKey, DPD_RETRY_MS, DPD_TRIES, HALF_OPEN_TIMEOUT_MS, ResponderCore, sameEndpoint } from './core.js';
import { dispatch } from './steps.js';
import { DeadlineQueue } from '../core/heap.js';
import { QM2_RESEND_FIRST_MS, QM2_RESENDS } from './quickmode.js';
import type { IkeSa } from './state.js';
import type { IkeOutput, IkeResponderConfig } from './types.js';

export type { IkeOutput, IkeResponderConfig, IkeSaDown, IkeSaUp, SendOutput } from './types.js';
export { DEFAULT_POLICY, type ProposalPolicy } from './policy.js';


/**
 * IKEv1 responder (RFC 2409): Main Mode with pre-shared keys, Quick Mode for
 * ESP transport of L2TP, Informational (Delete, DPD, INITIAL-CONTACT), NAT-T.
 * Sans-I/O: the caller passes datagrams and the monotonic time in, gets outputs back.
 */
export class IkeResponder {
  private readonly core: ResponderCore;

  constructor(cfg: IkeResponderConfig) {
    this.core = new ResponderCore(cfg);
    const core = this.core;
    this.core.deadlines = new DeadlineQueue<IkeSa>(
      (sa) => this.saDeadline(sa),
      (sa) => core.byId.get(sa.id) === sa,
    );
  }

  /** Main Modes under way (IKE SAs not yet established). */
  get halfOpenCount(): number {
    return this.core.halfOpen;
  }

  /** Re-files the deadlines of the SAs the call in progress touched. */
  private refile(): void {
    const core = this.core;
    const q = core.deadlines!;
    for (const sa of core.touched) if (core.byId.get(sa.id) === sa) q.touch(sa);
    core.touched.length = 0;
  }

  /** msg = one ISAKMP message (marker already stripped); from = peer; to = our address:port it arrived on. Never throws. */
  receive(msg: Uint8Array, from: Endpoint, to: Endpoint, now: number): IkeOutput[] {
    const core = this.core;
    core.out = [];
    core.now = now;
    core.counters.inc('ike.rx');
    if (msg.length > core.maxMessageSize) {
      // Nothing we accept is this large (PSK only, no certificates): drop before parsing or keeping anything.
      core.drop('too-big', now, from, { length: msg.length, max: core.maxMessageSize });
      return core.out;
    }
    try {
      dispatch(core, msg, from, to, now);
    } catch (e) {
      if (e instanceof DecodeError) {
        core.drop(`decode.${e.reason}`, now, from, { error: e.message }, 'ike.parse.dropped');
      } else {
        core.drop('internal-error', now, from, { error: e instanceof Error ? e.message : String(e) }, 'ike.internal.error');
      }
    }
    this.refile();
    return core.out;
  }

  /** Expiry of half-open SAs and Quick Modes, child and IKE SA lifetimes, DPD. Never throws. */
  tick(now: number): IkeOutput[] {
    const core = this.core;
    core.out = [];
    core.now = now;
    try {
      // only the SAs with a deadline due (every other SA's timers would do nothing now)
      const due = core.deadlines!.due(now);
      core.touched.push(...due);
      for (const sa of due) {
        if (core.byId.get(sa.id) !== sa) continue; // removed earlier in this tick
        if (sa.state !== 'ESTABLISHED') {
          if (now - sa.created >= HALF_OPEN_TIMEOUT_MS) {
            core.counters.inc('ike.halfopen.expired');
            core.removeSa(sa, 'half-open timeout');
          }
          continue;
        }
        if (!core.sas.has(cookieKey(sa.ckyI, sa.ckyR))) continue; // removed earlier in this tick (DPD of a related SA)
        for (const [mid, qm] of sa.quickModes) {
          if (now - qm.started >= HALF_OPEN_TIMEOUT_MS) {
            core.counters.inc('ike.qm.expired');
            core.log('info', 'ike.qm.expired', { id: sa.id, messageId: mid });
            core.ourSpis.delete(qm.ourSpi.readUInt32BE(0));
            sa.quickModes.delete(mid);
          } else if (qm.resends < QM2_RESENDS && now >= qm.nextResend) {
            qm.resends += 1;
            qm.nextResend = now + QM2_RESEND_FIRST_MS * 2 ** qm.resends;
            core.counters.inc('ike.retransmit.qm2');
            core.send(sa.local, sa.remote, qm.cache.reply);
          }
        }
        const expired = [...sa.children.values()].filter((c) => c.expiresAt <= now);
        if (expired.length) {
          core.sendDeleteChildren(sa, expired);
          for (const c of expired) core.childDown(sa, c, 'expired');
        }
        if (sa.expiresAt <= now) {
          core.sendDeleteIke(sa);
          core.removeSa(sa, 'expired');
          continue;
        }
        this.dpd(sa, now);
      }
    } catch (e) {
      core.drop('internal-error', now, undefined, { error: e instanceof Error ? e.message : String(e) }, 'ike.internal.error');
    }
    this.refile();
    return core.out;
  }

  /** RFC 3706: R-U-THERE after dpdIdle of silence, retried every 5 s, 5 tries, then the SAs go down. */
  private dpd(sa: IkeSa, now: number): void {
    const core = this.core;
    if (core.dpdIdle <= 0 || !sa.peerDpd) return;
    if (sa.dpd.outstanding !== 0 && sa.lastSeen > sa.dpd.sentAt) {
      // Any authenticated message since the first probe proves the peer alive.
      sa.dpd.outstanding = 0;
      sa.dpd.tries = 0;
    }
    if (sa.dpd.outstanding === 0) {
      const due = sa.lastSeen + core.dpdIdle * 1000;
      if (now < due) {
        sa.dpd.nextProbe = due;
        return;
      }
    } else if (now < sa.dpd.nextProbe) {
      return;
    }
    if (sa.dpd.tries >= DPD_TRIES) {
      core.counters.inc('ike.dpd.dead');
      core.log('warn', 'ike.dpd.dead', { id: sa.id, peer: endpointText(sa.peer), peerId: sa.peerId });
      for (const o of core.related(sa)) if (o !== sa) core.removeSa(o, 'dpd', false);
      core.removeSa(sa, 'dpd', false);
      return;
    }
    sa.dpd.seq = sa.dpd.seq === 0 ? (core.random(4).readUInt32BE(0) & 0x7fffffff) + 1 : sa.dpd.seq + 1;
    if (sa.dpd.outstanding === 0) {
      sa.dpd.outstanding = sa.dpd.seq;
      sa.dpd.sentAt = now;
    }
    sa.dpd.tries += 1;
    sa.dpd.nextProbe = now + DPD_RETRY_MS;
    const seq = Buffer.alloc(4);
    seq.writeUInt32BE(sa.dpd.seq >>> 0);
    core.sendNotify(sa, NotifyType.R_U_THERE, ProtocolId.ISAKMP, Buffer.concat([sa.ckyI, sa.ckyR]), seq);
  }

  /** The earliest time tick() has work: O(log n) per call (a heap of the SAs' deadlines). */
  nextDeadline(): number | undefined {
    return this.core.deadlines!.next();
  }

  /** The same answer by a scan of every SA (tests compare the two). */
  nextDeadlineByScan(): number | undefined {
    let next: number | undefined;
    for (const sa of this.core.sas.values()) {
      const d = this.saDeadline(sa);
      if (d !== undefined && (next === undefined || d < next)) next = d;
    }
    return next;
  }

  /** The earliest time one SA's timers have work (half-open expiry, lifetimes, Quick Mode resends and expiry, DPD). */
  private saDeadline(sa: IkeSa): number {
    if (sa.state !== 'ESTABLISHED') return sa.created + HALF_OPEN_TIMEOUT_MS;
    let next = sa.expiresAt;
    for (const c of sa.children.values()) if (c.expiresAt < next) next = c.expiresAt;
    for (const qm of sa.quickModes.values()) {
      const end = qm.started + HALF_OPEN_TIMEOUT_MS;
      if (end < next) next = end;
      if (qm.resends < QM2_RESENDS && qm.nextResend < next) next = qm.nextResend;
    }
    if (this.core.dpdIdle > 0 && sa.peerDpd) {
      const dpd = sa.dpd.outstanding ? sa.dpd.nextProbe : sa.lastSeen + this.core.dpdIdle * 1000;
      if (dpd < next) next = dpd;
    }
    return next;
  }

  /** Tear down a child SA (e.g. its L2TP tunnel closed or admin disconnect): sends Delete to the peer. */
  deleteChildSa(id: string, now: number): IkeOutput[] {
    const core = this.core;
    core.out = [];
    core.now = now;
    try {
      for (const sa of core.sas.values()) {
        const child = sa.children.get(id);
        if (!child) continue;
        core.sendDeleteChildren(sa, [child]);
        core.childDown(sa, child, 'deleted locally');
        break;
      }
    } catch (e) {
      core.drop('internal-error', now, undefined, { error: e instanceof Error ? e.message : String(e) }, 'ike.internal.error');
    }
    this.refile();
    return core.out;
  }

  /** Graceful shutdown: Delete for every child SA and IKE SA. */
  shutdown(now: number): IkeOutput[] {
    const core = this.core;
    core.out = [];
    core.now = now;
    try {
      for (const sa of [...core.sas.values()]) {
        if (sa.state === 'ESTABLISHED') {
          const children = [...sa.children.values()];
          core.sendDeleteChildren(sa, children);
          for (const c of children) core.childDown(sa, c, 'shutdown');
          core.sendDeleteIke(sa);
        }
        core.removeSa(sa, 'shutdown', false);
      }
    } catch (e) {
      core.drop('internal-error', now, undefined, { error: e instanceof Error ? e.message : String(e) }, 'ike.internal.error');
    }
    this.refile();
    return core.out;
  }

  /**
   * The ESP layer saw the peer's NAT mapping change (an authenticated packet from `to`):
   * IKE messages of the SAs of that peer (DPD, Delete) go there from now on.
   */
  movePeer(peer: Endpoint, to: Endpoint): IkeOutput[] {
    const core = this.core;
    core.out = [];
    for (const sa of core.sas.values()) {
      if (sa.state !== 'ESTABLISHED' || !sameEndpoint(sa.peer, peer) || sameEndpoint(sa.remote, to)) continue;
      core.setRemote(sa, to, 'esp');
    }
    return core.out;
  }

  /** For status: IKE SAs with peer, id, algorithms, established time. */
  list(): Array<{ id: string; peer: Endpoint; peerId: string; algorithms: string; established: number }> {
    return [...this.core.sas.values()]
      .filter((sa) => sa.state === 'ESTABLISHED')
      .map((sa) => ({ id: sa.id, peer: { ...sa.peer }, peerId: sa.peerId, algorithms: sa.choice.label, established: sa.established }));
  }

  /** Counters (drops by reason, retransmissions, ...). */
  get counters(): Counters {
    return this.core.counters;
  }
}
