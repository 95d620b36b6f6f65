import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AddressPool, generateNTResponse, PppSession, type PppOutput } from '../../src/ppp/index.js';
import { frame, opt } from './client.js';
import { Backend, config, connect, ofType, runTimers } from './harness.js';

/** HOSTILE-INPUTS.md section F, one block per item, driven with crafted frames. */

const sends = (outs: PppOutput[]): Buffer[] => ofType(outs, 'send').map((o) => o.frame);
const byProto = (outs: PppOutput[], proto: number, code?: number): Buffer[] =>
  sends(outs).filter((f) => f.readUInt16BE(2) === proto && (code === undefined || f[4] === code));

interface Manual {
  s: PppSession;
  pool: AddressPool;
  backend: Backend;
  now: number;
  challengeId: number;
  challenge: Buffer;
  all: PppOutput[];
}

/** Brings LCP to Opened by hand (client ConfReq empty), returns the server's Challenge. */
function lcpOpened(extra = {}): Manual {
  const pool = new AddressPool('10.40.0.0/24');
  const backend = new Backend().add('alice', 'secret').add('bob', 'pw');
  const s = new PppSession(config(extra), backend, pool, 0);
  const all: PppOutput[] = [];
  const o1 = s.start(0);
  all.push(...o1);
  const req = byProto(o1, 0xc021, 1)[0]!;
  all.push(...s.receive(frame(0xc021, 2, req[5]!, req.subarray(8)), 0));
  const o2 = s.receive(frame(0xc021, 1, 1, []), 0);
  all.push(...o2);
  expect(byProto(o2, 0xc021, 2)).toHaveLength(1); // empty ConfReq acked
  const ch = byProto(o2, 0xc223, 1)[0];
  expect(ch).toBeDefined();
  return { s, pool, backend, now: 0, challengeId: ch![5]!, challenge: Buffer.from(ch!.subarray(9, 25)), all };
}

function response(m: Manual, user: string, password: string, id = m.challengeId, challenge = m.challenge): Buffer {
  const peer = Buffer.alloc(16, 7);
  const nt = generateNTResponse(challenge, peer, user, password);
  return frame(0xc223, 2, id, Buffer.concat([Buffer.from([49]), peer, Buffer.alloc(8), nt, Buffer.from([0]), Buffer.from(user)]));
}

function authenticated(): Manual & { outs: PppOutput[] } {
  const m = lcpOpened();
  const outs = m.s.receive(response(m, 'alice', 'secret'), 0);
  expect(ofType(outs, 'auth-success')).toHaveLength(1);
  return { ...m, outs };
}

describe('F: LCP option length 0 or 1; MRU < 64', () => {
  for (const bad of [
    [1, 0],
    [1, 1],
    [5, 6, 1, 2, 3, 4, 8, 0],
    [1, 4, 5, 0x78, 7, 1],
  ]) {
    it(`ConfReq with options ${JSON.stringify(bad)} is dropped whole, no reply, counted`, () => {
      const s = new PppSession(config(), new Backend(), new AddressPool('10.40.0.0/24'), 0);
      s.start(0);
      const outs = s.receive(frame(0xc021, 1, 9, bad), 0);
      expect(sends(outs)).toEqual([]);
      expect(s.dropCounters.get('drop.bad-option-length') + s.dropCounters.get('drop.truncated')).toBe(1);
    });
  }

  it('MRU 63 is Nak\'d with our MRU; MRU 64 is acked', () => {
    const s = new PppSession(config(), new Backend(), new AddressPool('10.40.0.0/24'), 0);
    s.start(0);
    const nak = byProto(s.receive(frame(0xc021, 1, 9, opt(1, [0, 63])), 0), 0xc021, 3);
    expect(nak[0]?.subarray(8).toString('hex')).toBe('01040550'); // MRU 1360
    const ack = byProto(s.receive(frame(0xc021, 1, 10, opt(1, [0, 64])), 0), 0xc021, 2);
    expect(ack).toHaveLength(1);
  });

  it('after Max-Failure (5) Naks the offending option is Rejected instead (no endless Nak loop)', () => {
    const s = new PppSession(config(), new Backend(), new AddressPool('10.40.0.0/24'), 0);
    s.start(0);
    const codes: number[] = [];
    for (let i = 0; i < 7; i++) codes.push(byProto(s.receive(frame(0xc021, 1, 20 + i, opt(1, [0, 10])), 0), 0xc021)[0]![4]!);
    expect(codes).toEqual([3, 3, 3, 3, 3, 4, 4]);
  });

  it('unknown options are Configure-Rejected; the peer asking us to authenticate is Rejected; ACCM/PFC/ACFC acked', () => {
    const s = new PppSession(config(), new Backend(), new AddressPool('10.40.0.0/24'), 0);
    s.start(0);
    const rej = byProto(s.receive(frame(0xc021, 1, 9, [...opt(2, [0, 0, 0, 0]), ...opt(3, [0xc0, 0x23]), ...opt(99, [1, 2]), ...opt(7, [])]), 0), 0xc021, 4);
    expect(rej[0]?.subarray(8).toString('hex')).toBe('0304c0236304' + '0102');
    const ack = byProto(s.receive(frame(0xc021, 1, 10, [...opt(2, [0, 0, 0, 0]), ...opt(7, []), ...opt(8, [])]), 0), 0xc021, 2);
    expect(ack).toHaveLength(1);
  });
});

describe('F: Echo-Request larger than the MRU is not reflected', () => {
  it('a normal Echo-Request is answered with our magic; an oversized one is not', () => {
    const m = lcpOpened();
    const small = m.s.receive(frame(0xc021, 9, 3, [0xde, 0xad, 0xbe, 0xef, 1, 2, 3]), 0);
    const reply = byProto(small, 0xc021, 10)[0];
    expect(reply).toBeDefined();
    expect(reply!.subarray(12).toString('hex')).toBe('010203');
    expect(reply!.readUInt32BE(8)).not.toBe(0xdeadbeef);
    const big = m.s.receive(frame(0xc021, 9, 4, Buffer.alloc(1400, 1)), 0);
    expect(byProto(big, 0xc021)).toEqual([]);
  });

  it('Echo before LCP is Opened is ignored; Identification (Windows) is not Code-Rejected; unknown codes are', () => {
    const s = new PppSession(config(), new Backend(), new AddressPool('10.40.0.0/24'), 0);
    s.start(0);
    expect(byProto(s.receive(frame(0xc021, 9, 4, [0, 0, 0, 0]), 0), 0xc021)).toEqual([]);
    const m = lcpOpened();
    expect(byProto(m.s.receive(frame(0xc021, 12, 5, [0, 0, 0, 0, 0x4d, 0x53]), 0), 0xc021)).toEqual([]);
    const cj = byProto(m.s.receive(frame(0xc021, 99, 6, [1, 2]), 0), 0xc021, 7);
    expect(cj[0]?.subarray(8).toString('hex')).toBe('630600060102');
  });
});

describe('F: Nak loops stop at Max-Failure; downgrade to PAP or CHAP-MD5 refused', () => {
  for (const want of ['pap', 'chap-md5'] as const) {
    it(`a client insisting on ${want} never authenticates and the link closes`, () => {
      const pool = new AddressPool('10.40.0.0/24');
      const r = connect({ user: 'alice', password: 'secret', wantAuth: want }, new Backend().add('alice', 'secret'), pool);
      runTimers(r, r.now + 60_000);
      expect(ofType(r.outputs, 'auth-success')).toEqual([]);
      const closed = ofType(r.outputs, 'closed');
      expect(closed).toHaveLength(1);
      expect(closed[0]!.reason).toMatch(/did not converge/);
      // Every Configure-Request kept asking for MS-CHAPv2 (C2 23 81).
      const reqs = byProto(r.outputs, 0xc021, 1);
      expect(reqs.length).toBeGreaterThan(1);
      expect(reqs.length).toBeLessThanOrEqual(7);
      for (const q of reqs) expect(q.subarray(8).toString('hex')).toContain('0305c22381');
      expect(byProto(r.outputs, 0xc023)).toEqual([]);
    });
  }

  it('with PAP enabled in config, a PAP Nak switches to PAP and PAP verifies against the NT hash', () => {
    const pool = new AddressPool('10.40.0.0/24');
    const backend = new Backend().add('alice', 'secret');
    const s = new PppSession(config({ authProtocols: ['mschapv2', 'pap'] }), backend, pool, 0);
    const o1 = s.start(0);
    const req = byProto(o1, 0xc021, 1)[0]!;
    const o2 = s.receive(frame(0xc021, 3, req[5]!, opt(3, [0xc0, 0x23])), 0);
    const req2 = byProto(o2, 0xc021, 1)[0]!;
    expect(req2.subarray(8).toString('hex')).toContain('0304c023');
    s.receive(frame(0xc021, 2, req2[5]!, req2.subarray(8)), 0);
    s.receive(frame(0xc021, 1, 1, []), 0);
    const pap = (id: number, u: string, p: string): Buffer =>
      frame(0xc023, 1, id, [u.length, ...Buffer.from(u), p.length, ...Buffer.from(p)]);
    const bad = s.receive(pap(1, 'alice', 'nope'), 0);
    expect(byProto(bad, 0xc023, 3)).toHaveLength(1);
    const good = s.receive(pap(2, 'alice', 'secret'), 0);
    expect(byProto(good, 0xc023, 2)).toHaveLength(1);
    expect(ofType(good, 'auth-success')).toEqual([{ type: 'auth-success', user: 'alice' }]);
  });

  it('CHAP-MD5 is refused even when PAP is enabled', () => {
    const pool = new AddressPool('10.40.0.0/24');
    const r = connect({ user: 'alice', password: 'secret', wantAuth: 'chap-md5' }, new Backend().add('alice', 'secret'), pool, config({ authProtocols: ['mschapv2', 'pap'] }));
    runTimers(r, r.now + 60_000);
    expect(ofType(r.outputs, 'auth-success')).toEqual([]);
    expect(ofType(r.outputs, 'closed')).toHaveLength(1);
  });

  it('a peer rejecting Authentication-Protocol is closed', () => {
    const s = new PppSession(config(), new Backend(), new AddressPool('10.40.0.0/24'), 0);
    const req = byProto(s.start(0), 0xc021, 1)[0]!;
    const outs = s.receive(frame(0xc021, 4, req[5]!, opt(3, [0xc2, 0x23, 0x81])), 0);
    expect(byProto(outs, 0xc021, 5)[0]?.subarray(8).toString()).toMatch(/refuses to authenticate/);
  });
});

describe('F: MS-CHAPv2 hostile messages', () => {
  it('Value-Size ≠ 49 never authenticates (all sizes 0–60 of the field and of the message)', () => {
    for (let vs = 0; vs <= 60; vs++) {
      if (vs === 49) continue;
      const m = lcpOpened();
      const good = response(m, 'alice', 'secret');
      good[8] = vs;
      const outs = m.s.receive(good, 0);
      expect(ofType(outs, 'auth-success')).toEqual([]);
      expect(byProto(outs, 0xc223, 3)).toEqual([]);
    }
    for (let len = 0; len <= 60; len++) {
      const m = lcpOpened();
      const good = response(m, 'alice', 'secret');
      // Shorter: truncated; longer: the name grows ("alicexx…", an unknown user).
      const full = good.subarray(8);
      const data = len <= full.length - 1 ? full.subarray(0, len) : Buffer.concat([full, Buffer.alloc(len - full.length + 1, 0x78)]);
      const outs = m.s.receive(frame(0xc223, 2, m.challengeId, data), 0);
      expect(ofType(outs, 'auth-success')).toEqual([]);
    }
  });

  it('a Success (or Failure) sent by the client is ignored and never authenticates', () => {
    for (const code of [3, 4]) {
      const m = lcpOpened();
      for (const msg of ['', 'S=', 'S=0000000000000000000000000000000000000000 M=hi', 'x'.repeat(60)]) {
        const outs = m.s.receive(frame(0xc223, code, m.challengeId, Buffer.from(msg)), 0);
        expect(ofType(outs, 'auth-success')).toEqual([]);
        expect(sends(outs)).toEqual([]);
      }
      // IPCP is still discarded: no Network phase without our Success.
      expect(sends(m.s.receive(frame(0x8021, 1, 1, opt(3, [0, 0, 0, 0])), 0))).toEqual([]);
      expect(m.s.phase).toBe('authenticate');
    }
  });

  it('a Response before LCP is Opened (before any Challenge) is discarded', () => {
    const s = new PppSession(config(), new Backend().add('alice', 'secret'), new AddressPool('10.40.0.0/24'), 0);
    s.start(0);
    const peer = Buffer.alloc(16, 7);
    const nt = generateNTResponse(Buffer.alloc(16), peer, 'alice', 'secret');
    const outs = s.receive(frame(0xc223, 2, 0, Buffer.concat([Buffer.from([49]), peer, Buffer.alloc(8), nt, Buffer.from([0]), Buffer.from('alice')])), 0);
    expect(ofType(outs, 'auth-success')).toEqual([]);
    expect(sends(outs)).toEqual([]);
  });

  it('a Response with another Identifier than our Challenge is ignored', () => {
    const m = lcpOpened();
    const outs = m.s.receive(response(m, 'alice', 'secret', (m.challengeId + 1) & 255), 0);
    expect(ofType(outs, 'auth-success')).toEqual([]);
    expect(sends(outs)).toEqual([]);
  });

  it('a replayed Response ID only gets the cached answer again: no second authentication', () => {
    const m = authenticated();
    const again = m.s.receive(response(m, 'alice', 'secret'), 0);
    expect(ofType(again, 'auth-success')).toEqual([]);
    expect(byProto(again, 0xc223, 3)[0]?.equals(byProto(m.outs, 0xc223, 3)[0]!)).toBe(true);
    // A fresh Response with a new id after Success changes nothing either.
    const other = m.s.receive(response(m, 'bob', 'pw', (m.challengeId + 5) & 255), 0);
    expect(sends(other)).toEqual([]);
    expect(m.s.user).toBe('alice');
  });

  it('a Response replayed after a Failure does not count as a new try, and the old challenge no longer verifies', () => {
    const m = lcpOpened();
    const bad = response(m, 'alice', 'wrong');
    const f1 = m.s.receive(bad, 0);
    expect(byProto(f1, 0xc223, 4)).toHaveLength(1);
    const f2 = m.s.receive(bad, 0);
    expect(byProto(f2, 0xc223, 4)[0]?.equals(byProto(f1, 0xc223, 4)[0]!)).toBe(true);
    expect(ofType(f2, 'auth-failure')).toEqual([]);
    // The right password against the OLD challenge (new id) fails: only the Failure's C= is valid now.
    const old = m.s.receive(response(m, 'alice', 'secret', (m.challengeId + 1) & 255), 0);
    expect(ofType(old, 'auth-success')).toEqual([]);
    const c = /C=([0-9A-F]{32})/.exec(byProto(old, 0xc223, 4)[0]!.subarray(8).toString())![1]!;
    const ok = m.s.receive(response(m, 'alice', 'secret', (m.challengeId + 2) & 255, Buffer.from(c, 'hex')), 0);
    expect(ofType(ok, 'auth-success')).toHaveLength(1);
  });

  it('a retry that reuses the failed Response\'s Identifier with new content is processed (only exact duplicates get the cached answer)', () => {
    const m = lcpOpened();
    const f1 = m.s.receive(response(m, 'alice', 'wrong'), 0);
    const c = /C=([0-9A-F]{32})/.exec(byProto(f1, 0xc223, 4)[0]!.subarray(8).toString())![1]!;
    const ok = m.s.receive(response(m, 'alice', 'secret', m.challengeId, Buffer.from(c, 'hex')), 0);
    expect(ofType(ok, 'auth-success')).toHaveLength(1);
  });

  it('retry cap: after maxAuthTries failures the link is terminated and later Responses are ignored', () => {
    const m = lcpOpened({ maxAuthTries: 2 });
    let challenge = m.challenge;
    const all: PppOutput[] = [];
    for (let i = 0; i < 4; i++) {
      const outs = m.s.receive(response(m, 'alice', i < 3 ? 'wrong' : 'secret', (m.challengeId + i) & 255, challenge), 0);
      all.push(...outs);
      const f = byProto(outs, 0xc223, 4)[0];
      if (f) challenge = Buffer.from(/C=([0-9A-F]{32})/.exec(f.subarray(8).toString())![1]!, 'hex');
    }
    expect(ofType(all, 'auth-failure')).toHaveLength(2);
    expect(ofType(all, 'auth-success')).toEqual([]);
    expect(byProto(all, 0xc021, 5)).toHaveLength(1);
  });

  it('no Response at all: Challenge retransmitted, then the link closes', () => {
    const m = lcpOpened();
    const all: PppOutput[] = [];
    let now = 0;
    for (let i = 0; i < 30; i++) {
      const d = m.s.nextDeadline();
      if (d === undefined) break;
      now = d;
      all.push(...m.s.tick(now));
    }
    expect(byProto(all, 0xc223, 1).length).toBe(9);
    expect(ofType(all, 'closed')).toHaveLength(1);
  });
});

describe('F: IPCP address requests', () => {
  const bring = () => {
    const pool = new AddressPool('10.40.0.0/24');
    const backend = new Backend().add('alice', 'secret').add('bob', 'pw');
    const first = connect({ user: 'bob', password: 'pw' }, backend, pool);
    expect(first.client.address).toBe('10.40.0.2');
    const s = new PppSession(config(), backend, pool, 0);
    const req = byProto(s.start(0), 0xc021, 1)[0]!;
    s.receive(frame(0xc021, 2, req[5]!, req.subarray(8)), 0);
    const ch = byProto(s.receive(frame(0xc021, 1, 1, []), 0), 0xc223, 1)[0]!;
    const peer = Buffer.alloc(16, 3);
    const nt = generateNTResponse(ch.subarray(9, 25), peer, 'alice', 'secret');
    const outs = s.receive(frame(0xc223, 2, ch[5]!, Buffer.concat([Buffer.from([49]), peer, Buffer.alloc(8), nt, Buffer.from([0]), Buffer.from('alice')])), 0);
    expect(ofType(outs, 'auth-success')).toHaveLength(1);
    return s;
  };

  for (const asked of ['10.40.0.0', '10.40.0.1', '10.40.0.255', '10.40.0.2', '192.168.1.5', '10.40.1.3', '0.0.0.0']) {
    it(`IP-Address ${asked} is Nak'd with the assigned address`, () => {
      const s = bring();
      const nak = byProto(s.receive(frame(0x8021, 1, 7, opt(3, asked.split('.').map(Number))), 0), 0x8021, 3);
      expect(nak[0]?.subarray(8).toString('hex')).toBe('03060a280003');
      const ack = byProto(s.receive(frame(0x8021, 1, 8, opt(3, [10, 40, 0, 3])), 0), 0x8021, 2);
      expect(ack).toHaveLength(1);
    });
  }

  it('DNS options Nak\'d with configured servers; NBNS and VJ compression Rejected', () => {
    const s = bring();
    const rej = byProto(s.receive(frame(0x8021, 1, 7, [...opt(2, [0, 0x2d, 15, 1]), ...opt(130, [0, 0, 0, 0]), ...opt(132, [0, 0, 0, 0])]), 0), 0x8021, 4);
    expect(rej[0]?.subarray(8).toString('hex')).toBe('0206002d0f01' + '820600000000' + '840600000000');
    const nak = byProto(s.receive(frame(0x8021, 1, 8, [...opt(3, [10, 40, 0, 3]), ...opt(129, [0, 0, 0, 0]), ...opt(131, [9, 9, 9, 9])]), 0), 0x8021, 3);
    expect(nak[0]?.subarray(8).toString('hex')).toBe('81060a280001');
  });

  it('CCP, IPv6CP, an unknown NCP and an unknown protocol are Protocol-Rejected after LCP is Opened, not before', () => {
    const s0 = new PppSession(config(), new Backend(), new AddressPool('10.40.0.0/24'), 0);
    s0.start(0);
    expect(sends(s0.receive(frame(0x80fd, 1, 1, []), 0))).toEqual([]);
    const m = lcpOpened();
    for (const p of [0x80fd, 0x8057, 0x8031, 0x4221, 0x0057]) {
      const pr = byProto(m.s.receive(frame(p, 1, 1, [1, 2]), 0), 0xc021, 8);
      expect(pr).toHaveLength(1);
      expect(pr[0]!.readUInt16BE(8)).toBe(p);
    }
  });
});

describe('fuzz: receive() never throws, in every phase', () => {
  const phases: Array<[string, () => PppSession]> = [
    ['establish', () => {
      const s = new PppSession(config(), new Backend().add('alice', 'secret'), new AddressPool('10.40.0.0/24'), 0);
      s.start(0);
      return s;
    }],
    ['authenticate', () => lcpOpened().s],
    ['network', () => authenticated().s],
  ];
  const protos = fc.constantFrom(0xc021, 0xc223, 0xc023, 0x8021, 0x0021, 0x80fd, 0x8057, 0x1234);
  const crafted = fc.tuple(protos, fc.integer({ min: 0, max: 15 }), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 80 }), fc.boolean()).map(
    ([p, code, id, d, lie]) => {
      const f = frame(p, code, id, d);
      if (lie) f.writeUInt16BE((f.readUInt16BE(6) + 37) & 0xffff, 6);
      return f;
    },
  );
  for (const [name, make] of phases) {
    it(`${name}: arbitrary bytes and crafted control packets`, () => {
      fc.assert(
        fc.property(fc.array(fc.oneof(fc.uint8Array({ maxLength: 100 }), crafted), { maxLength: 20 }), fc.integer({ min: 0, max: 100_000 }), (frames, dt) => {
          const s = make();
          for (const f of frames) {
            const outs = s.receive(f, 0);
            for (const o of outs) if (o.type === 'send' && o.frame.length > 1500 + 4) return false;
            if (ofType(outs, 'auth-success').length > 0) return false; // never without a valid Response
          }
          s.tick(dt);
          return true;
        }),
        { numRuns: 150 },
      );
    });
  }
});

describe('log volume', () => {
  it('a flood of unexpected CHAP codes yields a bounded number of log lines', () => {
    const m = lcpOpened();
    let logs = 0;
    for (let i = 0; i < 500; i++) logs += m.s.receive(frame(0xc223, 7, i & 255, [1, 2, 3]), 0).filter((o) => o.type === 'log' && o.level !== 'debug').length;
    expect(logs).toBeLessThanOrEqual(5);
  });
});

describe('a lost MS-CHAPv2 Success', () => {
  // The peer never asks again: pppd waits in its authenticate phase and discards our IPCP
  // ("discarding proto 0x8021 in phase 5") until IPCP times out. Seen with one Success
  // dropped on the path in the interop harness.
  it('is sent again every 3 s until the peer sends an NCP packet, then no more', () => {
    const m = authenticated();
    const success = byProto(m.outs, 0xc223, 3)[0]!;
    expect(byProto(m.s.tick(2999), 0xc223, 3)).toEqual([]);
    expect(byProto(m.s.tick(3000), 0xc223, 3)[0]?.equals(success)).toBe(true);
    expect(byProto(m.s.tick(6000), 0xc223, 3)[0]?.equals(success)).toBe(true);
    // the peer's IPCP Configure-Request: it has our Success
    m.s.receive(frame(0x8021, 1, 1, []), 6100);
    for (const t of [9000, 12_000, 30_000]) expect(byProto(m.s.tick(t), 0xc223, 3)).toEqual([]);
  });

  it('the Response kept to recognise a duplicate is a copy of its own, not a slice of a shared buffer pool', () => {
    const m = authenticated();
    const kept = (m.s as unknown as { auth: { answeredData: Buffer } }).auth.answeredData;
    expect(kept.length).toBeGreaterThan(49);
    expect(kept.buffer.byteLength).toBe(kept.length);
  });

  it('a duplicate Response gets the same Success, before and after the peer sent IPCP (a client that starts IPCP before our Success reached it recovers)', () => {
    const m = authenticated();
    const success = byProto(m.outs, 0xc223, 3)[0]!;
    const dup = response(m, 'alice', 'secret');
    // response() builds the same bytes with the Identifier of the Challenge: a duplicate
    const again = m.s.receive(dup, 100);
    expect(byProto(again, 0xc223, 3)[0]?.equals(success)).toBe(true);
    expect(ofType(again, 'auth-success')).toHaveLength(0);
    m.s.receive(frame(0x8021, 1, 1, []), 200);
    const late = m.s.receive(dup, 300);
    expect(byProto(late, 0xc223, 3)[0]?.equals(success)).toBe(true);
    expect(ofType(late, 'auth-success')).toHaveLength(0);
    expect(m.s.phase).toBe('network');
  });

  it('once IPCP is Opened the authenticator is released: a duplicate Response then gets no answer and is counted', () => {
    const pool = new AddressPool('10.40.0.0/24');
    const r = connect({ user: 'alice', password: 'secret' }, new Backend().add('alice', 'secret'), pool);
    expect(r.server.states).toEqual({ lcp: 'Opened', ipcp: 'Opened' });
    expect((r.server as unknown as { auth: unknown }).auth).toBeUndefined();
    const dup = (r.client as unknown as { lastResponse: Buffer }).lastResponse;
    expect(dup.readUInt16BE(2)).toBe(0xc223);
    const outs = r.server.receive(dup, r.now + 10);
    expect(sends(outs)).toHaveLength(0);
    expect(r.server.dropCounters.get('drop.auth-after-network')).toBe(1);
    expect(r.server.phase).toBe('network');
    expect(r.server.status(r.now + 10).auth).toBe('mschapv2');
  });

  it('is sent again 10 times at most', () => {
    const m = authenticated();
    let again = 0;
    for (let t = 1000; t <= 60_000; t += 1000) again += byProto(m.s.tick(t), 0xc223, 3).length;
    expect(again).toBe(10);
  });
});
