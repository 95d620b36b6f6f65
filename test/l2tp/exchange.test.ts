import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeAvps } from '../../src/l2tp/avp.js';
import { avpMessageType, avpU16, avpU32, decodeControlMessage } from '../../src/l2tp/attributes.js';
import { AvpType, MessageType } from '../../src/l2tp/constants.js';
import { decodeHeader, encodeHeader } from '../../src/l2tp/header.js';
import { challengeResponse } from '../../src/l2tp/hidden.js';
import { DATA_HEADROOM, L2tpServer, type L2tpOutput } from '../../src/l2tp/server.js';
import { PEER, Pair, counterRandom, logs, sends } from './harness.js';
import { TestLac } from './lac.js';

function frameOf(o: L2tpOutput | undefined): Buffer | undefined {
  return o?.type === 'ppp-frame' ? Buffer.from(o.frame) : undefined;
}

function decode(d: Buffer) {
  const h = decodeHeader(d);
  return { h, msg: decodeControlMessage(d.subarray(h.payloadOffset, h.payloadEnd)) };
}

describe('LNS control connection and incoming call (RFC 2661 §5, §7)', () => {
  it('SCCRQ → SCCRP with the RFC 2661 §6.2 AVPs', () => {
    const server = new L2tpServer({ hostName: 'lns.test', random: counterRandom() });
    const lac = new TestLac({ hostName: 'client1', tunnelId: 0xe7f6, rws: 4 });
    const out = server.receive(lac.start(0)[0]!, PEER, 0);
    const [sccrp] = sends(out);
    const { h, msg } = decode(sccrp!);
    expect(h).toMatchObject({ isControl: true, tunnelId: 0xe7f6, sessionId: 0, ns: 0, nr: 1 });
    expect(msg?.messageType).toBe(MessageType.SCCRP);
    expect(msg?.avps.map((a) => a.type)).toEqual([0, 2, 3, 4, 6, 7, 8, 9, 10]);
    expect(msg?.attrs).toMatchObject({ protocolVersion: { version: 1, revision: 0 }, framingCapabilities: 3, hostName: 'lns.test', vendorName: 'l2tpsec', receiveWindowSize: 8 });
    expect(msg?.attrs.assignedTunnelId).not.toBe(0);
    expect(msg?.attrs.challenge).toBeUndefined();
    expect(logs(out)).toEqual(['l2tp.RecvSCCRQ', 'l2tp.SendSCCRP']);
    expect(server.list()).toEqual([{ peerKey: PEER, tunnelId: msg?.attrs.assignedTunnelId, peerTunnelId: 0xe7f6, sessions: [] }]);
  });

  it('full exchange: SCCRQ/SCCRP/SCCCN/ICRQ/ICRP/ICCN, then PPP frames both ways', () => {
    const p = new Pair();
    p.establish();
    expect(p.lac.state).toBe('established');
    expect(p.lac.processed).toEqual(['SCCRP']);
    expect(logs(p.all)).toEqual(['l2tp.RecvSCCRQ', 'l2tp.SendSCCRP', 'l2tp.RecvSCCCN', 'l2tp.tunnel.start']);
    // The SCCCN got a ZLB (nothing else to send): the LAC has nothing outstanding.
    expect(p.lac.channel.idle).toBe(true);
    const { sessionId, sessionKey } = p.call();
    expect(logs(p.all).slice(4)).toEqual(['l2tp.RecvICRQ', 'l2tp.SendICRP', 'l2tp.RecvICCN', 'l2tp.session.start']);
    const up = p.all.find((o) => o.type === 'session-up');
    expect(up).toMatchObject({ type: 'session-up', peerKey: PEER, peerHostName: 'lac.example', tunnelId: p.lac.peerTunnelId });
    expect(p.lac.sessions.get(sessionId)?.state).toBe('established');
    expect(p.lac.channel.idle).toBe(true);

    // Uplink: an LCP Configure-Request as xl2tpd carries it (FF 03 C0 21 ...).
    const lcp = Buffer.from('ff03c02101010004', 'hex');
    const o = p.server.receive(p.lac.data(sessionId, lcp), PEER, p.now);
    expect(o).toHaveLength(1);
    expect(o[0]).toMatchObject({ type: 'ppp-frame', sessionKey });
    expect(frameOf(o[0])).toEqual(lcp);
    // Downlink: L bit, no S bit, peer's ids.
    const [down] = sends(p.server.sendPpp(sessionKey, lcp));
    expect(down!.subarray(0, 8).toString('hex')).toBe(`40020010${p.lac.tunnelId.toString(16).padStart(4, '0')}${sessionId.toString(16).padStart(4, '0')}`);
    p.lac.receive(down!, p.now);
    expect(p.lac.frames).toEqual([{ sessionId, frame: lcp }]);
    // Data with an Offset field and no Length is accepted too.
    const off = encodeHeader({ isControl: false, hasLength: false, hasSequence: true, tunnelId: p.lac.peerTunnelId, sessionId: p.lac.sessions.get(sessionId)!.peerSessionId, ns: 0, nr: 0, offsetSize: 2 }, lcp);
    const o2 = p.server.receive(off, PEER, p.now);
    expect(frameOf(o2[0])).toEqual(lcp);
  });

  it('Sequencing Required in ICCN makes our data messages carry Ns', () => {
    const p = new Pair({}, new TestLac({ sequencing: true }));
    p.establish();
    const { sessionKey } = p.call();
    const a = sends(p.server.sendPpp(sessionKey, Buffer.from([0xc0, 0x21])))[0]!;
    const b = sends(p.server.sendPpp(sessionKey, Buffer.from([0xc0, 0x21])))[0]!;
    expect(decodeHeader(a)).toMatchObject({ isControl: false, hasSequence: true, ns: 0, hasLength: true, length: 14 });
    expect(decodeHeader(b).ns).toBe(1);
  });

  it('sendPppInPlace writes the same datagram as sendPpp into the headroom, without copying the frame', () => {
    for (const sequencing of [false, true]) {
      const p = new Pair({}, new TestLac({ sequencing }));
      p.establish();
      const { sessionKey, sessionId } = p.call();
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), (frame) => {
          const copy = sends(p.server.sendPpp(sessionKey, frame))[0]!;
          const buf = Buffer.alloc(DATA_HEADROOM + frame.length + 4, 0xee);
          buf.set(frame, DATA_HEADROOM);
          const inPlace = sends(p.server.sendPppInPlace(sessionKey, buf, DATA_HEADROOM, DATA_HEADROOM + frame.length))[0]!;
          expect(inPlace.buffer).toBe(buf.buffer);
          const h1 = decodeHeader(copy);
          const h2 = decodeHeader(inPlace);
          expect(h2.ns).toBe(sequencing ? ((h1.ns ?? 0) + 1) & 0xffff : undefined);
          expect(Buffer.from(inPlace.subarray(h2.payloadOffset, h2.payloadEnd))).toEqual(Buffer.from(frame));
          expect(Buffer.from(copy.subarray(h1.payloadOffset, h1.payloadEnd))).toEqual(Buffer.from(frame));
          expect(h1.tunnelId).toBe(p.lac.tunnelId);
          expect(h2.sessionId).toBe(sessionId);
        }),
        { numRuns: 100 },
      );
      expect(p.server.sendPppInPlace(sessionKey, Buffer.alloc(20), 4, 10)).toEqual([]);
      expect(p.server.sendPpp(sessionKey, Buffer.alloc(0x10000))).toEqual([]);
      expect(p.server.counters.get('l2tp.drop.send-too-long')).toBe(1);
    }
  });

  it('many sessions per tunnel get distinct non-zero ids; data for one never reaches another', () => {
    const p = new Pair();
    p.establish();
    const calls = Array.from({ length: 5 }, () => p.call());
    expect(new Set(calls.map((c) => c.sessionKey)).size).toBe(5);
    const ids = p.server.list()[0]!.sessions.map((s) => s.sessionId);
    expect(new Set(ids).size).toBe(5);
    expect(ids.every((i) => i > 0 && i <= 0xffff)).toBe(true);
    const o = p.server.receive(p.lac.data(calls[3]!.sessionId, Buffer.from([1, 2])), PEER, p.now);
    expect(o[0]).toMatchObject({ type: 'ppp-frame', sessionKey: calls[3]!.sessionKey });
  });

  it('data from another peer key naming our tunnel is dropped (SA A naming SA B tunnel)', () => {
    const p = new Pair();
    p.establish();
    const { sessionId } = p.call();
    const o = p.server.receive(p.lac.data(sessionId, Buffer.from([1])), 'other:4500/1701', p.now);
    expect(o.some((x) => x.type === 'ppp-frame')).toBe(false);
    expect(p.server.counters.get('l2tp.drop.data-unknown-tunnel')).toBe(1);
  });

  it('peer CDN ends the session; peer StopCCN ends the tunnel, acked, and a duplicate is re-acked', () => {
    const p = new Pair();
    p.establish();
    const a = p.call();
    const b = p.call();
    let o = p.pump(p.lac.hangUp(a.sessionId, p.now));
    expect(o.filter((x) => x.type === 'session-down')).toEqual([{ type: 'session-down', sessionKey: a.sessionKey, reason: 'peer CDN: lost carrier' }]);
    expect(logs(o)).toContain('l2tp.RecvCDN');
    const stop = p.lac.stop(p.now);
    o = p.pump(stop);
    expect(o.filter((x) => x.type === 'session-down' || x.type === 'tunnel-down').map((x) => x.type)).toEqual(['session-down', 'tunnel-down']);
    expect(o.find((x) => x.type === 'session-down')).toMatchObject({ sessionKey: b.sessionKey });
    const zlb = sends(o);
    expect(zlb).toHaveLength(1);
    expect(decodeHeader(zlb[0]!)).toMatchObject({ length: 12, nr: 8 }) // SCCRQ, SCCCN, 2×(ICRQ, ICCN), CDN, StopCCN;
    expect(p.server.list()).toEqual([]);
    // Retransmitted StopCCN: ZLB again, nothing else.
    const again = p.server.receive(stop[0]!, PEER, p.now + 1000);
    expect(sends(again)).toHaveLength(1);
    expect(again.some((x) => x.type === 'tunnel-down')).toBe(false);
    // After a full retransmission cycle the state is gone.
    p.advance(32_000);
    expect(p.server.nextDeadline()).toBeUndefined();
  });

  it('closeSession sends a CDN with the result code and emits session-down', () => {
    const p = new Pair();
    p.establish();
    const a = p.call();
    const o = p.server.closeSession(a.sessionKey, 3, p.now, 'admin');
    const [cdn] = sends(o);
    const { h, msg } = decode(cdn!);
    expect(h.sessionId).toBe(a.sessionId);
    expect(msg?.messageType).toBe(MessageType.CDN);
    expect(msg?.attrs.resultCode).toEqual({ result: 3, error: 0, message: 'admin' });
    expect(o.filter((x) => x.type === 'session-down')).toHaveLength(1);
    p.lac.receive(cdn!, p.now);
    expect(p.lac.sessions.get(a.sessionId)?.state).toBe('closed');
    expect(p.server.sendPpp(a.sessionKey, Buffer.from([1]))).toEqual([]);
  });

  it('closePeer without sending frees everything silently; shutdown sends StopCCN', () => {
    const p = new Pair();
    p.establish();
    const a = p.call();
    const o = p.server.closePeer(PEER, p.now, false);
    expect(sends(o)).toEqual([]);
    expect(o.filter((x) => x.type !== 'log')).toEqual([
      { type: 'session-down', sessionKey: a.sessionKey, reason: 'peer closed' },
      { type: 'tunnel-down', peerKey: PEER, tunnelId: p.lac.peerTunnelId, reason: 'peer closed' },
    ]);
    expect(p.server.list()).toEqual([]);
    expect(p.server.nextDeadline()).toBeUndefined();

    // the caller's reason reaches the session-down (what history records)
    const r = new Pair();
    r.establish();
    const b = r.call();
    expect(r.server.closePeer(PEER, r.now, false, 'ipsec sa dpd').filter((x) => x.type === 'session-down')).toEqual([{ type: 'session-down', sessionKey: b.sessionKey, reason: 'ipsec sa dpd' }]);

    const q = new Pair();
    q.establish();
    q.call();
    const s = q.server.shutdown(q.now);
    const [stop] = sends(s);
    expect(decode(stop!).msg?.attrs.resultCode?.result).toBe(6);
    q.lac.receive(stop!, q.now);
    expect(q.lac.state).toBe('closed');
    expect(q.server.list()).toEqual([]);
  });

  it('HELLO after 60 s of silence; an answered HELLO keeps the tunnel', () => {
    const p = new Pair();
    p.establish();
    p.call();
    expect(p.server.nextDeadline()).toBe(60_000);
    const o = p.advance(61_000);
    expect(p.lac.processed.filter((x) => x === 'HELLO')).toHaveLength(1);
    expect(o.some((x) => x.type === 'tunnel-down')).toBe(false);
    expect(p.server.list()).toHaveLength(1);
  });

  it('OCRQ is refused with CDN; WEN and SLI are accepted; HELLO from the LAC is acked', () => {
    const p = new Pair();
    p.establish();
    const a = p.call();
    const lacCh = p.lac.channel;
    const ocrq = lacCh.send(0, encodeAvps([avpMessageType(MessageType.OCRQ), avpU16(AvpType.AssignedSessionId, 77), avpU32(AvpType.CallSerialNumber, 1), avpU32(AvpType.MinimumBps, 0), avpU32(AvpType.MaximumBps, 1e6), avpU32(AvpType.BearerType, 2), avpU32(AvpType.FramingType, 2)]), p.now);
    let o = p.pump(ocrq);
    const cdn = sends(o).map(decode).find((x) => x.msg?.messageType === MessageType.CDN);
    expect(cdn?.h.sessionId).toBe(77);
    const peerSid = p.lac.sessions.get(a.sessionId)!.peerSessionId;
    const sli = lacCh.send(peerSid, encodeAvps([avpMessageType(MessageType.SLI), { type: AvpType.Accm, value: Buffer.from([0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]), mandatory: true }]), p.now);
    o = p.pump(sli);
    expect(logs(o)).toContain('l2tp.RecvSLI');
    const wen = lacCh.send(peerSid, encodeAvps([avpMessageType(MessageType.WEN), { type: AvpType.CallErrors, value: Buffer.alloc(26), mandatory: true }]), p.now);
    o = p.pump(wen);
    expect(logs(o)).toContain('l2tp.RecvWEN');
    p.pump(p.lac.hello(p.now));
    expect(p.lac.channel.idle).toBe(true);
    expect(p.server.list()[0]!.sessions).toHaveLength(1);
  });

  it('with a tunnel secret: Challenge/Response both ways; a wrong response gets StopCCN result 4', () => {
    const secret = Buffer.from('tunnel-secret');
    const p = new Pair({ secret }, new TestLac({ secret }));
    const sccrq = p.lac.start(p.now);
    const o = p.server.receive(sccrq[0]!, PEER, p.now);
    const { msg } = decode(sends(o)[0]!);
    expect(Buffer.from(msg!.attrs.challengeResponse!)).toEqual(challengeResponse(2, secret, Buffer.from('0123456789abcdef')));
    expect(msg!.attrs.challenge).toHaveLength(16);
    for (const d of sends(o)) p.pump(p.lac.receive(d, p.now));
    expect(logs(p.all)).toContain('l2tp.tunnel.start');
    p.call();

    const bad = new Pair({ secret }, new TestLac({ secret: Buffer.from('wrong'), trustServer: true }));
    bad.establish();
    expect(logs(bad.all)).not.toContain('l2tp.tunnel.start');
    expect(bad.lac.processed).toEqual(['SCCRP', 'StopCCN']);
    expect(bad.lac.closeReason).toBe('StopCCN 4');
    expect(bad.server.list()).toEqual([]);
    expect(bad.all.some((x) => x.type === 'tunnel-down')).toBe(true);
  });

  it('Android mtpd style: RWS 1, Host Name "anonymous", 32-byte challenge; window of 1 respected', () => {
    const secret = Buffer.from('android-l2tp-secret');
    const p = new Pair({ secret }, new TestLac({ android: true, rws: 1, secret }));
    p.establish();
    expect(p.lac.state).toBe('established');
    expect(logs(p.all)).toContain('l2tp.tunnel.start');
    expect(p.all.find((x) => x.type === 'log' && x.event === 'l2tp.RecvSCCRQ')).toMatchObject({ fields: { hostname: 'anonymous' } });
    const { sessionKey } = p.call();
    expect(sessionKey).toContain(PEER);
    const second = p.call();
    // With RWS 1 the LNS never has two unacknowledged messages towards this LAC.
    const cdn1 = p.server.closeSession(sessionKey, 3, p.now);
    const cdn2 = p.server.closeSession(second.sessionKey, 3, p.now);
    expect(sends(cdn1)).toHaveLength(1);
    expect(sends(cdn2)).toHaveLength(0);
    const ack = p.lac.receive(sends(cdn1)[0]!, p.now);
    const released = sends(p.server.receive(ack[0]!, PEER, p.now));
    expect(released.map((d) => decode(d).msg?.messageType)).toEqual([MessageType.CDN]);
    p.pump(p.lac.receive(released[0]!, p.now));
    expect([...p.lac.sessions.values()].map((s) => s.state)).toEqual(['closed', 'closed']);
    expect(p.lac.channel.idle).toBe(true);
  });

  it('a Challenge without a configured secret is refused (StopCCN 4), no tunnel created', () => {
    const server = new L2tpServer({ hostName: 'lns', random: counterRandom() });
    const lac = new TestLac({ secret: Buffer.from('x') });
    const out = server.receive(lac.start(0)[0]!, PEER, 0);
    const { msg } = decode(sends(out)[0]!);
    expect(msg?.messageType).toBe(MessageType.StopCCN);
    expect(msg?.attrs.resultCode?.result).toBe(4);
    expect(server.list()).toEqual([]);
  });
});
