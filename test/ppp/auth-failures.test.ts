/** Issue 14 finding 6: the MS-CHAPv2 retry cap holds across LCP renegotiation; failures per user and address back off. */
import { describe, expect, it } from 'vitest';
import { AddressPool, AuthFailureTracker, generateNTResponse, PppSession, type PppOutput } from '../../src/ppp/index.js';
import { frame } from './client.js';
import { Backend, config, ofType } from './harness.js';

const sends = (outs: PppOutput[]): Buffer[] => ofType(outs, 'send').map((o) => o.frame);
const byProto = (outs: PppOutput[], proto: number, code?: number): Buffer[] =>
  sends(outs).filter((f) => f.readUInt16BE(2) === proto && (code === undefined || f[4] === code));

interface Link {
  s: PppSession;
  challengeId: number;
  challenge: Buffer;
}

/** LCP up by hand; returns the Challenge that follows. */
function open(s: PppSession, now: number, out: PppOutput[]): Link {
  const o1 = s.start(now);
  out.push(...o1);
  const req = byProto(o1, 0xc021, 1)[0]!;
  out.push(...s.receive(frame(0xc021, 2, req[5]!, req.subarray(8)), now));
  const o2 = s.receive(frame(0xc021, 1, 1, []), now);
  out.push(...o2);
  const ch = byProto(o2, 0xc223, 1)[0]!;
  return { s, challengeId: ch[5]!, challenge: Buffer.from(ch.subarray(9, 25)) };
}

/** The peer renegotiates LCP (a new Configure-Request while Opened, RFC 1661 §4.1): authentication starts over. */
function renegotiate(l: Link, now: number, id: number, out: PppOutput[]): Link | undefined {
  const o1 = l.s.receive(frame(0xc021, 1, id, []), now);
  out.push(...o1);
  const req = byProto(o1, 0xc021, 1)[0];
  if (!req) return undefined;
  const o2 = l.s.receive(frame(0xc021, 2, req[5]!, req.subarray(8)), now);
  out.push(...o2);
  const ch = byProto(o2, 0xc223, 1)[0];
  return ch ? { s: l.s, challengeId: ch[5]!, challenge: Buffer.from(ch.subarray(9, 25)) } : undefined;
}

function response(l: Link, user: string, password: string): Buffer {
  const peer = Buffer.alloc(16, 7);
  const nt = generateNTResponse(l.challenge, peer, user, password);
  return frame(0xc223, 2, l.challengeId, Buffer.concat([Buffer.from([49]), peer, Buffer.alloc(8), nt, Buffer.from([0]), Buffer.from(user)]));
}

/** The next challenge after a Failure (C= in the message). */
function afterFailure(l: Link, outs: PppOutput[]): Link | undefined {
  const f = byProto(outs, 0xc223, 4)[0];
  const c = f && /C=([0-9A-F]{32})/.exec(f.subarray(8).toString());
  return c ? { s: l.s, challengeId: (l.challengeId + 1) & 255, challenge: Buffer.from(c[1]!, 'hex') } : undefined;
}

describe('MS-CHAPv2 retry cap across LCP renegotiation', () => {
  it('100 wrong guesses with a renegotiation after every two: the session ends after maxAuthTries; the right password then gets nowhere', () => {
    const s = new PppSession(config({ maxAuthTries: 3 }), new Backend().add('alice', 'secret'), new AddressPool('10.40.0.0/24'), 0);
    const out: PppOutput[] = [];
    let l: Link | undefined = open(s, 0, out);
    let guesses = 0;
    for (let round = 0; round < 50 && l; round++) {
      for (let k = 0; k < 2 && l; k++) {
        const o = s.receive(response(l, 'alice', 'wrong'), round);
        out.push(...o);
        guesses++;
        l = afterFailure(l, o);
      }
      if (l) l = renegotiate(l, round, 10 + round, out);
    }
    expect(ofType(out, 'auth-failure')).toHaveLength(3);
    expect(guesses).toBeLessThanOrEqual(4);
    expect(byProto(out, 0xc021, 5).length).toBeGreaterThanOrEqual(1); // Terminate-Request
    expect(ofType(out, 'closed').length + (s.phase === 'terminate' ? 1 : 0)).toBeGreaterThanOrEqual(1);
    // Whatever the peer sends now, the right password is never accepted.
    const late = s.receive(response({ s, challengeId: 0, challenge: Buffer.alloc(16) }, 'alice', 'secret'), 100);
    expect(ofType(late, 'auth-success')).toEqual([]);
  });

  it('a renegotiation after one failure leaves the remaining tries, not a fresh set', () => {
    const s = new PppSession(config({ maxAuthTries: 2 }), new Backend().add('alice', 'secret'), new AddressPool('10.40.0.0/24'), 0);
    const out: PppOutput[] = [];
    let l: Link | undefined = open(s, 0, out);
    out.push(...s.receive(response(l, 'alice', 'wrong'), 0));
    l = renegotiate(l, 1, 20, out)!;
    const o = s.receive(response(l, 'alice', 'wrong'), 2);
    expect(byProto(o, 0xc223, 4)[0]!.subarray(8).toString()).toMatch(/^E=691 R=0 /); // final
    expect(ofType(out.concat(o), 'auth-failure').map((f) => f.reason)).toEqual(['wrong password (try 1/2)', 'wrong password (try 2/2)']);
  });
});

describe('failures per user and per address, with backoff', () => {
  it('guessing one user from many sessions and addresses: blocked after 5, the right password refused while blocked, accepted after the delay', () => {
    const failures = new AuthFailureTracker();
    const backend = Object.assign(new Backend().add('alice', 'secret'), { failures });
    const pool = new AddressPool('10.40.0.0/24');
    const attempt = (password: string, address: string, now: number): PppOutput[] => {
      const s = new PppSession(config({ maxAuthTries: 3, peerAddress: address }), backend, pool, now);
      const out: PppOutput[] = [];
      const l = open(s, now, out);
      return out.concat(s.receive(response(l, 'alice', password), now));
    };
    for (let k = 0; k < 5; k++) expect(ofType(attempt('wrong', `198.51.100.${k}`, k), 'auth-failure')).toHaveLength(1);
    expect(failures.failures({ user: 'alice' }, 5)).toBe(5);
    const sixth = attempt('wrong', '198.51.100.9', 10);
    expect(sixth.filter((o) => o.type === 'log' && o.event === 'ppp.auth.backoff')).toEqual([expect.objectContaining({ fields: expect.objectContaining({ user: 'alice', retryAfter: 2 }) })]);
    // Blocked for 2 s: even the right password fails, with the same bytes as a wrong one.
    const blocked = attempt('secret', '203.0.113.1', 1000);
    expect(ofType(blocked, 'auth-success')).toEqual([]);
    expect(ofType(blocked, 'auth-failure')[0]!.reason).toMatch(/^blocked for 2 s/);
    expect(byProto(blocked, 0xc223, 4)[0]!.subarray(8).toString()).toMatch(/^E=691 R=1 C=[0-9A-F]{32} V=3 M=Authentication failed, try again$/);
    // A blocked attempt does not extend the block; after it, the right password works and resets the user.
    expect(ofType(attempt('secret', '203.0.113.1', 2010), 'auth-success')).toHaveLength(1);
    expect(failures.failures({ user: 'alice' }, 2010)).toBe(0);
  });

  it('backoff doubles per failure up to the cap; an address is tracked across users; a quiet hour forgets', () => {
    const t = new AuthFailureTracker({ freeFailures: 2, baseDelayMs: 1000, maxDelayMs: 8000, forgetAfterMs: 3_600_000 });
    const delays = Array.from({ length: 8 }, (_, k) => t.failure(`user${k}`, '192.0.2.1', 0));
    expect(delays).toEqual([0, 0, 1000, 2000, 4000, 8000, 8000, 8000]);
    expect(t.blockedFor('someone-else', '192.0.2.1', 100)).toBe(7900);
    expect(t.blockedFor('someone-else', '192.0.2.2', 100)).toBe(0);
    // a success resets the user, never the address
    t.success('user7');
    expect(t.failures({ address: '192.0.2.1' }, 100)).toBe(8);
    expect(t.failures({ address: '192.0.2.1' }, 3_700_000)).toBe(0);
    // DOMAIN\user is the same user
    t.failure('CORP\\bob', undefined, 0);
    expect(t.failures({ user: 'bob' }, 0)).toBe(1);
  });

  it('the table is bounded: random user names cannot grow it past maxKeys', () => {
    const t = new AuthFailureTracker({ maxKeys: 100 });
    for (let k = 0; k < 10_000; k++) t.failure(`guess-${k}`, `10.0.${k >> 8}.${k & 255}`, k);
    expect(t.size).toBeLessThanOrEqual(100);
  });
});
