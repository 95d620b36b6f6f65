/** INFORMATIONAL requests of the client (RFC 7296 §1.4): liveness, Delete of a child SA and of the IKE SA. */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Ikev2Responder } from '../../src/ikev2/responder.js';
import { encodeEncryptedMessage, openSk } from '../../src/ikev2/crypto/sk.js';
import { DhGroup, Encr, ExchangeType, HeaderFlag, Integ, PayloadType, Prf } from '../../src/ikev2/wire/constants.js';
import { decodeMessage, decodePayloadChain, findPayload, type Payload } from '../../src/ikev2/wire/message.js';
import { AuthClient } from './auth-client.js';
import { ikeProposal, TestInitiator } from './initiator.js';
import { CLIENT, established, SERVER, sends } from './established.js';

function info(s: { r: Ikev2Responder; c: AuthClient }, payloads: Payload[], now = 1000) {
  const out = s.r.receive(s.c.request(payloads, undefined, s.c.messageId, ExchangeType.INFORMATIONAL)[0]!, CLIENT, SERVER, now);
  const ds = sends(out);
  return { out, chain: ds.length ? s.c.open(ds) : undefined };
}

describe('INFORMATIONAL from the client', () => {
  it('an empty request (liveness check) gets an empty answer', () => {
    const s = established();
    const { chain, out } = info(s, []);
    expect(chain!.payloads).toEqual([]);
    expect(out.some((o) => o.type === 'child-sa-down' || o.type === 'ikev2-sa-gone')).toBe(false);
    expect(s.r.counters.get('ikev2.liveness')).toBe(1);
    expect(s.r.sa(s.c.init.spiR)!.lastSeen).toBe(1000);
  });
  it('Delete of its ESP SPI: answered with ours, the child goes down, the IKE SA stays', () => {
    const s = established();
    const spi = Buffer.alloc(4);
    spi.writeUInt32BE(s.child.outbound.spi);
    const unknown = Buffer.from([0, 0, 1, 0]);
    const { chain, out } = info(s, [{ type: PayloadType.D, value: { protocolId: 3, spiSize: 4, spis: [spi, unknown] } }]);
    const d = findPayload(chain!, PayloadType.D)!.value;
    expect(d.spis.map((x) => x.readUInt32BE(0))).toEqual([s.child.inbound.spi]);
    expect(out.filter((o) => o.type === 'child-sa-down')).toEqual([{ type: 'child-sa-down', id: s.child.id, inboundSpi: s.child.inbound.spi, reason: 'deleted by the peer' }]);
    expect(s.r.sa(s.c.init.spiR)).toBeDefined();
    // deleting it again: nothing to delete, an empty answer
    expect(info(s, [{ type: PayloadType.D, value: { protocolId: 3, spiSize: 4, spis: [spi] } }]).chain!.payloads).toEqual([]);
  });
  it('Delete of the IKE SA: an empty answer, its children and the SA go away', () => {
    const s = established();
    const { chain, out } = info(s, [{ type: PayloadType.D, value: { protocolId: 1, spiSize: 0, spis: [] } }]);
    expect(chain!.payloads).toEqual([]);
    expect(out.filter((o) => o.type === 'child-sa-down')).toHaveLength(1);
    expect(out.filter((o) => o.type === 'ikev2-sa-gone')).toHaveLength(1);
    expect(s.r.sa(s.c.init.spiR)).toBeUndefined();
    expect(info(s, []).out.filter((o) => o.type === 'send')).toEqual([]);
  });
  it('INFORMATIONAL before IKE_AUTH completed is not taken', () => {
    const r = new Ikev2Responder({ cookieSecret: Buffer.alloc(32, 1) });
    const i = new TestInitiator({ proposals: [ikeProposal(1, { encr: [[Encr.AES_CBC, 256]], integ: [Integ.HMAC_SHA2_256_128], prf: [Prf.HMAC_SHA2_256], dh: [DhGroup.ECP256] })], keGroup: DhGroup.ECP256, local: CLIENT, remote: SERVER });
    i.handle(sends(r.receive(i.request(), CLIENT, SERVER, 0))[0]!);
    const c = new AuthClient(i, 'alice', 'pw');
    const out = r.receive(c.request([{ type: PayloadType.D, value: { protocolId: 1, spiSize: 0, spis: [] } }], undefined, 1, ExchangeType.INFORMATIONAL)[0]!, CLIENT, SERVER, 0);
    expect(sends(out)).toEqual([]);
    expect(r.sa(i.spiR)).toBeDefined();
    expect(r.counters.get('ikev2.drop.exchange-not-handled')).toBe(1);
  });
});

/** Opens one of the server's own requests on the client side and builds the client's (empty) response. */
function serverRequest(s: { c: AuthClient }, d: Buffer): { messageId: number; payloads: Payload[]; answer: (payloads?: Payload[]) => Buffer } {
  const m = decodeMessage(d);
  expect(m.header.flags & (HeaderFlag.RESPONSE | HeaderFlag.INITIATOR)).toBe(0);
  const sk = { encr: s.c.init.suite!.encr, integ: s.c.init.suite!.integ };
  const plain = openSk(sk, s.c.skIn, d, m.chain.sk!)!;
  const inner = decodePayloadChain(m.chain.sk!.firstInner, plain, 0, plain.length, false);
  return {
    messageId: m.header.messageId,
    payloads: inner.payloads.map((p) => ({ type: p.type, value: p.value }) as Payload),
    answer: (payloads = []) =>
      encodeEncryptedMessage({ spiI: s.c.init.spiI, spiR: s.c.init.spiR, exchangeType: ExchangeType.INFORMATIONAL, flags: HeaderFlag.INITIATOR | HeaderFlag.RESPONSE, messageId: m.header.messageId }, payloads, sk, s.c.skOut, randomBytes),
  };
}

describe('requests of the server: liveness checks (DPD) and disconnect', () => {
  it('after 30 s of silence an empty INFORMATIONAL goes out; the answer keeps the SA, the next check counts from it', () => {
    const s = established();
    expect(s.r.nextDeadline()).toBe(30_000);
    expect(sends(s.r.tick(29_999))).toEqual([]);
    const req = serverRequest(s, sends(s.r.tick(30_000))[0]!);
    expect(req.messageId).toBe(0);
    expect(req.payloads).toEqual([]);
    expect(s.r.receive(req.answer(), CLIENT, SERVER, 31_000).filter((o) => o.type === 'ikev2-sa-gone')).toEqual([]);
    expect(s.r.counters.get('ikev2.dpd.answered')).toBe(1);
    expect(s.r.nextDeadline()).toBe(61_000);
    const second = serverRequest(s, sends(s.r.tick(61_000))[0]!);
    expect(second.messageId).toBe(1);
  });
  it('a peer that never answers is retried 5 times, then its SA and children go away', () => {
    const s = established();
    let t = 30_000;
    let sent = sends(s.r.tick(t)).length;
    for (let k = 0; k < 4; k++) sent += sends(s.r.tick((t += 5_000))).length;
    expect(sent).toBe(5);
    const out = s.r.tick((t += 5_000));
    expect(out.filter((o) => o.type === 'child-sa-down')).toHaveLength(1);
    expect(out.find((o) => o.type === 'ikev2-sa-gone')).toMatchObject({ reason: 'peer not answering (DPD)' });
  });
  it('forged or stray responses do not count as an answer', () => {
    const s = established();
    const req = serverRequest(s, sends(s.r.tick(30_000))[0]!);
    const bent = Buffer.from(req.answer());
    bent[bent.length - 1] = bent[bent.length - 1]! ^ 1;
    s.r.receive(bent, CLIENT, SERVER, 30_001);
    expect(s.r.counters.get('ikev2.drop.integrity')).toBe(1);
    const other = Buffer.from(req.answer());
    other.writeUInt32BE(7, 20); // another Message ID (the checksum would fail too, the ID is checked first)
    s.r.receive(other, CLIENT, SERVER, 30_002);
    expect(s.r.counters.get('ikev2.drop.unexpected-response')).toBe(1);
    expect(s.r.counters.get('ikev2.dpd.answered')).toBe(0);
    expect(sends(s.r.tick(35_000))).toHaveLength(1); // still retransmitting
  });
  it('disconnect: the children go down at once, the client gets a Delete of the IKE SA, its answer ends the SA', () => {
    const s = established();
    expect(s.r.disconnect('nope', 0)).toEqual({ ok: false, outputs: [] });
    const sa = s.r.sa(s.c.init.spiR)!;
    const { ok, outputs } = s.r.disconnect(sa.id, 1000);
    expect(ok).toBe(true);
    expect(outputs.filter((o) => o.type === 'child-sa-down')).toEqual([{ type: 'child-sa-down', id: s.child.id, inboundSpi: s.child.inbound.spi, reason: 'disconnected' }]);
    const req = serverRequest(s, sends(outputs)[0]!);
    expect(req.payloads).toEqual([{ type: PayloadType.D, value: { protocolId: 1, spiSize: 0, spis: [] } }]);
    const end = s.r.receive(req.answer(), CLIENT, SERVER, 1500);
    expect(end.find((o) => o.type === 'ikev2-sa-gone')).toMatchObject({ reason: 'disconnected' });
    expect(s.r.sa(s.c.init.spiR)).toBeUndefined();
  });
  it('disconnect of a client that does not answer: retried, then removed', () => {
    const s = established();
    const sa = s.r.sa(s.c.init.spiR)!;
    s.r.disconnect(sa.id, 0);
    let gone = false;
    for (let t = 5_000; t <= 25_000; t += 5_000) gone ||= s.r.tick(t).some((o) => o.type === 'ikev2-sa-gone');
    expect(gone).toBe(true);
    expect(s.r.sa(s.c.init.spiR)).toBeUndefined();
  });
});
