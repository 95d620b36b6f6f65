/** HOSTILE-INPUTS.md section E (L2TP), driven through the LNS's receive(). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AvpSpec, encodeAvp, encodeAvps } from '../../src/l2tp/avp.js';
import { avpMessageType, avpResultCode, avpString, avpU16, decodeControlMessage } from '../../src/l2tp/attributes.js';
import { AvpType, MessageType } from '../../src/l2tp/constants.js';
import { decodeHeader, encodeHeader } from '../../src/l2tp/header.js';
import { L2tpServer, type L2tpOutput } from '../../src/l2tp/server.js';
import { PEER, Pair, counterRandom, logs, sends } from './harness.js';
import { TestLac, xl2tpdIcrqAvps, xl2tpdSccrqAvps } from './lac.js';

function control(tunnelId: number, sessionId: number, ns: number, nr: number, avps: AvpSpec[] | Buffer): Buffer {
  const payload = Buffer.isBuffer(avps) ? avps : encodeAvps(avps);
  return encodeHeader({ isControl: true, hasLength: true, hasSequence: true, tunnelId, sessionId, ns, nr }, payload);
}

function sccrq(extra: AvpSpec[] = [], tid = 0x1234): Buffer {
  return control(0, 0, 0, 0, [...xl2tpdSccrqAvps('evil', tid, 4), ...extra]);
}

function decoded(out: L2tpOutput[]) {
  return sends(out).map((d) => {
    const h = decodeHeader(d);
    return { h, msg: decodeControlMessage(d.subarray(h.payloadOffset, h.payloadEnd)) };
  });
}

function newServer(cfg: Partial<ConstructorParameters<typeof L2tpServer>[0]> = {}): L2tpServer {
  return new L2tpServer({ hostName: 'lns', random: counterRandom(), ...cfg });
}

/** Expect a silent drop: nothing sent, no state, the reason counted. */
function expectDropped(server: L2tpServer, out: L2tpOutput[], reason: string): void {
  expect(sends(out)).toEqual([]);
  expect(out.every((o) => o.type === 'log')).toBe(true);
  expect(server.list()).toEqual([]);
  expect(server.counters.get(`l2tp.drop.${reason}`)).toBeGreaterThan(0);
}

describe('E. L2TP hostile inputs', () => {
  it('version ≠ 2, bad T/L/S/O/P bits, header length > datagram or < 12: dropped and counted', () => {
    const good = sccrq();
    const cases: Array<[string, (b: Buffer) => void]> = [
      ['version', (b) => (b[1] = 0x03)],
      ['version', (b) => (b[1] = 0x01)],
      ['control-flags', (b) => b.writeUInt16BE(0x8802, 0)],
      ['control-flags', (b) => b.writeUInt16BE(0xc002, 0)],
      ['control-flags', (b) => b.writeUInt16BE(0xca02, 0)],
      ['control-flags', (b) => b.writeUInt16BE(0xc902, 0)],
      ['length', (b) => b.writeUInt16BE(b.length + 1, 2)],
      ['length', (b) => b.writeUInt16BE(11, 2)],
    ];
    for (const [reason, mutate] of cases) {
      const server = newServer();
      const b = Buffer.from(good);
      mutate(b);
      expectDropped(server, server.receive(b, PEER, 0), reason);
    }
    for (const len of [0, 1, 2, 3, 5, 11]) {
      const server = newServer();
      expect(sends(server.receive(good.subarray(0, len), PEER, 0))).toEqual([]);
      expect(server.list()).toEqual([]);
    }
  });

  it('AVP length 0–5, or past the end: dropped, no tunnel; 1023 is fine', () => {
    for (let len = 0; len < 6; len++) {
      const server = newServer();
      const bad = Buffer.concat([encodeAvps(xl2tpdSccrqAvps('h', 5, 4)), Buffer.from([0x80, len, 0, 0, 0, 7])]);
      expectDropped(server, server.receive(control(0, 0, 0, 0, bad), PEER, 0), 'avp-length');
    }
    const server = newServer();
    const past = Buffer.concat([encodeAvps(xl2tpdSccrqAvps('h', 5, 4)), Buffer.from([0x80, 0x40, 0, 0, 0, 7, 1, 2])]);
    expectDropped(server, server.receive(control(0, 0, 0, 0, past), PEER, 0), 'avp-length');
    // A 1023-byte private AVP (M clear) is carried and ignored.
    const big = newServer();
    const o = big.receive(sccrq([{ type: AvpType.PrivateGroupId, value: Buffer.alloc(1017, 1), mandatory: false }]), PEER, 0);
    expect(decoded(o)[0]?.msg?.messageType).toBe(MessageType.SCCRP);
  });

  it('Message Type not the first AVP: dropped', () => {
    const server = newServer();
    const avps = xl2tpdSccrqAvps('h', 5, 4);
    const swapped = [avps[1]!, avps[0]!, ...avps.slice(2)];
    expectDropped(server, server.receive(control(0, 0, 0, 0, swapped), PEER, 0), 'message-type-not-first');
  });

  it('unknown AVP with M set in SCCRQ: StopCCN 2/8, no tunnel; without M: ignored', () => {
    const server = newServer();
    const o = server.receive(sccrq([{ type: 200, value: Buffer.from([1]), mandatory: true }]), PEER, 0);
    const [r] = decoded(o);
    expect(r?.msg?.messageType).toBe(MessageType.StopCCN);
    expect(r?.msg?.attrs.resultCode).toMatchObject({ result: 2, error: 8 });
    expect(r?.h.tunnelId).toBe(0x1234);
    expect(server.list()).toEqual([]);
    const o2 = server.receive(sccrq([{ type: 200, value: Buffer.from([1]), mandatory: false }]), PEER, 0);
    expect(decoded(o2)[0]?.msg?.messageType).toBe(MessageType.SCCRP);
  });

  it('unknown AVP with M set in a control-connection message tears the tunnel down (StopCCN 2/8)', () => {
    const p = new Pair();
    p.establish();
    const { sessionKey } = p.call();
    const hello = p.lac.channel.send(0, encodeAvps([avpMessageType(MessageType.HELLO), { type: 5000, vendorId: 0, value: Buffer.alloc(2), mandatory: true }]), p.now);
    const o = p.pump(hello);
    expect(o.filter((x) => x.type === 'session-down')).toMatchObject([{ sessionKey }]);
    expect(p.lac.closeReason).toBe('StopCCN 2');
    // The LAC acked the StopCCN: the tunnel is freed.
    expect(o.some((x) => x.type === 'tunnel-down')).toBe(true);
    expect(p.server.list()).toEqual([]);
  });

  it('unknown AVP with M set in a session message: CDN 2/8 for that session only', () => {
    const p = new Pair();
    p.establish();
    const a = p.call();
    const b = p.call();
    // ICRQ with an unknown mandatory AVP: refused with CDN, no session.
    const icrq = p.lac.channel.send(0, encodeAvps([...xl2tpdIcrqAvps(99, 99), { type: 7, vendorId: 311, value: Buffer.alloc(4), mandatory: true }]), p.now);
    let o = p.pump(icrq);
    const cdn = decoded(o).find((x) => x.msg?.messageType === MessageType.CDN);
    expect(cdn?.h.sessionId).toBe(99);
    expect(cdn?.msg?.attrs.resultCode).toMatchObject({ result: 2, error: 8 });
    expect(p.server.list()[0]!.sessions).toHaveLength(2);
    // SLI on session a with an unknown mandatory AVP: a goes down, b stays.
    const peerSid = p.lac.sessions.get(a.sessionId)!.peerSessionId;
    const sli = p.lac.channel.send(peerSid, encodeAvps([avpMessageType(MessageType.SLI), { type: 250, value: Buffer.alloc(1), mandatory: true }]), p.now);
    o = p.pump(sli);
    expect(o.filter((x) => x.type === 'session-down')).toMatchObject([{ sessionKey: a.sessionKey }]);
    expect(p.server.list()[0]!.sessions.map((s) => s.sessionKey)).toEqual([b.sessionKey]);
  });

  it('an OCRQ or ICRQ naming one of our session ids in its header does not close that session', () => {
    const p = new Pair();
    p.establish();
    const a = p.call();
    const ours = p.lac.sessions.get(a.sessionId)!.peerSessionId;
    const ocrq = p.lac.channel.send(ours, encodeAvps([avpMessageType(MessageType.OCRQ), avpU16(AvpType.AssignedSessionId, 5)]), p.now);
    const o = p.pump(ocrq);
    expect(decoded(o).find((x) => x.msg?.messageType === MessageType.CDN)?.h.sessionId).toBe(5);
    expect(o.some((x) => x.type === 'session-down')).toBe(false);
    const icrq = p.lac.channel.send(ours, encodeAvps([...xl2tpdIcrqAvps(6, 6), { type: 999, value: Buffer.alloc(1), mandatory: true }]), p.now);
    const o2 = p.pump(icrq);
    expect(o2.some((x) => x.type === 'session-down')).toBe(false);
    expect(p.server.list()[0]!.sessions.map((s) => s.sessionKey)).toEqual([a.sessionKey]);
  });

  it('unknown message type: with M the tunnel is cleared, without M ignored', () => {
    const p = new Pair();
    p.establish();
    p.pump(p.lac.channel.send(0, encodeAvp({ type: 0, value: Buffer.from([0, 99]), mandatory: false }), p.now));
    expect(p.server.list()).toHaveLength(1);
    p.pump(p.lac.channel.send(0, encodeAvp({ type: 0, value: Buffer.from([0, 99]), mandatory: true }), p.now));
    expect(p.lac.state).toBe('closed');
    expect(p.server.list()).toEqual([]);
  });

  it('vendor AVPs reusing IETF type numbers are not taken for them', () => {
    const server = newServer();
    // A vendor AVP with type 9 (Assigned Tunnel ID for vendor 0) placed before the real one.
    const avps = xl2tpdSccrqAvps('h', 0x4242, 4);
    avps.splice(1, 0, { type: AvpType.AssignedTunnelId, vendorId: 3561, value: Buffer.from([0xde, 0xad]), mandatory: false });
    avps.push({ type: AvpType.ProtocolVersion, vendorId: 3561, value: Buffer.from('DEU.QSC.CP250572'), mandatory: false });
    const o = server.receive(control(0, 0, 0, 0, avps), PEER, 0);
    const [r] = decoded(o);
    expect(r?.msg?.messageType).toBe(MessageType.SCCRP);
    expect(r?.h.tunnelId).toBe(0x4242);
  });

  it('hidden AVPs through the server: decoded with the secret; no Random Vector or no secret: dropped', () => {
    const secret = Buffer.from('s3cr3t');
    const rv = Buffer.alloc(16, 0x5a);
    const hiddenHost = { ...avpString(AvpType.HostName, 'hidden-host'), hide: { secret, randomVector: rv } };
    const base = xl2tpdSccrqAvps('x', 0x77, 4).filter((a) => a.type !== AvpType.HostName);
    const withRv = [base[0]!, { type: AvpType.RandomVector, value: rv, mandatory: true }, ...base.slice(1), hiddenHost];
    const server = newServer({ secret });
    const o = server.receive(control(0, 0, 0, 0, withRv), PEER, 0);
    expect(o.find((x) => x.type === 'log' && x.event === 'l2tp.RecvSCCRQ')).toMatchObject({ fields: { hostname: 'hidden-host' } });
    const noRv = newServer({ secret });
    expectDropped(noRv, noRv.receive(control(0, 0, 0, 0, [...base, hiddenHost]), PEER, 0), 'hidden-no-random-vector');
    const noSecret = newServer();
    expectDropped(noSecret, noSecret.receive(control(0, 0, 0, 0, withRv), PEER, 0), 'hidden-no-secret');
    // Wrong secret: never throws; either dropped or a host name no longer than the AVP.
    for (let i = 0; i < 32; i++) {
      const s = newServer({ secret: Buffer.from(`wrong${i}`) });
      const out = s.receive(control(0, 0, 0, 0, withRv), PEER, 0);
      const ev = out.find((x) => x.type === 'log' && x.event === 'l2tp.RecvSCCRQ');
      if (ev && ev.type === 'log') expect(String(ev.fields?.hostname).length).toBeLessThanOrEqual(2 + 'hidden-host'.length - 2);
    }
  });

  it('an 8-byte Result Code (no error code) in CDN and StopCCN is accepted (xl2tpd #175)', () => {
    const p = new Pair();
    p.establish();
    const a = p.call();
    const peerSid = p.lac.sessions.get(a.sessionId)!.peerSessionId;
    const cdn = p.lac.channel.send(peerSid, encodeAvps([avpMessageType(MessageType.CDN), avpResultCode(3), avpU16(AvpType.AssignedSessionId, a.sessionId)]), p.now);
    expect(encodeAvp(avpResultCode(3)).length).toBe(8);
    const o = p.pump(cdn);
    expect(o.find((x) => x.type === 'session-down')).toMatchObject({ reason: 'peer CDN: administrative reasons' });
    const stop = p.lac.channel.send(0, encodeAvps([avpMessageType(MessageType.StopCCN), avpU16(AvpType.AssignedTunnelId, p.lac.tunnelId), avpResultCode(6)]), p.now);
    const o2 = p.pump(stop);
    expect(o2.find((x) => x.type === 'tunnel-down')).toMatchObject({ reason: 'peer StopCCN: requester is being shut down' });
  });

  it('Ns beyond the window is dropped and not processed; duplicate Ns gets a ZLB and is not processed', () => {
    const p = new Pair();
    p.establish();
    const ch = p.lac.channel;
    const far = control(p.lac.peerTunnelId, 0, (ch.ns + 100) & 0xffff, ch.nr, xl2tpdIcrqAvps(5, 5));
    const o = p.server.receive(far, PEER, p.now);
    expect(sends(o)).toEqual([]);
    expect(logs(o)).not.toContain('l2tp.RecvICRQ');
    expect(p.server.counters.get('l2tp.drop.beyond-window')).toBe(1);
    const dup = control(p.lac.peerTunnelId, 0, (ch.ns - 1) & 0xffff, ch.nr, xl2tpdIcrqAvps(6, 6));
    const o2 = p.server.receive(dup, PEER, p.now);
    expect(logs(o2)).toEqual([]);
    expect(decoded(o2).map((x) => x.h.length)).toEqual([12]);
    expect(p.server.list()[0]!.sessions).toEqual([]);
  });

  it('ICRQ before SCCCN is refused with CDN (result 2, error 1), no session', () => {
    const server = newServer();
    const lac = new TestLac();
    const o = server.receive(lac.start(0)[0]!, PEER, 0);
    const tid = decoded(o)[0]!.msg!.attrs.assignedTunnelId!;
    const o2 = server.receive(control(tid, 0, 1, 1, xl2tpdIcrqAvps(9, 9)), PEER, 0);
    const cdn = decoded(o2).find((x) => x.msg?.messageType === MessageType.CDN);
    expect(cdn?.h.sessionId).toBe(9);
    expect(cdn?.msg?.attrs.resultCode).toMatchObject({ result: 2, error: 1 });
    expect(server.list()[0]!.sessions).toEqual([]);
    expect(o2.some((x) => x.type === 'session-up')).toBe(false);
  });

  it('limits: tunnels per peer and sessions per tunnel', () => {
    const server = newServer({ maxTunnelsPerPeer: 2 });
    for (const tid of [1, 2]) expect(decoded(server.receive(sccrq([], tid), PEER, 0))[0]?.msg?.messageType).toBe(MessageType.SCCRP);
    const [r] = decoded(server.receive(sccrq([], 3), PEER, 0));
    expect(r?.msg?.messageType).toBe(MessageType.StopCCN);
    expect(r?.msg?.attrs.resultCode).toMatchObject({ result: 2, error: 4 });
    expect(server.list()).toHaveLength(2);
    expect(decoded(server.receive(sccrq([], 3), 'other', 0))[0]?.msg?.messageType).toBe(MessageType.SCCRP);

    for (const limits of [{ maxSessionsPerTunnel: 2 }, { maxSessions: 2 }]) {
      const p = new Pair(limits);
      p.establish();
      p.call();
      p.call();
      const { out } = p.lac.call(p.now);
      const o = p.pump(out);
      expect(decoded(o).find((x) => x.msg?.messageType === MessageType.CDN)?.msg?.attrs.resultCode).toMatchObject({ result: 4, error: 4 });
      expect(p.server.list()[0]!.sessions).toHaveLength(2);
    }
  });

  it('default limits: one peer group gets 128 tunnels, one tunnel 8 sessions; other peers are not affected', () => {
    const server = newServer({ peerGroup: (k) => k.split(':')[0]! });
    let accepted = 0;
    for (let tid = 1; tid <= 200; tid++) {
      const m = decoded(server.receive(sccrq([], tid), `203.0.113.9:${4500 + tid}/1701`, 0))[0]?.msg?.messageType;
      if (m === MessageType.SCCRP) accepted++;
    }
    expect(accepted).toBe(128);
    expect(server.counters.get('l2tp.sccrq.refused')).toBe(72);
    expect(decoded(server.receive(sccrq([], 1), '198.51.100.1:4500/1701', 0))[0]?.msg?.messageType).toBe(MessageType.SCCRP);

    const p = new Pair();
    p.establish();
    for (let k = 0; k < 8; k++) p.call();
    const o = p.pump(p.lac.call(p.now).out);
    expect(decoded(o).find((x) => x.msg?.messageType === MessageType.CDN)?.msg?.attrs.resultCode).toMatchObject({ result: 4, error: 4 });
    expect(p.server.list()[0]!.sessions).toHaveLength(8);
  });

  it('peerGroup makes the per-peer limit count several peer keys (e.g. one outer address) together; maxTunnels caps all', () => {
    const server = newServer({ maxTunnelsPerPeer: 2, peerGroup: (k) => k.split(':')[0]!, maxTunnels: 3 });
    expect(decoded(server.receive(sccrq([], 1), '203.0.113.9:4500/1701', 0))[0]?.msg?.messageType).toBe(MessageType.SCCRP);
    expect(decoded(server.receive(sccrq([], 1), '203.0.113.9:4501/1701', 0))[0]?.msg?.messageType).toBe(MessageType.SCCRP);
    expect(decoded(server.receive(sccrq([], 1), '203.0.113.9:4502/1701', 0))[0]?.msg?.messageType).toBe(MessageType.StopCCN);
    expect(decoded(server.receive(sccrq([], 1), '198.51.100.1:4500/1701', 0))[0]?.msg?.messageType).toBe(MessageType.SCCRP);
    expect(decoded(server.receive(sccrq([], 1), '198.51.100.2:4500/1701', 0))[0]?.msg?.messageType).toBe(MessageType.StopCCN);
    expect(server.list()).toHaveLength(3);
    // Freeing one makes room again.
    server.closePeer('203.0.113.9:4500/1701', 0, false);
    expect(decoded(server.receive(sccrq([], 1), '203.0.113.9:4502/1701', 0))[0]?.msg?.messageType).toBe(MessageType.SCCRP);
  });

  it('SCCRQ and ICRQ floods over the limits: every one refused, the log rate-limited', () => {
    const server = newServer({ maxTunnelsPerPeer: 1 });
    const out: L2tpOutput[] = [];
    for (let i = 1; i <= 200; i++) out.push(...server.receive(sccrq([], i), PEER, 0));
    expect(server.list()).toHaveLength(1);
    expect(server.counters.get('l2tp.sccrq.refused')).toBe(199);
    expect(sends(out)).toHaveLength(200);
    expect(out.filter((o) => o.type === 'log').length).toBeLessThanOrEqual(2 + 2 * 5);

    const p = new Pair({ maxSessionsPerTunnel: 1 });
    p.establish();
    p.call();
    const before = p.all.length;
    for (let i = 0; i < 100; i++) p.pump(p.lac.call(p.now).out);
    expect(p.server.counters.get('l2tp.icrq.refused')).toBe(100);
    expect(p.all.slice(before).filter((o) => o.type === 'log').length).toBeLessThanOrEqual(2 * 5);
    expect(p.server.list()[0]!.sessions).toHaveLength(1);
  });

  it('a flood of bad datagrams is counted in full but logged at a limited rate', () => {
    const server = newServer();
    const out: L2tpOutput[] = [];
    for (let i = 0; i < 1000; i++) out.push(...server.receive(Buffer.from([0xc8, 0x03, 0, 12]), PEER, i));
    expect(server.counters.get('l2tp.drop.version')).toBe(1000);
    expect(out.length).toBeLessThanOrEqual(5);
  });

  it('messages for unknown tunnels and sessions are dropped without a reply', () => {
    const server = newServer();
    expectDropped(server, server.receive(control(777, 0, 0, 0, [avpMessageType(MessageType.HELLO)]), PEER, 0), 'unknown-tunnel');
    expectDropped(server, server.receive(control(0, 0, 0, 0, [avpMessageType(MessageType.HELLO)]), PEER, 0), 'tunnel-id-zero');
    expectDropped(server, server.receive(encodeHeader({ isControl: false, hasLength: true, hasSequence: false, tunnelId: 9, sessionId: 9 }, Buffer.from([0xff, 0x03])), PEER, 0), 'data-unknown-tunnel');
  });
});

describe('receive() never throws (fuzz)', () => {
  it('arbitrary bytes: no throw and no internal error (only DecodeError-class drops)', () => {
    const server = newServer();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        const out = server.receive(b, PEER, 0);
        expect(Array.isArray(out)).toBe(true);
        // receive() catches everything; a non-DecodeError exception is counted as internal-error and is a bug.
        expect(server.counters.get('l2tp.drop.internal-error')).toBe(0);
      }),
      { numRuns: 500 },
    );
    expect(server.list().length).toBeLessThanOrEqual(1000);
  });

  it('mutations of valid messages on a live tunnel: no throw, and every output is well-formed', () => {
    const p = new Pair({ secret: undefined });
    p.establish();
    const a = p.call();
    const peerSid = p.lac.sessions.get(a.sessionId)!.peerSessionId;
    const seeds = [
      sccrq(),
      control(p.lac.peerTunnelId, 0, p.lac.channel.ns, p.lac.channel.nr, xl2tpdIcrqAvps(3, 3)),
      control(p.lac.peerTunnelId, peerSid, p.lac.channel.ns, p.lac.channel.nr, [avpMessageType(MessageType.CDN), avpResultCode(1)]),
      p.lac.data(a.sessionId, Buffer.from('ff03c0210101000a0506', 'hex')),
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...seeds),
        fc.array(fc.record({ at: fc.nat(), v: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 6 }),
        fc.option(fc.nat(), { nil: undefined }),
        (seed, muts, cut) => {
          const b = Buffer.from(seed);
          for (const m of muts) b[m.at % b.length] = m.v;
          const d = cut === undefined ? b : b.subarray(0, cut % (b.length + 1));
          const out = p.server.receive(d, PEER, p.now);
          for (const x of sends(out)) expect(() => decodeHeader(x)).not.toThrow();
          p.now += 10;
          for (const x of sends(p.server.tick(p.now))) expect(() => decodeHeader(x)).not.toThrow();
          expect(p.server.counters.get('l2tp.drop.internal-error')).toBe(0);
        },
      ),
      { numRuns: 500 },
    );
  });
});
