/**
 * EAP (RFC 3748) and EAP-MSCHAPv2 (draft-kamath-pppext-eap-mschapv2) with the MSK
 * (RFC 3079). The MSK's first half was computed once with this Python script (the
 * second half is RFC 3079 §3.5.3's SendStartKey128):
 *
 *   import hashlib
 *   phh = bytes.fromhex('41C00C584BD2D91C4017A2A12FA59F3F')
 *   nt = bytes.fromhex('82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF')
 *   master = hashlib.sha1(phh + nt + b'This is the MPPE Master Key').digest()[:16]
 *   m2 = b'On the client side, this is the send key; on the server side, it is the receive key.'
 *   m3 = b'On the client side, this is the receive key; on the server side, it is the send key.'
 *   k = lambda m: hashlib.sha1(master + bytes(40) + m + b'\xf2' * 40).digest()[:16]
 *   print(master.hex(), (k(m2) + k(m3) + bytes(32)).hex())
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../src/core/errors.js';
import { eapMschapv2Msk, getAsymmetricStartKey, getMasterKey } from '../../src/core/mschap/mppe.js';
import { generateAuthenticatorResponse, generateNTResponse, hashNtPasswordHash, ntPasswordHash } from '../../src/core/mschap/mschapv2.js';
import { decodeEap, EapCode, EapType, encodeEap, type EapPacket } from '../../src/ikev2/eap/packet.js';
import { decodeMsChap, encodeMsChap, MsChapOp } from '../../src/ikev2/eap/mschapv2-wire.js';
import { EapMschapv2Server, type EapStep, type EapUser } from '../../src/ikev2/eap/mschapv2-server.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// RFC 2759 §9.2 / RFC 3079 §3.5
const UserName = 'User';
const Password = 'clientPass';
const AuthenticatorChallenge = hex('5B5D7C7D7B3F2F3E3C2C602132262628');
const PeerChallenge = hex('21402324255E262A28295F2B3A337C7E');
const NtResponse = hex('82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF');
const PasswordHashHash = hex('41C00C584BD2D91C4017A2A12FA59F3F');

describe('RFC 3079 master keys and the EAP-MSCHAPv2 MSK', () => {
  it('GetMasterKey and GetAsymmetricStartKey (§3.5.1, §3.5.3)', () => {
    expect(generateNTResponse(AuthenticatorChallenge, PeerChallenge, UserName, Password)).toEqual(NtResponse);
    expect(hashNtPasswordHash(ntPasswordHash(Password))).toEqual(PasswordHashHash);
    const master = getMasterKey(PasswordHashHash, NtResponse);
    expect(master).toEqual(hex('FDECE3717A8C838CB388E527AE3CDD31'));
    expect(getAsymmetricStartKey(master, 16, true, true)).toEqual(hex('8B7CDC149B993A1BA118CB153F56DCCB'));
    expect(getAsymmetricStartKey(master, 8, true, true)).toEqual(hex('8B7CDC149B993A1B'));
    // the client's receive key is the server's send key, and the other way round
    expect(getAsymmetricStartKey(master, 16, false, false)).toEqual(getAsymmetricStartKey(master, 16, true, true));
    expect(getAsymmetricStartKey(master, 16, true, false)).toEqual(getAsymmetricStartKey(master, 16, false, true));
  });
  it('MSK = MasterReceiveKey | MasterSendKey (server view) | 32 zero bytes', () => {
    const msk = eapMschapv2Msk(PasswordHashHash, NtResponse);
    expect(msk.toString('hex')).toBe('d5f0e9521e3ea9589645e86051c822268b7cdc149b993a1ba118cb153f56dccb' + '00'.repeat(32));
  });
});

describe('EAP codec (RFC 3748 §4)', () => {
  it('round-trips', () => {
    const arb: fc.Arbitrary<EapPacket> = fc.oneof(
      fc.record({ code: fc.constantFrom(EapCode.REQUEST, EapCode.RESPONSE), identifier: fc.integer({ min: 0, max: 255 }), type: fc.integer({ min: 0, max: 255 }), data: fc.uint8Array({ maxLength: 60 }).map((u) => Buffer.from(u)) }),
      fc.record({ code: fc.constantFrom(EapCode.SUCCESS, EapCode.FAILURE), identifier: fc.integer({ min: 0, max: 255 }) }),
    );
    fc.assert(
      fc.property(arb, (p) => {
        expect(decodeEap(encodeEap(p))).toEqual(p);
      }),
      { numRuns: 300 },
    );
  });
  it('checks lengths and codes; random bytes throw only DecodeError', () => {
    expect(() => decodeEap(Buffer.from([3, 1, 0, 5, 0]))).toThrow(DecodeError);
    expect(() => decodeEap(Buffer.from([1, 1, 0, 4]))).toThrow(DecodeError);
    expect(() => decodeEap(Buffer.from([5, 1, 0, 5, 1]))).toThrow(DecodeError);
    expect(() => decodeEap(Buffer.from([2, 1, 0, 6, 1]))).toThrow(DecodeError);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.boolean(), (b, fromServer) => {
        for (const f of [() => decodeEap(b), () => decodeMsChap(b, fromServer)]) {
          try {
            f();
          } catch (e) {
            if (!(e instanceof DecodeError)) throw e;
          }
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('EAP-MSCHAPv2 Type-Data', () => {
  it('round-trips each opcode; MS-Length must match', () => {
    const msgs = [
      { op: MsChapOp.CHALLENGE, msId: 7, challenge: Buffer.alloc(16, 1), name: Buffer.from('srv') },
      { op: MsChapOp.SUCCESS, msId: 7, message: 'S=00 M=ok' },
      { op: MsChapOp.FAILURE, msId: 7, message: 'E=691 R=0' },
    ] as const;
    for (const m of msgs) expect(decodeMsChap(encodeMsChap(m), true)).toEqual(m);
    const resp = { op: MsChapOp.RESPONSE, msId: 9, peerChallenge: Buffer.alloc(16, 2), ntResponse: Buffer.alloc(24, 3), flags: 0, name: Buffer.from('alice') } as const;
    expect(decodeMsChap(encodeMsChap(resp), false)).toEqual(resp);
    expect(decodeMsChap(Buffer.from([3]), false)).toEqual({ op: 3, ack: true });
    const bad = encodeMsChap(resp);
    bad.writeUInt16BE(bad.length + 1, 2);
    expect(() => decodeMsChap(bad, false)).toThrow(DecodeError);
    // a server's opcode from a peer, a peer's from a server
    expect(() => decodeMsChap(encodeMsChap(msgs[0]), false)).toThrow(DecodeError);
    expect(() => decodeMsChap(encodeMsChap(resp), true)).toThrow(DecodeError);
    expect(() => decodeMsChap(encodeMsChap({ ...resp, name: Buffer.alloc(0) }), false)).toThrow(DecodeError);
    expect(() => decodeMsChap(encodeMsChap({ ...resp, name: Buffer.from('a\nb') }), false)).toThrow(DecodeError);
  });
});

// ---- a peer (client) for the state machine ----
const USERS: Record<string, string> = { alice: 'correct horse', bob: 'battery staple' };
const lookup = (name: string): EapUser | undefined => (USERS[name] ? { name, ntHash: ntPasswordHash(USERS[name]) } : undefined);

function server(admit?: (n: string) => { ok: true } | { ok: false; message: string }): EapMschapv2Server {
  return new EapMschapv2Server(admit ? { random: randomBytes, lookup, admit } : { random: randomBytes, lookup }, 'vpn.example.net');
}

function req(m: Buffer) {
  const p = decodeEap(m);
  if (!('data' in p) || p.code !== EapCode.REQUEST) throw new Error('not a request');
  return p;
}

const resp = (identifier: number, type: number, data: Uint8Array | number[]) => encodeEap({ code: EapCode.RESPONSE, identifier, type, data: Buffer.from(data) });

/** The peer's MS-CHAPv2 Response to a Challenge request, with its own computation of what success means. */
function answerChallenge(challengeReq: Buffer, user: string, password: string, nameOnWire = user) {
  const p = req(challengeReq);
  const m = decodeMsChap(p.data, true);
  if (m.op !== MsChapOp.CHALLENGE || 'ack' in m) throw new Error('not a challenge');
  const peerChallenge = randomBytes(16);
  const nt = generateNTResponse(m.challenge, peerChallenge, user, password);
  const data = encodeMsChap({ op: MsChapOp.RESPONSE, msId: m.msId, peerChallenge, ntResponse: nt, flags: 0, name: Buffer.from(nameOnWire) });
  const master = getMasterKey(hashNtPasswordHash(ntPasswordHash(password)), nt);
  // the peer's MSK: its send key (Magic2) | its receive key (Magic3), padded
  const peerMsk = Buffer.concat([getAsymmetricStartKey(master, 16, true, false), getAsymmetricStartKey(master, 16, false, false), Buffer.alloc(32)]);
  return { message: resp(p.identifier, EapType.MSCHAPV2, data), expectS: generateAuthenticatorResponse(password, nt, peerChallenge, m.challenge, user), peerMsk };
}

function expectSend(s: EapStep): Buffer {
  if (s.kind !== 'send') throw new Error(`expected send, got ${s.kind}: ${'reason' in s ? s.reason : ''}`);
  return s.message;
}

describe('EAP-MSCHAPv2 authenticator', () => {
  it('Identity, Challenge, Response, Success, ack: EAP-Success with the MSK both sides compute', () => {
    const srv = server();
    const idReq = req(srv.start());
    expect(idReq.type).toBe(EapType.IDENTITY);
    const ch = expectSend(srv.receive(resp(idReq.identifier, EapType.IDENTITY, Buffer.from('alice'))));
    expect(srv.peerIdentity).toBe('alice');
    const a = answerChallenge(ch, 'alice', 'correct horse');
    const succReq = req(expectSend(srv.receive(a.message)));
    expect(srv.state).toBe('success-sent');
    const sm = decodeMsChap(succReq.data, true);
    expect(sm).toMatchObject({ op: MsChapOp.SUCCESS, message: `${a.expectS} M=Welcome` });
    const done = srv.receive(resp(succReq.identifier, EapType.MSCHAPV2, [MsChapOp.SUCCESS]));
    expect(done.kind).toBe('success');
    if (done.kind !== 'success') return;
    expect(done.user).toBe('alice');
    expect(done.msk).toEqual(a.peerMsk);
    expect(done.msk).toHaveLength(64);
    expect(decodeEap(done.message)).toEqual({ code: EapCode.SUCCESS, identifier: succReq.identifier });
    expect(srv.receive(resp(succReq.identifier, EapType.MSCHAPV2, [MsChapOp.SUCCESS])).kind).toBe('ignored');
  });

  it('starts with the Challenge when the identity is known; DOMAIN\\user is accepted', () => {
    const srv = server();
    const ch = srv.start('bob');
    const a = answerChallenge(ch, 'bob', 'battery staple', 'CORP\\bob');
    const succReq = req(expectSend(srv.receive(a.message)));
    const done = srv.receive(resp(succReq.identifier, EapType.MSCHAPV2, [MsChapOp.SUCCESS]));
    expect(done).toMatchObject({ kind: 'success', user: 'bob' });
  });

  for (const [what, user, password] of [['a wrong password', 'alice', 'wrong'], ['an unknown user', 'mallory', 'whatever']] as const) {
    it(`${what}: Failure E=691 R=0 (the same text), its ack, then EAP-Failure`, () => {
      const srv = server();
      const a = answerChallenge(srv.start(user), user, password);
      const failReq = req(expectSend(srv.receive(a.message)));
      const fm = decodeMsChap(failReq.data, true);
      expect(fm.op).toBe(MsChapOp.FAILURE);
      expect('message' in fm && fm.message).toMatch(/^E=691 R=0 C=[0-9A-F]{32} V=3 M=Authentication failed$/);
      // even a Success ack now does not log in
      const end = srv.receive(resp(failReq.identifier, EapType.MSCHAPV2, [MsChapOp.SUCCESS]));
      expect(end.kind).toBe('failure');
      expect(decodeEap((end as { message: Buffer }).message).code).toBe(EapCode.FAILURE);
    });
  }

  /** Identity, then the Response with `name` on the wire for `user`'s password: the step after the Response. */
  function loginAs(srv: EapMschapv2Server, identity: string, user: string, password: string, name: string): EapStep {
    const idReq = req(srv.start());
    const ch = expectSend(srv.receive(resp(idReq.identifier, EapType.IDENTITY, Buffer.from(identity))));
    return srv.receive(answerChallenge(ch, user, password, name).message);
  }

  function finish(srv: EapMschapv2Server, step: EapStep): EapStep {
    const r = req(expectSend(step));
    return srv.receive(resp(r.identifier, EapType.MSCHAPV2, [decodeMsChap(r.data, true).op === MsChapOp.SUCCESS ? MsChapOp.SUCCESS : MsChapOp.FAILURE]));
  }

  it('the EAP Identity selects the user: a Name for another user (with that user\'s right password) logs nobody in; DOMAIN\\ on either side is the same user', () => {
    // identity alice, Name bob, bob's password: refused, and bob was never looked up
    const looked: string[] = [];
    const srv = new EapMschapv2Server({ random: randomBytes, lookup: (n) => (looked.push(n), lookup(n)) }, 'vpn.example.net');
    const step = loginAs(srv, 'alice', 'bob', 'battery staple', 'bob');
    const fm = decodeMsChap(req(expectSend(step)).data, true);
    expect('message' in fm && fm.message).toMatch(/^E=691 R=0 .* M=Authentication failed$/);
    expect(srv.failure).toEqual({ reason: 'MS-CHAPv2 name "bob" is not the EAP identity "alice"', user: 'alice' });
    expect(looked).toEqual([]);
    expect(finish(srv, step).kind).toBe('failure');
    // the same with alice's password computed over the Name bob: still nobody
    const s3 = server();
    loginAs(s3, 'alice', 'bob', 'correct horse', 'bob');
    expect(s3.state).toBe('failure-sent');
    // Windows: DOMAIN\user as the identity, the Name, or both
    for (const [identity, name] of [['CORP\\alice', 'alice'], ['alice', 'CORP\\alice'], ['CORP\\alice', 'CORP\\alice']] as const) {
      const ok = server();
      expect(finish(ok, loginAs(ok, identity, 'alice', 'correct horse', name)), `${identity} / ${name}`).toMatchObject({ kind: 'success', user: 'alice' });
    }
    // another domain's bob is still not alice
    const other = server();
    const s2 = loginAs(other, 'CORP\\alice', 'bob', 'battery staple', 'CORP\\bob');
    expect(other.failure?.reason).toMatch(/is not the EAP identity/);
    expect(finish(other, s2).kind).toBe('failure');
  });

  it('backoff: each failed check is a failure of the identity\'s user; while blocked even the right password gets Failure unchecked; a login is a success', () => {
    const calls: string[] = [];
    let blocked = 0;
    const backoff = { blockedFor: (n: string) => (calls.push(`blocked? ${n}`), blocked), failure: (n: string) => void calls.push(`failure ${n}`), success: (n: string) => void calls.push(`success ${n}`) };
    const mk = () => new EapMschapv2Server({ random: randomBytes, lookup, backoff }, 'vpn.example.net');
    let srv = mk();
    expect(finish(srv, loginAs(srv, 'CORP\\alice', 'alice', 'wrong', 'CORP\\alice')).kind).toBe('failure');
    srv = mk();
    expect(finish(srv, loginAs(srv, 'mallory', 'mallory', 'x', 'mallory')).kind).toBe('failure');
    srv = mk();
    expect(finish(srv, loginAs(srv, 'alice', 'bob', 'battery staple', 'bob')).kind).toBe('failure');
    expect(calls).toEqual(['blocked? alice', 'failure alice', 'blocked? mallory', 'failure mallory', 'blocked? alice', 'failure alice']);
    calls.length = 0;
    blocked = 4000;
    srv = mk();
    const step = loginAs(srv, 'alice', 'alice', 'correct horse', 'alice');
    expect(srv.failure).toEqual({ reason: 'blocked for 4 s after repeated failures', user: 'alice' });
    expect(finish(srv, step).kind).toBe('failure');
    expect(calls).toEqual(['blocked? alice']);
    calls.length = 0;
    blocked = 0;
    srv = mk();
    expect(finish(srv, loginAs(srv, 'alice', 'alice', 'correct horse', 'alice'))).toMatchObject({ kind: 'success', user: 'alice' });
    expect(calls).toEqual(['blocked? alice', 'success alice']);
  });

  it('admission refused after a correct password: E=649', () => {
    const srv = server(() => ({ ok: false, message: 'too many sessions' }));
    const a = answerChallenge(srv.start('alice'), 'alice', 'correct horse');
    const fm = decodeMsChap(req(expectSend(srv.receive(a.message))).data, true);
    expect('message' in fm && fm.message).toMatch(/^E=649 R=0 .* M=too many sessions$/);
  });

  it('out of order: a Success ack before the Response, a peer EAP-Success, a Nak, another identifier: EAP-Failure', () => {
    const cases: ((s: EapMschapv2Server, id: number, ch: Buffer) => Buffer)[] = [
      (_s, id) => resp(id, EapType.MSCHAPV2, [MsChapOp.SUCCESS]),
      (_s, id) => encodeEap({ code: EapCode.SUCCESS, identifier: id }),
      (_s, id) => resp(id, EapType.NAK, [EapType.MD5_CHALLENGE]),
      (_s, id, ch) => {
        const m = answerChallenge(ch, 'alice', 'correct horse').message;
        m[1] = (id + 1) & 0xff;
        return m;
      },
      (_s, id) => resp(id, EapType.IDENTITY, Buffer.from('alice')),
      (_s, id) => resp(id, EapType.MSCHAPV2, Buffer.alloc(0)),
    ];
    for (const c of cases) {
      const srv = server();
      const ch = srv.start('alice');
      const out = srv.receive(c(srv, req(ch).identifier, ch));
      expect(out.kind).toBe('failure');
      expect(srv.state).toBe('done');
    }
  });

  it('MS-CHAPv2 Type-Data of 0 to 60 bytes never throws and never authenticates (CVE-2015-8023, CVE-2025-62291)', () => {
    for (let n = 0; n <= 60; n++) {
      for (const fill of [0x00, 0x02, 0x03, 0xff]) {
        const srv = server();
        const ch = srv.start('alice');
        const data = Buffer.alloc(n, fill);
        if (n > 0) data[0] = fill === 0xff ? MsChapOp.SUCCESS : fill;
        const r1 = srv.receive(resp(req(ch).identifier, EapType.MSCHAPV2, data));
        expect(r1.kind).not.toBe('success');
        const r2 = srv.receive(resp((req(ch).identifier + 1) & 0xff, EapType.MSCHAPV2, [MsChapOp.SUCCESS]));
        expect(r2.kind).not.toBe('success');
      }
    }
  });

  it('property: success happens exactly for Identity, the right Response, then the ack, in that order', () => {
    const seen = [0, 0];
    type Move = 'identity' | 'good' | 'bad' | 'ack' | 'failack' | 'peer-success' | 'wrong-id' | 'garbage';
    const any = fc.array(fc.constantFrom<Move>('identity', 'good', 'bad', 'ack', 'failack', 'peer-success', 'wrong-id', 'garbage'), { maxLength: 6 });
    // a third of the runs start from the one good path, with a step perhaps changed
    const nearGood = fc.tuple(fc.integer({ min: 0, max: 3 }), fc.constantFrom<Move>('identity', 'good', 'bad', 'ack', 'failack', 'peer-success', 'wrong-id', 'garbage'), any).map(([i, m, rest]) => {
      const path: Move[] = ['identity', 'good', 'ack'];
      if (i < 3) path[i] = m;
      return [...path, ...rest];
    });
    const moves: fc.Arbitrary<Move[]> = fc.oneof(any, any, nearGood);
    fc.assert(
      fc.property(moves, fc.uint8Array({ maxLength: 20 }), (ms, junk) => {
        const srv = server();
        let last = srv.start();
        let successes = 0;
        for (const mv of ms) {
          const id = decodeEap(last).identifier;
          let msg: Buffer;
          switch (mv) {
            case 'identity': msg = resp(id, EapType.IDENTITY, Buffer.from('alice')); break;
            case 'good': msg = last[4] === EapType.MSCHAPV2 && last[5] === MsChapOp.CHALLENGE ? answerChallenge(last, 'alice', 'correct horse').message : resp(id, EapType.MSCHAPV2, [MsChapOp.RESPONSE]); break;
            case 'bad': msg = last[4] === EapType.MSCHAPV2 && last[5] === MsChapOp.CHALLENGE ? answerChallenge(last, 'alice', 'nope').message : resp(id, EapType.MSCHAPV2, [MsChapOp.RESPONSE, 0]); break;
            case 'ack': msg = resp(id, EapType.MSCHAPV2, [MsChapOp.SUCCESS]); break;
            case 'failack': msg = resp(id, EapType.MSCHAPV2, [MsChapOp.FAILURE]); break;
            case 'peer-success': msg = encodeEap({ code: EapCode.SUCCESS, identifier: id }); break;
            case 'wrong-id': msg = resp((id + 1) & 0xff, EapType.MSCHAPV2, [MsChapOp.SUCCESS]); break;
            default: msg = Buffer.from(junk);
          }
          const out = srv.receive(msg);
          if (out.kind === 'success') successes++;
          if (out.kind === 'send' || out.kind === 'success' || out.kind === 'failure') last = out.message;
        }
        const expected = ms[0] === 'identity' && ms[1] === 'good' && ms[2] === 'ack' ? 1 : 0;
        expect(successes).toBe(expected);
        seen[expected] = (seen[expected] ?? 0) + 1;
      }),
      { numRuns: 500 },
    );
    expect(seen[1]).toBeGreaterThan(20); // the good path was exercised, not only failures
  });
});
