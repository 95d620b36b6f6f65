import { DecodeError } from '../core/errors.js';
import { endpointText } from '../core/sa.js';
import { Flags, NotifyType, ProtocolId, nameOf, notifyTypeNames, protocolIdNames } from './wire/constants.js';
import { decodeMessage } from './wire/message.js';
import { phase2Iv, qmHash1 } from './crypto/keys.js';
import { cookieKey, type ResponderCore } from './core.js';
import { readPhase2, type StepContext, type StepFns, type StepRead, type StepState } from './exchange.js';
import type { ChildSa, IkeSa } from './state.js';

/** Informational exchange (RFC 2409 §5.7): notifications, Delete (RFC 2408 §3.15), DPD (RFC 3706). */

/**
 * INITIAL-CONTACT (RFC 2407 §4.6.3.3): removes the older SAs of the same identity
 * AND the same outer address:port, never those of another client behind the same NAT.
 */
export function handleInitialContact(core: ResponderCore, sa: IkeSa, now: number): void {
  let removed = 0;
  for (const old of core.related(sa)) {
    if (old === sa || old.established > sa.established) continue;
    core.removeSa(old, 'initial-contact', false);
    removed++;
  }
  core.log('info', 'ike.initial-contact', { id: sa.id, peer: endpointText(sa.peer), peerId: sa.peerId, removed, at: now });
}

/**
 * Which Informational step a message is: 'ESTABLISHED' for an encrypted one
 * of an established SA; undefined when dropped. A peer's plaintext error
 * notify during Main Mode is logged (rate-limited) and counted, nothing else:
 * it is unauthenticated.
 */
export function informationalState(c: StepContext): StepState | undefined {
  const sa = c.ike;
  if (!(c.header.flags & Flags.ENCRYPTION)) {
    if (sa.state === 'ESTABLISHED') return void c.drop('informational-unencrypted', { id: sa.id });
    try {
      const { payloads } = decodeMessage(c.msg);
      for (const n of payloads.notifies) c.core.logLimited('warn', 'ike.notify.unauthenticated', c.now, c.from, { id: sa.id, notify: nameOf(notifyTypeNames, n.notifyType) });
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
    }
    c.core.drops.count('informational-before-phase1');
    return undefined;
  }
  if (sa.state !== 'ESTABLISHED' || !sa.keys) return void c.drop('informational-before-phase1', { id: sa.id });
  return 'ESTABLISHED';
}

/** Informational of an established SA: HDR*, HASH(1), N/D... (RFC 2409 §5.7). */
export const informational: StepFns = {
  guard(c) {
    const sa = c.ike;
    const mid = c.header.messageId;
    if (c.from.address !== sa.peer.address && c.from.address !== sa.remote.address) return c.drop('informational-wrong-peer');
    if (mid === 0) return c.drop('informational-message-id-zero');
    // A message ID is used once per SA (RFC 2408 §3.1): a replayed R-U-THERE or Delete is dropped
    // before it is answered or can move the peer. (A Quick Mode's ID is taken as well.)
    if (sa.usedMessageIds.has(mid) || sa.quickModes.has(mid)) return c.drop('informational-replay', { id: sa.id });
    return false;
  },
  read(c) {
    const sa = c.ike;
    const h = sa.choice.hash.name;
    const mid = c.header.messageId;
    return readPhase2(c, 'informational', phase2Iv(h, sa.iv, mid, sa.choice.cipher.blockSize), (p) => qmHash1(h, sa.keys!.skeyidA, mid, p.afterFirst));
  },
  handler: handleInformational,
};

function handleInformational(c: StepContext, read: StepRead): void {
  const { core, header, from, to, now } = c;
  const sa = c.ike;
  const p = read.payloads;
  // Authenticated and fresh: only now does it count as a sign of life and may move the peer.
  core.useMessageId(sa, header.messageId);
  sa.lastSeen = now;
  sa.cache = undefined; // see MM6_CACHE_NOTE in state.ts
  core.followPeer(sa, from, to);
  const spi16 = Buffer.concat([sa.ckyI, sa.ckyR]);
  for (const n of p.notifies) {
    switch (n.notifyType) {
      case NotifyType.R_U_THERE: {
        if (n.data.length !== 4 || !n.spi.equals(spi16)) {
          core.drop('dpd-malformed', now, from, { id: sa.id });
          break;
        }
        core.sendNotify(sa, NotifyType.R_U_THERE_ACK, ProtocolId.ISAKMP, spi16, n.data);
        break;
      }
      case NotifyType.R_U_THERE_ACK: {
        const seq = n.data.length === 4 ? n.data.readUInt32BE(0) : -1;
        if (n.spi.equals(spi16) && sa.dpd.outstanding !== 0 && seq <= sa.dpd.seq && seq >= sa.dpd.outstanding) {
          sa.dpd.outstanding = 0;
          sa.dpd.tries = 0;
          sa.dpd.nextProbe = now + core.dpdIdle * 1000;
        } else {
          core.drop('dpd-ack-unexpected', now, from, { id: sa.id, seq });
        }
        break;
      }
      case NotifyType.INITIAL_CONTACT:
        handleInitialContact(core, sa, now);
        break;
      default:
        if (n.notifyType < 16384 && n.spi.length === 4) {
          // An error about a Quick Mode in progress (e.g. the peer could not install the SA): abort it.
          for (const [mid, qm] of sa.quickModes) {
            if ((n.spi.equals(qm.peerSpi) || n.spi.equals(qm.ourSpi))) {
              sa.quickModes.delete(mid);
              core.ourSpis.delete(qm.ourSpi.readUInt32BE(0));
              core.log('warn', 'ike.qm.failed', { id: sa.id, messageId: mid, notify: nameOf(notifyTypeNames, n.notifyType) });
            }
          }
        }
        core.log(n.notifyType < 16384 ? 'warn' : 'info', 'ike.notify.received', { id: sa.id, peer: endpointText(from), notify: nameOf(notifyTypeNames, n.notifyType), protocol: nameOf(protocolIdNames, n.protocolId) });
    }
  }
  for (const d of p.deletes) {
    if (!core.sas.has(cookieKey(sa.ckyI, sa.ckyR))) break; // this SA was deleted by an earlier payload
    if (d.spis.length > core.maxDeleteSpis) {
      // RFC 2408 §3.15 allows many SPIs; nobody sends more than a few: the payload is ignored whole.
      core.drop('delete-too-many-spis', now, from, { id: sa.id, spis: d.spis.length, max: core.maxDeleteSpis });
      continue;
    }
    // The SAs this peer may delete: computed once per payload, not per SPI.
    const mine = new Set(core.related(sa));
    if (d.protocolId === ProtocolId.ISAKMP && d.spiSize === 16) {
      for (const spi of d.spis) {
        const target = core.sas.get(cookieKey(spi.subarray(0, 8), spi.subarray(8, 16)));
        if (!target || !mine.has(target) || !core.sas.has(cookieKey(target.ckyI, target.ckyR))) {
          core.drop('delete-foreign-ike-sa', now, from, { id: sa.id });
          continue;
        }
        core.log('info', 'ike.delete.received', { id: sa.id, deleted: target.id, protocol: 'ISAKMP' });
        core.removeSa(target, 'deleted by peer');
      }
    } else if ((d.protocolId === ProtocolId.IPSEC_ESP || d.protocolId === ProtocolId.IPSEC_AH) && d.spiSize === 4) {
      for (const spi of d.spis) {
        const v = spi.readUInt32BE(0);
        // The sender names its inbound SPI (our outbound); accept ours too. Children are indexed by both.
        let found: { owner: IkeSa; child: ChildSa } | undefined;
        for (const c of core.childrenByPeerSpi.get(v) ?? []) {
          const owner = core.byId.get(c.ikeSaId);
          if (owner && mine.has(owner) && owner.children.get(c.id) === c) {
            found = { owner, child: c };
            break;
          }
        }
        if (!found) {
          const c = core.childByOurSpi.get(v);
          const owner = c ? core.byId.get(c.ikeSaId) : undefined;
          if (c && owner && mine.has(owner) && owner.children.get(c.id) === c) found = { owner, child: c };
        }
        if (!found) {
          core.drop('delete-unknown-spi', now, from, { id: sa.id, spi: v.toString(16) });
          continue;
        }
        core.log('info', 'ike.delete.received', { id: sa.id, deleted: found.child.id, protocol: 'ESP', spi: v.toString(16) });
        core.childDown(found.owner, found.child, 'deleted by peer');
      }
    } else {
      core.drop('delete-malformed', now, from, { id: sa.id, protocol: d.protocolId, spiSize: d.spiSize });
    }
  }
}
