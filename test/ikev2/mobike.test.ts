/** MOBIKE (RFC 4555) on the responder: MOBIKE_SUPPORTED, UPDATE_SA_ADDRESSES, NAT detection, NO_NATS_ALLOWED, COOKIE2 return routability checks. */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../src/core/errors.js';
import type { Endpoint } from '../../src/core/sa.js';
import { encodeEncryptedMessage, openSk } from '../../src/ikev2/crypto/sk.js';
import { decodeAdditionalAddress, decodeNoNatsAllowed, mobikeAnswer, readMobike, samePath } from '../../src/ikev2/mobike.js';
import { natDetectionHash } from '../../src/ikev2/natd.js';
import type { Ikev2Output } from '../../src/ikev2/responder.js';
import { ExchangeType, HeaderFlag, NotifyType, PayloadType } from '../../src/ikev2/wire/constants.js';
import { allPayloads, decodeMessage, decodePayloadChain, type Payload, type PayloadChain } from '../../src/ikev2/wire/message.js';
import { notify } from '../../src/ikev2/wire/notify.js';
import { CLIENT, established, SERVER, sends } from './established.js';

const N = (type: number, data: Uint8Array = Buffer.alloc(0)): Payload => ({ type: PayloadType.N, value: notify(type, data) });
const MOBIKE = [N(NotifyType.MOBIKE_SUPPORTED)];
const NEW: Endpoint = { address: '192.0.2.77', port: 4500 };
const SERVER_NATT: Endpoint = { address: SERVER.address, port: 4500 };

type S = ReturnType<typeof established>;

/** An INFORMATIONAL request of the client sent from `from` to `to`; the response opened when one came back. */
function info(s: S, payloads: Payload[], from: Endpoint, to: Endpoint, now = 1000, messageId = s.c.messageId) {
  const out = s.r.receive(s.c.request(payloads, undefined, messageId, ExchangeType.INFORMATIONAL)[0]!, from, to, now);
  const sent = out.filter((o): o is Extract<Ikev2Output, { type: 'send' }> => o.type === 'send');
  const response = sent.find((o) => decodeMessage(o.data).header.flags & HeaderFlag.RESPONSE);
  return { out, sent, chain: response ? s.c.open([response.data]) : undefined, responseTo: response?.to };
}

const notifies = (chain: PayloadChain | undefined, type: number) => (chain ? allPayloads(chain, PayloadType.N).filter((n) => n.type === type) : []);

/** One of the server's own requests, opened on the client side, and the client's answer to it. */
function serverRequest(s: S, d: Buffer) {
  const m = decodeMessage(d);
  const sk = { encr: s.c.init.suite!.encr, integ: s.c.init.suite!.integ };
  const plain = openSk(sk, s.c.skIn, d, m.chain.sk!)!;
  const inner = decodePayloadChain(m.chain.sk!.firstInner, plain, 0, plain.length, false);
  return {
    messageId: m.header.messageId,
    inner,
    answer: (payloads: Payload[] = []) =>
      encodeEncryptedMessage({ spiI: s.c.init.spiI, spiR: s.c.init.spiR, exchangeType: ExchangeType.INFORMATIONAL, flags: HeaderFlag.INITIATOR | HeaderFlag.RESPONSE, messageId: m.header.messageId }, payloads, sk, s.c.skOut, randomBytes),
  };
}

const ownRequests = (out: Ikev2Output[]) => out.filter((o): o is Extract<Ikev2Output, { type: 'send' }> => o.type === 'send' && !(decodeMessage(o.data).header.flags & HeaderFlag.RESPONSE));

function noNats(from: Endpoint, to: Endpoint): Buffer {
  const b = Buffer.alloc(12);
  from.address.split('.').forEach((x, i) => (b[i] = Number(x)));
  to.address.split('.').forEach((x, i) => (b[4 + i] = Number(x)));
  b.writeUInt16BE(from.port, 8);
  b.writeUInt16BE(to.port, 10);
  return b;
}

describe('MOBIKE_SUPPORTED in IKE_AUTH (RFC 4555 §3.3)', () => {
  it('answered in the IKE_AUTH response that completes the SA when the client announced it', () => {
    const s = established(MOBIKE);
    expect(notifies(s.last, NotifyType.MOBIKE_SUPPORTED)).toHaveLength(1);
    expect(s.r.sa(s.c.init.spiR)!.mobike).toBe(true);
  });
  it('not announced by the client: not answered, and UPDATE_SA_ADDRESSES moves nothing', () => {
    const s = established();
    expect(notifies(s.last, NotifyType.MOBIKE_SUPPORTED)).toHaveLength(0);
    const r = info(s, [N(NotifyType.UPDATE_SA_ADDRESSES)], CLIENT, SERVER);
    expect(r.out.some((o) => o.type === 'ikev2-sa-moved')).toBe(false);
    expect(s.r.counters.get('ikev2.mobike.not-negotiated')).toBe(1);
  });
  it('switched off in the config: not answered', () => {
    const s = established(MOBIKE, { mobike: false });
    expect(notifies(s.last, NotifyType.MOBIKE_SUPPORTED)).toHaveLength(0);
    expect(s.r.sa(s.c.init.spiR)!.mobike).toBeUndefined();
  });
});

describe('UPDATE_SA_ADDRESSES (RFC 4555 §3.5)', () => {
  it('moves the IKE SA and its children to the request source, answers there with NAT detection and COOKIE2, then checks the new address', () => {
    const s = established(MOBIKE);
    const cookie = Buffer.alloc(16, 0xc2);
    const natd = [N(NotifyType.NAT_DETECTION_SOURCE_IP, natDetectionHash(s.c.init.spiI, s.c.init.spiR, NEW)), N(NotifyType.NAT_DETECTION_DESTINATION_IP, natDetectionHash(s.c.init.spiI, s.c.init.spiR, SERVER_NATT))];
    const r = info(s, [N(NotifyType.UPDATE_SA_ADDRESSES), N(NotifyType.COOKIE2, cookie), ...natd], NEW, SERVER_NATT);
    expect(r.responseTo).toEqual(NEW);
    expect(notifies(r.chain, NotifyType.COOKIE2)[0]!.data).toEqual(cookie);
    // our hashes for this path: the client's source as we see it (SPIs of the IKE SA)
    expect(notifies(r.chain, NotifyType.NAT_DETECTION_DESTINATION_IP)[0]!.data).toEqual(natDetectionHash(s.c.init.spiI, s.c.init.spiR, NEW));
    expect(notifies(r.chain, NotifyType.NAT_DETECTION_SOURCE_IP)[0]!.data).toEqual(natDetectionHash(s.c.init.spiI, s.c.init.spiR, SERVER_NATT));
    const moved = r.out.find((o) => o.type === 'ikev2-sa-moved');
    expect(moved).toMatchObject({ from: CLIENT, peer: NEW, local: SERVER_NATT, children: [s.child.id], by: 'mobike', verified: false });
    const sa = s.r.sa(s.c.init.spiR)!;
    expect(sa.peer).toEqual(NEW);
    expect(sa.local).toEqual(SERVER_NATT);
    // the return routability check: our INFORMATIONAL with a fresh COOKIE2, to the new address
    const checks = ownRequests(r.out);
    expect(checks).toHaveLength(1);
    expect(checks[0]!.to).toEqual(NEW);
    expect(checks[0]!.from).toEqual(SERVER_NATT);
    const req = serverRequest(s, checks[0]!.data);
    const sent = notifies(req.inner, NotifyType.COOKIE2)[0]!.data;
    expect(sent.length).toBe(16);
    // the client copies it back: the path is verified
    const done = s.r.receive(req.answer([N(NotifyType.COOKIE2, sent)]), NEW, SERVER_NATT, 1100);
    expect(done.find((o) => o.type === 'ikev2-path-verified')).toEqual({ type: 'ikev2-path-verified', id: sa.id, peer: NEW });
    expect(sa.pathCheck).toBeUndefined();
    expect(sa.ownRequest).toBeUndefined();
    // later requests and DPD go to the new address
    const dpd = ownRequests(s.r.tick(1100 + 30_000));
    expect(dpd[0]!.to).toEqual(NEW);
  });

  it('an authenticated answer without our COOKIE2 (or with another one) closes the IKE SA (RFC 4555 §3.7)', () => {
    for (const bad of [[], [N(NotifyType.COOKIE2, Buffer.alloc(16, 1))], [N(NotifyType.COOKIE2, Buffer.alloc(8, 1))]]) {
      const s = established(MOBIKE);
      const r = info(s, [N(NotifyType.UPDATE_SA_ADDRESSES)], NEW, SERVER_NATT);
      const req = serverRequest(s, ownRequests(r.out)[0]!.data);
      const out = s.r.receive(req.answer(bad), NEW, SERVER_NATT, 1100);
      expect(out.some((o) => o.type === 'ikev2-path-verified')).toBe(false);
      expect(out.find((o) => o.type === 'ikev2-sa-gone')).toMatchObject({ reason: 'COOKIE2 mismatch in the answer to the return routability check' });
      expect(s.r.counters.get('ikev2.drop.cookie2-mismatch')).toBe(1);
    }
  });

  it('an unanswered check is sent again like DPD, then ends the SA', () => {
    const s = established(MOBIKE);
    const r = info(s, [N(NotifyType.UPDATE_SA_ADDRESSES)], NEW, SERVER_NATT);
    expect(ownRequests(r.out)).toHaveLength(1);
    // a forged answer (bad checksum) is no answer
    const req = serverRequest(s, ownRequests(r.out)[0]!.data);
    const forged = Buffer.from(req.answer([N(NotifyType.COOKIE2, notifies(req.inner, NotifyType.COOKIE2)[0]!.data)]));
    forged[forged.length - 1]! ^= 1;
    expect(s.r.receive(forged, NEW, SERVER_NATT, 1100).some((o) => o.type === 'ikev2-path-verified')).toBe(false);
    let t = 1000;
    for (let k = 0; k < 4; k++) expect(ownRequests(s.r.tick((t += 5_000)))[0]!.to).toEqual(NEW);
    const end = s.r.tick((t += 5_000));
    expect(end.find((o) => o.type === 'ikev2-sa-gone')).toMatchObject({ reason: 'peer not answering at its new address (return routability check)' });
    expect(s.r.counters.get('ikev2.mobike.check.failed')).toBe(1);
  });

  it('a check waits for our DPD still out (window size 1), then follows it', () => {
    const s = established(MOBIKE);
    const dpd = serverRequest(s, ownRequests(s.r.tick(30_000))[0]!.data);
    const r = info(s, [N(NotifyType.UPDATE_SA_ADDRESSES)], NEW, SERVER_NATT, 30_500);
    expect(r.out.find((o) => o.type === 'ikev2-sa-moved')).toMatchObject({ verified: false });
    expect(ownRequests(r.out)).toHaveLength(0);
    const after = s.r.receive(dpd.answer(), NEW, SERVER_NATT, 30_600);
    const check = serverRequest(s, ownRequests(after)[0]!.data);
    expect(check.messageId).toBe(dpd.messageId + 1);
    const cookie = notifies(check.inner, NotifyType.COOKIE2)[0]!.data;
    expect(s.r.receive(check.answer([N(NotifyType.COOKIE2, cookie)]), NEW, SERVER_NATT, 30_700).some((o) => o.type === 'ikev2-path-verified')).toBe(true);
  });

  it('moving again before the first check is answered: its answer verifies nothing, a new check goes to the newest address', () => {
    const s = established(MOBIKE);
    const first = serverRequest(s, ownRequests(info(s, [N(NotifyType.UPDATE_SA_ADDRESSES)], NEW, SERVER_NATT).out)[0]!.data);
    const NEWER: Endpoint = { address: '192.0.2.88', port: 4500 };
    info(s, [N(NotifyType.UPDATE_SA_ADDRESSES)], NEWER, SERVER_NATT, 1200);
    const out = s.r.receive(first.answer([N(NotifyType.COOKIE2, notifies(first.inner, NotifyType.COOKIE2)[0]!.data)]), NEW, SERVER_NATT, 1300);
    expect(out.some((o) => o.type === 'ikev2-path-verified')).toBe(false);
    const second = ownRequests(out);
    expect(second[0]!.to).toEqual(NEWER);
    const req = serverRequest(s, second[0]!.data);
    const v = s.r.receive(req.answer([N(NotifyType.COOKIE2, notifies(req.inner, NotifyType.COOKIE2)[0]!.data)]), NEWER, SERVER_NATT, 1400);
    expect(v.find((o) => o.type === 'ikev2-path-verified')).toMatchObject({ peer: NEWER });
  });

  it('from the address the SA already uses: answered, nothing moves, no check', () => {
    const s = established(MOBIKE);
    const r = info(s, [N(NotifyType.UPDATE_SA_ADDRESSES)], CLIENT, SERVER);
    expect(r.chain).toBeDefined();
    expect(r.out.some((o) => o.type === 'ikev2-sa-moved')).toBe(false);
    expect(ownRequests(r.out)).toHaveLength(0);
    expect(s.r.counters.get('ikev2.mobike.update')).toBe(1);
  });

  it('NO_NATS_ALLOWED naming another path than the one it came on: UNEXPECTED_NAT_DETECTED, nothing moves', () => {
    const s = established(MOBIKE);
    const behindNat: Endpoint = { address: '10.1.2.3', port: 4500 };
    const r = info(s, [N(NotifyType.UPDATE_SA_ADDRESSES), N(NotifyType.NO_NATS_ALLOWED, noNats(behindNat, SERVER_NATT))], NEW, SERVER_NATT);
    expect(notifies(r.chain, NotifyType.UNEXPECTED_NAT_DETECTED)).toHaveLength(1);
    expect(r.responseTo).toEqual(NEW);
    expect(r.out.some((o) => o.type === 'ikev2-sa-moved')).toBe(false);
    expect(s.r.sa(s.c.init.spiR)!.peer).toEqual(CLIENT);
    expect(s.r.counters.get('ikev2.mobike.update.refused')).toBe(1);
    // malformed (11 octets): refused as well
    const bad = info(s, [N(NotifyType.UPDATE_SA_ADDRESSES), N(NotifyType.NO_NATS_ALLOWED, Buffer.alloc(11))], NEW, SERVER_NATT, 1100);
    expect(notifies(bad.chain, NotifyType.UNEXPECTED_NAT_DETECTED)).toHaveLength(1);
    expect(s.r.sa(s.c.init.spiR)!.peer).toEqual(CLIENT);
    // the same notify describing the real path: the update is taken
    const ok = info(s, [N(NotifyType.UPDATE_SA_ADDRESSES), N(NotifyType.NO_NATS_ALLOWED, noNats(NEW, SERVER_NATT))], NEW, SERVER_NATT, 1200);
    expect(notifies(ok.chain, NotifyType.UNEXPECTED_NAT_DETECTED)).toHaveLength(0);
    expect(ok.out.find((o) => o.type === 'ikev2-sa-moved')).toMatchObject({ peer: NEW });
  });

  it('unauthenticated, out-of-window or replayed updates move nothing', () => {
    const s = established(MOBIKE);
    const id = s.c.messageId;
    // a forged checksum
    const forged = s.c.request([N(NotifyType.UPDATE_SA_ADDRESSES)], undefined, id, ExchangeType.INFORMATIONAL)[0]!;
    forged[forged.length - 1]! ^= 1;
    let out = s.r.receive(forged, NEW, SERVER_NATT, 1000);
    expect(sends(out)).toEqual([]);
    expect(s.r.counters.get('ikev2.drop.integrity')).toBe(1);
    // the Message ID after the expected one, and an old one
    for (const mid of [id + 1, id - 1]) {
      out = s.r.receive(s.c.request([N(NotifyType.UPDATE_SA_ADDRESSES)], undefined, mid, ExchangeType.INFORMATIONAL)[0]!, NEW, SERVER_NATT, 1000);
      expect(sends(out)).toEqual([]);
    }
    expect(s.r.counters.get('ikev2.drop.message-id')).toBe(2);
    expect(s.r.sa(s.c.init.spiR)!.peer).toEqual(CLIENT);
    // an authenticated liveness check from elsewhere: answered there, the SA stays (only UPDATE_SA_ADDRESSES moves it)
    const live = info(s, [], NEW, SERVER_NATT, 1100);
    expect(live.responseTo).toEqual(NEW);
    expect(s.r.sa(s.c.init.spiR)!.peer).toEqual(CLIENT);
    // a taken update, replayed from a third address: the cached answer goes to the SA's address, nothing moves
    const upd = s.c.request([N(NotifyType.UPDATE_SA_ADDRESSES)], undefined, s.c.messageId, ExchangeType.INFORMATIONAL)[0]!;
    s.r.receive(upd, NEW, SERVER_NATT, 1200);
    const replay = s.r.receive(upd, { address: '198.18.0.1', port: 4500 }, SERVER_NATT, 1300);
    expect(replay.some((o) => o.type === 'ikev2-sa-moved')).toBe(false);
    expect(sends(replay)).toHaveLength(1);
    expect(replay.find((o) => o.type === 'send')!.to).toEqual(NEW);
    expect(s.r.sa(s.c.init.spiR)!.peer).toEqual(NEW);
  });

  it('NAT detection in a liveness check is answered for the path it came on (the client sees its mapping change), and moves nothing', () => {
    const s = established(MOBIKE);
    const natd = [N(NotifyType.NAT_DETECTION_SOURCE_IP, randomBytes(20)), N(NotifyType.NAT_DETECTION_DESTINATION_IP, randomBytes(20))];
    const r = info(s, natd, NEW, SERVER_NATT);
    expect(notifies(r.chain, NotifyType.NAT_DETECTION_DESTINATION_IP)[0]!.data).toEqual(natDetectionHash(s.c.init.spiI, s.c.init.spiR, NEW));
    expect(r.out.some((o) => o.type === 'ikev2-sa-moved')).toBe(false);
    // with encapsulation forced (as the daemon runs), our source hash never matches, as in IKE_SA_INIT
    const f = established(MOBIKE, { forceEncapsulation: true });
    const rf = info(f, natd, CLIENT, SERVER);
    expect(notifies(rf.chain, NotifyType.NAT_DETECTION_SOURCE_IP)[0]!.data).not.toEqual(natDetectionHash(f.c.init.spiI, f.c.init.spiR, SERVER));
  });

  it('ADDITIONAL_IP4_ADDRESS lists are kept (at most 8, never used to send), NO_ADDITIONAL_ADDRESSES clears them, malformed ones are counted', () => {
    const s = established(MOBIKE);
    const addrs = Array.from({ length: 10 }, (_, i) => N(NotifyType.ADDITIONAL_IP4_ADDRESS, Buffer.from([192, 0, 2, i + 1])));
    const r = info(s, [...addrs, N(NotifyType.ADDITIONAL_IP4_ADDRESS, Buffer.alloc(3)), N(NotifyType.ADDITIONAL_IP6_ADDRESS, Buffer.alloc(16, 0xfe))], CLIENT, SERVER);
    expect(r.chain!.payloads).toEqual([]);
    const sa = s.r.sa(s.c.init.spiR)!;
    expect(sa.peerAddresses).toHaveLength(8);
    expect(sa.peerAddresses![0]).toBe('192.0.2.1');
    expect(s.r.counters.get('ikev2.mobike.malformed.additional-address-length')).toBe(1);
    info(s, [N(NotifyType.NO_ADDITIONAL_ADDRESSES)], CLIENT, SERVER, 1100);
    expect(sa.peerAddresses).toEqual([]);
    expect(r.out.some((o) => o.type === 'ikev2-sa-moved')).toBe(false);
  });

  it('ESP from a new mapping: the IKE SA follows (DPD reaches the client there), reported as verified', () => {
    const s = established(MOBIKE);
    const sa = s.r.sa(s.c.init.spiR)!;
    const out = s.r.followPeer(sa.id, NEW);
    expect(out.find((o) => o.type === 'ikev2-sa-moved')).toMatchObject({ by: 'esp', verified: true, peer: NEW, children: [s.child.id] });
    expect(s.r.followPeer(sa.id, NEW)).toEqual([]);
    expect(s.r.followPeer('nope', NEW)).toEqual([]);
    expect(ownRequests(s.r.tick(30_000))[0]!.to).toEqual(NEW);
  });
});

describe('MOBIKE notification data: decoders', () => {
  it('NO_NATS_ALLOWED: IPv4 round trip, and IPv6 never matches our IPv4 path', () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.ipV4(), fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }), (a, b, p, q) => {
        const from = { address: a, port: p };
        const to = { address: b, port: q };
        const d = decodeNoNatsAllowed(noNats(from, to));
        expect(d).toEqual({ family: 4, source: a, destination: b, sourcePort: p, destinationPort: q });
        expect(samePath(d, from, to)).toBe(true);
        expect(samePath(d, { ...from, port: (p + 1) % 65536 }, to)).toBe(false);
      }),
    );
    expect(decodeNoNatsAllowed(Buffer.alloc(36)).family).toBe(6);
    expect(samePath(decodeNoNatsAllowed(Buffer.alloc(36)), { address: '0.0.0.0', port: 0 }, { address: '0.0.0.0', port: 0 })).toBe(false);
  });
  it('any bytes: a result or a DecodeError, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.constantFrom(NotifyType.ADDITIONAL_IP4_ADDRESS, NotifyType.ADDITIONAL_IP6_ADDRESS), (b, t) => {
        for (const f of [() => decodeNoNatsAllowed(b), () => decodeAdditionalAddress(t, b)]) {
          try {
            f();
          } catch (e) {
            expect(e).toBeInstanceOf(DecodeError);
          }
        }
        expect(decodeNoNatsAllowed(b.length === 12 || b.length === 36 ? b : Buffer.alloc(12))).toBeDefined();
      }),
    );
  });
  it('readMobike and mobikeAnswer never throw on any notifies, bound what they keep, and only move on a well-formed update', () => {
    const types = [NotifyType.UPDATE_SA_ADDRESSES, NotifyType.COOKIE2, NotifyType.NO_NATS_ALLOWED, NotifyType.NAT_DETECTION_SOURCE_IP, NotifyType.NAT_DETECTION_DESTINATION_IP, NotifyType.ADDITIONAL_IP4_ADDRESS, NotifyType.ADDITIONAL_IP6_ADDRESS, NotifyType.NO_ADDITIONAL_ADDRESSES, 16384];
    fc.assert(
      fc.property(fc.array(fc.record({ type: fc.constantFrom(...types), data: fc.uint8Array({ maxLength: 80 }) }), { maxLength: 40 }), fc.boolean(), (ns, negotiated) => {
        const m = readMobike(ns.map((n) => notify(n.type, n.data)));
        expect(m.additional?.length ?? 0).toBeLessThanOrEqual(8);
        expect(m.natSource.length).toBeLessThanOrEqual(16);
        if (m.cookie2) expect(m.cookie2.length >= 8 && m.cookie2.length <= 64).toBe(true);
        const d = mobikeAnswer(Buffer.alloc(8, 1), Buffer.alloc(8, 2), negotiated, m, NEW, SERVER_NATT, false, randomBytes);
        if (!negotiated) expect(d).toEqual({ payloads: [], move: false });
        if (d.move) {
          expect(m.update).toBe(true);
          expect(m.malformed.some((r) => r.startsWith('no-nats'))).toBe(false);
        }
        expect(d.move && d.refused !== undefined).toBe(false);
      }),
    );
  });
});
