import { describe, expect, it } from 'vitest';
import { encodeAvps } from '../../src/l2tp/avp.js';
import { avpMessageType, avpResultCode, avpU16, decodeControlMessage } from '../../src/l2tp/attributes.js';
import { AvpType, MessageType } from '../../src/l2tp/constants.js';
import { decodeHeader, encodeHeader } from '../../src/l2tp/header.js';
import { L2tpServer, type L2tpOutput } from '../../src/l2tp/server.js';
import { PEER, Pair, counterRandom, logs, sends } from './harness.js';
import { TestLac, xl2tpdIcrqAvps } from './lac.js';

function types(out: L2tpOutput[]): number[] {
  return sends(out).flatMap((d) => {
    const h = decodeHeader(d);
    const m = decodeControlMessage(d.subarray(h.payloadOffset, h.payloadEnd));
    return m ? [m.messageType] : [];
  });
}

describe('LNS timers and teardown paths', () => {
  it('SCCRP acked but no SCCCN within 30 s: StopCCN, then freed once acked', () => {
    const server = new L2tpServer({ hostName: 'lns', random: counterRandom() });
    const lac = new TestLac();
    const o = server.receive(lac.start(0)[0]!, PEER, 0);
    // The LAC acks the SCCRP with a ZLB but never sends SCCCN.
    const sccrp = sends(o)[0]!;
    const tid = decodeControlMessage(sccrp.subarray(12))!.attrs.assignedTunnelId!;
    const zlb = (nr: number) => encodeHeader({ isControl: true, hasLength: true, hasSequence: true, tunnelId: tid, sessionId: 0, ns: 1, nr });
    server.receive(zlb(1), PEER, 100);
    expect(server.nextDeadline()).toBe(30_000);
    const t = server.tick(30_000);
    expect(types(t)).toEqual([MessageType.StopCCN]);
    expect(logs(t)).toContain('l2tp.SendStopCCN');
    expect(server.list()).toHaveLength(1);
    const done = server.receive(zlb(2), PEER, 30_100);
    expect(done.filter((x) => x.type === 'tunnel-down')).toMatchObject([{ reason: 'StopCCN acknowledged', peerKey: PEER, tunnelId: tid }]);
    expect(server.list()).toEqual([]);
  });

  it('ICRP acked but no ICCN within 30 s: CDN (timeout), no session-up, no session-down', () => {
    const p = new Pair();
    p.establish();
    const icrq = p.lac.channel.send(0, encodeAvps(xl2tpdIcrqAvps(42, 1)), p.now);
    // Deliver the ICRQ; the LAC acks the ICRP but (as a broken client) never sends ICCN.
    const o = p.server.receive(icrq[0]!, PEER, p.now);
    for (const d of sends(o)) {
      const h = decodeHeader(d);
      p.lac.channel.receive(h.ns!, h.nr!, null, p.now);
      p.lac.channel.ackPending = true;
      p.server.receive(p.lac.channel.zlbIfNeeded()!, PEER, p.now);
    }
    expect(p.server.list()[0]!.sessions).toHaveLength(1);
    const t = p.server.tick(30_000);
    expect(types(t)).toContain(MessageType.CDN);
    expect(t.some((x) => x.type === 'session-down' || x.type === 'session-up')).toBe(false);
    expect(p.server.list()[0]!.sessions).toEqual([]);
  });

  it('a CDN with Session ID 0 (the LAC aborting before it learnt ours) finds the session by its Assigned Session ID', () => {
    const p = new Pair();
    p.establish();
    const a = p.call();
    const cdn = p.lac.channel.send(0, encodeAvps([avpMessageType(MessageType.CDN), avpResultCode(1, 0), avpU16(AvpType.AssignedSessionId, a.sessionId)]), p.now);
    const o = p.pump(cdn);
    expect(o.filter((x) => x.type === 'session-down')).toMatchObject([{ sessionKey: a.sessionKey }]);
  });

  it('helloInterval 0 disables HELLO', () => {
    const p = new Pair({ helloInterval: 0 });
    p.establish();
    expect(p.server.nextDeadline()).toBeUndefined();
  });

  it('data for a session still waiting for ICCN is dropped', () => {
    const p = new Pair();
    p.establish();
    const icrq = p.lac.channel.send(0, encodeAvps(xl2tpdIcrqAvps(42, 1)), p.now);
    const o = p.server.receive(icrq[0]!, PEER, p.now);
    const ourSid = decodeControlMessage(sends(o)[0]!.subarray(12))!.attrs.assignedSessionId!;
    p.lac.sessions.set(42, { sessionId: 42, peerSessionId: ourSid, state: 'established', icrpCount: 1 });
    expect(p.server.receive(p.lac.data(42, Buffer.from([0xff, 0x03])), PEER, p.now).some((x) => x.type === 'ppp-frame')).toBe(false);
    expect(p.server.counters.get('l2tp.drop.data-unknown-session')).toBe(1);
  });

  it('log events carry the npppd-style fields', () => {
    const p = new Pair();
    p.establish();
    const a = p.call();
    const ev = (name: string) => p.all.find((x) => x.type === 'log' && x.event === name);
    expect(ev('l2tp.tunnel.start')).toMatchObject({ level: 'info', fields: { peer: PEER, tunnelId: p.lac.peerTunnelId, peerTunnelId: p.lac.tunnelId, hostname: 'lac.example' } });
    expect(ev('l2tp.session.start')).toMatchObject({ fields: { sessionId: p.lac.sessions.get(a.sessionId)!.peerSessionId, peerSessionId: a.sessionId } });
    p.pump(p.lac.stop(p.now));
    expect(ev('l2tp.RecvStopCCN')).toMatchObject({ fields: { reason: 'peer StopCCN: general request to clear control connection' } });
    expect(ev('l2tp.session.stop')).toMatchObject({ fields: { reason: expect.stringContaining('StopCCN') } });
    expect(ev('l2tp.tunnel.stop')).toMatchObject({ fields: { tunnelId: p.lac.peerTunnelId } });
  });
});
