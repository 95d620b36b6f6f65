import { timingSafeEqual } from 'node:crypto';
import { own } from '../core/bytes.js';
import { DecodeError } from '../core/errors.js';
import { endpointText, type Endpoint } from '../core/sa.js';
import { ipv4ToBytes } from '../core/ipv4.js';
import { DOI_IPSEC, ExchangeType, Flags, IdType, NotifyType, PayloadType, ProtocolId, idTypeNames, nameOf } from './wire/constants.js';
import { encodeMessage, encodePayloadChain, type OutPayload } from './wire/message.js';
import { encodeSa } from './wire/sa.js';
import { encodeKe } from './wire/ke.js';
import { encodeNonce } from './wire/nonce.js';
import { encodeId, idToString, type IdPayload } from './wire/id.js';
import { encodeHash } from './wire/hash.js';
import { encodeNotify } from './wire/notify.js';
import { encodeVendorId } from './wire/vendor.js';
import { encodeNatD } from './wire/natd.js';
import { generateKeyPair, validKeValue } from './crypto/dh.js';
import { hash } from './crypto/prf.js';
import { derivePhase1, hashI, hashR, phase1Iv } from './crypto/keys.js';
import { chooseNatT, hasVid, natDHash, VID_DPD } from './natt.js';
import { phase1Reply, selectPhase1 } from './policy.js';
import { open, seal } from './seal.js';
import { cookieKey, HALF_OPEN_TIMEOUT_MS, requestDigest, sameEndpoint, type ResponderCore } from './core.js';
import { readPlain, type StepContext, type StepFns, type StepRead } from './exchange.js';
import type { IkeSa } from './state.js';
import { handleInitialContact } from './informational.js';

const EMPTY = Buffer.alloc(0);

/** Main Mode responder with pre-shared keys (RFC 2409 §5.4), messages 1, 3 and 5. */

const NONCE_BYTES = 32;

/**
 * MM1: HDR, SA [, VID...] → MM2: HDR, SA [, VID...]. The SA does not exist
 * yet; a retransmitted MM1 got its cached MM2 in the dispatcher.
 */
export const mm1: StepFns = {
  guard(c) {
    // Another MM1 under cookies a half-open SA of this source already has.
    if (c.halfOpen) return c.drop('mm1-cookie-reused');
    if (c.header.flags & Flags.ENCRYPTION) return c.drop('mm1-encrypted');
    if (c.header.messageId !== 0) return c.drop('mm1-message-id');
    return false;
  },
  read: readPlain,
  badPayloads: (c) => c.drop('mm1-payloads'),
  handler: handleMm1,
};

function handleMm1(c: StepContext, read: StepRead): void {
  const { core, msg, header, from, to, now } = c;
  const payloads = read.payloads;
  if (!payloads.sa) throw new Error('MM1 step without SA'); // the table requires it
  const ckyR = core.newResponderCookie(header.initiatorCookie);
  if (!ckyR) return core.drop('cookie-collision', now, from);
  const pick = selectPhase1(payloads.sa.value, core.policy, core.allowLegacy);
  if (!pick.ok) {
    core.counters.inc('ike.proposal.rejected');
    core.logLimited('warn', 'ike.proposal.rejected', now, from, { phase: 1, reason: pick.reason });
    // RFC 2408 §5.4: NO-PROPOSAL-CHOSEN, unencrypted, no state kept; smaller than the request.
    const n = encodeNotify({ doi: DOI_IPSEC, protocolId: ProtocolId.ISAKMP, spi: Buffer.alloc(0), notifyType: NotifyType.NO_PROPOSAL_CHOSEN, data: Buffer.alloc(0) });
    const reply = encodeMessage(
      { initiatorCookie: header.initiatorCookie, responderCookie: ckyR, exchangeType: ExchangeType.INFORMATIONAL, flags: 0, messageId: 0 },
      PayloadType.N, encodePayloadChain([{ type: PayloadType.N, body: n }]),
    );
    if (reply.length <= msg.length) core.send(to, from, reply);
    return;
  }
  const choice = pick.value;
  const natT = chooseNatT(payloads.vendorIds);
  const sa: IkeSa = {
    id: core.nextId('ike'),
    ckyI: own(header.initiatorCookie),
    ckyR,
    origin: { ...from },
    peer: { ...from },
    remote: { ...from },
    local: { ...to },
    state: 'MM2_SENT',
    created: now,
    lastSeen: now,
    established: 0,
    expiresAt: now + HALF_OPEN_TIMEOUT_MS,
    saiB: Buffer.from(payloads.sa.body), // a copy: the SA keeps no view of the whole MM1
    choice,
    natT,
    peerDpd: hasVid(payloads.vendorIds, VID_DPD),
    iv: Buffer.alloc(0),
    peerId: '',
    quickModes: new Map(),
    usedMessageIds: new Set(),
    children: new Map(),
    dpd: { seq: 0, outstanding: 0, nextProbe: 0, tries: 0, sentAt: 0 },
  };
  const out: OutPayload[] = [{ type: PayloadType.SA, body: encodeSa(phase1Reply(payloads.sa.value, choice)) }];
  if (natT) out.push({ type: PayloadType.VID, body: encodeVendorId({ data: natT.vid }) });
  // RFC 3706 §5.1: DPD is used only when both sides send the vendor ID; sending ours only in reply to
  // theirs also keeps MM2 no larger than MM1 (no amplification towards an unverified source).
  if (sa.peerDpd) out.push({ type: PayloadType.VID, body: encodeVendorId({ data: VID_DPD }) });
  const reply = encodeMessage(
    { initiatorCookie: sa.ckyI, responderCookie: sa.ckyR, exchangeType: ExchangeType.IDENTITY_PROTECTION, flags: 0, messageId: 0 },
    PayloadType.SA, encodePayloadChain(out),
  );
  sa.cache = { request: requestDigest(msg), reply };
  // Full: the oldest half-open SA of this address (or of all) goes, nobody is refused.
  core.makeHalfOpenRoom(from.address, now);
  if (!core.addSa(sa)) return core.drop('cookie-collision', now, from);
  if (!natT && core.forceEncapsulation && to.port !== 4500) {
    core.logLimited('warn', 'ike.natt.unsupported', now, from, { id: sa.id, hint: 'peer offers no NAT-T vendor ID: ESP would arrive as raw IP protocol 50' });
  }
  // Anyone can send MM1 from any address: this line is rate-limited (ike.phase1.established is not).
  core.logLimited('info', 'ike.mm.started', now, from, { id: sa.id, proposal: choice.label, natT: natT?.name ?? 'none' });
  core.send(to, from, reply);
}

/** MM3: HDR, KE, Ni [, NAT-D, NAT-D] → MM4: HDR, KE, Nr [, NAT-D, NAT-D] (RFC 2409 §5.4, RFC 3947 §3.2). */
export const mm3: StepFns = {
  guard(c) {
    if (!sameEndpoint(c.from, c.ike.peer)) return c.drop('mm3-wrong-peer');
    if (c.header.flags & Flags.ENCRYPTION) return c.drop('mm3-encrypted');
    return false;
  },
  read: readPlain,
  badPayloads: (c) => c.drop('mm3-payloads'),
  handler: handleMm3,
};

function handleMm3(c: StepContext, read: StepRead): void {
  const { core, msg, from, to, now } = c;
  const sa = c.ike;
  const payloads = read.payloads;
  if (!payloads.ke || !payloads.nonce) throw new Error('MM3 step without KE and Nonce'); // the table requires them
  const group = sa.choice.group;
  const gxi = payloads.ke.value.data;
  if (!validKeValue(group, gxi)) return core.drop('bad-ke', now, from, { length: gxi.length, group: group.id });
  const dh = generateKeyPair(group, core.random);
  const gxy = dh.computeShared(gxi);
  if (!gxy) return core.drop('bad-ke', now, from, { group: group.id });
  const niB = payloads.nonce.value.data;
  const nrB = core.random(NONCE_BYTES);
  const h = sa.choice.hash.name;
  sa.keys = derivePhase1(h, core.psk, niB, nrB, gxy, sa.ckyI, sa.ckyR, sa.choice.cipher.keyBytes);
  sa.gxi = gxi;
  sa.gxr = dh.publicValue;
  sa.niB = niB;
  sa.nrB = nrB;
  sa.iv = phase1Iv(h, gxi, dh.publicValue, sa.choice.cipher.blockSize);
  const out: OutPayload[] = [
    { type: PayloadType.KE, body: encodeKe({ data: dh.publicValue }) },
    { type: PayloadType.NONCE, body: encodeNonce({ data: nrB }) },
  ];
  if (sa.natT && payloads.natD.length > 0) {
    const ours = natDHash(h, sa.ckyI, sa.ckyR, to);
    const theirs = natDHash(h, sa.ckyI, sa.ckyR, from);
    const serverNat = !payloads.natD[0]!.equals(ours);
    const peerNat = !payloads.natD.slice(1).some((d) => d.equals(theirs));
    core.log('info', 'ike.natt.detected', { id: sa.id, peer: endpointText(from), peerBehindNat: peerNat, serverBehindNat: serverNat, forced: core.forceEncapsulation });
    // With forceEncapsulation the hash for the peer's address deliberately mismatches, so the peer floats to 4500.
    const peerHash = core.forceEncapsulation ? hash(h, Buffer.from('l2tpsec-force-nat-t'), core.random(16)) : theirs;
    out.push({ type: sa.natT.natD, body: encodeNatD({ hash: peerHash }) });
    // Our own address: with forced encapsulation we echo the peer's hash of the address it sent to, so the
    // peer never concludes that the server is behind a NAT (Windows refuses that by default), even when it is.
    const ourHash = core.forceEncapsulation ? payloads.natD[0]! : ours;
    out.push({ type: sa.natT.natD, body: encodeNatD({ hash: ourHash }) });
  }
  const reply = encodeMessage(
    { initiatorCookie: sa.ckyI, responderCookie: sa.ckyR, exchangeType: ExchangeType.IDENTITY_PROTECTION, flags: 0, messageId: 0 },
    PayloadType.KE, encodePayloadChain(out),
  );
  sa.cache = { request: requestDigest(msg), reply };
  sa.state = 'MM4_SENT';
  sa.lastSeen = now;
  core.send(to, from, reply);
}

/**
 * IDir (RFC 2407 §4.6.2: in Phase 1 protocol/port are 0/0 or UDP/500): we mirror the
 * peer's choice of the two, so Windows (17/500) and strongSwan (0/0) each see their own form.
 */
function ourIdentity(localId: string | undefined, to: Endpoint, peer: IdPayload): IdPayload {
  const mirrored = peer.protocol === 17 ? { protocol: 17, port: 500 } : { protocol: 0, port: 0 };
  const ip = localId ?? to.address;
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) {
    try {
      return { idType: IdType.IPV4_ADDR, ...mirrored, data: ipv4ToBytes(ip) };
    } catch {
      // not a valid dotted quad: fall through to FQDN
    }
  }
  return { idType: IdType.FQDN, ...mirrored, data: Buffer.from(ip, 'utf8') };
}

const ALLOWED_PEER_IDS = new Set<number>([IdType.IPV4_ADDR, IdType.FQDN, IdType.USER_FQDN, IdType.KEY_ID]);

function authFailed(core: ResponderCore, sa: IkeSa, from: Endpoint, now: number, why: string): true {
  core.counters.inc('ike.auth.failed');
  core.drop('auth-failed', now, from, { id: sa.id, why, hint: 'wrong pre-shared key?' }, 'ike.auth.failed');
  return true;
}

const MM5_PAYLOADS = 'MM5 without exactly one ID and a HASH';

/** MM5: HDR*, IDii, HASH_I [, N(INITIAL-CONTACT)] → MM6: HDR*, IDir, HASH_R. */
export const mm5: StepFns = {
  guard(c) {
    const sa = c.ike;
    if (c.from.address !== sa.peer.address) return c.drop('mm5-wrong-peer');
    if (c.from.port !== sa.peer.port && c.to.port !== 4500) return c.drop('mm5-wrong-port');
    if (!(c.header.flags & Flags.ENCRYPTION)) return c.drop('mm5-unencrypted');
    if (!sa.keys || !sa.gxi || !sa.gxr) return c.drop('mm5-no-keys');
    return false;
  },
  read(c) {
    const sa = c.ike;
    let opened;
    try {
      opened = open(sa, c.msg, sa.iv);
    } catch (e) {
      if (e instanceof DecodeError) return void authFailed(c.core, sa, c.from, c.now, `decrypted message does not parse: ${e.reason}`);
      throw e;
    }
    if (!opened) return void authFailed(c.core, sa, c.from, c.now, 'ciphertext not a block multiple');
    return opened;
  },
  // A wrong key decrypts to garbage that may still parse: a bad payload set counts as a failed authentication.
  badPayloads: (c) => authFailed(c.core, c.ike, c.from, c.now, MM5_PAYLOADS),
  handler: handleMm5,
};

function handleMm5(c: StepContext, read: StepRead): void {
  const { core, msg, from, to, now } = c;
  const sa = c.ike;
  const keys = sa.keys!;
  const p = read.payloads;
  const idii = p.ids[0];
  if (!p.hash || !idii || p.ids.length !== 1) return void authFailed(core, sa, from, now, MM5_PAYLOADS);
  if (!sa.gxi || !sa.gxr) throw new Error('MM5 step without the DH values of MM3'); // the guard checked
  const h = sa.choice.hash.name;
  const expected = hashI(h, keys.skeyid, sa.gxi, sa.gxr, sa.ckyI, sa.ckyR, sa.saiB, idii.body);
  const got = p.hash.value.data;
  // Constant-time comparison after the length check (timingSafeEqual throws on unequal lengths).
  const ok = got.length === expected.length && timingSafeEqual(got, expected);
  if (!ok) return void authFailed(core, sa, from, now, 'HASH_I mismatch');
  const id = idii.value;
  if (!ALLOWED_PEER_IDS.has(id.idType)) return core.drop('mm5-id-type', now, from, { idType: nameOf(idTypeNames, id.idType) });
  const peerId = `${nameOf(idTypeNames, id.idType)} ${idToString(id)}`;
  // Limits on established SAs (per address, per identity, in all). Over a limit, a peer that
  // already has an SA under this endpoint and identity is rekeying: its oldest SA makes room.
  // Anyone else is refused (no reply) and the half-open SA goes.
  const limit = core.establishedLimit(from.address, peerId);
  let replaced: IkeSa | undefined;
  if (limit) {
    for (const o of core.sas.values()) {
      if (o.state !== 'ESTABLISHED' || !sameEndpoint(o.peer, from) || o.peerId !== peerId) continue;
      if (!replaced || o.established < replaced.established) replaced = o;
    }
    if (!replaced) {
      core.counters.inc(`ike.limit.${limit}`);
      core.drop(`limit-ike-sas-${limit}`, now, from, { id: sa.id, peerId });
      core.removeSa(sa, `IKE SA limit (${limit})`);
      return;
    }
  }
  // Authenticated: the IV chain advances and the peer may have floated to 4500 (RFC 3947 §4).
  sa.iv = read.nextIv!;
  const floated = !sameEndpoint(from, sa.peer);
  sa.peer = { ...from };
  sa.remote = { ...from };
  sa.local = { ...to };
  sa.peerId = peerId;
  const idr = ourIdentity(core.localId, to, id);
  const idirB = encodeId(idr);
  const hr = hashR(h, keys.skeyid, sa.gxi, sa.gxr, sa.ckyI, sa.ckyR, sa.saiB, idirB);
  const sealed = seal(sa, ExchangeType.IDENTITY_PROTECTION, 0, sa.iv, [
    { type: PayloadType.ID, body: idirB },
    { type: PayloadType.HASH, body: encodeHash({ data: hr }) },
  ]);
  sa.iv = sealed.nextIv; // the last Phase 1 CBC block: seed of every Phase 2 IV (RFC 2409 App. B)
  sa.cache = { request: requestDigest(msg), reply: sealed.data };
  sa.state = 'ESTABLISHED';
  sa.established = now;
  sa.lastSeen = now;
  const life = Math.min(sa.choice.lifetimeSeconds || core.ikeLifetimeMax, core.ikeLifetimeMax);
  sa.expiresAt = now + life * 1000;
  if (core.dpdIdle > 0) sa.dpd.nextProbe = now + core.dpdIdle * 1000;
  core.markEstablished(sa);
  // Drop secrets and Main Mode material no longer needed (MM5 retransmissions are answered from the cache).
  sa.dh = undefined;
  sa.gxi = undefined;
  sa.gxr = undefined;
  sa.niB = undefined;
  sa.nrB = undefined;
  sa.saiB = EMPTY;
  // The parsed proposal (views into the MM1 datagram) only built MM2.
  sa.choice = { ...sa.choice, proposal: { number: sa.choice.proposal.number, protocolId: sa.choice.proposal.protocolId, spi: EMPTY, transforms: [] }, transform: { number: sa.choice.transform.number, id: sa.choice.transform.id, attributes: [] } };
  core.send(to, from, sealed.data);
  core.log('info', 'ike.phase1.established', { id: sa.id, peer: endpointText(sa.peer), peerId: sa.peerId, algorithms: sa.choice.label, floated, lifetime: life });
  core.out.push({ type: 'ike-sa-up', id: sa.id, peer: { ...sa.peer }, peerId: sa.peerId, algorithms: sa.choice.label });
  if (p.notifies.some((n) => n.notifyType === NotifyType.INITIAL_CONTACT)) {
    handleInitialContact(core, sa, now);
  } else {
    // Phase 1 rekey: older SAs of the same endpoint and identity hand their children over.
    for (const old of core.related(sa)) {
      if (old === sa) continue;
      for (const child of [...old.children.values()]) {
        old.children.delete(child.id);
        child.ikeSaId = sa.id;
        sa.children.set(child.id, child);
      }
    }
  }
  if (replaced && core.sas.has(cookieKey(replaced.ckyI, replaced.ckyR))) {
    core.counters.inc(`ike.limit.${limit}.replaced`);
    core.log('warn', 'ike.limit.replaced', { id: sa.id, replaced: replaced.id, peer: endpointText(sa.peer), peerId, limit });
    core.sendDeleteIke(replaced);
    core.removeSa(replaced, `replaced (${limit} IKE SA limit)`);
  }
}
