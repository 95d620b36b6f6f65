import { IKEV2_DH_GROUPS, generateKeyPair } from './crypto/dh.js';
import { skKeys } from './crypto/sk.js';
import { FragmentReassembler } from './fragments.js';
import { suiteLabel, type IkeSuite } from './policy.js';
import { request } from './own-requests.js';
import { ikeRekeyAnswer, ikeRekeyRequest, type IkeRekeyAnswer, oursRedundant, rekeyIke, type OurIkeRekey } from './rekey-ike.js';
import { NONCE_BYTES, ourSpiHex, type ResponderCore } from './responder-core.js';
import { NotifyType, PayloadType, ProtocolId } from './wire/constants.js';
import type { IkeHeader } from './wire/header.js';
import type { PayloadChain } from './wire/message.js';
import type { IkeKeys } from './crypto/keys.js';
import type { Ikev2Sa } from './types.js';

/**
 * IKE SA rekeys on the responder's state (RFC 7296 §1.3.2, §2.18), either side's: the
 * new SA takes the old one's id, user, address and children; the old one stays
 * REKEYED until the rekey's initiator deletes it. The exchanges themselves are in
 * rekey-ike.ts.
 */

/** A rekey of ours refused with TEMPORARY_FAILURE is tried again this much later (§2.25). */
export const IKE_REKEY_RETRY_MS = 10_000;

/**
 * When we rekey `sa` if the client has not: `ikeRekey` after now, less up to a tenth
 * of it at random (so that many SAs made at once are not rekeyed at once).
 */
export function scheduleIkeRekey(c: ResponderCore, sa: Ikev2Sa, now: number, after = c.ikeRekeyMs): void {
  if (c.ikeRekeyMs <= 0) {
    delete sa.rekeyAt;
    return;
  }
  const jitter = Math.floor((after * c.random(2).readUInt16BE(0)) / 65536 / 10);
  sa.rekeyAt = now + after - jitter;
}

const DELETE_IKE = [{ type: PayloadType.D, value: { protocolId: ProtocolId.IKE, spiSize: 0, spis: [] } }];

/** The successor of `sa`: same id, user, address, settings; new SPIs, keys and Message IDs; no children yet. */
function successor(sa: Ikev2Sa, n: { suite: IkeSuite; keys: IkeKeys; spiI: Buffer; spiR: Buffer; ni: Buffer; nr: Buffer }, weInitiated: boolean, now: number): Ikev2Sa {
  const sk = { encr: n.suite.encr, integ: n.suite.integ };
  const initiatorKeys = skKeys(sk, n.keys.skEi, n.suite.integ ? n.keys.skAi : undefined);
  const responderKeys = skKeys(sk, n.keys.skEr, n.suite.integ ? n.keys.skAr : undefined);
  const next: Ikev2Sa = {
    ...sa,
    state: 'ESTABLISHED',
    spiI: n.spiI,
    spiR: n.spiR,
    created: now,
    suite: n.suite,
    keys: n.keys,
    ni: n.ni,
    nr: n.nr,
    nextRequestId: 0,
    nextOwnId: 0,
    sk,
    // what the IKE SA's initiator sends is under SK_ei/SK_ai (§2.14)
    skIn: weInitiated ? responderKeys : initiatorKeys,
    skOut: weInitiated ? initiatorKeys : responderKeys,
    reassembler: new FragmentReassembler(),
    children: new Map(),
    lastSeen: now,
  };
  if (weInitiated) next.weInitiated = true;
  else delete next.weInitiated;
  delete next.lastResponse;
  delete next.ownRequest;
  delete next.auth;
  delete next.firstFragment;
  delete next.rekeyedAt;
  delete next.successor;
  delete next.collidesWith;
  return next;
}

/** `from`'s children and open requests go; it waits REKEYED for its Delete (ours or the client's). */
function retire(c: ResponderCore, from: Ikev2Sa, to: Ikev2Sa, now: number): void {
  for (const [k, ch] of from.children) to.children.set(k, ch);
  from.children = new Map();
  if (from.ownRequest?.rekey) c.ourSpis.delete(from.ownRequest.rekey.ourSpi); // our child rekey there is moot
  if (from.ownRequest?.kind !== 'rekey-ike') from.ownRequest = undefined; // so is a liveness check
  from.state = 'REKEYED';
  from.rekeyedAt = now;
}

/**
 * IKE SA rekey by the client: a new SA under the same id takes the children,
 * user and address; the old one stays REKEYED until the client deletes it (or a
 * minute passes), and its end is nobody's business but the log's. When our own rekey
 * of that SA is still out, its answer decides which new SA stays (§2.8.1).
 */
export function peerRekeysIke(c: ResponderCore, sa: Ikev2Sa, h: IkeHeader, req: Buffer, inner: PayloadChain, now: number): void {
  const res = rekeyIke(c.policy, sa, inner, c.random, () => c.newIkeSpi());
  c.answer(sa, h, req, { payloads: res.payloads });
  const n = res.next;
  if (!n) return;
  const next = successor(sa, n, false, now);
  scheduleIkeRekey(c, next, now);
  retire(c, sa, next, now);
  if (sa.ownRequest?.kind === 'rekey-ike') {
    sa.successor = next;
    next.collidesWith = sa;
  }
  c.sas.set(ourSpiHex(next), next);
  c.counters.inc('ikev2.ike.rekeyed');
  c.log('info', 'ikev2.ike.rekeyed', { id: sa.id, suite: suiteLabel(n.suite) });
}

/** Starts our rekey of an established SA: CREATE_CHILD_SA {SA, Ni, KEi} with the current suite (or the group the client asked for). */
export function startIkeRekey(c: ResponderCore, sa: Ikev2Sa, now: number, group?: number): void {
  const suite: IkeSuite = group !== undefined ? { ...sa.suite, dh: IKEV2_DH_GROUPS[group]! } : sa.suite;
  const r: OurIkeRekey = { suite, ourSpi: c.newIkeSpi(), ni: c.random(NONCE_BYTES), dh: generateKeyPair(suite.dh, c.random) };
  delete sa.rekeyAt;
  c.counters.inc('ikev2.ike.rekey-started');
  c.log('info', 'ikev2.ike.rekey-started', { id: sa.id, suite: suiteLabel(suite) });
  request(c, sa, 'rekey-ike', ikeRekeyRequest(r), now, { ikeRekey: r });
}

/**
 * The client answered our IKE SA rekey. Taken: the new SA (we its initiator) gets the
 * children and we delete the old one. If the client rekeyed the same SA meanwhile, the
 * lowest nonce decides (§2.8.1): our new SA is deleted by us when it is the redundant
 * one, else the client's new SA hands its children over and the client deletes it.
 * Refused: INVALID_KE_PAYLOAD is tried again at once with the group asked for (when
 * the policy allows it), TEMPORARY_FAILURE a little later, anything else one rekey
 * period later.
 */
export function ourIkeRekeyAnswered(c: ResponderCore, sa: Ikev2Sa, r: OurIkeRekey, inner: PayloadChain | undefined, now: number): void {
  const res: IkeRekeyAnswer = inner ? ikeRekeyAnswer(sa, r, inner) : { ok: false, reason: 'malformed answer' };
  if (!res.ok) {
    c.counters.inc('ikev2.ike.rekey-failed');
    c.log('warn', 'ikev2.ike.rekey-failed', { id: sa.id, reason: res.reason });
    if (sa.state !== 'ESTABLISHED') return; // the client's own rekey replaced it meanwhile
    const g = res.group;
    if (res.notify === NotifyType.INVALID_KE_PAYLOAD && g !== undefined && g !== r.suite.dh.id && IKEV2_DH_GROUPS[g] && c.policy.dh.includes(g)) return startIkeRekey(c, sa, now, g);
    return scheduleIkeRekey(c, sa, now, res.notify === NotifyType.TEMPORARY_FAILURE ? IKE_REKEY_RETRY_MS : c.ikeRekeyMs);
  }
  const ours = successor(sa, res.next, true, now);
  const theirs = sa.successor && c.sas.get(ourSpiHex(sa.successor)) === sa.successor ? sa.successor : undefined;
  delete sa.successor;
  if (theirs) delete theirs.collidesWith;
  if (theirs && oursRedundant(r.ni, res.next.nr, theirs.ni, theirs.nr)) {
    c.counters.inc('ikev2.ike.rekey-collision');
    c.log('info', 'ikev2.ike.rekey-collision', { id: sa.id, redundant: 'ours' });
    ours.state = 'REKEYED';
    ours.rekeyedAt = now;
    c.sas.set(ourSpiHex(ours), ours);
    return request(c, ours, 'delete', DELETE_IKE, now);
  }
  if (theirs) {
    c.counters.inc('ikev2.ike.rekey-collision');
    c.log('info', 'ikev2.ike.rekey-collision', { id: sa.id, redundant: 'theirs' });
    retire(c, theirs, ours, now);
  }
  retire(c, sa, ours, now);
  scheduleIkeRekey(c, ours, now);
  c.sas.set(ourSpiHex(ours), ours);
  c.counters.inc('ikev2.ike.rekeyed');
  c.log('info', 'ikev2.ike.rekeyed', { id: sa.id, suite: suiteLabel(ours.suite), by: 'server' });
  request(c, sa, 'delete', DELETE_IKE, now);
}

/**
 * The client deletes an SA it made by rekeying while our rekey of the same SA was out
 * (it found its own redundant, §2.8.1, before our answer reached us): the children go
 * back to the old SA, for our new SA to take when the answer comes.
 */
export function collisionLoserDeleted(c: ResponderCore, sa: Ikev2Sa, now: number): void {
  const old = sa.collidesWith;
  if (!old || old.ownRequest?.kind !== 'rekey-ike' || c.sas.get(ourSpiHex(old)) !== old) return;
  for (const [k, ch] of sa.children) old.children.set(k, ch);
  sa.children = new Map();
  sa.state = 'REKEYED';
  sa.rekeyedAt = now;
  delete old.successor;
  delete sa.collidesWith;
}
