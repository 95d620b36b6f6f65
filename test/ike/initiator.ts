/**
 * A small IKEv1 INITIATOR for the tests: Main Mode (PSK) + Quick Mode, with its own
 * step logic. It uses the project's codecs, node:crypto for CBC and DH, and the
 * independent @noble/hashes reference (ref.ts) for every key and hash.
 */
import { createCipheriv, createDecipheriv, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Endpoint } from '../../src/core/sa.js';
import { ipv4ToBytes } from '../../src/core/ipv4.js';
import { attr, type DataAttribute } from '../../src/ike/wire/attributes.js';
import {
  DOI_IPSEC, EncapMode, EspTransformId, ExchangeType, Flags, IdType, KEY_IKE, LifeType, NotifyType, P1Attr, P2Attr, P2Auth, PayloadType, ProtocolId, SIT_IDENTITY_ONLY,
} from '../../src/ike/wire/constants.js';
import { decodeHeader, ISAKMP_HEADER_LENGTH } from '../../src/ike/wire/header.js';
import { decodeMessage, decodePayloadChain, encodeMessage, encodePayloadChain, type OutPayload, type PayloadChain } from '../../src/ike/wire/message.js';
import { encodeSa, type SaPayload, type Transform } from '../../src/ike/wire/sa.js';
import { encodeId, type IdPayload } from '../../src/ike/wire/id.js';
import { encodeNotify } from '../../src/ike/wire/notify.js';
import { encodeNatOa } from '../../src/ike/wire/natoa.js';
import { DH_GROUPS, generateKeyPair, type DhKeyPair } from '../../src/ike/crypto/dh.js';
import { VID_DPD, VID_NATT_DRAFT_02N, VID_RFC3947 } from '../../src/ike/natt.js';
import { refHash, refKeymat, refPhase1, refPhase1Iv, refPhase2Iv, refPrf, refBe32, type RefHash, type RefPhase1 } from './ref.js';

export interface P1Spec {
  enc: 'aes128' | 'aes192' | 'aes256' | '3des';
  hash: RefHash;
  group: number;
  lifetime?: number;
}

export interface InitiatorOptions {
  psk: Buffer;
  /** The initiator's own (private) address; port 500. */
  local: Endpoint;
  /** How the server sees us on 500 and (after floating) on 4500. */
  seen500: Endpoint;
  seen4500: Endpoint;
  server: Endpoint;
  p1: P1Spec[];
  natT?: boolean;
  /** Offer only draft-ietf-ipsec-nat-t-ike-02\n (NAT-D payload type 130, modes 61443/61444). */
  natTDraft?: boolean;
  dpd?: boolean;
  id?: IdPayload;
  initialContact?: boolean;
}

const HASH_IDS: Record<RefHash, number> = { sha1: 2, sha256: 4, sha384: 5, sha512: 6 };

function p1Transform(n: number, s: P1Spec): Transform {
  const a: DataAttribute[] = [];
  if (s.enc === '3des') a.push(attr(P1Attr.ENCRYPTION, 5));
  else a.push(attr(P1Attr.ENCRYPTION, 7), attr(P1Attr.KEY_LENGTH, Number(s.enc.slice(3))));
  a.push(attr(P1Attr.HASH, HASH_IDS[s.hash]), attr(P1Attr.AUTH_METHOD, 1), attr(P1Attr.GROUP, s.group));
  a.push(attr(P1Attr.LIFE_TYPE, LifeType.SECONDS), attr(P1Attr.LIFE_DURATION, s.lifetime ?? 28800));
  return { number: n, id: KEY_IKE, attributes: a };
}

export interface P2Spec {
  cipher: 'aes128' | 'aes256' | '3des' | 'aes128gcm16' | 'aes256gcm16';
  auth?: 'sha1' | 'sha256';
  pfs?: number;
  lifetime?: number;
  mode?: number;
  ids?: 'none' | 'udp1701' | 'any';
  natOa?: boolean;
}

export interface ChildKeys {
  spiI: number;
  spiR: number;
  /** Keys for initiator → responder (the responder's SPI) and responder → initiator. */
  i2r: { encKey: Buffer; authKey: Buffer };
  r2i: { encKey: Buffer; authKey: Buffer };
  lifetime?: number;
}

interface Qm {
  mid: number;
  iv: Buffer;
  ni: Buffer;
  nr?: Buffer;
  spiI: Buffer;
  spiR?: Buffer;
  dh?: DhKeyPair;
  gqm?: Buffer;
  spec: P2Spec;
  payloads?: PayloadChain;
}

export class TestInitiator {
  readonly ckyI = randomBytes(8);
  ckyR: Buffer = Buffer.alloc(8);
  /** Current source as the server sees it and the server's port we talk to. */
  src: Endpoint;
  dst: Endpoint;
  behindNat = false;
  private saiB: Buffer = Buffer.alloc(0);
  private chosen!: P1Spec;
  private dh!: DhKeyPair;
  private gxr!: Buffer;
  private ni = randomBytes(20);
  private nr!: Buffer;
  keys!: RefPhase1;
  private iv!: Buffer;
  /** Last CBC block of Phase 1. */
  lastP1!: Buffer;
  private idiiB: Buffer = Buffer.alloc(0);
  private qms = new Map<number, Qm>();

  constructor(readonly o: InitiatorOptions) {
    this.src = o.seen500;
    this.dst = o.server;
  }

  private get block(): number {
    return this.chosen.enc === '3des' ? 8 : 16;
  }
  private get cipherName(): string {
    return this.chosen.enc === '3des' ? 'des-ede3-cbc' : `aes-${this.chosen.enc.slice(3)}-cbc`;
  }
  private get keyLen(): number {
    return this.chosen.enc === '3des' ? 24 : Number(this.chosen.enc.slice(3)) / 8;
  }

  encrypt(iv: Buffer, plain: Buffer): Buffer {
    const pad = (this.block - (plain.length % this.block)) % this.block;
    const c = createCipheriv(this.cipherName, this.keys.encKey, iv);
    c.setAutoPadding(false);
    return Buffer.concat([c.update(Buffer.concat([plain, Buffer.alloc(pad)])), c.final()]);
  }

  decrypt(iv: Buffer, msg: Buffer): { chain: PayloadChain; nextIv: Buffer; mid: number; exchange: number } {
    const h = decodeHeader(msg);
    if (!(h.flags & Flags.ENCRYPTION)) throw new Error('expected an encrypted message');
    const body = msg.subarray(ISAKMP_HEADER_LENGTH);
    const d = createDecipheriv(this.cipherName, this.keys.encKey, iv);
    d.setAutoPadding(false);
    const plain = Buffer.concat([d.update(body), d.final()]);
    return { chain: decodePayloadChain(h.nextPayload, plain, 0, true), nextIv: body.subarray(body.length - this.block), mid: h.messageId, exchange: h.exchangeType };
  }

  private message(exchange: number, mid: number, payloads: OutPayload[], iv?: Buffer): { data: Buffer; nextIv?: Buffer } {
    const chain = encodePayloadChain(payloads);
    const fields = { initiatorCookie: this.ckyI, responderCookie: this.ckyR, exchangeType: exchange, flags: iv ? Flags.ENCRYPTION : 0, messageId: mid };
    if (!iv) return { data: encodeMessage(fields, payloads[0]?.type ?? 0, chain) };
    const cipher = this.encrypt(iv, chain);
    return { data: encodeMessage(fields, payloads[0]?.type ?? 0, cipher), nextIv: cipher.subarray(cipher.length - this.block) };
  }

  mm1(): Buffer {
    const sa: SaPayload = { doi: DOI_IPSEC, situation: SIT_IDENTITY_ONLY, proposals: [{ number: 1, protocolId: ProtocolId.ISAKMP, spi: Buffer.alloc(0), transforms: this.o.p1.map((s, i) => p1Transform(i + 1, s)) }] };
    this.saiB = encodeSa(sa);
    const out: OutPayload[] = [{ type: PayloadType.SA, body: this.saiB }];
    if (this.o.natTDraft) out.push({ type: PayloadType.VID, body: VID_NATT_DRAFT_02N });
    else if (this.o.natT !== false) out.push({ type: PayloadType.VID, body: VID_RFC3947 }, { type: PayloadType.VID, body: VID_NATT_DRAFT_02N });
    if (this.o.dpd) out.push({ type: PayloadType.VID, body: VID_DPD });
    return this.message(ExchangeType.IDENTITY_PROTECTION, 0, out).data;
  }

  onMm2(msg: Buffer): void {
    const m = decodeMessage(msg);
    this.ckyR = m.header.responderCookie;
    const t = m.payloads.sa?.value.proposals[0]?.transforms;
    if (!t || t.length !== 1) throw new Error('MM2 must carry exactly one transform');
    const chosen = this.o.p1[t[0]!.number - 1];
    if (!chosen) throw new Error('MM2 chose a transform we did not offer');
    this.chosen = chosen;
  }

  natD(ep: Endpoint): Buffer {
    const port = Buffer.alloc(2);
    port.writeUInt16BE(ep.port);
    return refHash(this.chosen.hash, this.ckyI, this.ckyR, ipv4ToBytes(ep.address), port);
  }

  mm3(): Buffer {
    const group = DH_GROUPS[this.chosen.group]!;
    this.dh = generateKeyPair(group, randomBytes);
    const out: OutPayload[] = [
      { type: PayloadType.KE, body: this.dh.publicValue },
      { type: PayloadType.NONCE, body: this.ni },
    ];
    if (this.o.natT !== false) {
      const t = this.o.natTDraft ? PayloadType.NAT_D_DRAFT : PayloadType.NAT_D;
      out.push({ type: t, body: this.natD(this.o.server) }, { type: t, body: this.natD(this.o.local) });
    }
    return this.message(ExchangeType.IDENTITY_PROTECTION, 0, out).data;
  }

  /** Returns whether the server looks NATed (second NAT-D mismatch). */
  /** Payload types of the last MM4 (to check NAT-D 20 vs 130). */
  mm4Types: number[] = [];

  onMm4(msg: Buffer): { serverBehindNat: boolean } {
    const m = decodeMessage(msg);
    this.mm4Types = m.payloads.order;
    this.gxr = m.payloads.ke!.value.data;
    this.nr = m.payloads.nonce!.value.data;
    const gxy = this.dh.computeShared(this.gxr);
    if (!gxy) throw new Error('bad responder KE');
    this.keys = refPhase1(this.chosen.hash, this.o.psk, this.ni, this.nr, gxy, this.ckyI, this.ckyR, this.keyLen);
    this.iv = refPhase1Iv(this.chosen.hash, this.dh.publicValue, this.gxr, this.block);
    let serverBehindNat = false;
    if (m.payloads.natD.length >= 2) {
      this.behindNat = !m.payloads.natD[0]!.equals(this.natD(this.o.local));
      serverBehindNat = !m.payloads.natD.slice(1).some((d) => d.equals(this.natD(this.o.server)));
      if (this.behindNat || serverBehindNat) {
        // RFC 3947 §4: float to 4500 from MM5 on.
        this.src = this.o.seen4500;
        this.dst = { address: this.o.server.address, port: 4500 };
      }
    }
    return { serverBehindNat };
  }

  mm5(opts: { wrongPsk?: boolean } = {}): Buffer {
    const id = this.o.id ?? { idType: IdType.IPV4_ADDR, protocol: 17, port: 500, data: ipv4ToBytes(this.o.local.address) };
    this.idiiB = encodeId(id);
    const skeyid = opts.wrongPsk ? refPrf(this.chosen.hash, Buffer.from('wrong'), this.ni, this.nr) : this.keys.skeyid;
    const hashI = refPrf(this.chosen.hash, skeyid, this.dh.publicValue, this.gxr, this.ckyI, this.ckyR, this.saiB, this.idiiB);
    const out: OutPayload[] = [{ type: PayloadType.ID, body: this.idiiB }, { type: PayloadType.HASH, body: hashI }];
    if (this.o.initialContact) {
      out.push({ type: PayloadType.N, body: encodeNotify({ doi: DOI_IPSEC, protocolId: ProtocolId.ISAKMP, spi: Buffer.concat([this.ckyI, this.ckyR]), notifyType: NotifyType.INITIAL_CONTACT, data: Buffer.alloc(0) }) });
    }
    const r = this.message(ExchangeType.IDENTITY_PROTECTION, 0, out, this.iv);
    this.iv = r.nextIv!;
    return r.data;
  }

  /** Verifies HASH_R; returns the responder's ID payload. */
  onMm6(msg: Buffer): IdPayload {
    const d = this.decrypt(this.iv, msg);
    const idir = d.chain.ids[0];
    if (!idir || !d.chain.hash) throw new Error('MM6 lacks ID or HASH');
    const expected = refPrf(this.chosen.hash, this.keys.skeyid, this.gxr, this.dh.publicValue, this.ckyR, this.ckyI, this.saiB, idir.body);
    if (!timingSafeEqual(expected, d.chain.hash.value.data)) throw new Error('HASH_R mismatch');
    this.lastP1 = d.nextIv;
    return idir.value;
  }

  qm1(spec: P2Spec, mid = (randomBytes(4).readUInt32BE(0) | 1) >>> 0): { data: Buffer; mid: number } {
    const spiI = randomBytes(4);
    spiI[0] = 0xc0;
    const a: DataAttribute[] = [attr(P2Attr.SA_LIFE_TYPE, LifeType.SECONDS), attr(P2Attr.SA_LIFE_DURATION, spec.lifetime ?? 3600)];
    if (spec.pfs) a.push(attr(P2Attr.GROUP_DESCRIPTION, spec.pfs));
    a.push(attr(P2Attr.ENCAPSULATION_MODE, spec.mode ?? (this.behindNat ? (this.o.natTDraft ? EncapMode.UDP_TRANSPORT_DRAFT : EncapMode.UDP_TRANSPORT) : EncapMode.TRANSPORT)));
    let tid: number;
    if (spec.cipher === '3des') tid = EspTransformId['3DES'];
    else if (spec.cipher.endsWith('gcm16')) tid = EspTransformId.AES_GCM_16;
    else tid = EspTransformId.AES_CBC;
    if (spec.cipher !== '3des') a.push(attr(P2Attr.KEY_LENGTH, Number(spec.cipher.slice(3, 6))));
    if (spec.auth) a.push(attr(P2Attr.AUTH_ALGORITHM, spec.auth === 'sha1' ? P2Auth.HMAC_SHA : P2Auth.HMAC_SHA2_256));
    const sa: SaPayload = { doi: DOI_IPSEC, situation: SIT_IDENTITY_ONLY, proposals: [{ number: 1, protocolId: ProtocolId.IPSEC_ESP, spi: spiI, transforms: [{ number: 1, id: tid, attributes: a }] }] };
    const ni = randomBytes(16);
    const rest: OutPayload[] = [{ type: PayloadType.SA, body: encodeSa(sa) }, { type: PayloadType.NONCE, body: ni }];
    let dh: DhKeyPair | undefined;
    if (spec.pfs) {
      dh = generateKeyPair(DH_GROUPS[spec.pfs]!, randomBytes);
      rest.push({ type: PayloadType.KE, body: dh.publicValue });
    }
    const ids = spec.ids ?? 'udp1701';
    if (ids !== 'none') {
      const port = ids === 'udp1701' ? 1701 : 0;
      const proto = ids === 'udp1701' ? 17 : 0;
      rest.push({ type: PayloadType.ID, body: encodeId({ idType: IdType.IPV4_ADDR, protocol: proto, port, data: ipv4ToBytes(this.o.local.address) }) });
      rest.push({ type: PayloadType.ID, body: encodeId({ idType: IdType.IPV4_ADDR, protocol: proto, port, data: ipv4ToBytes(this.o.server.address) }) });
    }
    if (spec.natOa) {
      rest.push({ type: PayloadType.NAT_OA, body: encodeNatOa({ idType: IdType.IPV4_ADDR, address: this.o.local.address }) });
      rest.push({ type: PayloadType.NAT_OA, body: encodeNatOa({ idType: IdType.IPV4_ADDR, address: this.o.server.address }) });
    }
    const h1 = refPrf(this.chosen.hash, this.keys.a, refBe32(mid), encodePayloadChain(rest));
    const iv = refPhase2Iv(this.chosen.hash, this.lastP1, mid, this.block);
    const r = this.message(ExchangeType.QUICK_MODE, mid, [{ type: PayloadType.HASH, body: h1 }, ...rest], iv);
    this.qms.set(mid, { mid, iv: r.nextIv!, ni, spiI, dh, spec });
    return { data: r.data, mid };
  }

  /** Verifies HASH(2), returns the decoded QM2 payloads. */
  onQm2(msg: Buffer): PayloadChain {
    const mid = decodeHeader(msg).messageId;
    const qm = this.qms.get(mid);
    if (!qm) throw new Error('QM2 for an unknown message id');
    const d = this.decrypt(qm.iv, msg);
    const expected = refPrf(this.chosen.hash, this.keys.a, refBe32(mid), qm.ni, d.chain.afterFirst);
    if (d.chain.order[0] !== PayloadType.HASH || !d.chain.hash?.value.data.equals(expected)) throw new Error('HASH(2) mismatch');
    qm.iv = d.nextIv;
    qm.nr = d.chain.nonce!.value.data;
    qm.spiR = d.chain.sa!.value.proposals[0]!.spi;
    if (qm.dh) {
      const g = qm.dh.computeShared(d.chain.ke!.value.data);
      if (!g) throw new Error('bad PFS KE');
      qm.gqm = g;
    }
    qm.payloads = d.chain;
    return d.chain;
  }

  qm3(mid: number): { data: Buffer; keys: ChildKeys } {
    const qm = this.qms.get(mid)!;
    const h3 = refPrf(this.chosen.hash, this.keys.a, new Uint8Array([0]), refBe32(mid), qm.ni, qm.nr!);
    const r = this.message(ExchangeType.QUICK_MODE, mid, [{ type: PayloadType.HASH, body: h3 }], qm.iv);
    const c = qm.spec.cipher;
    const encLen = c === '3des' ? 24 : Number(c.slice(3, 6)) / 8 + (c.endsWith('gcm16') ? 4 : 0);
    const authLen = qm.spec.auth === 'sha1' ? 20 : qm.spec.auth === 'sha256' ? 32 : 0;
    const km = (spi: Buffer): { encKey: Buffer; authKey: Buffer } => {
      const k = refKeymat(this.chosen.hash, this.keys.d, qm.gqm, ProtocolId.IPSEC_ESP, spi, qm.ni, qm.nr!, encLen + authLen);
      return { encKey: k.subarray(0, encLen), authKey: k.subarray(encLen) };
    };
    return { data: r.data, keys: { spiI: qm.spiI.readUInt32BE(0), spiR: qm.spiR!.readUInt32BE(0), i2r: km(qm.spiR!), r2i: km(qm.spiI) } };
  }

  /** An Informational exchange carrying the given payloads (HASH(1) in front). */
  informational(payloads: OutPayload[], mid = (randomBytes(4).readUInt32BE(0) | 1) >>> 0): Buffer {
    const h1 = refPrf(this.chosen.hash, this.keys.a, refBe32(mid), encodePayloadChain(payloads));
    const iv = refPhase2Iv(this.chosen.hash, this.lastP1, mid, this.block);
    return this.message(ExchangeType.INFORMATIONAL, mid, [{ type: PayloadType.HASH, body: h1 }, ...payloads], iv).data;
  }

  /** Decrypts and verifies an Informational from the responder. */
  openInformational(msg: Buffer): PayloadChain {
    const h = decodeHeader(msg);
    if (h.exchangeType !== ExchangeType.INFORMATIONAL) throw new Error('not informational');
    const d = this.decrypt(refPhase2Iv(this.chosen.hash, this.lastP1, h.messageId, this.block), msg);
    const expected = refPrf(this.chosen.hash, this.keys.a, refBe32(h.messageId), d.chain.afterFirst);
    if (!d.chain.hash?.value.data.equals(expected)) throw new Error('informational HASH mismatch');
    return d.chain;
  }

  /** Raw message builder for hostile tests: arbitrary payloads, optionally encrypted with a Phase 2 IV. */
  raw(exchange: number, mid: number, payloads: OutPayload[], encrypt: boolean): Buffer {
    if (!encrypt) return this.message(exchange, mid, payloads).data;
    return this.message(exchange, mid, payloads, refPhase2Iv(this.chosen.hash, this.lastP1, mid, this.block)).data;
  }

  get skeyidA(): Buffer {
    return this.keys.a;
  }
}
