import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ExchangeType, IdType, PayloadType } from '../../src/ike/wire/constants.js';
import { encodeDelete } from '../../src/ike/wire/delete.js';
import { TestLac } from '../l2tp/lac.js';
import { nativeCbc, nativeGcm, nativeHmac } from '../../src/io/udp-native.js';
import { INTERNET, World, dstOf, ipv4, srcOf, type SimClient } from './harness.js';

const EMPTY = { sessions: 0, live: 0, l2tpSessions: 0, forwarder: 0, poolUsed: 0 };

function connected(w: World, user = 'alice', extra: Partial<Parameters<World['client']>[0]> = {}): SimClient {
  const c = w.client({ user, password: `${user} password`, ...extra });
  expect(c.connect()).toBe(true);
  return c;
}

/** One round trip: a packet from the client out of the TUN, the answer back through ESP. */
function roundTrip(w: World, c: SimClient, tag: string): void {
  const before = w.tun.length;
  c.sendIp(INTERNET, Buffer.from(`up ${tag}`));
  w.pump();
  const up = w.tun.slice(before).filter((p) => p.subarray(20).toString() === `up ${tag}`);
  expect(up).toHaveLength(1);
  expect(srcOf(up[0]!)).toBe(c.ppp.address);
  const got = c.received.length;
  w.pipeline.tunPackets([ipv4(INTERNET, c.ppp.address, Buffer.from(`down ${tag}`))], w.now);
  w.pump();
  expect(c.received.slice(got).map((p) => p.subarray(20).toString())).toEqual([`down ${tag}`]);
}

describe('pipeline composition (IKE initiator + LAC + PPP client through fake ports, fake clock)', () => {
  it('a client gets an address; its packets leave through the TUN with its source; replies come back through ESP', () => {
    const w = new World();
    const c = connected(w);
    expect(c.ppp.address).toBe('10.40.0.2');
    expect(c.ppp.dns[0]).toBe('10.40.0.1');
    roundTrip(w, c, 'one');
    const [s] = w.pipeline.sessions(w.now);
    expect(s!.rec.user).toBe('alice');
    expect(s!.rec.address).toBe('10.40.0.2');
    expect(s!.rec.kind).toBe('l2tp-ppp');
    expect(s!.natT).toBe(true);
    expect(s!.esp).toBe('aes-cbc128-hmac-sha1-96');
    expect(s!.rec.packetsIn).toBe(1);
    expect(s!.rec.packetsOut).toBe(1);
    expect(w.events.map((e) => e.type)).toEqual(expect.arrayContaining(['ike.sa.up', 'ipsec.sa.up', 'session.start']));
  });

  it('handshakesInProgress counts the Main Modes under way (what the heap trim waits for)', () => {
    const w = new World();
    expect(w.pipeline.handshakesInProgress).toBe(0);
    const c = w.client({ user: 'alice', password: 'alice password' });
    const i = c.ikeInit;
    i.onMm2(w.ike(c, i.mm1())[0]!);
    expect(w.pipeline.handshakesInProgress).toBe(1);
    i.onMm4(w.ike(c, i.mm3())[0]!);
    expect(w.pipeline.handshakesInProgress).toBe(1);
    w.ike(c, i.mm5());
    expect(w.pipeline.handshakesInProgress).toBe(0);
    const d = connected(w, 'bob', { address: '198.18.0.7', port500: 500, port4500: 4500 });
    expect(d.ppp.address).toBeDefined();
    expect(w.pipeline.handshakesInProgress).toBe(0);
  });

  it.skipIf(!nativeCbc()?.cbcKey(Buffer.alloc(16)) || !nativeHmac() || !nativeGcm())(
    "with the addon's batch crypto (AES-CBC and AES-GCM opened in place, the engine's reuse mode): whole handshakes, and two clients' packets in one batch each reach the TUN intact",
    () => {
      const w = new World({ hmacBatch: nativeHmac(), gcmBatch: nativeGcm(), cbcBatch: nativeCbc() });
      const a = connected(w, 'alice', { address: '198.18.0.1', port500: 500, port4500: 4500 });
      const b = connected(w, 'bob', { address: '198.18.0.2', port500: 500, port4500: 4500, esp: { cipher: 'aes128gcm16', ids: 'udp1701' } });
      expect(a.ppp.address).not.toBe(b.ppp.address);
      const esp = new Map(w.pipeline.sessions(w.now).map((x) => [x.rec.user, x.esp]));
      expect(esp.get('alice')).toMatch(/^aes-cbc/);
      expect(esp.get('bob')).toMatch(/gcm/);
      for (let round = 0; round < 3; round++) {
        const before = w.tun.length;
        const pa = Buffer.alloc(1200, 0xa0 + round);
        const pb = Buffer.alloc(900, 0xb0 + round);
        a.sendIp(INTERNET, pa);
        b.sendIp(INTERNET, pb);
        w.pump();
        const got = w.tun.slice(before);
        expect(got).toHaveLength(2);
        const fromA = got.find((p) => srcOf(p) === a.ppp.address)!;
        const fromB = got.find((p) => srcOf(p) === b.ppp.address)!;
        expect(fromA.subarray(20).equals(pa)).toBe(true);
        expect(fromB.subarray(20).equals(pb)).toBe(true);
      }
      roundTrip(w, a, 'a');
      roundTrip(w, b, 'b');
    },
  );

  it('a packet from another source inside the tunnel never reaches the TUN', () => {
    const w = new World();
    const c = connected(w);
    const before = w.tun.length;
    c.sendIp(INTERNET, Buffer.from('spoof'), '10.40.0.99');
    w.pump();
    expect(w.tun.length).toBe(before);
    expect(w.pipeline.counters.get('nat.drop.spoofed-source')).toBe(1);
  });

  it('two clients behind one address stay apart: own addresses, own traffic', () => {
    const w = new World();
    const a = connected(w, 'alice', { address: '198.18.0.1', port500: 500, port4500: 4500 });
    const b = connected(w, 'bob', { address: '198.18.0.1', port500: 1500, port4500: 4501 });
    expect(a.ppp.address).not.toBe(b.ppp.address);
    roundTrip(w, a, 'a');
    roundTrip(w, b, 'b');
    w.pipeline.tunPackets([ipv4(INTERNET, a.ppp.address, Buffer.from('only a'))], w.now);
    w.pump();
    expect(a.received.at(-1)!.subarray(20).toString()).toBe('only a');
    expect(b.received.map((p) => p.subarray(20).toString())).not.toContain('only a');
    const users = w.pipeline.sessions(w.now).map((s) => [s.rec.user, s.rec.address]);
    expect(users).toEqual(expect.arrayContaining([['alice', a.ppp.address], ['bob', b.ppp.address]]));
  });

  it('a second IKE peer on the same outer address and port gets its own lineage: it cannot read or write the first one’s tunnel', () => {
    const w = new World();
    const victim = connected(w, 'alice', { address: '198.18.0.9' });
    // an insider with the group PSK from the very same address and ports, under its own identity
    const intruder = w.client({ user: 'bob', password: 'bob password', address: '198.18.0.9', id: { idType: IdType.IPV4_ADDR, protocol: 0, port: 0, data: Buffer.from([10, 0, 0, 66]) } });
    intruder.ipsec();
    // it replays the victim's L2TP data header (same tunnel and session ids) under its own SA
    const tunnelDataBefore = w.tun.length;
    const forged = victim.lac.data(victim.sessionId, Buffer.concat([Buffer.from([0xff, 0x03, 0x00, 0x21]), ipv4(victim.ppp.address, INTERNET, Buffer.from('forged'))]));
    intruder.sendL2tp([forged]);
    w.pump();
    expect(w.tun.length).toBe(tunnelDataBefore);
    expect(w.pipeline.counters.get('l2tp.drop.data-unknown-tunnel')).toBeGreaterThan(0);
    // the victim's downlink still goes to the victim, on the victim's SA
    const got = intruder.received.length;
    roundTrip(w, victim, 'still mine');
    expect(intruder.received.length).toBe(got);
  });

  it('HELLO after hello_interval of silence, at that fake time, with no polling in between', () => {
    const w = new World({ helloInterval: 30 });
    const c = connected(w);
    let helloAt = -1;
    const receive = c.lac.receive.bind(c.lac);
    c.lac.receive = (d, now) => {
      const before = c.lac.processed.length;
      const out = receive(d, now);
      if (helloAt < 0 && c.lac.processed.slice(before).includes('HELLO')) helloAt = now;
      return out;
    };
    const quietSince = c.lastEsp;
    w.wakeups.length = 0;
    w.runUntil(() => helloAt >= 0, 60_000);
    // the LNS's HELLO went out exactly hello_interval after it last heard the client
    expect(helloAt - quietSince).toBe(30_000);
    expect(w.wakeups).toEqual([helloAt]);
  });

  it('nothing runs before it is due: with no timer configured an idle session never wakes the server', () => {
    const w = new World();
    connected(w, 'alice', { helloMs: 10 * 3_600_000 });
    w.advance(10_000);
    w.wakeups.length = 0;
    w.advance(3_600_000);
    // what is left is the cores' own bookkeeping (the finished Quick Mode kept for
    // retransmissions, the SA lifetime), not a poll: 250 ms polling would be 14 400 wake-ups
    expect(w.wakeups.length).toBeLessThanOrEqual(3);
    expect(new World().pipeline.nextDeadline()).toBeUndefined();
    // with an LCP keepalive it wakes once per Echo-Request (RFC 1661 §5.8), none in between
    const k = new World({ lcpEchoInterval: 20 });
    const c = connected(k, 'alice', { helloMs: 10 * 3_600_000 });
    k.advance(10_000);
    k.wakeups.length = 0;
    const echoes = c.ppp.echoRequests;
    k.advance(600_000);
    expect(k.wakeups.length).toBe(c.ppp.echoRequests - echoes);
    expect(k.wakeups.length).toBeGreaterThanOrEqual(29);
  });

  describe('every way a session ends frees its address, handle and entry, with the right history reason', () => {
    function ended(w: World, reason: RegExp | string): void {
      expect(w.ended).toHaveLength(1);
      const e = w.ended[0]!;
      if (typeof reason === 'string') expect(e.reason).toBe(reason);
      else expect(e.reason).toMatch(reason);
      expect(e.user).toBe('alice');
      expect(e.address).toBe('10.40.0.2');
      expect(w.pipeline.sizes()).toMatchObject(EMPTY);
      expect(w.pipeline.table.list()).toEqual([]);
      expect(w.events.filter((x) => x.type === 'session.stop')).toHaveLength(1);
    }

    it('client hang-up (CDN)', () => {
      const w = new World();
      const c = connected(w);
      c.sendL2tp(c.lac.hangUp(c.sessionId, w.now));
      w.runUntil(() => w.ended.length > 0, 10_000);
      ended(w, /^peer CDN/);
    });

    it('client tunnel stop (StopCCN)', () => {
      const w = new World();
      const c = connected(w);
      c.sendL2tp(c.lac.stop(w.now));
      w.runUntil(() => w.ended.length > 0, 10_000);
      ended(w, /^peer StopCCN/);
    });

    it('admin disconnect: Terminate, CDN, then the IKE Delete of the child SA', () => {
      const w = new World();
      const c = connected(w);
      let deleted = false;
      const orig = c.ikeFromServer.bind(c);
      c.ikeFromServer = (m: Buffer): void => {
        const info = c.ikeInit.openInformational(m);
        if (info.deletes?.length) deleted = true;
        orig(m);
      };
      expect(w.pipeline.disconnect({ user: 'alice' }, 'admin disconnect', w.now)).toEqual([w.pipeline.table.list()[0]!.id]);
      w.runUntil(() => w.ended.length > 0 && deleted, 10_000);
      expect(c.ppp.terminated).toBe(true);
      expect(c.lac.sessions.get(c.sessionId)!.state).toBe('closed');
      expect(deleted).toBe(true);
      ended(w, 'admin disconnect');
      expect(w.pipeline.sizes().children).toBe(0);
    });

    it('DPD: a vanished client is declared dead after dpd_idle + 5 probes, at that fake time', () => {
      const w = new World({ dpdIdle: 10 });
      const c = connected(w);
      // DPD counts from the last IKE message of the client (its Quick Mode)
      const t0 = c.lastIke;
      c.alive = false;
      w.wakeups.length = 0;
      w.runUntil(() => w.ended.length > 0, 120_000);
      ended(w, 'ipsec sa dpd');
      // probes at +10, +15, +20, +25, +30 s, dead at +35 s: a wake-up for each
      expect(w.wakeups.map((t) => t - t0)).toEqual(expect.arrayContaining([10_000, 15_000, 20_000, 25_000, 30_000, 35_000]));
      expect(w.wakeups.length).toBeLessThanOrEqual(8);
      expect(w.now - t0).toBe(35_000);
      expect(w.pipeline.sizes()).toMatchObject({ lineages: 0, routes: 0, children: 0, ikeSas: 0, tunnels: 0 });
    });

    it('the client deletes its IPsec SA', () => {
      const w = new World();
      const c = connected(w);
      const spi = Buffer.alloc(4);
      spi.writeUInt32BE(Number.parseInt(c.saId.slice('client-'.length), 16));
      const del = encodeDelete({ doi: 1, protocolId: 3, spiSize: 4, spis: [spi] });
      w.ike(c, c.ikeInit.informational([{ type: PayloadType.D, body: del }]));
      w.pump();
      ended(w, 'ipsec sa deleted by peer');
      expect(ExchangeType.INFORMATIONAL).toBeGreaterThan(0);
    });

    it('idle timeout: closed idle_timeout after the last packet', () => {
      const w = new World({ idleTimeout: 60 });
      const c = connected(w);
      w.advance(20_000);
      roundTrip(w, c, 'late');
      const last = w.now;
      w.runUntil(() => w.ended.length > 0, 200_000);
      ended(w, 'idle timeout');
      expect(w.now - last).toBeGreaterThanOrEqual(60_000);
      expect(w.now - last).toBeLessThan(70_000);
    });

    it('server shutdown', () => {
      const w = new World();
      const c = connected(w);
      w.pipeline.shutdown('server shutting down', w.now);
      w.pump();
      w.pipeline.finish('server shutting down', w.now + 100);
      expect(c.ppp.terminated).toBe(true);
      ended(w, /shutting down|shutdown/);
    });
  });

  it('a user over max_sessions_per_user is refused; the sessions of one user count together', () => {
    const w = new World({ maxSessionsPerUser: 1 });
    connected(w, 'alice', { address: '198.18.1.1' });
    const second = w.client({ user: 'alice', password: 'alice password', address: '198.18.1.2' });
    expect(second.connect(20_000)).toBe(false);
    expect(second.ppp.authFailures.join(' ')).toMatch(/E=649/);
    expect(w.pipeline.table.countUser('alice')).toBe(1);
  });

  it('one SA holds at most 4 sessions that have not logged in; the 5th call gets CDN result 4', () => {
    const w = new World();
    const c = w.client({ user: 'alice', password: 'alice password' });
    c.ipsec();
    c.sendL2tp(c.lac.start(w.now));
    expect(w.runUntil(() => c.lac.state === 'established', 10_000)).toBe(true);
    const calls: number[] = [];
    for (let k = 0; k < 6; k++) {
      const call = c.lac.call(w.now);
      calls.push(call.sessionId);
      c.sendL2tp(call.out);
      w.pump();
    }
    w.runUntil(() => calls.every((id) => c.lac.sessions.get(id)!.state !== 'wait-reply'), 10_000);
    const states = calls.map((id) => c.lac.sessions.get(id)!);
    expect(states.filter((x) => x.state === 'established')).toHaveLength(4);
    expect(states.filter((x) => x.state === 'closed').map((x) => x.closeReason)).toEqual(['CDN 4', 'CDN 4']);
    expect(w.pipeline.counters.get('session.refused.unauthenticated-per-sa')).toBe(2);
    expect(w.pipeline.table.list()).toHaveLength(4);
  });

  it("a second tunnel of the same client going down leaves the first one's route alone", () => {
    const w = new World();
    const c = connected(w);
    const lac2 = new TestLac({ hostName: 'second', tunnelId: 0x2222 });
    c.extraLacs.push(lac2);
    c.sendL2tp(lac2.start(w.now));
    expect(w.runUntil(() => lac2.state === 'established', 10_000)).toBe(true);
    c.sendL2tp(lac2.stop(w.now));
    w.advance(40_000);
    expect(w.pipeline.sizes()).toMatchObject({ tunnels: 1, routes: 1 });
    roundTrip(w, c, 'first tunnel still speaks');
  });

  it('survives loss, duplication and reordering of ESP both ways (property)', () => {
    fc.assert(
      fc.property(
        fc.record({ seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }), drop: fc.double({ min: 0, max: 0.25, noNaN: true }), dup: fc.double({ min: 0, max: 0.25, noNaN: true }), reorder: fc.double({ min: 0, max: 0.5, noNaN: true }) }),
        ({ seed, drop, dup, reorder }) => {
          // mulberry32: a small PRNG without the short-period low bits of an LCG
          let x = seed >>> 0;
          const rand = (): number => {
            x = (x + 0x6d2b79f5) >>> 0;
            let t = x;
            t = Math.imul(t ^ (t >>> 15), t | 1);
            t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
            return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
          };
          const w = new World();
          w.faults = { drop, dup, reorder, rand };
          const c = w.client({ user: 'alice', password: 'alice password' });
          expect(c.connect(600_000)).toBe(true);
          w.faults = undefined;
          // a Configure-Request lost at the very end is retransmitted within 3 s
          w.advance(10_000);
          roundTrip(w, c, 'after the storm');
          // everything that reached the TUN came from the client's own address
          for (const p of w.tun) expect(srcOf(p)).toBe(c.ppp.address);
          for (const p of c.received) expect(dstOf(p)).toBe(c.ppp.address);
          expect(w.pipeline.table.list()).toHaveLength(1);
          // an IPCP renegotiated after a lost Configure-Ack is the same session
          expect(w.events.filter((e) => e.type === 'session.start')).toHaveLength(1);
        },
      ),
      { numRuns: 25 },
    );
  });
});

describe('pipeline: [limits] tunnels_total and sessions_total', () => {
  it('tunnels_total caps L2TP tunnels in all: the next client gets StopCCN "insufficient resources"', () => {
    const w = new World({ limits: { tunnelsTotal: 1 } }, [['alice', 'alice password'], ['bob', 'bob password']]);
    connected(w, 'alice', { address: '198.18.0.1' });
    const b = w.client({ user: 'bob', password: 'bob password', address: '198.18.0.2' });
    expect(b.connect(20_000)).toBe(false);
    expect(b.lac.closeReason).toBe('StopCCN 2'); // General error, with error code "insufficient resources"
    expect(w.logged('l2tp.SendStopCCN').some((e) => JSON.stringify(e).includes('too many tunnels'))).toBe(true);
    expect(w.pipeline.sessions(w.now)).toHaveLength(1);
  });

  it('sessions_total caps sessions in all', () => {
    const w = new World({ limits: { sessionsTotal: 1 } });
    connected(w, 'alice', { address: '198.18.0.1' });
    const b = w.client({ user: 'bob', password: 'bob password', address: '198.18.0.2' });
    expect(b.connect(20_000)).toBe(false);
    expect(w.pipeline.sessions(w.now)).toHaveLength(1);
  });
});
