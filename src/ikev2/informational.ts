import { endpointText, type Endpoint } from '../core/sa.js';
import { collisionLoserDeleted } from './ike-sa-rekey.js';
import { MAX_PEER_ADDRESSES, mobikeAnswer, readMobike } from './mobike.js';
import type { NatResult } from './natd.js';
import { startCheck } from './own-requests.js';
import { notifyNamesLower, u32, type ResponderCore } from './responder-core.js';
import { PayloadType, ProtocolId, isErrorNotify, nameOf } from './wire/constants.js';
import type { IkeHeader } from './wire/header.js';
import { allPayloads, type Payload, type PayloadChain } from './wire/message.js';
import type { Ikev2Output, Ikev2Sa } from './types.js';

/**
 * INFORMATIONAL request of the client (§1.4): an empty one is a liveness check
 * and gets an empty answer; Delete of the IKE SA ends it with all its children;
 * Delete of ESP SPIs (theirs) is answered with Delete of ours for the same pairs
 * (§1.4.1); SPIs we do not know are ignored. Notifies need no answer of their own.
 */
export function informational(c: ResponderCore, sa: Ikev2Sa, h: IkeHeader, request: Buffer, inner: PayloadChain, from: Endpoint, to: Endpoint, now: number): void {
  const deletes = allPayloads(inner, PayloadType.D);
  if (deletes.some((d) => d.protocolId === ProtocolId.IKE)) {
    c.counters.inc('ikev2.delete.ike');
    c.answer(sa, h, request, { payloads: [] });
    if (sa.collidesWith) collisionLoserDeleted(c, sa, now);
    return c.removeSa(sa, sa.state === 'REKEYED' ? 'rekeyed' : 'deleted by the peer');
  }
  const ours: Buffer[] = [];
  for (const d of deletes) {
    if (d.protocolId !== ProtocolId.ESP) continue;
    for (const spi of d.spis) {
      const peerSpi = spi.readUInt32BE(0);
      const child = [...sa.children.values()].find((x) => x.peerSpi === peerSpi);
      if (!child) continue;
      ours.push(u32(child.ourSpi));
      c.childDown(sa, child, 'deleted by the peer');
    }
  }
  if (deletes.length) c.counters.inc('ikev2.delete.child');
  else c.counters.inc('ikev2.liveness');
  const payloads: Payload[] = ours.length ? [{ type: PayloadType.D, value: { protocolId: ProtocolId.ESP, spiSize: 4, spis: ours } }] : [];
  const m = readMobike(allPayloads(inner, PayloadType.N));
  const negotiated = sa.mobike === true && sa.state === 'ESTABLISHED';
  for (const r of m.malformed) c.counters.inc(`ikev2.mobike.malformed.${r}`);
  if (m.update && !negotiated) c.counters.inc('ikev2.mobike.not-negotiated');
  const d = mobikeAnswer(sa.spiI, sa.spiR, negotiated, m, from, to, c.forceEncapsulation, c.random);
  payloads.push(...d.payloads);
  if (negotiated && (m.additional || m.noAdditional)) {
    // RFC 4555 §3.6: the client's address list, replaced as a whole; we never pick a path ourselves (the initiator decides, §3.5)
    sa.peerAddresses = (m.additional ?? []).slice(0, MAX_PEER_ADDRESSES);
    c.counters.inc('ikev2.mobike.addresses');
  }
  if (d.refused) {
    c.counters.inc('ikev2.mobike.update.refused');
    c.log('warn', 'ikev2.mobike.update.refused', { id: sa.id, peer: endpointText(from), reason: d.refused });
  }
  c.answer(sa, h, request, { payloads });
  if (d.move) mobikeMove(c, sa, from, to, d.nat, now);
}

/**
 * UPDATE_SA_ADDRESSES (RFC 4555 §3.5), taken: the IKE SA and its children use the
 * request's path from now on. A new address is not yet proven to reach the client
 * (the update could be replayed from anywhere by whoever holds the keys... or
 * reflect bulk data at a victim), so a return routability check with COOKIE2 goes
 * there and the children hold bulk data until it is answered (bounded: the check is
 * retransmitted like DPD, and an unanswered one ends the SA).
 */
function mobikeMove(c: ResponderCore, sa: Ikev2Sa, from: Endpoint, to: Endpoint, nat: NatResult | undefined, now: number): void {
  c.counters.inc('ikev2.mobike.update');
  const old = sa.peer;
  const moved = from.address !== old.address || from.port !== old.port || to.address !== sa.local.address || to.port !== sa.local.port;
  if (nat) sa.nat = c.forceEncapsulation ? { ...nat, weBehindNat: true } : nat;
  c.log('info', 'ikev2.mobike.update', { id: sa.id, from: endpointText(old), to: endpointText(from), local: endpointText(to), moved, natPeer: nat?.peerBehindNat });
  if (!moved) return;
  sa.peer = { ...from };
  sa.local = { ...to };
  const cookie = c.random(16);
  sa.pathCheck = { cookie, peer: { ...from } };
  c.out.push({ type: 'ikev2-sa-moved', id: sa.id, from: { ...old }, peer: { ...from }, local: { ...to }, children: [...sa.children.values()].map((x) => x.id), by: 'mobike', verified: false });
  startCheck(c, sa, now);
}

/**
 * Authenticated ESP of one of `ikeSaId`'s children came from another endpoint (its NAT
 * mapping changed; ESP already sends there, RFC 3948 §2.2): the IKE SA follows, so its
 * DPD and Delete reach the client (strongSwan's responder does the same when the
 * kernel reports a new mapping). Returns the outputs; nothing when there is no such SA.
 */
export function followPeer(c: ResponderCore, ikeSaId: string, to: Endpoint): Ikev2Output[] {
  c.out = [];
  const sa = [...c.sas.values()].find((x) => x.id === ikeSaId && x.state === 'ESTABLISHED');
  if (!sa || (sa.peer.address === to.address && sa.peer.port === to.port)) return [];
  const old = sa.peer;
  sa.peer = { address: to.address, port: to.port };
  c.counters.inc('ikev2.peer.followed');
  c.log('info', 'ikev2.peer.moved', { id: sa.id, from: endpointText(old), to: endpointText(sa.peer), by: 'esp' });
  c.out.push({ type: 'ikev2-sa-moved', id: sa.id, from: { ...old }, peer: { ...sa.peer }, local: { ...sa.local }, children: [...sa.children.values()].map((x) => x.id), by: 'esp', verified: true });
  return c.out;
}

/**
 * INFORMATIONAL after our first IKE_AUTH response, before the IKE SA is established
 * (§2.21.2; before IKE_AUTH nothing is taken): an initiator that refuses
 * an IKE_AUTH response (strongSwan and Android after an MS-CHAPv2 Failure, which they
 * do not acknowledge) says so in an INFORMATIONAL of its own with AUTHENTICATION_FAILED
 * or another error, or deletes the IKE SA. That ends the half-open SA now (logged as a
 * failed login, with EAP's reason) instead of at the half-open timeout, where it would
 * hold one of the address's few half-open places. Anything else gets an empty answer.
 */
export function informationalDuringAuth(c: ResponderCore, sa: Ikev2Sa, h: IkeHeader, request: Buffer, inner: PayloadChain): void {
  const error = allPayloads(inner, PayloadType.N).find((n) => isErrorNotify(n.type));
  const deleted = allPayloads(inner, PayloadType.D).some((d) => d.protocolId === ProtocolId.IKE);
  if (!error && !deleted) {
    c.counters.inc('ikev2.liveness');
    return c.answer(sa, h, request, { payloads: [] });
  }
  const why = error ? `client sent ${nameOf(notifyNamesLower, error.type)} during IKE_AUTH` : 'client deleted the IKE SA during IKE_AUTH';
  const eap = sa.auth?.eap.failure;
  c.answer(sa, h, request, { payloads: [], fail: eap ? `${why} after EAP: ${eap.reason}${eap.user ? ` (${eap.user})` : ''}` : why });
}
