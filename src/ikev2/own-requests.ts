import { timingSafeEqual } from 'node:crypto';
import { DecodeError } from '../core/errors.js';
import { endpointText, type Endpoint } from '../core/sa.js';
import { encodeEncryptedMessage, openSk } from './crypto/sk.js';
import { childRekeyAnswer, childRekeyRequest } from './rekey-child-ours.js';
import { ourIkeRekeyAnswered, startIkeRekey } from './ike-sa-rekey.js';
import { findSa, NONCE_BYTES, u32, type ResponderCore } from './responder-core.js';
import { ExchangeType, HeaderFlag, NotifyType, PayloadType, ProtocolId } from './wire/constants.js';
import type { IkeHeader } from './wire/header.js';
import { allPayloads, decodeMessage, decodePayloadChain, type Payload, type PayloadChain } from './wire/message.js';
import { notify } from './wire/notify.js';
import type { Ikev2Child, Ikev2Sa, OwnRequest } from './types.js';

/**
 * Our own requests to the client (window size 1, §2.3): liveness checks (DPD), the
 * Delete of the IKE SA (`disconnect`) and of a child our rekey replaced, our rekey of
 * a child SA or of the IKE SA (CREATE_CHILD_SA), MOBIKE return routability checks (RFC 4555 §3.5);
 * their retransmission, their answers and the timers that start them.
 */

/** Our requests (liveness, Delete) are sent again every 5 s, 5 times, then the peer counts as gone (strongSwan: 5 tries). */
export const RETRANSMIT_MS = 5_000;
export const RETRANSMIT_TRIES = 5;
/** A replaced IKE SA the client does not delete is dropped after this long. */
export const REKEYED_KEEP_MS = 60_000;
export const HALF_OPEN_TIMEOUT_MS = 30_000;

/** Sends one of our requests (window size 1): INFORMATIONAL, or CREATE_CHILD_SA for a rekey of ours. */
export function request(c: ResponderCore, sa: Ikev2Sa, kind: OwnRequest['kind'], payloads: Payload[], now: number, extra: Pick<OwnRequest, 'rekey' | 'child' | 'cookie2' | 'ikeRekey'> = {}): void {
  const messageId = sa.nextOwnId;
  sa.nextOwnId = (sa.nextOwnId + 1) >>> 0;
  const exchangeType = kind === 'rekey-child' || kind === 'rekey-ike' ? ExchangeType.CREATE_CHILD_SA : ExchangeType.INFORMATIONAL;
  // §3.1: the responder of the IKE SA sends requests with the I flag clear and R clear; after a rekey of ours we are its initiator
  const flags = sa.weInitiated ? HeaderFlag.INITIATOR : 0;
  const datagrams = [encodeEncryptedMessage({ spiI: sa.spiI, spiR: sa.spiR, exchangeType, flags, messageId }, payloads, sa.sk, sa.skOut, c.random)];
  sa.ownRequest = { kind, messageId, datagrams, sentAt: now, tries: 1, ...extra };
  c.counters.inc(`ikev2.request.${kind}`);
  for (const d of datagrams) c.send(sa.local, sa.peer, d);
}

/**
 * Ends an established IKE SA (the `disconnect` command): its children go down at
 * once, the client is sent an INFORMATIONAL Delete, retransmitted until it answers
 * or the tries run out. False when there is no such SA.
 */
export function disconnectSa(c: ResponderCore, id: string, now: number): boolean {
  const sa = [...c.sas.values()].find((x) => x.id === id && x.state !== 'REKEYED');
  if (!sa) return false;
  if (sa.state !== 'ESTABLISHED') {
    c.removeSa(sa, 'disconnected');
    return true;
  }
  for (const ch of [...sa.children.values()]) c.childDown(sa, ch, 'disconnected');
  sa.state = 'DELETING';
  sa.ownRequest = undefined;
  request(c, sa, 'delete', [{ type: PayloadType.D, value: { protocolId: ProtocolId.IKE, spiSize: 0, spis: [] } }], now);
  return true;
}

/** A response to one of our requests: checked, then the request is done. */
export function ownResponse(c: ResponderCore, msg: Uint8Array, h: IkeHeader, from: Endpoint, now: number): void {
  const sa = findSa(c.sas, h);
  if (!sa) return c.drop('unknown-spi', now, from);
  const req = sa.ownRequest;
  const exchange = req?.kind === 'rekey-child' || req?.kind === 'rekey-ike' ? ExchangeType.CREATE_CHILD_SA : ExchangeType.INFORMATIONAL;
  if (!req || h.messageId !== req.messageId || h.exchangeType !== exchange) return c.drop('unexpected-response', now, from, { id: sa.id, messageId: h.messageId });
  const { chain } = decodeMessage(msg);
  const plain = chain.sk ? openSk(sa.sk, sa.skIn, msg, chain.sk) : undefined;
  if (!chain.sk || !plain) return c.drop('integrity', now, from, { id: sa.id });
  if (req.kind === 'check' && !checkAnswered(c, sa, req.cookie2, plain, chain.sk.firstInner, now, from)) return;
  sa.ownRequest = undefined;
  sa.lastSeen = now;
  if (req.kind === 'delete') return c.removeSa(sa, sa.state === 'REKEYED' ? 'rekeyed' : 'disconnected');
  if (req.kind === 'delete-child') {
    if (req.child && sa.children.get(req.child.ourSpi) === req.child) c.childDown(sa, req.child, 'rekeyed');
  } else if ((req.kind === 'rekey-child' && req.rekey) || (req.kind === 'rekey-ike' && req.ikeRekey)) {
    let inner: PayloadChain | undefined;
    try {
      inner = decodePayloadChain(chain.sk.firstInner, plain, 0, plain.length, false);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
    }
    if (req.rekey) ourRekeyAnswered(c, sa, req.rekey, inner, now);
    else if (req.ikeRekey) return ourIkeRekeyAnswered(c, sa, req.ikeRekey, inner, now);
  } else if (req.kind === 'dpd') c.counters.inc('ikev2.dpd.answered');
  startCheck(c, sa, now);
}

/**
 * The answer to a return routability check (RFC 4555 §3.7) must carry our COOKIE2
 * back; an authenticated answer that does not closes the IKE SA (§3.7: MUST). The
 * path counts as verified when the check was for the address the SA is at now; else
 * (the client moved again while it was out, so the answer does not tell which address
 * works) a new check follows.
 */
function checkAnswered(c: ResponderCore, sa: Ikev2Sa, cookie: Buffer | undefined, plain: Buffer, firstInner: number, now: number, from: Endpoint): boolean {
  let echoed: Buffer | undefined;
  try {
    echoed = allPayloads(decodePayloadChain(firstInner, plain, 0, plain.length, false), PayloadType.N).find((n) => n.type === NotifyType.COOKIE2)?.data;
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
  }
  if (!cookie || !echoed || echoed.length !== cookie.length || !timingSafeEqual(echoed, cookie)) {
    c.drop('cookie2-mismatch', now, from, { id: sa.id });
    sa.ownRequest = undefined;
    c.removeSa(sa, 'COOKIE2 mismatch in the answer to the return routability check');
    return false;
  }
  c.counters.inc('ikev2.mobike.check.answered');
  const pc = sa.pathCheck;
  if (pc && pc.cookie.equals(cookie)) {
    sa.pathCheck = undefined;
    c.log('info', 'ikev2.mobike.path-verified', { id: sa.id, peer: endpointText(pc.peer) });
    c.out.push({ type: 'ikev2-path-verified', id: sa.id, peer: { ...pc.peer } });
  }
  return true;
}

/** Sends the pending return routability check, unless one of our requests is still out (window size 1). */
export function startCheck(c: ResponderCore, sa: Ikev2Sa, now: number): void {
  const pc = sa.pathCheck;
  if (!pc || sa.ownRequest || sa.state !== 'ESTABLISHED') return;
  c.counters.inc('ikev2.mobike.check.sent');
  request(c, sa, 'check', [{ type: PayloadType.N, value: notify(NotifyType.COOKIE2, pc.cookie) }], now, { cookie2: pc.cookie });
}

/**
 * The client answered our CREATE_CHILD_SA: the new child goes to ESP and we delete the
 * old one (§2.8). If the client rekeyed the same child meanwhile (a collision, §2.8.1),
 * ours is the redundant one: it is not installed and its Delete is sent instead. A
 * refusal leaves the old child alone, to be tried again one rekey period later.
 */
function ourRekeyAnswered(c: ResponderCore, sa: Ikev2Sa, r: NonNullable<OwnRequest['rekey']>, inner: PayloadChain | undefined, now: number): void {
  if (!c.authCfg || !inner) {
    c.ourSpis.delete(r.ourSpi);
    c.counters.inc('ikev2.child.rekey-failed');
    c.log('warn', 'ikev2.child.rekey-failed', { ikeSa: sa.id, old: r.old.id, reason: 'malformed answer' });
    r.old.created = now;
    return;
  }
  const res = childRekeyAnswer(c.authCfg, sa, r, inner);
  if (!res.ok) {
    c.ourSpis.delete(r.ourSpi);
    c.counters.inc('ikev2.child.rekey-failed');
    c.log('warn', 'ikev2.child.rekey-failed', { ikeSa: sa.id, old: r.old.id, reason: res.reason });
    r.old.created = now;
    return;
  }
  if (r.old.rekeyed || sa.children.get(r.old.ourSpi) !== r.old) {
    c.counters.inc('ikev2.child.rekey-collision');
    c.log('info', 'ikev2.child.rekey-collision', { ikeSa: sa.id, old: r.old.id, redundant: res.child.id });
    c.ourSpis.delete(r.ourSpi);
    return request(c, sa, 'delete-child', [{ type: PayloadType.D, value: { protocolId: ProtocolId.ESP, spiSize: 4, spis: [u32(r.ourSpi)] } }], now);
  }
  r.old.rekeyed = true;
  const ch = res.child;
  sa.children.set(ch.inbound.spi, { id: ch.id, ourSpi: ch.inbound.spi, peerSpi: ch.outbound.spi, transform: ch.transform, created: now });
  c.counters.inc('ikev2.child.rekeyed');
  c.log('info', 'ikev2.child.rekeyed', { id: ch.id, ikeSa: sa.id, old: r.old.id, algorithms: ch.ikeAlgorithms, by: 'server' });
  c.out.push(ch);
  request(c, sa, 'delete-child', [{ type: PayloadType.D, value: { protocolId: ProtocolId.ESP, spiSize: 4, spis: [u32(r.old.ourSpi)] } }], now, { child: r.old });
}

/** A child of an established SA due for a rekey of ours (the client has not rekeyed it). */
function childDue(c: ResponderCore, sa: Ikev2Sa): Ikev2Child | undefined {
  if (c.childRekeyMs <= 0 || sa.state !== 'ESTABLISHED') return undefined;
  let due: Ikev2Child | undefined;
  for (const ch of sa.children.values()) if (!ch.rekeyed && ch.created !== undefined && ch.transform && (!due || ch.created < due.created!)) due = ch;
  return due;
}

function startChildRekey(c: ResponderCore, sa: Ikev2Sa, old: Ikev2Child, now: number): void {
  const cfg = c.authCfg;
  const ourSpi = c.newSpi();
  const ni = c.random(NONCE_BYTES);
  const payloads = cfg ? childRekeyRequest(cfg, sa, old, ourSpi, ni) : undefined;
  if (!payloads) {
    c.ourSpis.delete(ourSpi);
    old.rekeyed = true; // nothing we could propose: left to the client
    return;
  }
  c.counters.inc('ikev2.child.rekey-started');
  c.log('info', 'ikev2.child.rekey-started', { ikeSa: sa.id, old: old.id });
  request(c, sa, 'rekey-child', payloads, now, { rekey: { old, ourSpi, ni } });
}

/** One SA's timers: retransmission of our request, expiry of half-open and replaced SAs, our rekeys, liveness checks. */
export function tickSa(c: ResponderCore, sa: Ikev2Sa, now: number): void {
  const req = sa.ownRequest;
  if (req) {
    if (now - req.sentAt < RETRANSMIT_MS) return;
    if (req.tries >= RETRANSMIT_TRIES) {
      const why =
        req.kind === 'delete'
          ? 'disconnected (Delete not answered)'
          : req.kind === 'dpd'
            ? 'peer not answering (DPD)'
            : req.kind === 'check'
              ? 'peer not answering at its new address (return routability check)'
              : `peer not answering (${req.kind})`;
      c.counters.inc(req.kind === 'delete' ? 'ikev2.delete.unanswered' : req.kind === 'check' ? 'ikev2.mobike.check.failed' : 'ikev2.dpd.dead');
      c.removeSa(sa, why);
      return;
    }
    req.tries++;
    req.sentAt = now;
    c.counters.inc('ikev2.request.retransmit');
    for (const d of req.datagrams) c.send(sa.local, sa.peer, d);
    return;
  }
  if (sa.state === 'REKEYED') {
    if (now - (sa.rekeyedAt ?? now) >= REKEYED_KEEP_MS) c.removeSa(sa, 'rekeyed, not deleted by the peer');
  } else if (sa.state === 'INIT_DONE' || sa.state === 'AUTH') {
    if (now - sa.created >= HALF_OPEN_TIMEOUT_MS) {
      c.counters.inc('ikev2.halfopen.expired');
      c.removeSa(sa, 'half-open timeout');
    }
  } else if (sa.state === 'ESTABLISHED' && sa.pathCheck) {
    startCheck(c, sa, now);
  } else if (sa.state === 'ESTABLISHED' && sa.rekeyAt !== undefined && now >= sa.rekeyAt) {
    startIkeRekey(c, sa, now);
  } else if (sa.state === 'ESTABLISHED') {
    const due = childDue(c, sa);
    if (due && now - due.created! >= c.childRekeyMs) startChildRekey(c, sa, due, now);
    else if (c.dpdIdleMs > 0 && now - sa.lastSeen >= c.dpdIdleMs) request(c, sa, 'dpd', [], now);
  }
}

/** When one SA's timers run out next (undefined: nothing pending). */
export function saDeadline(c: ResponderCore, sa: Ikev2Sa): number | undefined {
  if (sa.ownRequest) return sa.ownRequest.sentAt + RETRANSMIT_MS;
  if (sa.state === 'REKEYED') return (sa.rekeyedAt ?? 0) + REKEYED_KEEP_MS;
  if (sa.state === 'INIT_DONE' || sa.state === 'AUTH') return sa.created + HALF_OPEN_TIMEOUT_MS;
  if (sa.state === 'ESTABLISHED' && sa.pathCheck) return 0;
  if (sa.state !== 'ESTABLISHED') return undefined;
  let d: number | undefined;
  if (c.dpdIdleMs > 0) d = sa.lastSeen + c.dpdIdleMs;
  if (sa.rekeyAt !== undefined) d = Math.min(d ?? Infinity, sa.rekeyAt);
  const due = childDue(c, sa);
  if (due) d = Math.min(d ?? Infinity, due.created! + c.childRekeyMs);
  return d;
}
