import { timingSafeEqual } from 'node:crypto';
import { endpointText, type Endpoint, type EspKeys } from '../core/sa.js';
import { attr } from './wire/attributes.js';
import { ExchangeType, Flags, IdType, LifeType, NotifyType, P2Attr, PayloadType, ProtocolId, idTypeNames, nameOf } from './wire/constants.js';
import type { IsakmpHeader } from './wire/header.js';
import { encodePayloadChain, type OutPayload } from './wire/message.js';
import { encodeSa } from './wire/sa.js';
import { encodeKe } from './wire/ke.js';
import { encodeNonce } from './wire/nonce.js';
import { encodeHash } from './wire/hash.js';
import { encodeNotify } from './wire/notify.js';
import { idToString, type IdPayload } from './wire/id.js';
import { encodeAttributes } from './wire/attributes.js';
import { Writer } from '../core/bytes.js';
import { generateKeyPair, validKeValue } from './crypto/dh.js';
import { keymat, phase2Iv, qmHash1, qmHash2, qmHash3 } from './crypto/keys.js';
import { phase2ReplyTransform, selectPhase2 } from './policy.js';
import { open, seal } from './seal.js';
import { DEFAULT_CHILD_LIFETIME_S, MAX_QUICK_MODES, requestDigest, sameEndpoint, type ResponderCore } from './core.js';
import type { ChildSa, IkeSa, QuickMode } from './state.js';

/** Quick Mode responder (RFC 2409 §5.5): ESP, transport mode, L2TP (udp/1701). */

const NONCE_BYTES = 32;
const L2TP_PORT = 1701;
const UDP = 17;

function hashEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * QM3 is the initiator's last message: when it is lost, only the responder can notice
 * (no QM3 comes). QM2 is then sent again after 2 s, 4 s and 8 s more, and a peer that
 * already sent QM3 answers a retransmitted QM2 with QM3 again (strongSwan does).
 */
export const QM2_RESEND_FIRST_MS = 2000;
export const QM2_RESENDS = 3;

/** IDci/IDcr acceptable for L2TP: one IPv4 host, protocol any or UDP, port any or 1701 (RFC 2407 §4.6.2). */
function acceptableId(id: IdPayload): boolean {
  if (id.idType === IdType.IPV4_ADDR_SUBNET) {
    if (!id.data.subarray(4).equals(Buffer.from([255, 255, 255, 255]))) return false;
  } else if (id.idType !== IdType.IPV4_ADDR) {
    return false;
  }
  if (id.protocol === 0) return id.port === 0;
  return id.protocol === UDP && (id.port === 0 || id.port === L2TP_PORT);
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}

export function handleQuickMode(core: ResponderCore, sa: IkeSa, msg: Uint8Array, header: IsakmpHeader, from: Endpoint, to: Endpoint, now: number): void {
  if (sa.state !== 'ESTABLISHED' || !sa.keys) return core.drop('qm-before-phase1', now, from, { id: sa.id });
  if (!(header.flags & Flags.ENCRYPTION)) return core.drop('qm-unencrypted', now, from);
  if (header.messageId === 0) return core.drop('qm-message-id-zero', now, from);
  const qm = sa.quickModes.get(header.messageId);
  if (qm) {
    if (qm.cache.request.equals(requestDigest(msg))) {
      core.counters.inc('ike.retransmit.qm1');
      core.send(to, from, qm.cache.reply);
      return;
    }
    if (qm.done) return core.drop('qm-message-id-reused', now, from);
    return handleQm3(core, sa, qm, msg, from, now);
  }
  if (sa.usedMessageIds.has(header.messageId)) return core.drop('qm-message-id-reused', now, from);
  let active = 0;
  for (const q of sa.quickModes.values()) if (!q.done) active++;
  if (active >= MAX_QUICK_MODES) return core.drop('too-many-quick-modes', now, from, { id: sa.id });
  handleQm1(core, sa, msg, header, from, to, now);
}

/** QM1: HDR*, HASH(1), SA, Ni [, KE] [, IDci, IDcr] [, NAT-OA...] → QM2: HDR*, HASH(2), SA, Nr [, KE] [, IDci, IDcr]. */
function handleQm1(core: ResponderCore, sa: IkeSa, msg: Uint8Array, header: IsakmpHeader, from: Endpoint, to: Endpoint, now: number): void {
  const keys = sa.keys!;
  const h = sa.choice.hash.name;
  const mid = header.messageId;
  const iv = phase2Iv(h, sa.iv, mid, sa.choice.cipher.blockSize);
  // A DecodeError of the decrypted chain propagates to receive(): counted as decode.<reason>.
  const opened = open(sa, msg, iv);
  if (!opened) return core.drop('qm-decrypt', now, from, { id: sa.id });
  const p = opened.payloads;
  if (p.order[0] !== PayloadType.HASH || !p.hash) return core.drop('qm-no-hash', now, from, { id: sa.id });
  if (!hashEqual(p.hash.value.data, qmHash1(h, keys.skeyidA, mid, p.afterFirst))) return core.drop('qm-hash-mismatch', now, from, { id: sa.id });
  // Authenticated from here on; follow a NAT rebinding of the peer (RFC 3947 §4).
  sa.lastSeen = now;
  core.followPeer(sa, from, to);
  if (!p.sa || !p.nonce) return core.drop('qm-payloads', now, from, { id: sa.id });
  if (p.ids.length === 1) return core.drop('qm-payloads', now, from, { id: sa.id, why: 'one ID payload' });
  const reject = (notifyType: number, reason: string): void => {
    core.counters.inc('ike.qm.rejected');
    core.log('warn', 'ike.qm.rejected', { id: sa.id, peer: endpointText(from), reason });
    core.useMessageId(sa, mid);
    core.sendNotify(sa, notifyType);
  };
  // Bounded per IKE SA: a client needs one child SA, two while it rekeys.
  let active = sa.children.size;
  for (const q of sa.quickModes.values()) if (!q.done && q.messageId !== mid) active++;
  if (active >= core.childSasPerIkeSa) {
    core.counters.inc('ike.limit.child-sas-per-ike-sa');
    return reject(NotifyType.NO_PROPOSAL_CHOSEN, `child SA limit of ${core.childSasPerIkeSa} per IKE SA reached`);
  }
  for (const id of p.ids) {
    if (!acceptableId(id.value)) return reject(NotifyType.INVALID_ID_INFORMATION, `client ID ${nameOf(idTypeNames, id.value.idType)} ${id.value.protocol}/${id.value.port} is not an IPv4 host for udp/1701`);
  }
  const pick = selectPhase2(p.sa.value, core.policy, core.allowLegacy, p.ke !== undefined);
  if (!pick.ok) return reject(NotifyType.NO_PROPOSAL_CHOSEN, pick.reason);
  const choice = pick.value;
  let gqmxy: Buffer | undefined;
  let kePayload: OutPayload | undefined;
  if (choice.pfsGroup && p.ke) {
    if (!validKeValue(choice.pfsGroup, p.ke.value.data)) return reject(NotifyType.INVALID_KEY_INFORMATION, 'bad PFS KE value');
    const dh = generateKeyPair(choice.pfsGroup, core.random);
    gqmxy = dh.computeShared(p.ke.value.data);
    if (!gqmxy) return reject(NotifyType.INVALID_KEY_INFORMATION, 'bad PFS KE value');
    kePayload = { type: PayloadType.KE, body: encodeKe({ data: dh.publicValue }) };
  }
  const theirs = choice.lifetimeSeconds || DEFAULT_CHILD_LIFETIME_S;
  const lifetime = Math.min(theirs, core.childLifetimeMax);
  const lowered = theirs > core.childLifetimeMax;
  const ourSpiNum = core.newSpi();
  const ourSpi = u32(ourSpiNum);
  const transform = lowered && choice.lifetimeSeconds ? phase2ReplyTransform(choice.transform, lifetime) : choice.transform;
  const replySa = { doi: p.sa.value.doi, situation: p.sa.value.situation, proposals: [{ number: choice.proposal.number, protocolId: ProtocolId.IPSEC_ESP, spi: ourSpi, transforms: [transform] }] };
  const nrB = core.random(NONCE_BYTES);
  const rest: OutPayload[] = [
    { type: PayloadType.SA, body: encodeSa(replySa) },
    { type: PayloadType.NONCE, body: encodeNonce({ data: nrB }) },
  ];
  if (kePayload) rest.push(kePayload);
  for (const id of p.ids) rest.push({ type: PayloadType.ID, body: id.body });
  if (lowered) {
    // RFC 2407 §4.6.3.1: RESPONDER-LIFETIME with the lifetime attributes we use.
    const w = new Writer(16);
    encodeAttributes([attr(P2Attr.SA_LIFE_TYPE, LifeType.SECONDS), attr(P2Attr.SA_LIFE_DURATION, lifetime)], w);
    rest.push({ type: PayloadType.N, body: encodeNotify({ doi: p.sa.value.doi, protocolId: ProtocolId.IPSEC_ESP, spi: ourSpi, notifyType: NotifyType.RESPONDER_LIFETIME, data: w.finish() }) });
  }
  const h2 = qmHash2(h, keys.skeyidA, mid, p.nonce.value.data, encodePayloadChain(rest));
  const sealed = seal(sa, ExchangeType.QUICK_MODE, mid, opened.nextIv, [{ type: PayloadType.HASH, body: encodeHash({ data: h2 }) }, ...rest]);
  const qm: QuickMode = {
    messageId: mid,
    started: now,
    iv: sealed.nextIv,
    niB: p.nonce.value.data,
    nrB,
    choice,
    ourSpi,
    peerSpi: choice.proposal.spi,
    gqmxy,
    lifetimeSeconds: lifetime,
    peerOriginalAddress: p.natOa[0]?.address,
    cache: { request: requestDigest(msg), reply: sealed.data },
    done: false,
    resends: 0,
    nextResend: now + QM2_RESEND_FIRST_MS,
  };
  sa.quickModes.set(mid, qm);
  core.useMessageId(sa, mid);
  const ids = p.ids.map((i) => idToString(i.value));
  core.log('info', 'ike.qm.started', { id: sa.id, messageId: mid, proposal: choice.label, ids, lifetime, lowered });
  core.send(to, from, sealed.data);
}

/** QM3: HDR*, HASH(3) → the child SA is installed. */
function handleQm3(core: ResponderCore, sa: IkeSa, qm: QuickMode, msg: Uint8Array, from: Endpoint, now: number): void {
  const keys = sa.keys!;
  const h = sa.choice.hash.name;
  // A DecodeError of the decrypted chain propagates to receive(): counted as decode.<reason>.
  const opened = open(sa, msg, qm.iv);
  if (!opened) return core.drop('qm3-decrypt', now, from, { id: sa.id });
  const p = opened.payloads;
  if (p.order[0] !== PayloadType.HASH || !p.hash) return core.drop('qm3-no-hash', now, from, { id: sa.id });
  if (!hashEqual(p.hash.value.data, qmHash3(h, keys.skeyidA, qm.messageId, qm.niB, qm.nrB))) return core.drop('qm3-hash-mismatch', now, from, { id: sa.id });
  sa.lastSeen = now;
  qm.done = true;
  qm.started = now;
  const c = qm.choice;
  const authBytes = c.auth?.keyBytes ?? 0;
  const total = c.encKeyBytes + authBytes;
  const derive = (spi: Buffer): EspKeys => {
    const km = keymat(h, keys.skeyidD, qm.gqmxy, ProtocolId.IPSEC_ESP, spi, qm.niB, qm.nrB, total);
    return { spi: spi.readUInt32BE(0), encKey: Buffer.from(km.subarray(0, c.encKeyBytes)), authKey: Buffer.from(km.subarray(c.encKeyBytes, total)) };
  };
  // RFC 2409 §5.5: each direction's KEYMAT uses the SPI chosen by its receiving side.
  const inbound = derive(qm.ourSpi);
  const outbound = derive(qm.peerSpi);
  const child: ChildSa = {
    id: core.nextId('child'),
    ikeSaId: sa.id,
    ourSpi: inbound.spi,
    peerSpi: outbound.spi,
    established: now,
    expiresAt: now + qm.lifetimeSeconds * 1000,
  };
  core.addChild(sa, child);
  // RFC 3948: UDP encapsulation iff the exchange runs on port 4500 (the peer floated, or started there).
  // A peer without NAT-T stays on 500 and sends raw ESP ('none'), which a userspace daemon cannot receive.
  const encapsulation = sa.local.port === 4500 ? 'udp' : 'none';
  core.log('info', 'ike.child.up', {
    id: child.id, ikeSa: sa.id, peer: endpointText(sa.peer), inboundSpi: inbound.spi.toString(16), outboundSpi: outbound.spi.toString(16), algorithms: c.label, lifetime: qm.lifetimeSeconds,
  });
  core.out.push({
    type: 'child-sa-up',
    id: child.id,
    ikeSaId: sa.id,
    peer: { ...sa.peer },
    ...(sameEndpoint(sa.remote, sa.peer) ? {} : { remote: { ...sa.remote } }),
    local: { ...sa.local },
    encapsulation,
    transform: { ...c.transformEsp },
    inbound,
    outbound,
    lifetimeSeconds: qm.lifetimeSeconds,
    ...(qm.peerOriginalAddress ? { peerOriginalAddress: qm.peerOriginalAddress } : {}),
    peerId: sa.peerId,
    ikeAlgorithms: sa.choice.label,
  });
  // Key material of the exchange is no longer needed.
  qm.gqmxy = undefined;
}

