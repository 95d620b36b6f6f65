/** CREATE_CHILD_SA started by the server: a child SA the client has not rekeyed (RFC 7296 §1.3.3, §2.8, §2.17). */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ChildSaUp } from '../../src/core/sa.js';
import { encodeEncryptedMessage, openSk } from '../../src/ikev2/crypto/sk.js';
import { childKeys } from '../../src/ikev2/crypto/keys.js';
import { Encr, ExchangeType, HeaderFlag, Integ, NotifyType, PayloadType, ProtocolId } from '../../src/ikev2/wire/constants.js';
import { decodeMessage, decodePayloadChain, findPayload, type Payload, type PayloadChain } from '../../src/ikev2/wire/message.js';
import { notify } from '../../src/ikev2/wire/notify.js';
import { payloadListArb } from './arbitraries.js';
import { ANY, espProposal } from './auth-client.js';
import { CLIENT, established, SERVER, sends } from './established.js';

type S = ReturnType<typeof established>;

/** One of the server's requests, opened on the client side, with a way to answer it. */
function serverRequest(s: S, d: Buffer): { exchangeType: number; messageId: number; chain: PayloadChain; answer: (payloads: Payload[]) => Buffer } {
  const m = decodeMessage(d);
  expect(m.header.flags & (HeaderFlag.RESPONSE | HeaderFlag.INITIATOR)).toBe(0);
  const sk = { encr: s.c.init.suite!.encr, integ: s.c.init.suite!.integ };
  const plain = openSk(sk, s.c.skIn, d, m.chain.sk!)!;
  const chain = decodePayloadChain(m.chain.sk!.firstInner, plain, 0, plain.length, false);
  return {
    exchangeType: m.header.exchangeType,
    messageId: m.header.messageId,
    chain,
    answer: (payloads) =>
      encodeEncryptedMessage({ spiI: s.c.init.spiI, spiR: s.c.init.spiR, exchangeType: m.header.exchangeType, flags: HeaderFlag.INITIATOR | HeaderFlag.RESPONSE, messageId: m.header.messageId }, payloads, sk, s.c.skOut, randomBytes),
  };
}

const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
};

/** The client's answer to a rekey request: its new SPI, its nonce, the selectors echoed. */
function answerRekey(req: ReturnType<typeof serverRequest>, clientSpi: number, nr: Buffer): Payload[] {
  const offered = findPayload(req.chain, PayloadType.SA)!.value.proposals[0]!;
  return [
    { type: PayloadType.SA, value: { proposals: [{ ...offered, spi: u32(clientSpi) }] } },
    { type: PayloadType.NONCE, value: { nonce: nr } },
    { type: PayloadType.TSi, value: findPayload(req.chain, PayloadType.TSi)!.value },
    { type: PayloadType.TSr, value: findPayload(req.chain, PayloadType.TSr)!.value },
  ];
}

/** The client's own CREATE_CHILD_SA request rekeying the child (its new SPI 0xbeef0001). */
function clientRekey(s: S): Payload[] {
  return [
    { type: PayloadType.N, value: { protocolId: 3, spi: u32(s.child.outbound.spi), type: NotifyType.REKEY_SA, data: Buffer.alloc(0) } },
    { type: PayloadType.SA, value: { proposals: [espProposal(Encr.AES_CBC, 256, Integ.HMAC_SHA2_256_128, 0xbeef0001)] } },
    { type: PayloadType.NONCE, value: { nonce: randomBytes(32) } },
    { type: PayloadType.TSi, value: { selectors: [ANY] } },
    { type: PayloadType.TSr, value: { selectors: [ANY] } },
  ] as Payload[];
}

describe('child SA rekey started by the server', () => {
  it('after childRekey seconds: REKEY_SA with our old SPI, the child\'s algorithms with our new SPI, our nonce, TSi ours and TSr the virtual IP; the answer gives the new child (our keys = the initiator\'s), then the old one is deleted', () => {
    const s = established({ childRekey: 100, dpdIdle: 0 });
    expect(s.r.nextDeadline()).toBe(100_000);
    expect(sends(s.r.tick(99_999))).toEqual([]);
    const req = serverRequest(s, sends(s.r.tick(100_000))[0]!);
    expect(req.exchangeType).toBe(ExchangeType.CREATE_CHILD_SA);
    expect(req.messageId).toBe(0);
    const rekeySa = findPayload(req.chain, PayloadType.N)!.value;
    expect(rekeySa).toMatchObject({ type: NotifyType.REKEY_SA, protocolId: ProtocolId.ESP, spi: u32(s.child.inbound.spi) });
    const offered = findPayload(req.chain, PayloadType.SA)!.value.proposals;
    expect(offered).toHaveLength(1);
    expect(offered[0]!.transforms).toEqual(espProposal(Encr.AES_CBC, 256, Integ.HMAC_SHA2_256_128).transforms);
    const ourNewSpi = offered[0]!.spi.readUInt32BE(0);
    expect(ourNewSpi).not.toBe(s.child.inbound.spi);
    expect(findPayload(req.chain, PayloadType.KE)).toBeUndefined();
    expect(findPayload(req.chain, PayloadType.TSi)!.value.selectors).toEqual([ANY]);
    const tsr = findPayload(req.chain, PayloadType.TSr)!.value.selectors[0]!;
    expect([tsr.startAddress, tsr.endAddress]).toEqual([Buffer.from([10, 10, 0, 2]), Buffer.from([10, 10, 0, 2])]);
    const ni = findPayload(req.chain, PayloadType.NONCE)!.value.nonce;
    // nothing else goes out while it is open (window size 1), however long
    expect(s.r.nextDeadline()).toBe(105_000);

    const nr = randomBytes(32);
    const out = s.r.receive(req.answer(answerRekey(req, 0xbeef0009, nr)), CLIENT, SERVER, 101_000);
    const child = out.find((o): o is ChildSaUp => o.type === 'child-sa-up')!;
    const k = childKeys(s.c.init.suite!.prf, s.c.init.keys!.skD, ni, nr, 32, 32);
    // we started it: what we send uses the first (initiator's) keys, what we receive the second
    expect([child.outbound.encKey, child.outbound.authKey, child.inbound.encKey, child.inbound.authKey]).toEqual([k.i2r.encKey, k.i2r.integKey, k.r2i.encKey, k.r2i.integKey]);
    expect(child.outbound.spi).toBe(0xbeef0009);
    expect(child.inbound.spi).toBe(ourNewSpi);
    expect(child.transform).toEqual(s.child.transform);
    expect(out.some((o) => o.type === 'child-sa-down')).toBe(false);
    expect(s.r.counters.get('ikev2.child.rekeyed')).toBe(1);

    // §2.8: the initiator of the rekey deletes the old child
    const del = serverRequest(s, sends(out)[0]!);
    expect(del.exchangeType).toBe(ExchangeType.INFORMATIONAL);
    expect(del.messageId).toBe(1);
    expect(findPayload(del.chain, PayloadType.D)!.value).toEqual({ protocolId: ProtocolId.ESP, spiSize: 4, spis: [u32(s.child.inbound.spi)] });
    const end = s.r.receive(del.answer([{ type: PayloadType.D, value: { protocolId: ProtocolId.ESP, spiSize: 4, spis: [u32(s.child.outbound.spi)] } }]), CLIENT, SERVER, 101_500);
    expect(end.filter((o) => o.type === 'child-sa-down')).toEqual([{ type: 'child-sa-down', id: s.child.id, inboundSpi: s.child.inbound.spi, reason: 'rekeyed' }]);
    const sa = s.r.sa(s.c.init.spiR)!;
    expect([...sa.children.keys()]).toEqual([ourNewSpi]);
    // the new child is due a full period after it came up
    expect(s.r.nextDeadline()).toBe(201_000);
  });

  it('a child the client rekeyed itself is not rekeyed by us; its successor is, a full period after it came up', () => {
    const s = established({ childRekey: 100, dpdIdle: 0 });
    const req = clientRekey(s);
    const out = s.r.receive(s.c.request(req, undefined, s.c.messageId, ExchangeType.CREATE_CHILD_SA)[0]!, CLIENT, SERVER, 50_000);
    const theirs = out.find((o): o is ChildSaUp => o.type === 'child-sa-up')!;
    s.c.open(sends(out));
    // the client has not deleted the old one yet: still, only the new one is due, at 150 s
    expect(s.r.nextDeadline()).toBe(150_000);
    expect(sends(s.r.tick(100_000))).toEqual([]);
    const ours = serverRequest(s, sends(s.r.tick(150_000))[0]!);
    expect(findPayload(ours.chain, PayloadType.N)!.value.spi).toEqual(u32(theirs.inbound.spi));
  });

  it('a collision (§2.8.1): the client rekeys the same child while ours is open; our new child is redundant: not installed, and deleted', () => {
    const s = established({ childRekey: 100, dpdIdle: 0 });
    const req = serverRequest(s, sends(s.r.tick(100_000))[0]!);
    const ourNewSpi = findPayload(req.chain, PayloadType.SA)!.value.proposals[0]!.spi.readUInt32BE(0);
    const theirs = clientRekey(s);
    const o1 = s.r.receive(s.c.request(theirs, undefined, s.c.messageId, ExchangeType.CREATE_CHILD_SA)[0]!, CLIENT, SERVER, 100_100);
    expect(o1.filter((o) => o.type === 'child-sa-up')).toHaveLength(1);
    const o2 = s.r.receive(req.answer(answerRekey(req, 0xbeef0009, randomBytes(32))), CLIENT, SERVER, 100_200);
    expect(o2.filter((o) => o.type === 'child-sa-up')).toEqual([]);
    expect(s.r.counters.get('ikev2.child.rekey-collision')).toBe(1);
    const del = serverRequest(s, sends(o2)[0]!);
    expect(findPayload(del.chain, PayloadType.D)!.value.spis).toEqual([u32(ourNewSpi)]);
    expect(s.r.sa(s.c.init.spiR)!.children.has(ourNewSpi)).toBe(false);
  });

  it('a refusal (NO_PROPOSAL_CHOSEN) or a malformed answer leaves the old child; we try again a period later', () => {
    const s = established({ childRekey: 100, dpdIdle: 0 });
    const req = serverRequest(s, sends(s.r.tick(100_000))[0]!);
    const out = s.r.receive(req.answer([{ type: PayloadType.N, value: notify(NotifyType.NO_PROPOSAL_CHOSEN) }]), CLIENT, SERVER, 100_500);
    expect(out.filter((o) => o.type === 'child-sa-up' || o.type === 'child-sa-down')).toEqual([]);
    expect(s.r.counters.get('ikev2.child.rekey-failed')).toBe(1);
    expect(s.r.sa(s.c.init.spiR)!.children.size).toBe(1);
    expect(s.r.nextDeadline()).toBe(200_500);
    // the next try: an answer with transforms we did not offer
    const again = serverRequest(s, sends(s.r.tick(200_500))[0]!);
    const bad = answerRekey(again, 0xbeef000a, randomBytes(32));
    (bad[0]!.value as { proposals: unknown[] }).proposals = [espProposal(Encr.AES_GCM_16, 128, undefined, 0xbeef000a)];
    expect(s.r.receive(again.answer(bad), CLIENT, SERVER, 201_000).filter((o) => o.type === 'child-sa-up')).toEqual([]);
    expect(s.r.counters.get('ikev2.child.rekey-failed')).toBe(2);
  });

  it('a client that never answers our rekey: retried 5 times, then the SA is gone', () => {
    const s = established({ childRekey: 100, dpdIdle: 0 });
    let sent = sends(s.r.tick(100_000)).length;
    const first = sent;
    for (let t = 105_000; t <= 120_000; t += 5_000) sent += sends(s.r.tick(t)).length;
    expect(first).toBe(1);
    expect(sent).toBe(5);
    expect(s.r.tick(125_000).find((o) => o.type === 'ikev2-sa-gone')).toMatchObject({ reason: 'peer not answering (rekey-child)' });
  });

  it('off by default (childRekey 0): no CREATE_CHILD_SA of ours, ever', () => {
    const s = established({ dpdIdle: 0 });
    expect(s.r.nextDeadline()).toBeUndefined();
    expect(sends(s.r.tick(10 * 86400_000))).toEqual([]);
  });

  it('property: any authenticated answer to our rekey never throws; a new child comes up only with the transforms we offered, and the old one stays unless it does', () => {
    fc.assert(
      fc.property(payloadListArb, fc.boolean(), (payloads, withValid) => {
        const s = established({ childRekey: 100, dpdIdle: 0 });
        const req = serverRequest(s, sends(s.r.tick(100_000))[0]!);
        const answer = withValid ? [...answerRekey(req, 0xbeef0009, randomBytes(32)), ...payloads] : payloads;
        const out = s.r.receive(req.answer(answer), CLIENT, SERVER, 100_500);
        const up = out.filter((o): o is ChildSaUp => o.type === 'child-sa-up');
        const sa = s.r.sa(s.c.init.spiR)!;
        expect(up.length).toBeLessThanOrEqual(1);
        if (up[0]) {
          expect(up[0].transform).toEqual(s.child.transform);
          expect(sa.children.size).toBe(2);
        } else {
          expect([...sa.children.keys()]).toEqual([s.child.inbound.spi]);
        }
        expect(s.r.counters.get('ikev2.internal.error')).toBe(0);
      }),
      { numRuns: 60 },
    );
  });
});
