import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { getDiffieHellman } from 'node:crypto';
import { Counters } from '../../src/core/counters.js';
import { attr } from '../../src/ike/wire/attributes.js';
import { DOI_IPSEC, ExchangeType, Flags, IdType, KEY_IKE, NotifyType, P1Attr, PayloadType, ProtocolId } from '../../src/ike/wire/constants.js';
import { decodeHeader } from '../../src/ike/wire/header.js';
import { decodeMessage, encodeMessage, encodePayloadChain, type OutPayload } from '../../src/ike/wire/message.js';
import { encodeSa, type Transform } from '../../src/ike/wire/sa.js';
import { encodeNotify } from '../../src/ike/wire/notify.js';
import { encodeDelete } from '../../src/ike/wire/delete.js';
import { encodeId } from '../../src/ike/wire/id.js';
import { ipv4ToBytes } from '../../src/core/ipv4.js';
import { deliver, initiator, logs, mainMode, only, quickMode, responder, sends, SERVER } from './harness.js';
import type { IkeOutput } from '../../src/ike/responder.js';
import type { ResponderCore } from '../../src/ike/core.js';

const PEER = { address: '203.0.113.7', port: 500 };
const hdr = (over: Partial<{ ci: Buffer; cr: Buffer; et: number; fl: number; mid: number }> = {}) => ({
  initiatorCookie: over.ci ?? Buffer.alloc(8, 0xab), responderCookie: over.cr ?? Buffer.alloc(8), exchangeType: over.et ?? ExchangeType.IDENTITY_PROTECTION, flags: over.fl ?? 0, messageId: over.mid ?? 0,
});
const p1t = (attrs: ReturnType<typeof attr>[], n = 1): Transform => ({ number: n, id: KEY_IKE, attributes: attrs });
const goodAttrs = () => [attr(P1Attr.ENCRYPTION, 7), attr(P1Attr.KEY_LENGTH, 128), attr(P1Attr.HASH, 2), attr(P1Attr.AUTH_METHOD, 1), attr(P1Attr.GROUP, 2)];
function mm1With(transforms: Transform[], extra: OutPayload[] = []): Buffer {
  const sa = encodeSa({ doi: 1, situation: 1, proposals: [{ number: 1, protocolId: 1, spi: Buffer.alloc(0), transforms }] });
  return encodeMessage(hdr(), PayloadType.SA, encodePayloadChain([{ type: PayloadType.SA, body: sa }, ...extra]));
}
const noSend = (out: IkeOutput[]) => expect(sends(out)).toHaveLength(0);

describe('HOSTILE-INPUTS B: ISAKMP parsing through receive()', () => {
  it('header length < 28, != datagram length, version != 1.0: dropped and counted', () => {
    const counters = new Counters();
    const r = responder({ counters });
    const good = mm1With([p1t(goodAttrs())]);
    noSend(r.receive(good.subarray(0, 20), PEER, SERVER, 0));
    noSend(r.receive(Buffer.concat([good, Buffer.alloc(4)]), PEER, SERVER, 0));
    const v2 = Buffer.from(good);
    v2[17] = 0x20;
    noSend(r.receive(v2, PEER, SERVER, 0));
    const v11 = Buffer.from(good);
    v11[17] = 0x11;
    noSend(r.receive(v11, PEER, SERVER, 0));
    expect(counters.get('ike.drop.decode.short-header')).toBe(1);
    expect(counters.get('ike.drop.decode.bad-length')).toBe(1);
    expect(counters.get('ike.drop.decode.bad-version')).toBe(2);
    for (let n = 0; n < 4; n++) noSend(r.receive(new Uint8Array(n), PEER, SERVER, 0));
    noSend(r.receive(good, { address: PEER.address, port: 0 }, SERVER, 0));
    expect(counters.get('ike.drop.source-port-zero')).toBe(1);
  });

  it('payload length < 4, past the end, > 64 payloads, duplicate SA/KE/Nonce: dropped, no state', () => {
    const counters = new Counters();
    const r = responder({ counters });
    const good = mm1With([p1t(goodAttrs())]);
    const bad1 = Buffer.from(good);
    bad1.writeUInt16BE(3, 30);
    const bad2 = Buffer.from(good);
    bad2.writeUInt16BE(0xfff0, 30);
    const many = mm1With([p1t(goodAttrs())], Array.from({ length: 64 }, () => ({ type: PayloadType.VID, body: Buffer.alloc(2) })));
    const saBody = encodeSa({ doi: 1, situation: 1, proposals: [{ number: 1, protocolId: 1, spi: Buffer.alloc(0), transforms: [p1t(goodAttrs())] }] });
    const dupSa = encodeMessage(hdr(), PayloadType.SA, encodePayloadChain([{ type: PayloadType.SA, body: saBody }, { type: PayloadType.SA, body: saBody }]));
    for (const m of [bad1, bad2, many, dupSa]) noSend(r.receive(m, PEER, SERVER, 0));
    expect(counters.get('ike.drop.decode.bad-payload-length')).toBe(1);
    expect(counters.get('ike.drop.decode.truncated')).toBe(1);
    expect(counters.get('ike.drop.decode.too-many-payloads')).toBe(1);
    expect(counters.get('ike.drop.decode.duplicate-payload')).toBe(1);
    // No half-open state was allocated: the good MM1 is still answered.
    expect(sends(r.receive(good, PEER, SERVER, 0))).toHaveLength(1);
  });

  it('0 or 255 transforms, TV/TLV mismatch, KEY_LENGTH 0, unknown groups: NO-PROPOSAL-CHOSEN no larger than the request, no state', () => {
    const counters = new Counters();
    const r = responder({ counters });
    const sa0 = Buffer.from(mm1With([p1t(goodAttrs())]));
    sa0[28 + 4 + 8 + 7] = 0; // # of transforms
    noSend(r.receive(sa0, PEER, SERVER, 0));
    const sa255 = Buffer.from(mm1With([p1t(goodAttrs())]));
    sa255[28 + 4 + 8 + 7] = 255;
    noSend(r.receive(sa255, PEER, SERVER, 0));
    const cases: Transform[][] = [
      [p1t([{ type: P1Attr.ENCRYPTION, basic: false, bytes: Buffer.from([0, 7]) }, attr(P1Attr.KEY_LENGTH, 128), attr(P1Attr.HASH, 2), attr(P1Attr.AUTH_METHOD, 1), attr(P1Attr.GROUP, 2)])],
      [p1t([attr(P1Attr.ENCRYPTION, 7), attr(P1Attr.KEY_LENGTH, 0), attr(P1Attr.HASH, 2), attr(P1Attr.AUTH_METHOD, 1), attr(P1Attr.GROUP, 2)])],
      [p1t([attr(P1Attr.ENCRYPTION, 7), attr(P1Attr.KEY_LENGTH, 128), attr(P1Attr.HASH, 2), attr(P1Attr.AUTH_METHOD, 1), attr(P1Attr.GROUP, 1)])],
      [p1t([attr(P1Attr.ENCRYPTION, 7), attr(P1Attr.KEY_LENGTH, 128), attr(P1Attr.HASH, 2), attr(P1Attr.AUTH_METHOD, 1), attr(P1Attr.GROUP, 999)])],
      [p1t([attr(P1Attr.ENCRYPTION, 7), attr(P1Attr.KEY_LENGTH, 128), attr(P1Attr.HASH, 1), attr(P1Attr.AUTH_METHOD, 1), attr(P1Attr.GROUP, 2)])], // MD5 without allowLegacy
      [p1t([attr(P1Attr.ENCRYPTION, 1), attr(P1Attr.HASH, 2), attr(P1Attr.AUTH_METHOD, 1), attr(P1Attr.GROUP, 2)])], // DES
      [p1t([attr(P1Attr.ENCRYPTION, 7), attr(P1Attr.KEY_LENGTH, 128), attr(P1Attr.HASH, 2), attr(P1Attr.AUTH_METHOD, 3), attr(P1Attr.GROUP, 2)])], // RSA sig
      [p1t([attr(P1Attr.ENCRYPTION, 7), attr(P1Attr.KEY_LENGTH, 128), attr(P1Attr.HASH, 2), attr(P1Attr.AUTH_METHOD, 1), attr(P1Attr.GROUP, 2), attr(P1Attr.GROUP_PRIME, 5)])],
      [p1t([attr(P1Attr.ENCRYPTION, 7), attr(P1Attr.KEY_LENGTH, 128), attr(P1Attr.HASH, 2), attr(P1Attr.AUTH_METHOD, 1)])],
      [{ number: 1, id: 3, attributes: goodAttrs() }],
    ];
    for (const [k, c] of cases.entries()) {
      const m = mm1With(c);
      const out = r.receive(m, PEER, SERVER, k * 10_000);
      const s = only(out);
      expect(s.data.length).toBeLessThanOrEqual(m.length);
      const reply = decodeMessage(s.data);
      expect(reply.header.exchangeType).toBe(ExchangeType.INFORMATIONAL);
      expect(reply.payloads.notifies[0]!.notifyType).toBe(NotifyType.NO_PROPOSAL_CHOSEN);
      expect(logs(out, 'ike.proposal.rejected')).toHaveLength(1);
    }
    expect(counters.get('ike.proposal.rejected')).toBe(cases.length);
    // The log line about unauthenticated input is rate-limited per peer (5 per 10 s); the counter is not.
    let logged = 0;
    for (let k = 0; k < 20; k++) logged += logs(r.receive(mm1With(cases[0]!), PEER, SERVER, 500_000), 'ike.proposal.rejected').length;
    expect(logged).toBe(5);
    expect(counters.get('ike.proposal.rejected')).toBe(cases.length + 20);
    expect(r.list()).toHaveLength(0);
    expect(r.nextDeadline()).toBeUndefined();
  });

  it('MM2 is never larger than the MM1 it answers (no amplification towards an unverified source)', () => {
    fc.assert(fc.property(fc.array(fc.constantFrom(...[2, 5, 14, 19, 20]), { minLength: 1, maxLength: 6 }), fc.boolean(), fc.boolean(), (groups, natT, dpd) => {
      const r = responder();
      const i = initiator({ p1: groups.map((g) => ({ enc: 'aes256' as const, hash: 'sha256' as const, group: g })), natT, dpd });
      const m = i.mm1();
      expect(only(deliver(r, i, m, 0)).data.length).toBeLessThanOrEqual(m.length);
    }), { numRuns: 100 });
  });

  it('MD5 is accepted only with allowLegacy', () => {
    const r = responder({ allowLegacy: true });
    const s = only(r.receive(mm1With([p1t([attr(P1Attr.ENCRYPTION, 7), attr(P1Attr.KEY_LENGTH, 128), attr(P1Attr.HASH, 1), attr(P1Attr.AUTH_METHOD, 1), attr(P1Attr.GROUP, 2)])]), PEER, SERVER, 0));
    expect(decodeMessage(s.data).payloads.sa).toBeDefined();
  });

  it('MM3 with a Nonce outside 8..256 bytes or KE of wrong length / 0 / 1 / p-1: dropped, no reply, no crash', () => {
    const p = getDiffieHellman('modp2').getPrime();
    const pm1 = Buffer.from(p);
    pm1[127]! -= 1;
    const one = Buffer.alloc(128);
    one[127] = 1;
    const kes = [Buffer.alloc(128), one, pm1, Buffer.from(p), Buffer.alloc(64, 9), Buffer.alloc(256, 9)];
    const nonces = [Buffer.alloc(7, 1), Buffer.alloc(257, 1)];
    for (const [ke, nonce] of [...kes.map((k) => [k, Buffer.alloc(16, 1)] as const), ...nonces.map((n) => [Buffer.alloc(128, 7), n] as const)]) {
      const counters = new Counters();
      const r = responder({ counters });
      const i = initiator();
      i.onMm2(only(deliver(r, i, i.mm1(), 0)).data);
      const m = encodeMessage(hdr({ ci: i.ckyI, cr: i.ckyR }), PayloadType.KE, encodePayloadChain([{ type: PayloadType.KE, body: ke }, { type: PayloadType.NONCE, body: nonce }]));
      noSend(r.receive(m, i.src, i.dst, 1));
      expect(counters.get('ike.drop.bad-ke') + counters.get('ike.drop.decode.bad-nonce')).toBe(1);
      // The real MM3 still works afterwards.
      expect(sends(deliver(r, i, i.mm3(), 2))).toHaveLength(1);
    }
  });

  it('every ID type in MM5: IPv4, FQDN, USER_FQDN, KEY_ID accepted, the others refused without reply', () => {
    const ids = [
      { idType: IdType.IPV4_ADDR, data: ipv4ToBytes('10.1.2.3'), ok: true },
      { idType: IdType.FQDN, data: Buffer.from('client.example'), ok: true },
      { idType: IdType.USER_FQDN, data: Buffer.from('user@example'), ok: true },
      { idType: IdType.KEY_ID, data: Buffer.from('key'), ok: true },
      { idType: IdType.IPV4_ADDR_SUBNET, data: Buffer.alloc(8, 1), ok: false },
      { idType: IdType.IPV6_ADDR, data: Buffer.alloc(16, 1), ok: false },
      { idType: IdType.IPV4_ADDR_RANGE, data: Buffer.alloc(8, 1), ok: false },
      { idType: IdType.DER_ASN1_DN, data: Buffer.alloc(20, 0x30), ok: false },
      { idType: IdType.DER_ASN1_GN, data: Buffer.alloc(20, 0x30), ok: false },
      { idType: IdType.IPV6_ADDR_SUBNET, data: Buffer.alloc(32, 1), ok: false },
      { idType: IdType.IPV6_ADDR_RANGE, data: Buffer.alloc(32, 1), ok: false },
    ];
    for (const id of ids) {
      const r = responder();
      const i = initiator({ id: { idType: id.idType, protocol: 0, port: 0, data: id.data } });
      i.onMm2(only(deliver(r, i, i.mm1(), 0)).data);
      i.onMm4(only(deliver(r, i, i.mm3(), 0)).data);
      const out = deliver(r, i, i.mm5(), 0);
      expect(sends(out).length).toBe(id.ok ? 1 : 0);
      expect(r.list().length).toBe(id.ok ? 1 : 0);
    }
  });
});

describe('HOSTILE-INPUTS C: the state machine', () => {
  it('a bad responder cookie in MM3 is dropped and counted', () => {
    const counters = new Counters();
    const r = responder({ counters });
    const i = initiator();
    i.onMm2(only(deliver(r, i, i.mm1(), 0)).data);
    i.ckyR = Buffer.alloc(8, 0x42);
    noSend(deliver(r, i, i.mm3(), 0));
    expect(counters.get('ike.drop.unknown-cookies')).toBe(1);
  });

  it('wrong PSK: MM5 fails to verify → ike.auth.failed naming the peer, nothing sent; the IV chain is unharmed', () => {
    const counters = new Counters();
    const r = responder({ counters });
    const i = initiator({ psk: Buffer.from('not the right key') });
    i.onMm2(only(deliver(r, i, i.mm1(), 0)).data);
    i.onMm4(only(deliver(r, i, i.mm3(), 0)).data);
    const out = deliver(r, i, i.mm5(), 0);
    noSend(out);
    const l = logs(out, 'ike.auth.failed');
    expect(l).toHaveLength(1);
    expect(JSON.stringify(l[0])).toContain('203.0.113.7:4500');
    expect(counters.get('ike.auth.failed')).toBe(1);
    expect(r.list()).toHaveLength(0);
  });

  it('wrong HASH_I with the right key takes the same error path; a correct MM5 afterwards succeeds', () => {
    const counters = new Counters();
    const r = responder({ counters });
    const i = initiator();
    i.onMm2(only(deliver(r, i, i.mm1(), 0)).data);
    i.onMm4(only(deliver(r, i, i.mm3(), 0)).data);
    const ivBefore = (i as unknown as { iv: Buffer }).iv;
    const out = deliver(r, i, i.mm5({ wrongPsk: true }), 0);
    noSend(out);
    expect(logs(out, 'ike.auth.failed')).toHaveLength(1);
    (i as unknown as { iv: Buffer }).iv = ivBefore;
    i.onMm6(only(deliver(r, i, i.mm5(), 0)).data);
    expect(r.list()).toHaveLength(1);
  });

  it('retransmissions get the cached reply and are not processed again', () => {
    const counters = new Counters();
    const r = responder({ counters });
    const i = initiator();
    const mm1 = i.mm1();
    const mm2 = only(deliver(r, i, mm1, 0)).data;
    expect(only(deliver(r, i, mm1, 1)).data.equals(mm2)).toBe(true);
    i.onMm2(mm2);
    const mm3 = i.mm3();
    const mm4 = only(deliver(r, i, mm3, 2)).data;
    expect(only(deliver(r, i, mm3, 3)).data.equals(mm4)).toBe(true);
    i.onMm4(mm4);
    const mm5 = i.mm5();
    const out5 = deliver(r, i, mm5, 4);
    const mm6 = only(out5).data;
    const again = deliver(r, i, mm5, 5);
    expect(only(again).data.equals(mm6)).toBe(true);
    expect(again.some((o) => o.type === 'ike-sa-up')).toBe(false);
    i.onMm6(mm6);
    const q = i.qm1({ cipher: 'aes128', auth: 'sha1' });
    const qm2 = only(deliver(r, i, q.data, 6)).data;
    expect(only(deliver(r, i, q.data, 7)).data.equals(qm2)).toBe(true);
    i.onQm2(qm2);
    const f = i.qm3(q.mid);
    expect(deliver(r, i, f.data, 8).filter((o) => o.type === 'child-sa-up')).toHaveLength(1);
    expect(deliver(r, i, f.data, 9).filter((o) => o.type === 'child-sa-up')).toHaveLength(0);
    // QM1 again after QM3 (a duplicate: the initiator has QM2): the exchange is forgotten,
    // its message ID is a replay; no reply, no new child.
    const late = deliver(r, i, q.data, 10);
    noSend(late);
    expect(late.filter((o) => o.type === 'child-sa-up')).toHaveLength(0);
    expect(r.list()).toHaveLength(1);
    expect(counters.get('ike.retransmit.mm1')).toBe(1);
    expect(counters.get('ike.retransmit.qm1')).toBe(1);
    expect(counters.get('ike.drop.qm-message-id-reused')).toBe(2);
  });

  it('what answered retransmissions is forgotten once the peer has moved on: MM6 at its first Phase 2 message, a Quick Mode at QM3', () => {
    const counters = new Counters();
    const r = responder({ counters });
    const core = (r as unknown as { core: ResponderCore }).core;
    const i = initiator();
    i.onMm2(only(deliver(r, i, i.mm1(), 0)).data);
    i.onMm4(only(deliver(r, i, i.mm3(), 1)).data);
    const mm5 = i.mm5();
    const mm6 = only(deliver(r, i, mm5, 2)).data;
    i.onMm6(mm6);
    const sa = [...core.sas.values()][0]!;
    // before any Phase 2 message MM5 may still come again (MM6 lost): answered from the cache
    expect(only(deliver(r, i, mm5, 3)).data.equals(mm6)).toBe(true);
    expect(sa.cache).toBeDefined();
    const q = i.qm1({ cipher: 'aes128', auth: 'sha1' });
    const qm2 = only(deliver(r, i, q.data, 4)).data;
    // QM1 decrypted with an IV chained from MM6's last block: the peer has MM6
    expect(sa.cache).toBeUndefined();
    noSend(deliver(r, i, mm5, 5));
    expect(counters.get('ike.drop.mm-after-established')).toBe(1);
    expect(sa.quickModes.size).toBe(1);
    i.onQm2(qm2);
    expect(deliver(r, i, i.qm3(q.mid).data, 6).filter((o) => o.type === 'child-sa-up')).toHaveLength(1);
    expect(sa.quickModes.size).toBe(0);
    expect(sa.usedMessageIds.has(q.mid)).toBe(true);
    // the SA goes on: a second Quick Mode (a rekey) works
    quickMode(r, i, { cipher: 'aes128', auth: 'sha1' }, 7);
    expect(sa.children.size).toBe(2);
    expect(sa.quickModes.size).toBe(0);
  });

  it('an Informational is proof enough: MM6 is forgotten at the first authenticated one', () => {
    const counters = new Counters();
    const r = responder({ counters });
    const core = (r as unknown as { core: ResponderCore }).core;
    const i = initiator({ dpd: true });
    mainMode(r, i, 0);
    const sa = [...core.sas.values()][0]!;
    expect(sa.cache).toBeDefined();
    deliver(r, i, i.informational([{ type: PayloadType.N, body: encodeNotify({ doi: DOI_IPSEC, protocolId: ProtocolId.ISAKMP, spi: Buffer.concat([sa.ckyI, sa.ckyR]), notifyType: NotifyType.R_U_THERE, data: Buffer.from([0, 0, 0, 1]) }) }]), 1);
    expect(sa.cache).toBeUndefined();
  });

  it('Aggressive Mode is refused: no reply, logged, counted', () => {
    const counters = new Counters();
    const r = responder({ counters });
    const m = encodeMessage(hdr({ et: ExchangeType.AGGRESSIVE }), PayloadType.SA, encodePayloadChain([{ type: PayloadType.SA, body: encodeSa({ doi: 1, situation: 1, proposals: [{ number: 1, protocolId: 1, spi: Buffer.alloc(0), transforms: [p1t(goodAttrs())] }] }) }]));
    const out = r.receive(m, PEER, SERVER, 0);
    noSend(out);
    expect(logs(out, 'ike.aggressive.refused')).toHaveLength(1);
    expect(counters.get('ike.aggressive.refused')).toBe(1);
  });

  it('out-of-order Main Mode messages are dropped (MM5 before MM3, MM3 twice with other content)', () => {
    const counters = new Counters();
    const r = responder({ counters });
    const i = initiator();
    i.onMm2(only(deliver(r, i, i.mm1(), 0)).data);
    const fake5 = encodeMessage(hdr({ ci: i.ckyI, cr: i.ckyR, fl: Flags.ENCRYPTION }), PayloadType.ID, Buffer.alloc(32, 1));
    noSend(r.receive(fake5, i.src, i.dst, 0));
    i.onMm4(only(deliver(r, i, i.mm3(), 0)).data);
    const i2 = initiator();
    noSend(r.receive(encodeMessage(hdr({ ci: i.ckyI, cr: i.ckyR }), PayloadType.KE, encodePayloadChain([{ type: PayloadType.KE, body: Buffer.alloc(128, 3) }, { type: PayloadType.NONCE, body: Buffer.alloc(16) }])), i.src, SERVER, 0));
    void i2;
    i.onMm6(only(deliver(r, i, i.mm5(), 0)).data);
    expect(r.list()).toHaveLength(1);
  });

  it('Quick Mode before Phase 1 completes, with a reused message id, or unencrypted: dropped and counted', () => {
    const counters = new Counters();
    const r = responder({ counters });
    const i = initiator();
    i.onMm2(only(deliver(r, i, i.mm1(), 0)).data);
    noSend(r.receive(encodeMessage(hdr({ ci: i.ckyI, cr: i.ckyR, et: ExchangeType.QUICK_MODE, fl: Flags.ENCRYPTION, mid: 7 }), PayloadType.HASH, Buffer.alloc(48, 1)), i.src, i.dst, 0));
    expect(counters.get('ike.drop.qm-before-phase1')).toBe(1);
    i.onMm4(only(deliver(r, i, i.mm3(), 0)).data);
    i.onMm6(only(deliver(r, i, i.mm5(), 0)).data);
    const a = i.qm1({ cipher: 'aes128', auth: 'sha1' }, 1234);
    expect(sends(deliver(r, i, a.data, 0))).toHaveLength(1);
    const drops = () => Object.entries(counters.snapshot()).filter(([k]) => k.startsWith('ike.drop.')).reduce((n, [, v]) => n + v, 0);
    const before = drops();
    const b = i.qm1({ cipher: 'aes256', auth: 'sha1' }, 1234);
    noSend(deliver(r, i, b.data, 0));
    expect(drops()).toBe(before + 1);
    noSend(r.receive(encodeMessage(hdr({ ci: i.ckyI, cr: i.ckyR, et: ExchangeType.QUICK_MODE, mid: 99 }), PayloadType.HASH, encodePayloadChain([{ type: PayloadType.HASH, body: Buffer.alloc(20) }])), i.src, i.dst, 0));
    expect(counters.get('ike.drop.qm-unencrypted')).toBe(1);
  });

  it('proposing anything but transport mode for udp/1701 is rejected with a notify, never a child', () => {
    for (const spec of [{ mode: 1 }, { mode: 3 }, { mode: 61443 }] as const) {
      const r = responder();
      const i = initiator();
      mainMode(r, i);
      const q = i.qm1({ cipher: 'aes128', auth: 'sha1', mode: spec.mode });
      const out = deliver(r, i, q.data, 0);
      const n = i.openInformational(only(out).data);
      expect(n.notifies[0]!.notifyType).toBe(NotifyType.NO_PROPOSAL_CHOSEN);
      expect(logs(out, 'ike.qm.rejected')).toHaveLength(1);
    }
    // IDcr of type FQDN (Libreswan CVE-2023-38711) → INVALID-ID-INFORMATION.
    const r = responder();
    const i = initiator();
    mainMode(r, i);
    const hashLen = 20;
    const rest: OutPayload[] = [
      { type: PayloadType.SA, body: encodeSa({ doi: 1, situation: 1, proposals: [{ number: 1, protocolId: 3, spi: Buffer.from([1, 2, 3, 4]), transforms: [{ number: 1, id: 12, attributes: [attr(4, 4), attr(6, 128), attr(5, 2)] }] }] }) },
      { type: PayloadType.NONCE, body: Buffer.alloc(16, 5) },
      { type: PayloadType.ID, body: encodeId({ idType: IdType.IPV4_ADDR, protocol: 17, port: 1701, data: ipv4ToBytes('192.168.1.10') }) },
      { type: PayloadType.ID, body: encodeId({ idType: IdType.FQDN, protocol: 17, port: 1701, data: Buffer.from('vpn.example') }) },
    ];
    void hashLen;
    const mid = 4242;
    const h1 = Buffer.from(require_prf(i.skeyidA, mid, encodePayloadChain(rest)));
    const out = deliver(r, i, i.raw(ExchangeType.QUICK_MODE, mid, [{ type: PayloadType.HASH, body: h1 }, ...rest], true), 0);
    expect(i.openInformational(only(out).data).notifies[0]!.notifyType).toBe(NotifyType.INVALID_ID_INFORMATION);
  });

  it('an authenticated error notify naming a pending Quick Mode SPI aborts that exchange', () => {
    const r = responder();
    const i = initiator();
    mainMode(r, i);
    const q = i.qm1({ cipher: 'aes128', auth: 'sha1' });
    const qm2 = i.onQm2(only(deliver(r, i, q.data, 0)).data);
    const ourSpi = qm2.sa!.value.proposals[0]!.spi;
    const n = encodeNotify({ doi: 1, protocolId: 3, spi: ourSpi, notifyType: NotifyType.NO_PROPOSAL_CHOSEN, data: Buffer.alloc(0) });
    const out = deliver(r, i, i.informational([{ type: PayloadType.N, body: n }]), 1);
    expect(logs(out, 'ike.qm.failed')).toHaveLength(1);
    // QM3 for the aborted exchange now finds nothing: no child.
    expect(deliver(r, i, i.qm3(q.mid).data, 2).some((o) => o.type === 'child-sa-up')).toBe(false);
  });

  it('unencrypted Informational after Phase 1 is dropped and counted', () => {
    const counters = new Counters();
    const r = responder({ counters });
    const i = initiator();
    mainMode(r, i);
    quickMode(r, i, { cipher: 'aes128', auth: 'sha1' });
    const del = encodeDelete({ doi: 1, protocolId: 1, spiSize: 16, spis: [Buffer.concat([i.ckyI, i.ckyR])] });
    const out = deliver(r, i, i.raw(ExchangeType.INFORMATIONAL, 77, [{ type: PayloadType.D, body: del }], false), 0);
    noSend(out);
    expect(out.some((o) => o.type === 'ike-sa-down')).toBe(false);
    expect(counters.get('ike.drop.informational-unencrypted')).toBe(1);
    expect(r.list()).toHaveLength(1);
  });

  it('Delete with num_spi = 65535 is dropped; Delete + Delete + notifies in one message are handled in order', () => {
    const counters = new Counters();
    const r = responder({ counters });
    const i = initiator();
    mainMode(r, i);
    const { up } = quickMode(r, i, { cipher: 'aes128', auth: 'sha1' });
    const bogus = Buffer.from([0, 0, 0, 1, 3, 4, 0xff, 0xff, 1, 2, 3, 4]);
    noSend(deliver(r, i, i.informational([{ type: PayloadType.D, body: bogus }]), 0));
    expect(counters.get('ike.drop.decode.bad-delete')).toBe(1);
    const spi = Buffer.alloc(4);
    spi.writeUInt32BE(up.outbound.spi);
    const delEsp = encodeDelete({ doi: 1, protocolId: 3, spiSize: 4, spis: [spi] });
    const delIke = encodeDelete({ doi: 1, protocolId: 1, spiSize: 16, spis: [Buffer.concat([i.ckyI, i.ckyR])] });
    const n = encodeNotify({ doi: 1, protocolId: 1, spi: Buffer.alloc(0), notifyType: 24578, data: Buffer.alloc(0) });
    const out = deliver(r, i, i.informational([{ type: PayloadType.D, body: delEsp }, { type: PayloadType.D, body: delIke }, { type: PayloadType.D, body: delIke }, { type: PayloadType.N, body: n }]), 1);
    expect(out.filter((o) => o.type === 'child-sa-down')).toEqual([expect.objectContaining({ id: up.id, inboundSpi: up.inbound.spi, reason: 'deleted by peer' })]);
    expect(out.filter((o) => o.type === 'ike-sa-down')).toHaveLength(1);
    expect(r.list()).toHaveLength(0);
  });

  it("a Delete naming another peer's SPI or IKE SA touches nothing of that peer", () => {
    const r = responder();
    const a = initiator({ seen500: { address: '203.0.113.7', port: 500 }, seen4500: { address: '203.0.113.7', port: 40001 } });
    const b = initiator({ seen500: { address: '203.0.113.7', port: 1500 }, seen4500: { address: '203.0.113.7', port: 40002 } });
    mainMode(r, a);
    mainMode(r, b);
    const ub = quickMode(r, b, { cipher: 'aes128', auth: 'sha1' }).up;
    const spi = Buffer.alloc(4);
    spi.writeUInt32BE(ub.outbound.spi);
    const spi2 = Buffer.alloc(4);
    spi2.writeUInt32BE(ub.inbound.spi);
    const out = deliver(r, a, a.informational([
      { type: PayloadType.D, body: encodeDelete({ doi: 1, protocolId: 3, spiSize: 4, spis: [spi, spi2] }) },
      { type: PayloadType.D, body: encodeDelete({ doi: 1, protocolId: 1, spiSize: 16, spis: [Buffer.concat([b.ckyI, b.ckyR])] }) },
    ]), 0);
    expect(out.some((o) => o.type === 'child-sa-down' || o.type === 'ike-sa-down')).toBe(false);
    expect(r.list()).toHaveLength(2);
  });

  it("one client's INITIAL-CONTACT spares another client with the same identity behind the same NAT", () => {
    const r = responder();
    const mk = (port: number, ic = false) => initiator({ seen500: { address: '203.0.113.7', port }, seen4500: { address: '203.0.113.7', port: port + 30000 }, initialContact: ic });
    const a = mk(500);
    const b = mk(1500);
    mainMode(r, a, 0);
    const ua = quickMode(r, a, { cipher: 'aes128', auth: 'sha1' }).up;
    mainMode(r, b, 1);
    const ubUp = quickMode(r, b, { cipher: 'aes128', auth: 'sha1' }).up;
    // Client A restarts (same NAT mapping) and says INITIAL-CONTACT.
    const a2 = mk(500, true);
    const out = mainMode(r, a2, 10);
    const downs = out.filter((o) => o.type === 'child-sa-down');
    expect(downs).toEqual([expect.objectContaining({ id: ua.id })]);
    expect(downs.some((d) => d.type === 'child-sa-down' && d.id === ubUp.id)).toBe(false);
    expect(r.list().map((s) => s.peer.port).sort()).toEqual([30500, 31500]);
  });

  it('more than 3 concurrent Quick Modes are refused', () => {
    const counters = new Counters();
    const r = responder({ counters });
    const i = initiator();
    mainMode(r, i);
    for (let k = 0; k < 3; k++) expect(sends(deliver(r, i, i.qm1({ cipher: 'aes128', auth: 'sha1' }).data, 0))).toHaveLength(1);
    noSend(deliver(r, i, i.qm1({ cipher: 'aes128', auth: 'sha1' }).data, 0));
    expect(counters.get('ike.drop.too-many-quick-modes')).toBe(1);
    // Unfinished exchanges expire after 30 s, then a new one is accepted.
    r.tick(30_000);
    expect(sends(deliver(r, i, i.qm1({ cipher: 'aes128', auth: 'sha1' }).data, 30_001))).toHaveLength(1);
  });

  it('half-open limits: 5 per address, then the oldest of that address is evicted; they expire after 30 s', () => {
    const counters = new Counters();
    const r = responder({ counters, halfOpenPerAddress: 5 });
    for (let k = 0; k < 6; k++) {
      const i = initiator({ seen500: { address: '203.0.113.9', port: 1000 + k } });
      expect(sends(deliver(r, i, i.mm1(), k))).toHaveLength(1);
    }
    expect(counters.get('ike.halfopen.evicted.per-address')).toBe(1);
    const other = initiator({ seen500: { address: '203.0.113.10', port: 500 } });
    expect(sends(deliver(r, other, other.mm1(), 10))).toHaveLength(1);
    expect(r.nextDeadline()).toBe(30_001);
    r.tick(30_010);
    expect(counters.get('ike.halfopen.expired')).toBe(6);
    const again = initiator({ seen500: { address: '203.0.113.9', port: 2000 } });
    expect(sends(deliver(r, again, again.mm1(), 30_011))).toHaveLength(1);
  });

  it('DPD: R-U-THERE gets R-U-THERE-ACK with the same sequence number; our probes after idle; 5 misses → SAs down', () => {
    const r = responder({ dpdIdle: 30 });
    const i = initiator({ dpd: true });
    mainMode(r, i, 0);
    quickMode(r, i, { cipher: 'aes128', auth: 'sha1' }, 0);
    const spi = Buffer.concat([i.ckyI, i.ckyR]);
    const rut = encodeNotify({ doi: DOI_IPSEC, protocolId: ProtocolId.ISAKMP, spi, notifyType: NotifyType.R_U_THERE, data: Buffer.from([0, 0, 0x12, 0x34]) });
    const ack = i.openInformational(only(deliver(r, i, i.informational([{ type: PayloadType.N, body: rut }]), 1000)).data);
    expect(ack.notifies[0]!.notifyType).toBe(NotifyType.R_U_THERE_ACK);
    expect(ack.notifies[0]!.data.equals(Buffer.from([0, 0, 0x12, 0x34]))).toBe(true);
    expect(ack.notifies[0]!.spi.equals(spi)).toBe(true);
    expect(r.nextDeadline()).toBe(31_000);
    noSend(r.tick(30_999));
    const probe = i.openInformational(only(r.tick(31_000)).data);
    expect(probe.notifies[0]!.notifyType).toBe(NotifyType.R_U_THERE);
    const seq = probe.notifies[0]!.data;
    // An ACK resets the probe cycle.
    const reply = encodeNotify({ doi: DOI_IPSEC, protocolId: ProtocolId.ISAKMP, spi, notifyType: NotifyType.R_U_THERE_ACK, data: seq });
    noSend(deliver(r, i, i.informational([{ type: PayloadType.N, body: reply }]), 32_000));
    noSend(r.tick(40_000));
    let t = 62_000;
    let probes = 0;
    let down: IkeOutput[] = [];
    for (let k = 0; k < 10 && down.length === 0; k++) {
      const out = r.tick(t);
      probes += sends(out).length;
      down = out.filter((o) => o.type === 'ike-sa-down' || o.type === 'child-sa-down');
      t += 5000;
    }
    expect(probes).toBe(5);
    expect(down.map((d) => d.type).sort()).toEqual(['child-sa-down', 'ike-sa-down']);
    expect(r.list()).toHaveLength(0);
  });

  it('no DPD probes to a peer that did not announce DPD (Windows); dpdIdle 0 turns it off', () => {
    const r = responder();
    const i = initiator({ dpd: false });
    mainMode(r, i);
    noSend(r.tick(100_000));
    const r2 = responder({ dpdIdle: 0 });
    const i2 = initiator({ dpd: true });
    mainMode(r2, i2);
    noSend(r2.tick(100_000));
  });

  it('IKE SA lifetime expiry sends Delete and reports ike-sa-down', () => {
    const r = responder({ ikeLifetimeMax: 100 });
    const i = initiator();
    mainMode(r, i);
    const out = r.tick(100_000);
    expect(i.openInformational(only(out).data).deletes[0]!.protocolId).toBe(ProtocolId.ISAKMP);
    expect(out.some((o) => o.type === 'ike-sa-down')).toBe(true);
  });

  it('every message in every state, in any order and duplicated: never throws, never establishes twice', () => {
    // Record a complete exchange, then replay its messages in random orders to fresh responders.
    const r0 = responder();
    const i = initiator();
    const msgs: Buffer[] = [];
    const tap = (m: Buffer) => {
      msgs.push(m);
      return m;
    };
    i.onMm2(only(r0.receive(tap(i.mm1()), i.src, i.dst, 0)).data);
    i.onMm4(only(r0.receive(tap(i.mm3()), i.src, i.dst, 0)).data);
    i.onMm6(only(r0.receive(tap(i.mm5()), i.src, i.dst, 0)).data);
    const q = i.qm1({ cipher: 'aes128', auth: 'sha1' });
    i.onQm2(only(r0.receive(tap(q.data), i.src, i.dst, 0)).data);
    tap(i.qm3(q.mid).data);
    tap(i.informational([{ type: PayloadType.N, body: encodeNotify({ doi: 1, protocolId: 1, spi: Buffer.concat([i.ckyI, i.ckyR]), notifyType: NotifyType.R_U_THERE, data: Buffer.from([0, 0, 0, 1]) }) }]));
    fc.assert(
      fc.property(fc.array(fc.nat(msgs.length - 1), { maxLength: 20 }), fc.array(fc.tuple(fc.nat(300), fc.nat(255)), { maxLength: 3 }), (order, muts) => {
        const r = responder();
        let ups = 0;
        for (const [n, k] of order.entries()) {
          const m = Buffer.from(msgs[k]!);
          if (n === 0) for (const [at, v] of muts) if (at < m.length) m[at] = v;
          const out = r.receive(m, n % 2 ? i.src : { address: '203.0.113.7', port: 500 }, n % 3 ? i.dst : SERVER, n);
          ups += out.filter((o) => o.type === 'ike-sa-up').length;
          for (const s of sends(out)) expect(() => decodeHeader(s.data)).not.toThrow();
        }
        expect(ups).toBeLessThanOrEqual(0); // a different responder has different cookies and keys: nothing establishes
      }),
      { numRuns: 150 },
    );
  });

  it('random bytes and mutated recorded messages to an established responder never throw', () => {
    const r = responder();
    const i = initiator();
    mainMode(r, i);
    quickMode(r, i, { cipher: 'aes128', auth: 'sha1' });
    const base = i.qm1({ cipher: 'aes128', auth: 'sha1' }).data;
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u)), fc.array(fc.tuple(fc.nat(base.length - 1), fc.nat(255)), { minLength: 1, maxLength: 4 }).map((ms) => {
        const m = Buffer.from(base);
        for (const [at, v] of ms) m[at] = v;
        return m;
      })), (m) => {
        const out = r.receive(m, i.src, i.dst, 5);
        expect(out.every((o) => o.type === 'send' || o.type === 'log')).toBe(true);
      }),
      { numRuns: 300 },
    );
    expect(r.list()).toHaveLength(1);
  });
});

import { prf } from '../../src/ike/crypto/prf.js';
function require_prf(key: Buffer, mid: number, rest: Buffer): Buffer {
  const m = Buffer.alloc(4);
  m.writeUInt32BE(mid);
  return prf('sha1', key, m, rest);
}
