import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeControlMessage } from '../../src/l2tp/attributes.js';
import { MessageType } from '../../src/l2tp/constants.js';
import { decodeHeader } from '../../src/l2tp/header.js';
import { ControlChannel, seqDiff } from '../../src/l2tp/reliable.js';
import { L2tpServer, type L2tpOutput } from '../../src/l2tp/server.js';
import { PEER, Pair, counterRandom, logs, sends } from './harness.js';
import { TestLac } from './lac.js';
import { encodeAvps } from '../../src/l2tp/avp.js';
import { avpBytes, avpMessageType } from '../../src/l2tp/attributes.js';
import { AvpType } from '../../src/l2tp/constants.js';
import { challengeResponse } from '../../src/l2tp/hidden.js';

const cfg = { ourWindow: 4, maxRetries: 5, initialRto: 1000, maxRto: 8000 };
const hdr = (d: Buffer) => decodeHeader(d);

describe('ControlChannel (RFC 2661 §5.8)', () => {
  it('delivers in order, holds out-of-order inside the window, drops beyond it, acks duplicates once more', () => {
    const ch = new ControlChannel<string>(cfg);
    expect(ch.receive(1, 0, 'b', 0)).toMatchObject({ verdict: 'queued', deliver: [] });
    expect(ch.receive(2, 0, 'c', 0)).toMatchObject({ verdict: 'queued', deliver: [] });
    expect(ch.zlbIfNeeded()).toBeUndefined();
    expect(ch.receive(0, 0, 'a', 0)).toMatchObject({ verdict: 'in-order', deliver: ['a', 'b', 'c'] });
    expect(ch.nr).toBe(3);
    expect(hdr(ch.zlbIfNeeded()!)).toMatchObject({ length: 12, ns: 0, nr: 3 });
    expect(ch.receive(1, 0, 'b', 0)).toMatchObject({ verdict: 'duplicate', deliver: [] });
    expect(hdr(ch.zlbIfNeeded()!).nr).toBe(3);
    expect(ch.receive(3 + 4, 0, 'x', 0)).toMatchObject({ verdict: 'beyond-window', deliver: [] });
    expect(ch.receive(3 + 3, 0, 'y', 0).verdict).toBe('queued');
  });

  it('wraps around at 65535', () => {
    const ch = new ControlChannel<number>(cfg);
    ch.nr = 0xffff;
    expect(ch.receive(0, 0, 2, 0).verdict).toBe('queued');
    expect(ch.receive(0xffff, 0, 1, 0).deliver).toEqual([1, 2]);
    expect(ch.nr).toBe(1);
    expect(ch.receive(0xfffe, 0, 0, 0).verdict).toBe('duplicate');
    expect(seqDiff(0, 0xffff)).toBe(1);
  });

  it("respects the peer's Receive Window Size and sends held messages as acks arrive", () => {
    const ch = new ControlChannel<number>(cfg);
    ch.peerWindow = 2;
    const sent = [0, 1, 2, 3].map((i) => ch.send(0, Buffer.from([0x80, 0x08, 0, 0, 0, 0, 0, i]), 0));
    expect(sent.map((s) => s.length)).toEqual([1, 1, 0, 0]);
    const r = ch.receive(0, 1, null, 10); // ZLB acking Ns 0
    expect(r.acked).toBe(true);
    expect(r.transmit.map((d) => hdr(d).ns)).toEqual([2]);
    const r2 = ch.receive(0, 4, null, 20); // a bogus Nr past what was sent is ignored
    expect(r2.acked).toBe(false);
    expect(ch.receive(0, 3, null, 30).transmit.map((d) => hdr(d).ns)).toEqual([3]);
  });

  it('retransmits with capped exponential backoff 1, 2, 4, 8, 8 s, then fails', () => {
    const ch = new ControlChannel<number>(cfg);
    ch.send(0, Buffer.from([0x80, 0x08, 0, 0, 0, 0, 0, 6]), 0);
    const times: number[] = [];
    let failedAt = -1;
    for (let t = 0; t <= 40_000 && failedAt < 0; t += 100) {
      const r = ch.onTimer(t);
      if (r === 'failed') failedAt = t;
      else if (r.length > 0) times.push(t);
    }
    expect(times).toEqual([1000, 3000, 7000, 15000, 23000]);
    expect(failedAt).toBe(31000);
  });

  it('a retransmission carries the current Nr', () => {
    const ch = new ControlChannel<string>(cfg);
    ch.send(0, Buffer.from([0x80, 0x08, 0, 0, 0, 0, 0, 6]), 0);
    ch.receive(0, 0, 'm', 10);
    const r = ch.onTimer(1000);
    expect(r !== 'failed' && hdr(r[0]!)).toMatchObject({ ns: 0, nr: 1 });
  });
});

describe('LNS reliability', () => {
  it('SCCRP never acknowledged: retransmitted at 1, 3, 7, 15, 23 s, tunnel freed at 31 s', () => {
    const server = new L2tpServer({ hostName: 'lns', random: counterRandom() });
    const lac = new TestLac();
    const first = server.receive(lac.start(0)[0]!, PEER, 0);
    expect(sends(first)).toHaveLength(1);
    const retx: number[] = [];
    let down: L2tpOutput | undefined;
    for (let t = 0; t <= 40_000 && !down; t = server.nextDeadline() ?? 40_001) {
      const o = server.tick(t);
      for (const d of sends(o)) {
        expect(decodeControlMessage(d.subarray(12))?.messageType).toBe(MessageType.SCCRP);
        retx.push(t);
      }
      down = o.find((x) => x.type === 'tunnel-down');
    }
    expect(retx).toEqual([1000, 3000, 7000, 15000, 23000]);
    expect(down).toMatchObject({ type: 'tunnel-down', peerKey: PEER, reason: 'no acknowledgement after retransmissions' });
    expect(server.list()).toEqual([]);
    expect(server.nextDeadline()).toBeUndefined();
    expect(server.counters.get('l2tp.tunnel.retransmit-limit')).toBe(1);
  });

  it('HELLO unanswered: the tunnel and its sessions are torn down after the retry limit', () => {
    const p = new Pair();
    p.establish();
    const { sessionKey } = p.call();
    // The LAC goes silent: nothing the server sends reaches it any more.
    const out: L2tpOutput[] = [];
    for (let t = p.now; t <= 100_000; t += 500) out.push(...p.server.tick(t));
    const ev = out.filter((o) => o.type === 'session-down' || o.type === 'tunnel-down');
    expect(ev.map((o) => o.type)).toEqual(['session-down', 'tunnel-down']);
    expect(ev[0]).toMatchObject({ sessionKey });
    expect(sends(out).filter((d) => decodeControlMessage(d.subarray(12))?.messageType === MessageType.HELLO)).toHaveLength(6);
    expect(p.server.list()).toEqual([]);
  });

  it('a retransmitted SCCRQ creates no second tunnel: it is acked with a ZLB', () => {
    const server = new L2tpServer({ hostName: 'lns', random: counterRandom() });
    const lac = new TestLac();
    const [sccrq] = lac.start(0);
    const a = server.receive(sccrq!, PEER, 0);
    const b = server.receive(sccrq!, PEER, 1000);
    expect(server.list()).toHaveLength(1);
    expect(logs(b)).toEqual([]);
    expect(sends(b).map((d) => hdr(d))).toMatchObject([{ length: 12, nr: 1 }]);
    expect(server.counters.get('l2tp.sccrq.retransmit')).toBe(1);
    // Once established, a late copy is still a duplicate.
    for (const d of sends(a)) for (const r of lac.receive(d, 1000)) server.receive(r, PEER, 1000);
    expect(logs(server.receive(sccrq!, PEER, 2000))).toEqual([]);
    expect(server.list()).toHaveLength(1);
    // Another client (other peer key, same tunnel id) does get its own tunnel.
    server.receive(sccrq!, 'other:4500/1701', 2000);
    expect(server.list()).toHaveLength(2);
  });

  it('duplicate ICRQ is acked and not processed again', () => {
    const p = new Pair();
    p.establish();
    const { out } = p.lac.call(p.now);
    const o1 = p.server.receive(out[0]!, PEER, p.now);
    expect(logs(o1)).toContain('l2tp.RecvICRQ');
    const o2 = p.server.receive(out[0]!, PEER, p.now);
    expect(logs(o2)).toEqual([]);
    expect(sends(o2).map(hdr)).toMatchObject([{ length: 12 }]);
    expect(p.server.list()[0]!.sessions).toHaveLength(1);
  });
});

type Fate = 'deliver' | 'drop' | 'dup' | 'late';

interface InFlight {
  at: number;
  seq: number;
  toServer: boolean;
  data: Buffer;
}

/**
 * One LAC and the LNS over a network that drops, duplicates and reorders
 * according to `fates` (then becomes perfect), driven event by event.
 */
function simulate(fates: Fate[], lateBy: number[], calls: number, blackout: { start: number; length: number } = { start: 0, length: 0 }) {
  const server = new L2tpServer({ hostName: 'lns', random: counterRandom(0x777) });
  const lac = new TestLac();
  const all: L2tpOutput[] = [];
  const net: InFlight[] = [];
  let n = 0;
  let seq = 0;
  let lacFailed = false;
  let placed = false;
  const put = (toServer: boolean, data: Buffer, now: number): void => {
    const fate = n >= blackout.start && n < blackout.start + blackout.length ? 'drop' : (fates[n] ?? 'deliver');
    const extra = lateBy[n % Math.max(1, lateBy.length)] ?? 0;
    n++;
    if (fate === 'drop') return;
    net.push({ at: now + 5 + (fate === 'late' ? extra : 0), seq: seq++, toServer, data });
    if (fate === 'dup') net.push({ at: now + 5 + extra, seq: seq++, toServer, data: Buffer.from(data) });
  };
  const fromServer = (o: L2tpOutput[], now: number): void => {
    all.push(...o);
    for (const d of sends(o)) put(false, d, now);
  };
  let now = 0;
  for (const d of lac.start(0)) put(true, d, 0);
  for (let steps = 0; steps < 20_000; steps++) {
    if (!placed && lac.state === 'established' && !lacFailed) {
      placed = true;
      for (let i = 0; i < calls; i++) for (const d of lac.call(now).out) put(true, d, now);
    }
    const cand = [server.nextDeadline(), lacFailed ? undefined : lac.nextDeadline(), ...net.map((x) => x.at)].filter((x): x is number => x !== undefined);
    if (cand.length === 0) break;
    now = Math.max(now, Math.min(...cand));
    if (now > 400_000) break;
    net.sort((a, b) => a.at - b.at || a.seq - b.seq);
    while (net.length > 0 && net[0]!.at <= now) {
      const x = net.shift()!;
      if (x.toServer) fromServer(server.receive(x.data, PEER, now), now);
      else if (!lacFailed) for (const d of lac.receive(x.data, now)) put(true, d, now);
    }
    fromServer(server.tick(now), now);
    if (!lacFailed) {
      const t = lac.tick(now);
      if (t === 'failed') lacFailed = true;
      else for (const d of t) put(true, d, now);
    }
    // Stop once both sides are settled and nothing is in flight.
    if (net.length === 0 && lac.channel.idle && (lacFailed || lac.state === 'closed' || (placed && [...lac.sessions.values()].every((s) => s.state !== 'wait-reply'))) && server.list().every((t) => t.sessions.length === calls)) {
      const idle = server.nextDeadline();
      if (idle === undefined || idle - now > 30_000) break;
    }
  }
  return { server, lac, all, lacFailed };
}

describe('reliable delivery under loss, duplication and reordering (property)', () => {
  it('both sides agree and every message is processed exactly once, or both tear down', () => {
    const outcomes = { up: 0, down: 0 };
    const fate = fc.constantFrom<Fate>('deliver', 'deliver', 'deliver', 'drop', 'dup', 'late');
    fc.assert(
      fc.property(
        fc.array(fate, { maxLength: 40 }),
        fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 10 }),
        fc.integer({ min: 1, max: 3 }),
        fc.record({ start: fc.integer({ min: 0, max: 30 }), length: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 20 })) }),
        (fates, lateBy, calls, blackout) => {
        const { server, lac, all, lacFailed } = simulate(fates, lateBy, calls, blackout);
        const count = (e: string) => logs(all).filter((x) => x === e).length;
        // Exactly once on the LNS side, whatever the network did.
        expect(count('l2tp.RecvSCCRQ')).toBeLessThanOrEqual(1);
        expect(count('l2tp.RecvSCCCN')).toBeLessThanOrEqual(1);
        expect(count('l2tp.RecvICRQ')).toBeLessThanOrEqual(calls);
        expect(count('l2tp.RecvICCN')).toBeLessThanOrEqual(calls);
        const ups = all.filter((o) => o.type === 'session-up');
        expect(ups.length).toBeLessThanOrEqual(calls);
        expect(new Set(ups.map((o) => o.type === 'session-up' && o.sessionKey)).size).toBe(ups.length);
        // Exactly once on the LAC side.
        expect(lac.processed.filter((x) => x === 'SCCRP').length).toBeLessThanOrEqual(1);
        for (const s of lac.sessions.values()) expect(s.icrpCount).toBeLessThanOrEqual(1);
        const tunnels = server.list();
        const lacUp = !lacFailed && lac.state === 'established';
        if (tunnels.length === 1 && lacUp) {
          // Agreement: both sides hold the same sessions, each came up once. A call the LNS
          // gave up on (no ICCN within its setup timeout, e.g. during an outage) was closed
          // with a CDN and is closed on the LAC too; the others are up on both sides.
          const lacSessions = [...lac.sessions.values()];
          expect(lacSessions.every((s) => s.state === 'established' || s.state === 'closed')).toBe(true);
          const established = lacSessions.filter((s) => s.state === 'established').map((s) => s.sessionId);
          expect(tunnels[0]!.sessions.map((s) => s.peerSessionId).sort()).toEqual(established.sort());
          expect(count('l2tp.RecvSCCRQ')).toBe(1);
          expect(ups.length - all.filter((o) => o.type === 'session-down').length).toBe(established.length);
          if (established.length === calls) {
            expect(count('l2tp.RecvICRQ')).toBe(calls);
            expect(count('l2tp.RecvICCN')).toBe(calls);
          }
          outcomes.up++;
        } else {
          outcomes.down++;
          // Teardown on both sides, and the LNS freed everything.
          expect(tunnels).toEqual([]);
          expect(lacUp).toBe(false);
          // One tunnel-down for the one tunnel, unless no SCCRQ ever got through.
          expect(all.filter((o) => o.type === 'tunnel-down').length).toBe(count('l2tp.RecvSCCRQ'));
          expect(all.filter((o) => o.type === 'session-down').length).toBe(ups.length);
        }
      }),
      {
        numRuns: 150,
        examples: [
          [[], [1], 2, { start: 0, length: 0 }],
          [['drop', 'dup', 'late', 'late', 'dup'], [2500, 10], 3, { start: 0, length: 0 }],
          [[], [1], 1, { start: 2, length: 20 }],
          // the LNS gives up on one call during an 18-packet outage (seeds 1919206867 and -848155120 found it)
          [['deliver', 'deliver', 'drop', 'deliver', 'deliver', 'late'], [2006], 2, { start: 16, length: 18 }],
          [['dup', 'late', 'deliver', 'deliver', 'deliver', 'drop'], [2011], 2, { start: 17, length: 18 }],
        ],
      },
    );
    // The explicit examples make sure both outcomes are exercised.
    expect(outcomes.up).toBeGreaterThan(0);
    expect(outcomes.down).toBeGreaterThan(0);
  });
});

describe('held messages survive buffer reuse', () => {
  it('an out-of-order SCCCN keeps its Challenge Response after the receive buffer was overwritten', () => {
    const secret = Buffer.from('tunnel-secret');
    const server = new L2tpServer({ hostName: 'lns', secret, random: counterRandom() });
    const lac = new TestLac({ secret });
    const shared = Buffer.alloc(2048);
    const deliver = (d: Buffer): L2tpOutput[] => {
      shared.fill(0x55);
      d.copy(shared);
      return server.receive(shared.subarray(0, d.length), PEER, 0);
    };
    const sccrp = sends(deliver(lac.start(0)[0]!))[0]!;
    const h = decodeHeader(sccrp);
    const m = decodeControlMessage(sccrp.subarray(h.payloadOffset, h.payloadEnd))!;
    const ch = lac.channel;
    ch.peerTunnelId = m.attrs.assignedTunnelId!;
    ch.receive(h.ns!, h.nr!, null, 0);
    ch.nr = 1;
    // HELLO takes Ns 1, SCCCN Ns 2; the SCCCN arrives first and is held.
    const hello = ch.send(0, encodeAvps([avpMessageType(MessageType.HELLO)]), 0)[0]!;
    const scccn = ch.send(0, encodeAvps([avpMessageType(MessageType.SCCCN), avpBytes(AvpType.ChallengeResponse, challengeResponse(MessageType.SCCCN, secret, m.attrs.challenge!))]), 0)[0]!;
    expect(logs(deliver(scccn))).toEqual([]);
    const o = deliver(hello);
    expect(logs(o)).toEqual(['l2tp.RecvSCCCN', 'l2tp.tunnel.start']);
  });
});
