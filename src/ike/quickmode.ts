import { endpointText, type EspKeys } from '../core/sa.js';
import { attr } from './wire/attributes.js';
import { ExchangeType, Flags, IdType, LifeType, NotifyType, P2Attr, PayloadType, ProtocolId, idTypeNames, nameOf } from './wire/constants.js';
import { encodePayloadChain, type OutPayload } from './wire/message.js';
import { encodeSa } from './wire/sa.js';
import { encodeKe } from './wire/ke.js';
import { encodeNonce } from './wire/nonce.js';
import { encodeHash } from './wire/hash.js';
import { encodeNotify } from './wire/notify.js';
import { idToString, type IdPayload } from './wire/id.js';
import { encodeAttributes } from './wire/attributes.js';
import { own, Writer } from '../core/bytes.js';
import { generateKeyPair, validKeValue } from './crypto/dh.js';
import { keymat, phase2Iv, qmHash1, qmHash2, qmHash3 } from './crypto/keys.js';
import { phase2ReplyTransform, selectPhase2 } from './policy.js';
import { seal } from './seal.js';
import { DEFAULT_CHILD_LIFETIME_S, MAX_QUICK_MODES, requestDigest, sameEndpoint } from './core.js';
import { readPhase2, type StepContext, type StepFns, type StepRead, type StepState } from './exchange.js';
import type { ChildSa, QuickMode } from './state.js';

/** Quick Mode responder (RFC 2409 §5.5): ESP, transport mode, L2TP (udp/1701). */

const NONCE_BYTES = 32;
const L2TP_PORT = 1701;
const UDP = 17;

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

/**
 * Which Quick Mode step a message is (the dispatcher answered a retransmitted
 * QM1 from the cache already): 'QM_NEW' for a QM1, 'QM2_SENT' for the QM3 of
 * an exchange in progress (then c.qm is set); undefined when dropped.
 */
export function quickModeState(c: StepContext): StepState | undefined {
  const sa = c.ike;
  if (sa.state !== 'ESTABLISHED' || !sa.keys) return void c.drop('qm-before-phase1', { id: sa.id });
  if (!(c.header.flags & Flags.ENCRYPTION)) return void c.drop('qm-unencrypted');
  if (c.header.messageId === 0) return void c.drop('qm-message-id-zero');
  const qm = sa.quickModes.get(c.header.messageId);
  if (qm) {
    c.qm = qm;
    return 'QM2_SENT';
  }
  // a finished exchange's ID (a late QM1 or QM3 of it) too: its Quick Mode is forgotten at QM3
  if (sa.usedMessageIds.has(c.header.messageId)) return void c.drop('qm-message-id-reused');
  if (sa.quickModes.size >= MAX_QUICK_MODES) return void c.drop('too-many-quick-modes', { id: sa.id });
  return 'QM_NEW';
}

/** QM1: HDR*, HASH(1), SA, Ni [, KE] [, IDci, IDcr] [, NAT-OA...] → QM2: HDR*, HASH(2), SA, Nr [, KE] [, IDci, IDcr]. */
export const qm1: StepFns = {
  read(c) {
    const sa = c.ike;
    const keys = sa.keys!;
    const h = sa.choice.hash.name;
    const mid = c.header.messageId;
    const read = readPhase2(c, 'qm', phase2Iv(h, sa.iv, mid, sa.choice.cipher.blockSize), (p) => qmHash1(h, keys.skeyidA, mid, p.afterFirst));
    if (!read) return undefined;
    // Authenticated from here on; follow a NAT rebinding of the peer (RFC 3947 §4).
    sa.lastSeen = c.now;
    sa.cache = undefined; // see MM6_CACHE_NOTE in state.ts
    c.core.followPeer(sa, c.from, c.to);
    return read;
  },
  badPayloads: (c) => c.drop('qm-payloads', { id: c.ike.id }),
  handler: handleQm1,
};

function handleQm1(c: StepContext, read: StepRead): void {
  const { core, msg, header, from, to, now } = c;
  const sa = c.ike;
  const keys = sa.keys!;
  const h = sa.choice.hash.name;
  const mid = header.messageId;
  const p = read.payloads;
  if (!p.sa || !p.nonce) throw new Error('QM1 step without SA and Nonce'); // the table requires them
  if (p.ids.length === 1) return core.drop('qm-payloads', now, from, { id: sa.id, why: 'one ID payload' });
  const reject = (notifyType: number, reason: string): void => {
    core.counters.inc('ike.qm.rejected');
    core.log('warn', 'ike.qm.rejected', { id: sa.id, peer: endpointText(from), reason });
    core.useMessageId(sa, mid);
    core.sendNotify(sa, notifyType);
  };
  // Bounded per IKE SA: a client needs one child SA, two while it rekeys.
  let active = sa.children.size;
  for (const q of sa.quickModes.values()) if (q.messageId !== mid) active++;
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
  const sealed = seal(sa, ExchangeType.QUICK_MODE, mid, read.nextIv!, [{ type: PayloadType.HASH, body: encodeHash({ data: h2 }) }, ...rest]);
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
export const qm3: StepFns = {
  read(c) {
    const sa = c.ike;
    const qm = c.qm!;
    return readPhase2(c, 'qm3', qm.iv, () => qmHash3(sa.choice.hash.name, sa.keys!.skeyidA, qm.messageId, qm.niB, qm.nrB));
  },
  handler: handleQm3,
};

function handleQm3(ctx: StepContext): void {
  const { core, now } = ctx;
  const sa = ctx.ike;
  const qm = ctx.qm!;
  const keys = sa.keys!;
  const h = sa.choice.hash.name;
  sa.lastSeen = now;
  // Finished: the exchange is forgotten (its message ID stays in usedMessageIds, so a late
  // QM1 or QM3 of it is a replay). QM3 is the initiator's proof that it has QM2: it never
  // asks for QM2 again, and the IVs, nonces and cached reply are dead weight.
  sa.quickModes.delete(qm.messageId);
  const c = qm.choice;
  const authBytes = c.auth?.keyBytes ?? 0;
  const total = c.encKeyBytes + authBytes;
  const derive = (spi: Buffer): EspKeys => {
    const km = keymat(h, keys.skeyidD, qm.gqmxy, ProtocolId.IPSEC_ESP, spi, qm.niB, qm.nrB, total);
    return { spi: spi.readUInt32BE(0), encKey: own(km.subarray(0, c.encKeyBytes)), authKey: own(km.subarray(c.encKeyBytes, total)) };
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
}

