import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { attr, decodeAttributes, encodeAttributes, getOctets, getText, type Attribute } from '../../src/radius/attributes.js';
import { RadiusClient, type RadiusClientOptions, type RadiusOutput, type RadiusResult } from '../../src/radius/client.js';
import { signResponse, verifyAccessRequest, verifyZeroAuthRequest } from '../../src/radius/crypto.js';
import { CODE } from '../../src/radius/dictionary.js';
import { decodePacket, type RadiusPacket } from '../../src/radius/packet.js';

/** Deterministic random octets (a counter through MD5), so runs repeat. */
function seededRandom(seed = 1): (n: number) => Buffer {
  let i = 0;
  return (n: number) => {
    const out = Buffer.alloc(n);
    for (let o = 0; o < n; o += 16) createHash('md5').update(`${seed}:${i++}`).digest().copy(out, o);
    return out;
  };
}

const SERVERS = [
  { address: '127.0.0.1', secret: 'one-secret', name: 'a' },
  { address: '127.0.0.2', secret: 'two-secret', name: 'b' },
];
const SECRETS: Record<string, string> = { '127.0.0.1': 'one-secret', '127.0.0.2': 'two-secret' };

type Send = Extract<RadiusOutput, { type: 'send' }>;
const sends = (o: RadiusOutput[]): Send[] => o.filter((x): x is Send => x.type === 'send');
const results = (o: RadiusOutput[]): { handle: number; result: RadiusResult }[] =>
  o.filter((x): x is Extract<RadiusOutput, { type: 'result' }> => x.type === 'result').map((x) => ({ handle: x.handle, result: x.result }));
const logs = (o: RadiusOutput[]): string[] => o.filter((x) => x.type === 'log').map((x) => (x.type === 'log' ? `${x.event}:${String(x.fields?.reason ?? '')}` : ''));

function client(extra: Partial<RadiusClientOptions> = {}): RadiusClient {
  return new RadiusClient({ servers: SERVERS, random: seededRandom(), ...extra });
}

const accessRequest = (user = 'bob'): { code: number; attributes: Attribute[] } => ({ code: CODE.AccessRequest, attributes: [attr('User-Name', user), attr('User-Password', 'pw')] });

/** What a server answers to a datagram: the response code and attributes, signed with its secret. */
function answer(s: Send, code: number, attributes: Attribute[], opts: { messageAuthenticator?: boolean; secret?: string } = {}): Buffer {
  const req = decodePacket(s.datagram);
  const secret = Buffer.from(opts.secret ?? SECRETS[s.address]!);
  const raws = encodeAttributes(attributes, { secret, authenticator: req.authenticator, salt: () => Buffer.from([0x81, 0x02]) });
  const p: RadiusPacket = { code, identifier: req.identifier, authenticator: Buffer.alloc(16), attributes: raws };
  return signResponse(p, req.authenticator, secret, opts.messageAuthenticator ?? true);
}

const from = (s: Send): { address: string; port: number } => ({ address: s.address, port: s.port });

describe('RADIUS client: requests and responses', () => {
  it('an Access-Request goes to the first server on 1812 with Message-Authenticator first and valid, User-Password hidden with that server secret', () => {
    const c = client();
    const { out } = c.request(accessRequest(), 0);
    const [s] = sends(out);
    expect(s).toMatchObject({ server: 'a', address: '127.0.0.1', port: 1812 });
    expect(s!.datagram[0]).toBe(CODE.AccessRequest);
    expect(s!.datagram[20]).toBe(80);
    expect(verifyAccessRequest(s!.datagram, Buffer.from('one-secret'))).toBe('valid');
    expect(verifyAccessRequest(s!.datagram, Buffer.from('two-secret'))).toBe('invalid');
    const req = decodePacket(s!.datagram);
    const attrs = decodeAttributes(req.attributes, { secret: Buffer.from('one-secret'), authenticator: req.authenticator });
    expect(getText(attrs, 'User-Password')).toBe('pw');
    expect(c.nextDeadline()).toBe(3000);
  });

  it('an Access-Accept with a valid Message-Authenticator is the result, MS-MPPE keys decrypted with the request authenticator', () => {
    const c = client();
    const { handle, out } = c.request(accessRequest(), 0);
    const s = sends(out)[0]!;
    const key = Buffer.alloc(16, 0x3c);
    const r = c.receive(answer(s, CODE.AccessAccept, [attr('Framed-IP-Address', '10.9.8.7'), attr('MS-MPPE-Send-Key', key)]), from(s), 10);
    const [res] = results(r);
    expect(res!.handle).toBe(handle);
    expect(res!.result).toMatchObject({ kind: 'accept', server: 'a' });
    const attrs = res!.result.kind === 'accept' ? res!.result.attributes : [];
    expect(getText(attrs, 'Framed-IP-Address')).toBe('10.9.8.7');
    expect(Buffer.from(getOctets(attrs, 'MS-MPPE-Send-Key')!)).toEqual(key);
    expect(c.size).toBe(0);
    expect(c.nextDeadline()).toBeUndefined();
    expect(c.status(10)[0]!.counters['responses.accept']).toBe(1);
  });

  it('an Access-Reject and an Access-Accept without Message-Authenticator are dropped and counted (BlastRADIUS); the request stays outstanding', () => {
    const c = client();
    const { out } = c.request(accessRequest(), 0);
    const s = sends(out)[0]!;
    for (const code of [CODE.AccessAccept, CODE.AccessReject]) {
      const r = c.receive(answer(s, code, [], { messageAuthenticator: false }), from(s), 5);
      expect(results(r)).toEqual([]);
      expect(logs(r)).toEqual(['radius.drop:no-message-authenticator']);
    }
    expect(c.status(5)[0]!.counters['drop.no-message-authenticator']).toBe(2);
    expect(c.size).toBe(1);
    // the genuine, signed answer still lands
    expect(results(c.receive(answer(s, CODE.AccessReject, [attr('Reply-Message', 'no')]), from(s), 6))[0]!.result.kind).toBe('reject');
  });

  it('with requireMessageAuthenticator false a reply without it is accepted, counted, and the client warned when it was made', () => {
    const c = client({ requireMessageAuthenticator: false });
    const { out } = c.request(accessRequest(), 0);
    expect(logs(out)).toContain('radius.message-authenticator.not-required:');
    const s = sends(out)[0]!;
    const r = c.receive(answer(s, CODE.AccessAccept, [], { messageAuthenticator: false }), from(s), 1);
    expect(results(r)[0]!.result.kind).toBe('accept');
    expect(c.status(1)[0]!.counters['accepted-without-message-authenticator']).toBe(1);
    // an invalid one is still refused
    const c2 = client({ requireMessageAuthenticator: false });
    const s2 = sends(c2.request(accessRequest(), 0).out)[0]!;
    const bad = answer(s2, CODE.AccessAccept, []);
    bad[22]! ^= 1; // the Message-Authenticator's first octet (it comes first)
    expect(logs(c2.receive(bad, from(s2), 1))).toEqual(['radius.drop:bad-authenticator']);
  });

  it('a response signed with another secret, from an unknown endpoint, with an unknown Identifier or the wrong code is dropped by reason', () => {
    const c = client();
    const s = sends(c.request(accessRequest(), 0).out)[0]!;
    expect(logs(c.receive(answer(s, CODE.AccessAccept, [], { secret: 'wrong' }), from(s), 1))).toEqual(['radius.drop:bad-authenticator']);
    expect(logs(c.receive(answer(s, CODE.AccessAccept, []), { address: '127.0.0.9', port: 1812 }, 1))).toEqual(['radius.drop:unknown-server']);
    expect(logs(c.receive(answer(s, CODE.AccessAccept, []), { address: '127.0.0.1', port: 1813 }, 1))).toEqual(['radius.drop:unknown-id']);
    const other = answer(s, CODE.AccessAccept, []);
    other[1] = (other[1]! + 1) & 0xff;
    expect(logs(c.receive(other, from(s), 1))).toEqual(['radius.drop:unknown-id']);
    expect(logs(c.receive(answer(s, CODE.AccountingResponse, []), from(s), 1))).toEqual(['radius.drop:unexpected-code']);
    expect(logs(c.receive(Buffer.from([2]), from(s), 1))).toEqual(['radius.drop:malformed']);
    expect(c.size).toBe(1);
    expect(c.status(1)[0]!.counters).toMatchObject({ 'drop.bad-authenticator': 1, 'drop.unknown-id': 2, 'drop.unexpected-code': 1, 'drop.malformed': 1 });
  });

  it('an Accounting-Request goes to 1813 with the RFC 2866 Request Authenticator; an Accounting-Response without Message-Authenticator is accepted', () => {
    const c = client();
    const { handle, out } = c.request({ code: CODE.AccountingRequest, attributes: [attr('Acct-Status-Type', 1), attr('Acct-Session-Id', 'x1')] }, 0);
    const s = sends(out)[0]!;
    expect(s.port).toBe(1813);
    expect(verifyZeroAuthRequest(s.datagram, Buffer.from('one-secret'))).toEqual({ authenticator: true, messageAuthenticator: 'valid' });
    const r = c.receive(answer(s, CODE.AccountingResponse, [], { messageAuthenticator: false }), from(s), 1);
    expect(results(r)).toEqual([{ handle, result: { kind: 'accounted', code: 5, attributes: [], server: 'a' } }]);
  });

  it('a malformed MS-MPPE key in an otherwise valid Accept is dropped as malformed-attribute', () => {
    const c = client();
    const s = sends(c.request(accessRequest(), 0).out)[0]!;
    const req = decodePacket(s.datagram);
    const p: RadiusPacket = { code: 2, identifier: req.identifier, authenticator: Buffer.alloc(16), attributes: [{ vendor: 311, type: 16, value: Buffer.alloc(17, 0x80) }] };
    const r = c.receive(signResponse(p, req.authenticator, Buffer.from('one-secret')), from(s), 1);
    expect(logs(r)).toEqual(['radius.drop:malformed-attribute']);
    expect(c.size).toBe(1);
  });
});

describe('RADIUS client: retransmission and failover', () => {
  it('retransmits the same datagram after 3, 6 and 12 s (capped), then fails over to the next server with a new Identifier space and its secret; a late answer from the first is unknown', () => {
    const c = client({ tries: 4, maxTimeoutMs: 12_000 });
    const first = sends(c.request(accessRequest(), 0).out)[0]!;
    const times: number[] = [];
    let t = 0;
    let next: Send | undefined;
    for (let k = 0; k < 6 && !next; k++) {
      t = c.nextDeadline()!;
      const o = sends(c.tick(t));
      for (const s of o) {
        if (s.server === 'a') {
          expect(s.datagram).toEqual(first.datagram);
          times.push(t);
        } else next = s;
      }
    }
    expect(times).toEqual([3000, 9000, 21000]);
    expect(t).toBe(33000);
    expect(next).toMatchObject({ server: 'b', address: '127.0.0.2', port: 1812 });
    expect(verifyAccessRequest(next!.datagram, Buffer.from('two-secret'))).toBe('valid');
    expect(c.status(t).map((s) => s.state)).toEqual(['dead', 'alive']);
    expect(c.status(t)[0]!.counters).toMatchObject({ 'requests.auth': 1, retransmissions: 3, timeouts: 1 });
    expect(logs(c.receive(answer(first, CODE.AccessAccept, []), from(first), t + 1))).toEqual(['radius.drop:unknown-id']);
    expect(results(c.receive(answer(next!, CODE.AccessAccept, []), from(next!), t + 2))[0]!.result).toMatchObject({ kind: 'accept', server: 'b' });
    // status: the dead one until its dead time ends, never answered; b answered at t + 2 (the late reply from a does not count)
    expect(c.status(t + 2).map((s) => [s.state, s.deadUntil, s.lastAnswer])).toEqual([['dead', t + 30_000, undefined], ['alive', 0, t + 2]]);
  });

  it('while the first server is dead new requests go to the second; after deadTimeMs the first is tried again', () => {
    const c = client({ tries: 1, deadTimeMs: 10_000 });
    c.request(accessRequest(), 0);
    const o = sends(c.tick(3000));
    expect(o.map((s) => s.server)).toEqual(['b']);
    expect(sends(c.request(accessRequest('x'), 3001).out)[0]!.server).toBe('b');
    expect(sends(c.request(accessRequest('y'), 13_001).out)[0]!.server).toBe('a');
  });

  it('when every server has timed out the result is a timeout naming them all', () => {
    const c = client({ tries: 2 });
    const { handle } = c.request(accessRequest(), 0);
    const out: RadiusOutput[] = [];
    for (let k = 0; k < 10 && c.nextDeadline() !== undefined; k++) out.push(...c.tick(c.nextDeadline()!));
    expect(results(out)).toEqual([{ handle, result: { kind: 'timeout', servers: ['a', 'b'] } }]);
    expect(sends(out).length).toBe(3); // a's retransmission, b's first and retransmission
    expect(c.nextDeadline()).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it('cancel forgets a request: no more retransmissions, its answer is unknown', () => {
    const c = client();
    const { handle, out } = c.request(accessRequest(), 0);
    c.cancel(handle);
    expect(c.nextDeadline()).toBeUndefined();
    expect(sends(c.tick(100_000))).toEqual([]);
    const s = sends(out)[0]!;
    expect(logs(c.receive(answer(s, CODE.AccessAccept, []), from(s), 100_001))).toEqual(['radius.drop:unknown-id']);
  });
});

describe('RADIUS client: Identifiers', () => {
  it('256 requests to one server get 256 distinct Identifiers; the 257th waits unsent and takes the first one freed', () => {
    const c = new RadiusClient({ servers: [SERVERS[0]!], random: seededRandom() });
    const sent: Send[] = [];
    for (let i = 0; i < 256; i++) sent.push(...sends(c.request(accessRequest(`u${i}`), 0).out));
    expect(new Set(sent.map((s) => s.datagram[1])).size).toBe(256);
    const late = c.request(accessRequest('late'), 0);
    expect(sends(late.out)).toEqual([]);
    expect(c.size).toBe(257);
    const victim = sent[77]!;
    const r = c.receive(answer(victim, CODE.AccessReject, []), from(victim), 1);
    const again = sends(r);
    expect(again.length).toBe(1);
    expect(again[0]!.datagram[1]).toBe(victim.datagram[1]);
    expect(getText(decodeAttributes(decodePacket(again[0]!.datagram).attributes), 'User-Name')).toBe('late');
  });

  it('accounting and authentication have separate spaces (two ports)', () => {
    const c = client();
    const a = sends(c.request(accessRequest(), 0).out)[0]!;
    const b = sends(c.request({ code: CODE.AccountingRequest, attributes: [attr('Acct-Status-Type', 1)] }, 0).out)[0]!;
    expect(a.datagram[1]).toBe(0);
    expect(b.datagram[1]).toBe(0);
    expect(a.port).not.toBe(b.port);
  });

  it('property: under any interleaving of requests, answers, bad datagrams and time, no (endpoint, Identifier) is held by two outstanding requests, every request ends in exactly one result, and receive never throws', () => {
    type Cmd = { op: 'req' | 'burst' | 'answer' | 'junk' | 'tick' | 'cancel'; n: number; bytes: Uint8Array };
    const cmd: fc.Arbitrary<Cmd> = fc.record({
      op: fc.constantFrom('req', 'req', 'req', 'burst', 'answer', 'answer', 'junk', 'tick', 'cancel'),
      n: fc.nat(1000),
      bytes: fc.uint8Array({ maxLength: 60 }),
    });
    let maxHeld = 0;
    fc.assert(
      fc.property(fc.array(cmd, { maxLength: 40, size: 'max' }), fc.boolean(), (cmds, one) => {
        // one server: its spaces fill (a burst is 60 requests) and Identifiers wrap around
        const c = new RadiusClient({ servers: one ? [SERVERS[0]!] : SERVERS, random: seededRandom(7), tries: 2, timeoutMs: 2000, maxPending: 600 });
        const held = new Map<string, number>(); // endpoint:id -> handle
        const current = new Map<number, Send>(); // handle -> its last datagram
        const byTag = new Map<string, number>(); // each request carries a unique tag in User-Name or Acct-Session-Id
        const done = new Set<number>();
        const all = new Set<number>();
        let now = 0;
        let tags = 0;
        let peak = 0;
        const keyOf = (x: Send): string => `${x.address}:${x.port}:${x.datagram[1]}`;
        const tagOf = (d: Buffer): string => Buffer.from(decodePacket(d).attributes.find((a) => a.type === 1 || a.type === 44)!.value).toString();
        const track = (o: RadiusOutput[]): void => {
          for (const x of o) {
            if (x.type === 'send') {
              const h = byTag.get(tagOf(x.datagram))!;
              expect(done.has(h)).toBe(false);
              const owner = held.get(keyOf(x));
              if (owner !== undefined && owner !== h) {
                // the Identifier was another request's: that one must have let it go (it timed out
                // there and now waits for an Identifier elsewhere), so its old datagram is dead
                const f = c.flightOf(owner);
                expect(f === undefined || `${f.address}:${f.port}:${f.identifier}` !== keyOf(x)).toBe(true);
                current.delete(owner);
              }
              expect(c.flightOf(h)).toEqual({ address: x.address, port: x.port, identifier: x.datagram[1] });
              const old = current.get(h);
              if (old) held.delete(keyOf(old));
              held.set(keyOf(x), h);
              current.set(h, x);
              peak = Math.max(peak, current.size);
            } else if (x.type === 'result') {
              expect(done.has(x.handle)).toBe(false);
              done.add(x.handle);
              const s = current.get(x.handle);
              if (s) held.delete(keyOf(s));
              current.delete(x.handle);
            }
          }
        };
        const request = (n: number): void => {
          const tag = `t${tags++}`;
          const req = n % 4 ? accessRequest(tag) : { code: CODE.AccountingRequest, attributes: [attr('Acct-Session-Id', tag)] };
          // handles count up from 1: the next one is known before the call
          byTag.set(tag, all.size + 1);
          const { handle, out } = c.request(req, now);
          expect(handle).toBe(all.size + 1);
          all.add(handle);
          track(out);
        };
        for (const k of cmds) {
          if (k.op === 'req') request(k.n);
          else if (k.op === 'burst') for (let i = 0; i < 60; i++) request(k.n + i);
          else if (k.op === 'answer' && current.size > 0) {
            // requests that timed out and wait for an Identifier have no live datagram
            for (const [h, s] of [...current]) {
              const f = c.flightOf(h);
              if (!f || `${f.address}:${f.port}:${f.identifier}` !== keyOf(s)) {
                current.delete(h);
                if (held.get(keyOf(s)) === h) held.delete(keyOf(s));
              }
            }
            if (current.size === 0) continue;
            const [h, s] = [...current][k.n % current.size]!;
            const code = s.datagram[0] === CODE.AccountingRequest ? CODE.AccountingResponse : CODE.AccessAccept;
            const o = c.receive(answer(s, code, []), from(s), now);
            // an answer to a datagram still outstanding ends exactly that request
            expect(results(o).map((x) => x.handle)).toEqual([h]);
            track(o);
          } else if (k.op === 'junk') {
            const o = c.receive(k.bytes, { address: k.n % 2 ? '127.0.0.1' : '127.0.0.2', port: k.n % 3 ? 1812 : 1813 }, now);
            expect(results(o)).toEqual([]);
          } else if (k.op === 'cancel' && current.size > 0) {
            const [h, s] = [...current][k.n % current.size]!;
            c.cancel(h);
            done.add(h);
            held.delete(keyOf(s));
            current.delete(h);
          } else if (k.op === 'tick') {
            now += k.n;
            track(c.tick(now));
          }
        }
        // drain: every request ends
        for (let i = 0; i < 100 && c.nextDeadline() !== undefined; i++) {
          now = c.nextDeadline()!;
          track(c.tick(now));
        }
        expect(c.size).toBe(0);
        expect([...all].filter((h) => !done.has(h))).toEqual([]);
        maxHeld = Math.max(maxHeld, peak);
      }),
      {
        numRuns: Number(process.env.RADIUS_PROP_RUNS ?? 40),
        // one run that surely fills the space of one server and wraps around it
        examples: [[Array.from({ length: 6 }, (_, i): Cmd => ({ op: 'burst', n: i * 7, bytes: new Uint8Array() })).concat([{ op: 'tick', n: 1000, bytes: new Uint8Array() }, { op: 'answer', n: 3, bytes: new Uint8Array() }]), true]],
      },
    );
    // the runs did fill an Identifier space (256) and wrap around it
    expect(maxHeld).toBeGreaterThan(256);
  });
});

describe('RADIUS client: values that do not fit', () => {
  it('a User-Name of 254 octets (a peer may send up to 255) ends its request as invalid instead of throwing, and frees its Identifier', () => {
    const c = new RadiusClient({ servers: [SERVERS[0]!], random: seededRandom() });
    const { handle, out } = c.request(accessRequest('x'.repeat(254)), 0);
    expect(sends(out)).toEqual([]);
    expect(results(out)).toEqual([{ handle, result: { kind: 'invalid', reason: expect.stringMatching(/254 octets/) } }]);
    expect(logs(out)).toEqual(['radius.request.invalid:']);
    expect(c.size).toBe(0);
    expect(c.nextDeadline()).toBeUndefined();
    // the Identifier it took is free again
    expect(c.status(0)[0]!.outstanding).toBe(0);
  });

  it('an invalid request waiting for an Identifier ends once, when its turn comes', () => {
    const c = new RadiusClient({ servers: [SERVERS[0]!], random: seededRandom() });
    const sent: Send[] = [];
    for (let i = 0; i < 256; i++) sent.push(...sends(c.request(accessRequest(`u${i}`), 0).out));
    const bad = c.request(accessRequest('y'.repeat(300)), 0);
    const good = c.request(accessRequest('fine'), 0);
    expect(results(bad.out)).toEqual([]);
    const o = c.receive(answer(sent[0]!, CODE.AccessReject, []), from(sent[0]!), 1);
    expect(results(o).map((r) => [r.handle, r.result.kind])).toEqual([
      [1, 'reject'],
      [bad.handle, 'invalid'],
    ]);
    const s = sends(o);
    expect(s.length).toBe(1);
    expect(getText(decodeAttributes(decodePacket(s[0]!.datagram).attributes), 'User-Name')).toBe('fine');
    expect(c.size).toBe(256);
    expect(good.handle).toBe(bad.handle + 1);
  });
});

describe('RADIUS client: hostile replies', () => {
  it('property: a signed Accept with any octet changed, or random octets under an outstanding Identifier, never yields a result and never throws', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 1, max: 255 }), fc.uint8Array({ minLength: 0, maxLength: 300 }), (i, x, junk) => {
        const c = client();
        const s = sends(c.request(accessRequest(), 0).out)[0]!;
        const good = answer(s, CODE.AccessAccept, [attr('Framed-IP-Address', '10.0.0.1'), attr('MS-MPPE-Send-Key', Buffer.alloc(16, 5)), attr('MS-CHAP2-Success', Buffer.from('\x01S=00'))]);
        const bad = Buffer.from(good);
        bad[i % bad.length]! ^= x;
        expect(results(c.receive(bad, from(s), 1))).toEqual([]);
        const j = Buffer.from(junk);
        if (j.length > 1) j[1] = s.datagram[1]!;
        expect(results(c.receive(j, from(s), 1))).toEqual([]);
        // the genuine reply still ends it
        expect(results(c.receive(good, from(s), 2))[0]!.result.kind).toBe('accept');
      }),
      { numRuns: 500 },
    );
  });
});
