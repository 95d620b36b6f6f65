/** The IKE_SA_INIT responder (RFC 7296 §1.2, §2.6, §2.23, RFC 7383, RFC 7427) driven by the test initiator. */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Endpoint } from '../../src/core/sa.js';
import { COOKIE_BUCKET_MS } from '../../src/ikev2/cookie.js';
import { natDetectionHash } from '../../src/ikev2/natd.js';
import { DEFAULT_IKEV2_POLICY, withoutModp1024 } from '../../src/ikev2/policy.js';
import { HALF_OPEN_TIMEOUT_MS, Ikev2Responder, type Ikev2Output, type Ikev2ResponderConfig } from '../../src/ikev2/responder.js';
import { DhGroup, Encr, HashAlgorithm, Integ, NotifyType, PayloadType, Prf } from '../../src/ikev2/wire/constants.js';
import { decodeMessage, encodeMessage, findPayload } from '../../src/ikev2/wire/message.js';
import { ikeProposal, TestInitiator, type InitiatorOptions, type ProposalSpec } from './initiator.js';
import { payloadListArb, saArb } from './arbitraries.js';

const SERVER: Endpoint = { address: '198.51.100.1', port: 500 };
const CLIENT: Endpoint = { address: '203.0.113.7', port: 500 };

function responder(cfg: Partial<Ikev2ResponderConfig> = {}): Ikev2Responder {
  return new Ikev2Responder({ cookieSecret: Buffer.alloc(32, 7), ...cfg });
}

const sends = (out: Ikev2Output[]) => out.filter((o): o is Extract<Ikev2Output, { type: 'send' }> => o.type === 'send');

function one(out: Ikev2Output[]): Buffer {
  const s = sends(out);
  expect(s).toHaveLength(1);
  return s[0]!.data;
}

function initiator(specs: ProposalSpec[], keGroup: number, over: Partial<InitiatorOptions> = {}): TestInitiator {
  return new TestInitiator({ proposals: specs.map((s, i) => ikeProposal(i + 1, s)), keGroup, local: CLIENT, remote: SERVER, ...over });
}

/** Runs IKE_SA_INIT to the end (following COOKIE and INVALID_KE_PAYLOAD), returns the results seen. */
function run(r: Ikev2Responder, i: TestInitiator, from: Endpoint = CLIENT, now = 0): string[] {
  const seen: string[] = [];
  for (let k = 0; k < 4; k++) {
    const res = i.handle(one(r.receive(i.request(), from, SERVER, now)));
    seen.push(res.kind === 'error' ? `error:${res.notify}` : res.kind);
    if (res.kind === 'done' || res.kind === 'error') break;
  }
  return seen;
}

const ANDROID: ProposalSpec[] = [
  { encr: [[Encr.AES_CBC, 256], [Encr.AES_CBC, 192], [Encr.AES_CBC, 128]], integ: [Integ.HMAC_SHA2_512_256, Integ.HMAC_SHA2_384_192, Integ.HMAC_SHA2_256_128, Integ.AES_XCBC_96], dh: [DhGroup.MODP4096, DhGroup.CURVE25519, DhGroup.MODP3072, DhGroup.MODP2048], prf: [Prf.HMAC_SHA2_512, Prf.HMAC_SHA2_384, Prf.HMAC_SHA2_256, Prf.AES128_XCBC, Prf.HMAC_SHA1] },
  { encr: [[Encr.CHACHA20_POLY1305], [Encr.AES_GCM_16, 256], [Encr.AES_GCM_12, 256], [Encr.AES_GCM_8, 256]], dh: [DhGroup.MODP4096, DhGroup.CURVE25519, DhGroup.MODP3072, DhGroup.MODP2048], prf: [Prf.HMAC_SHA2_512, Prf.HMAC_SHA2_256] },
];
const WINDOWS: ProposalSpec[] = [
  { encr: [[Encr['3DES']]], integ: [Integ.HMAC_SHA1_96], prf: [Prf.HMAC_SHA1], dh: [DhGroup.MODP1024] },
  { encr: [[Encr.AES_CBC, 256]], integ: [Integ.HMAC_SHA1_96], prf: [Prf.HMAC_SHA1], dh: [DhGroup.MODP1024] },
  { encr: [[Encr['3DES']]], integ: [Integ.HMAC_SHA2_256_128], prf: [Prf.HMAC_SHA2_256], dh: [DhGroup.MODP1024] },
  { encr: [[Encr.AES_CBC, 256]], integ: [Integ.HMAC_SHA2_256_128], prf: [Prf.HMAC_SHA2_256], dh: [DhGroup.MODP1024] },
];
const APPLE: ProposalSpec[] = [
  { encr: [[Encr.AES_CBC, 256]], integ: [Integ.HMAC_SHA2_256_128], prf: [Prf.HMAC_SHA2_256], dh: [DhGroup.MODP2048, DhGroup.ECP256, DhGroup.MODP1536] },
  { encr: [[Encr.AES_CBC, 128]], integ: [Integ.HMAC_SHA1_96], prf: [Prf.HMAC_SHA1], dh: [DhGroup.MODP1024] },
];

describe('IKE_SA_INIT with the built-in clients\' proposals', () => {
  it('Android 13+ (KE X25519): AES-CBC-256 with our preferred SHA2-256 from its list; both sides derive the same keys', () => {
    const r = responder();
    const i = initiator(ANDROID, DhGroup.CURVE25519, { fragmentation: true, signatureHashes: [HashAlgorithm.SHA2_256, HashAlgorithm.SHA2_384, HashAlgorithm.SHA2_512] });
    const out = r.receive(i.request(), CLIENT, SERVER, 0);
    expect(i.handle(one(out))).toEqual({ kind: 'done' });
    const sa = r.sa(i.spiR)!;
    expect(sa.keys).toEqual(i.keys);
    expect(out.find((o) => o.type === 'ikev2-sa-init')).toMatchObject({ suite: 'aes256-cbc/hmac-sha256-128/prfsha256/CURVE25519', fragmentation: true });
    expect(i.chosen!.number).toBe(1);
    expect(i.chosen!.transforms.map((t) => [t.type, t.id])).toEqual([[1, Encr.AES_CBC], [2, Prf.HMAC_SHA2_256], [3, Integ.HMAC_SHA2_256_128], [4, DhGroup.CURVE25519]]);
    expect(sa.peerSignatureHashes).toEqual([2, 3, 4]);
    const types = i.notifies().map((n) => n.type);
    expect(types).toEqual([NotifyType.NAT_DETECTION_SOURCE_IP, NotifyType.NAT_DETECTION_DESTINATION_IP, NotifyType.IKEV2_FRAGMENTATION_SUPPORTED, NotifyType.SIGNATURE_HASH_ALGORITHMS]);
    expect(i.notifies().find((n) => n.type === NotifyType.SIGNATURE_HASH_ALGORITHMS)!.data).toEqual(Buffer.from([0, 2, 0, 3, 0, 4]));
    expect(r.halfOpenCount).toBe(1);
  });

  it('Android, AEAD proposal only: AES-GCM-16-256 without an integrity transform', () => {
    const r = responder();
    const i = initiator([ANDROID[1]!], DhGroup.MODP2048);
    expect(run(r, i)).toEqual(['done']);
    expect(r.sa(i.spiR)!.suite.integ).toBeUndefined();
    expect(r.sa(i.spiR)!.suite.encr.label).toBe('aes256-gcm128');
    expect(r.sa(i.spiR)!.keys).toEqual(i.keys);
  });

  it('Windows defaults (MODP1024): AES-256/SHA1, the first acceptable; refused when MODP1024 is off', () => {
    const r = responder();
    const i = initiator(WINDOWS, DhGroup.MODP1024);
    expect(run(r, i)).toEqual(['done']);
    expect(i.chosen!.number).toBe(2);
    expect(r.sa(i.spiR)!.keys).toEqual(i.keys);
    const strict = responder({ policy: withoutModp1024(DEFAULT_IKEV2_POLICY) });
    expect(run(strict, initiator(WINDOWS, DhGroup.MODP1024))).toEqual([`error:${NotifyType.NO_PROPOSAL_CHOSEN}`]);
    expect(strict.halfOpenCount).toBe(0);
  });

  it('iOS/macOS: a proposal with several groups takes the one of the KE payload', () => {
    const r = responder();
    const i = initiator(APPLE, DhGroup.MODP2048);
    expect(run(r, i)).toEqual(['done']);
    expect(r.sa(i.spiR)!.suite.dh.id).toBe(DhGroup.MODP2048);
    expect(r.sa(i.spiR)!.keys).toEqual(i.keys);
  });

  it('within a proposal our order decides: AES-256 over AES-128 whatever order the client lists them', () => {
    const r = responder();
    const i = initiator([{ ...APPLE[0]!, encr: [[Encr.AES_CBC, 128], [Encr.AES_CBC, 256]] }], DhGroup.ECP256);
    expect(run(r, i)).toEqual(['done']);
    expect(r.sa(i.spiR)!.suite.encr.keyBytes).toBe(32);
  });
  it('a later proposal that fits the KE group is taken over an earlier one that does not', () => {
    const r = responder();
    const i = initiator([{ ...APPLE[0]!, dh: [DhGroup.ECP384] }, { ...APPLE[0]!, dh: [DhGroup.ECP256] }], DhGroup.ECP256);
    expect(run(r, i)).toEqual(['done']);
    expect(i.chosen!.number).toBe(2);
  });
});

describe('INVALID_KE_PAYLOAD (§1.2)', () => {
  it('the client guessed a group outside the proposal: asked for one of ours, then it works', () => {
    const r = responder();
    const i = initiator([{ ...APPLE[0]!, dh: [DhGroup.ECP384, DhGroup.ECP256] }], DhGroup.CURVE25519);
    expect(run(r, i)).toEqual(['invalid-ke', 'done']);
    expect(i.keGroup).toBe(DhGroup.ECP256); // our preference among the proposal's groups
    expect(r.sa(i.spiR)!.keys).toEqual(i.keys);
    expect(r.counters.get('ikev2.init.invalid-ke-payload')).toBe(1);
  });
  it('a group the policy refuses is never taken, even with a matching KE', () => {
    const r = responder({ policy: withoutModp1024(DEFAULT_IKEV2_POLICY) });
    const i = initiator([{ ...APPLE[0]!, dh: [DhGroup.MODP1024, DhGroup.MODP2048] }], DhGroup.MODP1024);
    expect(run(r, i)).toEqual(['invalid-ke', 'done']);
    expect(r.sa(i.spiR)!.suite.dh.id).toBe(DhGroup.MODP2048);
  });
  it('a rejection keeps no state and is not bigger than the request', () => {
    const r = responder();
    const i = initiator([{ ...APPLE[0]!, dh: [DhGroup.ECP256] }], DhGroup.MODP2048);
    const req = i.request();
    const resp = one(r.receive(req, CLIENT, SERVER, 0));
    expect(resp.length).toBeLessThan(req.length);
    expect(decodeMessage(resp).header.spiR).toEqual(Buffer.alloc(8));
    expect(r.halfOpenCount).toBe(0);
  });
});

describe('NO_PROPOSAL_CHOSEN', () => {
  const cases: [string, ProposalSpec][] = [
    ['AES-GMAC (CVE-2024-3652)', { encr: [[Encr.NULL_AUTH_AES_GMAC, 128]], prf: [Prf.HMAC_SHA2_256], dh: [19] }],
    ['3DES only', { encr: [[Encr['3DES']]], integ: [Integ.HMAC_SHA1_96], prf: [Prf.HMAC_SHA1], dh: [14] }],
    ['AES-CBC without Key Length', { encr: [[Encr.AES_CBC]], integ: [Integ.HMAC_SHA1_96], prf: [Prf.HMAC_SHA1], dh: [14] }],
    ['AES-CBC without integrity', { encr: [[Encr.AES_CBC, 128]], prf: [Prf.HMAC_SHA1], dh: [14] }],
    ['AES-GCM with an integrity algorithm', { encr: [[Encr.AES_GCM_16, 128]], integ: [Integ.HMAC_SHA1_96], prf: [Prf.HMAC_SHA1], dh: [14] }],
    ['no PRF', { encr: [[Encr.AES_CBC, 128]], integ: [Integ.HMAC_SHA1_96], prf: [], dh: [14] }],
    ['only XCBC', { encr: [[Encr.AES_CBC, 128]], integ: [Integ.AES_XCBC_96], prf: [Prf.AES128_XCBC], dh: [14] }],
    ['no DH', { encr: [[Encr.AES_CBC, 128]], integ: [Integ.HMAC_SHA1_96], prf: [Prf.HMAC_SHA1], dh: [] }],
    ['MODP768', { encr: [[Encr.AES_CBC, 128]], integ: [Integ.HMAC_SHA1_96], prf: [Prf.HMAC_SHA1], dh: [1] }],
  ];
  for (const [name, spec] of cases) {
    it(name, () => {
      const r = responder();
      expect(run(r, initiator([spec], DhGroup.MODP2048))).toEqual([`error:${NotifyType.NO_PROPOSAL_CHOSEN}`]);
      expect(r.halfOpenCount).toBe(0);
    });
  }
  it('an unknown transform type or attribute, an SPI, or protocol ESP make a proposal unacceptable', () => {
    const good = ikeProposal(1, APPLE[0]!);
    for (const bad of [
      { ...good, transforms: [...good.transforms, { type: 9, id: 1, attributes: [] }] },
      { ...good, transforms: good.transforms.map((t, k) => (k === 0 ? { ...t, attributes: [...t.attributes, { type: 99, tv: true as const, value: 1 }] } : t)) },
      { ...good, spi: Buffer.alloc(8, 1) },
      { ...good, protocolId: 3 },
    ]) {
      const r = responder();
      const i = new TestInitiator({ proposals: [bad], keGroup: DhGroup.MODP2048, local: CLIENT, remote: SERVER });
      expect(run(r, i)).toEqual([`error:${NotifyType.NO_PROPOSAL_CHOSEN}`]);
    }
  });
  it('property: any SA payload gets an answer (a choice or a notify), never a throw', () => {
    fc.assert(
      fc.property(saArb, fc.constantFrom(19, 31), (sa, g) => {
        const r = responder();
        const i = new TestInitiator({ proposals: sa.proposals, keGroup: g, local: CLIENT, remote: SERVER });
        const out = r.receive(i.request(), CLIENT, SERVER, 0);
        expect(out.filter((o) => o.type === 'log' && o.event === 'ikev2.internal.error')).toEqual([]);
        const s = sends(out);
        expect(s).toHaveLength(1);
      }),
      { numRuns: 300 },
    );
  });
});

describe('NAT detection (§2.23)', () => {
  it('no NAT: both hashes match; the response hashes use the response SPIs', () => {
    const r = responder();
    const i = initiator(APPLE, DhGroup.MODP2048);
    run(r, i);
    expect(r.sa(i.spiR)!.nat).toEqual({ peerBehindNat: false, weBehindNat: false, supported: true });
    const ns = i.notifies();
    expect(ns.find((n) => n.type === NotifyType.NAT_DETECTION_SOURCE_IP)!.data).toEqual(natDetectionHash(i.spiI, i.spiR, SERVER));
    expect(ns.find((n) => n.type === NotifyType.NAT_DETECTION_DESTINATION_IP)!.data).toEqual(natDetectionHash(i.spiI, i.spiR, CLIENT));
  });
  it('the client behind NAT (another source seen), the server behind NAT (another destination used)', () => {
    const r = responder();
    const nated: Endpoint = { address: '192.0.2.50', port: 61000 };
    const i = initiator(APPLE, DhGroup.MODP2048);
    run(r, i, nated);
    expect(r.sa(i.spiR)!.nat).toEqual({ peerBehindNat: true, weBehindNat: false, supported: true });
    expect(r.sa(i.spiR)!.peer).toEqual(nated);
    const j = initiator(APPLE, DhGroup.MODP2048, { remote: { address: '192.0.2.1', port: 500 } });
    run(r, j);
    expect(r.sa(j.spiR)!.nat).toMatchObject({ peerBehindNat: false, weBehindNat: true });
  });
  it('no NAT detection from the client: none in the answer; forced encapsulation claims a NAT', () => {
    const r = responder();
    const i = initiator(APPLE, DhGroup.MODP2048, { natDetection: false });
    run(r, i);
    expect(r.sa(i.spiR)!.nat.supported).toBe(false);
    expect(i.notifies().filter((n) => n.type === NotifyType.NAT_DETECTION_SOURCE_IP)).toEqual([]);
    const f = responder({ forceEncapsulation: true });
    const j = initiator(APPLE, DhGroup.MODP2048);
    run(f, j);
    expect(j.notifies().find((n) => n.type === NotifyType.NAT_DETECTION_SOURCE_IP)!.data).not.toEqual(natDetectionHash(j.spiI, j.spiR, SERVER));
    expect(f.sa(j.spiR)!.nat.weBehindNat).toBe(true);
  });
  it('fragmentation and signature hashes are announced only to a client that announced them', () => {
    const r = responder();
    const i = initiator(APPLE, DhGroup.MODP2048);
    run(r, i);
    expect(i.notifies().map((n) => n.type)).toEqual([NotifyType.NAT_DETECTION_SOURCE_IP, NotifyType.NAT_DETECTION_DESTINATION_IP]);
    expect(r.sa(i.spiR)!.fragmentation).toBe(false);
    const off = responder({ fragmentation: false });
    const j = initiator(APPLE, DhGroup.MODP2048, { fragmentation: true });
    run(off, j);
    expect(off.sa(j.spiR)!.fragmentation).toBe(false);
  });
});

describe('COOKIE (§2.6) and half-open limits', () => {
  const from = (n: number): Endpoint => ({ address: `203.0.113.${n}`, port: 500 });
  it('past the threshold a request needs a COOKIE; the retry with it is answered', () => {
    const r = responder({ cookieThreshold: 2 });
    for (let n = 1; n <= 2; n++) expect(run(r, initiator(APPLE, DhGroup.MODP2048, { local: from(n) }), from(n))).toEqual(['done']);
    const i = initiator(APPLE, DhGroup.MODP2048, { local: from(3) });
    const req = i.request();
    const c = one(r.receive(req, from(3), SERVER, 1000));
    expect(c.length).toBeLessThan(req.length);
    expect(i.handle(c).kind).toBe('cookie');
    expect(r.halfOpenCount).toBe(2);
    expect(i.handle(one(r.receive(i.request(), from(3), SERVER, 2000))).kind).toBe('done');
    expect(r.halfOpenCount).toBe(3);
    expect(r.sa(i.spiR)!.keys).toEqual(i.keys);
  });
  it('a wrong, foreign or stale cookie is answered with a fresh COOKIE, never with state', () => {
    const r = responder({ cookieThreshold: 0 });
    const i = initiator(APPLE, DhGroup.MODP2048);
    expect(i.handle(one(r.receive(i.request(), CLIENT, SERVER, 0))).kind).toBe('cookie');
    const good = i.cookie!;
    // another address
    expect(decodeMessage(one(r.receive(i.request(), { address: '203.0.113.99', port: 500 }, SERVER, 0))).header.spiR).toEqual(Buffer.alloc(8));
    // a changed byte
    i.cookie = Buffer.from(good);
    i.cookie[10] = i.cookie[10]! ^ 1;
    expect(i.handle(one(r.receive(i.request(), CLIENT, SERVER, 0))).kind).toBe('cookie');
    // two buckets later
    i.cookie = good;
    expect(i.handle(one(r.receive(i.request(), CLIENT, SERVER, 2 * COOKIE_BUCKET_MS + 1))).kind).toBe('cookie');
    expect(r.halfOpenCount).toBe(0);
    expect(r.counters.get('ikev2.init.bad-cookie')).toBe(3);
    // one bucket later it still works
    const j = initiator(APPLE, DhGroup.MODP2048);
    j.handle(one(r.receive(j.request(), CLIENT, SERVER, 0)));
    expect(j.handle(one(r.receive(j.request(), CLIENT, SERVER, COOKIE_BUCKET_MS + 5))).kind).toBe('done');
  });
  it('half-open SAs per address and in total are bounded; they expire after the timeout', () => {
    const r = responder({ halfOpenPerAddress: 2, halfOpenTotal: 3 });
    for (let k = 0; k < 2; k++) expect(run(r, initiator(APPLE, DhGroup.ECP256))).toEqual(['done']);
    expect(sends(r.receive(initiator(APPLE, DhGroup.ECP256).request(), CLIENT, SERVER, 0))).toEqual([]);
    expect(r.counters.get('ikev2.drop.half-open-per-address')).toBe(1);
    expect(run(r, initiator(APPLE, DhGroup.ECP256), from(9))).toEqual(['done']);
    expect(sends(r.receive(initiator(APPLE, DhGroup.ECP256).request(), from(10), SERVER, 0))).toEqual([]);
    expect(r.counters.get('ikev2.drop.half-open-limit')).toBe(1);
    expect(r.nextDeadline()).toBe(HALF_OPEN_TIMEOUT_MS);
    expect(r.tick(HALF_OPEN_TIMEOUT_MS - 1).filter((o) => o.type === 'ikev2-sa-gone')).toEqual([]);
    expect(r.tick(HALF_OPEN_TIMEOUT_MS).filter((o) => o.type === 'ikev2-sa-gone')).toHaveLength(3);
    expect(r.halfOpenCount).toBe(0);
    expect(r.nextDeadline()).toBeUndefined();
    expect(run(r, initiator(APPLE, DhGroup.ECP256), CLIENT, HALF_OPEN_TIMEOUT_MS)).toEqual(['done']);
  });
});

describe('hostile IKE_SA_INIT', () => {
  it('a retransmitted request gets the same response and no second SA; another request with that SPI is dropped', () => {
    const r = responder();
    const i = initiator(APPLE, DhGroup.ECP256);
    const req = i.request();
    const a = one(r.receive(req, CLIENT, SERVER, 0));
    const b = one(r.receive(req, CLIENT, SERVER, 100));
    expect(b).toEqual(a);
    expect(r.halfOpenCount).toBe(1);
    const other = Buffer.from(initiator(APPLE, DhGroup.ECP256).request());
    i.spiI.copy(other, 0);
    expect(sends(r.receive(other, CLIENT, SERVER, 0))).toEqual([]);
    expect(r.counters.get('ikev2.drop.init-spi-reused')).toBe(1);
  });
  it('header rules: response flag, no I flag, message ID, SPIr, zero SPIi, IKEv1 version', () => {
    const r = responder();
    const req = initiator(APPLE, DhGroup.ECP256).request();
    const variants: [number, number][] = [[19, 0x28], [19, 0x00], [23, 1], [8, 1], [17, 0x10]];
    for (const [at, v] of variants) {
      const m = Buffer.from(req);
      if (at === 8) m[8] = v; // SPIr not zero
      else if (at === 17) m[17] = v;
      else m[at] = v;
      expect(sends(r.receive(m, CLIENT, SERVER, 0))).toEqual([]);
    }
    const zero = Buffer.from(req);
    zero.fill(0, 0, 8);
    expect(sends(r.receive(zero, CLIENT, SERVER, 0))).toEqual([]);
    expect(sends(r.receive(req, { ...CLIENT, port: 0 }, SERVER, 0))).toEqual([]);
    expect(r.halfOpenCount).toBe(0);
  });
  it('KE values 0, 1, p-1, off-curve, and of the wrong length are dropped without state', () => {
    for (const [g, bad] of [
      [DhGroup.MODP2048, Buffer.alloc(256)],
      [DhGroup.MODP2048, Buffer.concat([Buffer.alloc(255), Buffer.from([1])])],
      [DhGroup.MODP2048, Buffer.alloc(255, 1)],
      [DhGroup.ECP256, Buffer.alloc(64, 1)],
      [DhGroup.CURVE25519, Buffer.alloc(32)],
    ] as [number, Buffer][]) {
      const r = responder();
      const i = initiator(APPLE.map((p) => ({ ...p, dh: [g] })), g);
      const m = decodeMessage(i.request());
      const payloads = m.chain.payloads.map((p) => (p.type === PayloadType.KE ? { type: PayloadType.KE, value: { group: g, data: bad } } : { type: p.type, value: p.value })) as Parameters<typeof encodeMessage>[1];
      const req = encodeMessage({ spiI: i.spiI, spiR: Buffer.alloc(8), exchangeType: 34, flags: 8, messageId: 0 }, payloads);
      expect(sends(r.receive(req, CLIENT, SERVER, 0))).toEqual([]);
      expect(r.counters.get('ikev2.drop.init-bad-ke')).toBe(1);
      expect(r.halfOpenCount).toBe(0);
    }
  });
  it('an unknown critical payload is answered with UNSUPPORTED_CRITICAL_PAYLOAD naming it', () => {
    const r = responder();
    const req = initiator(APPLE, DhGroup.ECP256).request();
    // append a critical payload of type 200 after the last one: walk to the last generic header
    let lastAt = 28;
    while (req[lastAt] !== 0) lastAt += req.readUInt16BE(lastAt + 2);
    const ext = Buffer.concat([req, Buffer.from([0, 0x80, 0, 5, 0xaa])]);
    ext[lastAt] = 200;
    ext.writeUInt32BE(ext.length, 24);
    const resp = decodeMessage(one(r.receive(ext, CLIENT, SERVER, 0)));
    const n = findPayload(resp.chain, PayloadType.N)!.value;
    expect(n.type).toBe(NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD);
    expect(n.data).toEqual(Buffer.from([200]));
    expect(r.halfOpenCount).toBe(0);
  });
  it('missing SA, KE or Nonce; an encrypted IKE_SA_INIT; other exchanges for unknown SPIs: dropped', () => {
    const r = responder();
    const i = initiator(APPLE, DhGroup.ECP256);
    const m = decodeMessage(i.request());
    for (const missing of [PayloadType.SA, PayloadType.KE, PayloadType.NONCE]) {
      const ps = m.chain.payloads.filter((p) => p.type !== missing).map((p) => ({ type: p.type, value: p.value })) as Parameters<typeof encodeMessage>[1];
      expect(sends(r.receive(encodeMessage({ spiI: i.spiI, spiR: Buffer.alloc(8), exchangeType: 34, flags: 8, messageId: 0 }, ps), CLIENT, SERVER, 0))).toEqual([]);
    }
    expect(r.counters.get('ikev2.drop.init-missing-payload')).toBe(3);
    const auth = encodeMessage({ spiI: i.spiI, spiR: randomBytes(8), exchangeType: 35, flags: 8, messageId: 1 }, []);
    expect(sends(r.receive(auth, CLIENT, SERVER, 0))).toEqual([]);
    expect(r.counters.get('ikev2.drop.unknown-spi')).toBe(1);
  });
  it('fuzz: random bytes and mutated requests never throw and never answer more bytes than they got', () => {
    const r = responder({ halfOpenPerAddress: 1000, halfOpenTotal: 100000, cookieThreshold: 100000 });
    const base = initiator(APPLE, DhGroup.ECP256).request();
    const mutated = fc.tuple(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), fc.nat({ max: 40 })).map(([flips, cut]) => {
      const b = Buffer.from(base);
      for (const [k, x] of flips) if (k % b.length >= 28 || k % 2 === 0) b[k % b.length] = x;
      const out = Buffer.from(b.subarray(0, b.length - cut));
      if (out.length >= 28) out.writeUInt32BE(out.length, 24);
      return out as Uint8Array;
    });
    const withPayloads = payloadListArb.map((ps) => encodeMessage({ spiI: randomBytes(8), spiR: Buffer.alloc(8), exchangeType: 34, flags: 8, messageId: 0 }, ps) as Uint8Array);
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 400 }), mutated, withPayloads), (msg) => {
        const out = r.receive(msg, CLIENT, SERVER, 0);
        expect(out.filter((o) => o.type === 'log' && o.event === 'ikev2.internal.error')).toEqual([]);
        for (const s of sends(out)) if (decodeMessage(s.data).header.spiR.equals(Buffer.alloc(8))) expect(s.data.length).toBeLessThanOrEqual(msg.length);
      }),
      { numRuns: 500 },
    );
  });
});
