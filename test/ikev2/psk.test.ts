/**
 * IKE_AUTH with per-user pre-shared keys (AUTH method 2, RFC 7296 §2.15): the identity
 * in IDi selects the user and that user's key; the server's AUTH is keyed with the same
 * key; there is no group key. The test client computes both AUTH values on its own side.
 */
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ChildSaUp, Endpoint } from '../../src/core/sa.js';
import { ntPasswordHash } from '../../src/core/mschap/mschapv2.js';
import { AuthFailureTracker } from '../../src/ppp/auth-failures.js';
import { PRF_ALGS } from '../../src/ikev2/crypto/algorithms.js';
import { sharedKeyAuth, signedOctets, verifySharedKeyAuth } from '../../src/ikev2/crypto/auth.js';
import { pskIdentity } from '../../src/ikev2/ike-auth.js';
import { Ikev2Responder, type Ikev2AuthConfig, type Ikev2Output } from '../../src/ikev2/responder.js';
import { AuthMethod, DhGroup, Encr, IdType, Integ, NotifyType, PayloadType, Prf } from '../../src/ikev2/wire/constants.js';
import { encodeId, type IdPayload } from '../../src/ikev2/wire/id.js';
import { findPayload, type Payload, type PayloadChain } from '../../src/ikev2/wire/message.js';
import { AuthClient } from './auth-client.js';
import { ikeProposal, TestInitiator } from './initiator.js';

const SERVER: Endpoint = { address: '198.51.100.1', port: 500 };
const CLIENT: Endpoint = { address: '203.0.113.7', port: 500 };
const serverKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const LOCAL_ID: IdPayload = { idType: IdType.ID_FQDN, data: Buffer.from('vpn.example.net') };

const ALICE_KEY = 'alice-Xq3v9Lr2mZk8Tn4W';
const BOB_KEY = 'bob-Yp1Bd6Hs0Gf5Jq2Nc7';
/** alice and bob have keys; carol only a password (EAP); 10.1.2.3 is a user named as an address. */
const USERS: Record<string, { password: string; key?: string }> = {
  alice: { password: 'alice password', key: ALICE_KEY },
  bob: { password: 'bob password', key: BOB_KEY },
  carol: { password: 'carol password' },
  '10.1.2.3': { password: 'x', key: 'ipv4-named-user-key-1' },
  'dave@example.org': { password: 'x', key: 'dave-key-0123456789ab' },
};

interface Logged {
  event: string;
  fields: Record<string, unknown>;
  text: string;
}

function responder(over: Partial<Ikev2AuthConfig> = {}): { r: Ikev2Responder; admitted: string[] } {
  const admitted: string[] = [];
  const r = new Ikev2Responder({
    cookieSecret: Buffer.alloc(32, 1),
    auth: {
      certificates: [Buffer.from('cert')],
      privateKey: serverKey.privateKey,
      localId: LOCAL_ID,
      serverName: 'vpn.example.net',
      users: {
        lookup: (n) => (USERS[n] ? { name: n, ntHash: ntPasswordHash(USERS[n].password) } : undefined),
        admit: (n) => {
          admitted.push(n);
          return { ok: true };
        },
      },
      psk: { lookup: (id) => (USERS[id] ? { name: id, key: USERS[id].key === undefined ? undefined : Buffer.from(USERS[id].key, 'utf8') } : undefined) },
      assignAddress: () => '10.10.0.7',
      dns: ['10.10.0.1'],
      ...over,
    },
  });
  return { r, admitted };
}

const sends = (out: Ikev2Output[]) => out.filter((o): o is Extract<Ikev2Output, { type: 'send' }> => o.type === 'send').map((s) => s.data);
const logs = (out: Ikev2Output[]): Logged[] =>
  out.filter((o): o is Extract<Ikev2Output, { type: 'log' }> => o.type === 'log').map((l) => ({ event: l.event, fields: l.fields as Record<string, unknown>, text: JSON.stringify(l) }));

/** IKE_SA_INIT with the responder, then a client with this identity (and, for EAP, password). */
function client(r: Ikev2Responder, idi: IdPayload, from: Endpoint = CLIENT, now = 0, password = ''): AuthClient {
  const i = new TestInitiator({
    proposals: [ikeProposal(1, { encr: [[Encr.AES_CBC, 256]], integ: [Integ.HMAC_SHA2_256_128], prf: [Prf.HMAC_SHA2_256], dh: [DhGroup.ECP256] })],
    keGroup: DhGroup.ECP256,
    local: from,
    remote: SERVER,
  });
  expect(i.handle(sends(r.receive(i.request(), from, SERVER, now))[0]!)).toEqual({ kind: 'done' });
  return new AuthClient(i, idi.data.toString('utf8'), password, idi);
}

/** The client's AUTH with a key: prf(prf(key, "Key Pad for IKEv2"), RealMessage1 | Nr | prf(SK_pi, IDi body)). */
function pskAuth(c: AuthClient, key: string): Payload {
  const octets = signedOctets(c.init.suite!.prf, c.init.lastRequest, c.init.nr, c.init.keys!.skPi, encodeId(c.idi));
  return { type: PayloadType.AUTH, value: { method: AuthMethod.SHARED_KEY_MIC, data: sharedKeyAuth(c.init.suite!.prf, Buffer.from(key, 'utf8'), octets) } };
}

/** Does the server's AUTH verify with this key (over ResponderSignedOctets with the IDr it sent)? */
function serverAuthWith(c: AuthClient, chain: PayloadChain, key: string): boolean {
  const idr = findPayload(chain, PayloadType.IDr)!;
  const auth = findPayload(chain, PayloadType.AUTH)!.value;
  const octets = signedOctets(c.init.suite!.prf, c.init.rawResponse!, c.init.ni, c.init.keys!.skPr, encodeId(idr.value));
  return auth.method === AuthMethod.SHARED_KEY_MIC && verifySharedKeyAuth(c.init.suite!.prf, Buffer.from(key, 'utf8'), octets, auth.data);
}

function login(r: Ikev2Responder, idi: IdPayload, key: string, from: Endpoint = CLIENT, now = 0): { c: AuthClient; chain: PayloadChain; out: Ikev2Output[] } {
  const c = client(r, idi, from, now);
  const out = r.receive(c.request([...c.firstPayloads(), pskAuth(c, key)])[0]!, from, SERVER, now);
  return { c, chain: c.open(sends(out)), out };
}

const fqdn = (s: string): IdPayload => ({ idType: IdType.ID_FQDN, data: Buffer.from(s) });

/** The answer is AUTHENTICATION_FAILED alone, nothing comes up and the SA is gone. */
function refused(x: { c: AuthClient; chain: PayloadChain; out: Ikev2Output[] }, r: Ikev2Responder): void {
  expect(x.chain.payloads.map((p) => p.type)).toEqual([PayloadType.N]);
  expect(findPayload(x.chain, PayloadType.N)!.value.type).toBe(NotifyType.AUTHENTICATION_FAILED);
  expect(x.out.some((o) => o.type === 'ikev2-sa-up' || o.type === 'child-sa-up')).toBe(false);
  expect(x.out.some((o) => o.type === 'ikev2-sa-gone')).toBe(true);
  expect(r.sa(x.c.init.spiR)).toBeUndefined();
}

describe('shared-key AUTH (RFC 7296 §2.15): known answers', () => {
  // Computed independently with Python's hmac/hashlib:
  //   octets = msg1 + nr + hmac(skpi, idbody); auth = hmac(hmac(key, b"Key Pad for IKEv2"), octets)
  // key = b'Xq3-v9Lr_2mZk8Tn4Wc7Yp1Bd6Hs0Gf5', msg1 = bytes(range(200)),
  // nr = '00112233445566778899aabbccddeeff'*2, skpi = '0f1e2d3c4b5a69788796a5b4c3d2e1f0'*2,
  // idbody = b'\x02\x00\x00\x00alice' (ID_FQDN "alice")
  const key = Buffer.from('Xq3-v9Lr_2mZk8Tn4Wc7Yp1Bd6Hs0Gf5');
  const msg1 = Buffer.from(Array.from({ length: 200 }, (_, i) => i));
  const nr = Buffer.from('00112233445566778899aabbccddeeff'.repeat(2), 'hex');
  const skPi = Buffer.from('0f1e2d3c4b5a69788796a5b4c3d2e1f0'.repeat(2), 'hex');
  const idBody = encodeId(fqdn('alice'));
  it.each([
    [Prf.HMAC_SHA1, '61e676faf498e1c8a40d03bcb86cdb78b3a0e588'],
    [Prf.HMAC_SHA2_256, '3a5c81cc9d96876b66f57ad2c2855298886b89e36c5efd7cd5de4844d73386be'],
    [Prf.HMAC_SHA2_384, '1527080c9700872fd91deaad4ab68ae9baf574c0eea7b8a9806f53e2fe0333a8c7da9e1844d4a3f811653d845e70a1bc'],
  ])('PRF %i', (prfId, hex) => {
    const alg = PRF_ALGS[prfId]!;
    const octets = signedOctets(alg, msg1, nr, skPi, idBody);
    expect(sharedKeyAuth(alg, key, octets).toString('hex')).toBe(hex);
    expect(verifySharedKeyAuth(alg, key, octets, Buffer.from(hex, 'hex'))).toBe(true);
    expect(verifySharedKeyAuth(alg, Buffer.from('Xq3-v9Lr_2mZk8Tn4Wc7Yp1Bd6Hs0Gf6'), octets, Buffer.from(hex, 'hex'))).toBe(false);
  });
});

describe('pskIdentity: which IDi names a user', () => {
  it('takes the text of ID_KEY_ID, ID_FQDN, ID_RFC822_ADDR and a dotted ID_IPV4_ADDR', () => {
    expect(pskIdentity({ idType: IdType.ID_KEY_ID, data: Buffer.from('alice') })).toBe('alice');
    expect(pskIdentity({ idType: IdType.ID_FQDN, data: Buffer.from('alice') })).toBe('alice');
    expect(pskIdentity({ idType: IdType.ID_RFC822_ADDR, data: Buffer.from('dave@example.org') })).toBe('dave@example.org');
    expect(pskIdentity({ idType: IdType.ID_IPV4_ADDR, data: Buffer.from([10, 1, 2, 3]) })).toBe('10.1.2.3');
  });

  it('names nobody for DNs, IPv6, ID_NULL, non-UTF-8, control characters or over 255 bytes', () => {
    expect(pskIdentity({ idType: IdType.ID_DER_ASN1_DN, data: Buffer.from('alice') })).toBeUndefined();
    expect(pskIdentity({ idType: IdType.ID_IPV6_ADDR, data: Buffer.alloc(16, 1) })).toBeUndefined();
    expect(pskIdentity({ idType: IdType.ID_NULL, data: Buffer.alloc(0) })).toBeUndefined();
    expect(pskIdentity({ idType: IdType.ID_KEY_ID, data: Buffer.from([0x61, 0xff, 0x62]) })).toBeUndefined();
    expect(pskIdentity({ idType: IdType.ID_FQDN, data: Buffer.from('ali\nce') })).toBeUndefined();
    expect(pskIdentity({ idType: IdType.ID_FQDN, data: Buffer.alloc(256, 0x61) })).toBeUndefined();
  });

  it('property: a name is exactly the bytes it came from, and never holds a control character', () => {
    fc.assert(
      fc.property(fc.constantFrom(IdType.ID_KEY_ID, IdType.ID_FQDN, IdType.ID_RFC822_ADDR), fc.uint8Array({ minLength: 1, maxLength: 300 }), (idType, bytes) => {
        const name = pskIdentity({ idType, data: Buffer.from(bytes) });
        if (name === undefined) return;
        expect(Buffer.from(name, 'utf8').equals(Buffer.from(bytes))).toBe(true);
        // eslint-disable-next-line no-control-regex
        expect(/[\u0000-\u001f\u007f-\u009f]/.test(name)).toBe(false);
      }),
    );
  });
});

describe('IKE_AUTH with a per-user key', () => {
  it("alice's key logs alice in: IDr, AUTH keyed with her key, CP, SA, TS in one round", () => {
    const { r, admitted } = responder();
    const x = login(r, fqdn('alice'), ALICE_KEY);
    expect(findPayload(x.chain, PayloadType.N)).toBeUndefined();
    expect(findPayload(x.chain, PayloadType.IDr)!.value).toEqual(LOCAL_ID);
    expect(findPayload(x.chain, PayloadType.CERT)).toBeUndefined();
    expect(findPayload(x.chain, PayloadType.EAP)).toBeUndefined();
    // the server proves it knows alice's key, not bob's
    expect(serverAuthWith(x.c, x.chain, ALICE_KEY)).toBe(true);
    expect(serverAuthWith(x.c, x.chain, BOB_KEY)).toBe(false);
    expect(findPayload(x.chain, PayloadType.CP)).toBeDefined();
    expect(findPayload(x.chain, PayloadType.SA)!.value.proposals).toHaveLength(1);
    const up = x.out.find((o) => o.type === 'ikev2-sa-up');
    expect(up).toMatchObject({ user: 'alice', virtualIp: '10.10.0.7' });
    const child = x.out.find((o): o is ChildSaUp => o.type === 'child-sa-up')!;
        // the child's keys are the ones the client derives
    const k = x.c.childKeys(32, 32);
    expect([child.inbound.encKey, child.inbound.authKey, child.outbound.encKey, child.outbound.authKey]).toEqual([k.i2r.encKey, k.i2r.integKey, k.r2i.encKey, k.r2i.integKey]);
    expect(r.sa(x.c.init.spiR)!.state).toBe('ESTABLISHED');
    expect(admitted).toEqual(['alice']);
    // no key in any log line
    for (const l of logs(x.out)) expect(l.text).not.toContain(ALICE_KEY);
  });

  it.each([
    ['ID_KEY_ID (Android)', { idType: IdType.ID_KEY_ID, data: Buffer.from('bob') }, 'bob', BOB_KEY],
    ['ID_RFC822_ADDR', { idType: IdType.ID_RFC822_ADDR, data: Buffer.from('dave@example.org') }, 'dave@example.org', 'dave-key-0123456789ab'],
    ['ID_IPV4_ADDR', { idType: IdType.ID_IPV4_ADDR, data: Buffer.from([10, 1, 2, 3]) }, '10.1.2.3', 'ipv4-named-user-key-1'],
  ])('the user name in %s selects the user', (_what, idi, user, key) => {
    const { r } = responder();
    const x = login(r, idi, key);
    expect(x.out.find((o) => o.type === 'ikev2-sa-up')).toMatchObject({ user });
    expect(serverAuthWith(x.c, x.chain, key)).toBe(true);
  });

  it('a wrong key is refused with AUTHENTICATION_FAILED, counted, and logged naming the user (never the keys)', () => {
    const { r, admitted } = responder();
    const x = login(r, fqdn('alice'), 'not-alices-key-at-all');
    refused(x, r);
    expect(r.counters.get('ikev2.auth.failed')).toBe(1);
    const f = logs(x.out).find((l) => l.event === 'ikev2.auth.failed')!;
    expect(f.fields.user).toBe('alice');
    expect(f.fields.reason).toBe('shared key: AUTH does not match the key of "alice"');
    for (const l of logs(x.out)) {
      expect(l.text).not.toContain(ALICE_KEY);
      expect(l.text).not.toContain('not-alices-key-at-all');
    }
    expect(admitted).toEqual([]);
  });

  it("swap: alice's identity with bob's key is refused; bob's identity with alice's key too", () => {
    const { r } = responder();
    refused(login(r, fqdn('alice'), BOB_KEY), r);
    refused(login(r, fqdn('bob'), ALICE_KEY), r);
    // and each with their own works
    expect(login(r, fqdn('bob'), BOB_KEY).out.find((o) => o.type === 'ikev2-sa-up')).toMatchObject({ user: 'bob' });
  });

  it('an unknown identity and a user without a key get the very same answer as a wrong key', () => {
    const { r } = responder();
    const unknown = login(r, fqdn('mallory'), ALICE_KEY);
    refused(unknown, r);
    const f = logs(unknown.out).find((l) => l.event === 'ikev2.auth.failed')!;
    expect(f.fields.reason).toBe('shared key: unknown identity "mallory"');
    expect(f.fields.user).toBeUndefined();
    const keyless = login(r, fqdn('carol'), 'carol password');
    refused(keyless, r);
    const g = logs(keyless.out).find((l) => l.event === 'ikev2.auth.failed')!;
    expect(g.fields).toMatchObject({ user: 'carol', reason: 'shared key: "carol" has no IKEv2 key' });
    const wrong = login(r, fqdn('alice'), 'wrong key for alice!');
    // byte for byte the same inner payloads (one N, AUTHENTICATION_FAILED, no data)
    expect(keyless.chain.payloads).toEqual(unknown.chain.payloads);
    expect(wrong.chain.payloads).toEqual(unknown.chain.payloads);
    expect(r.counters.get('ikev2.auth.failed')).toBe(3);
  });

  it('an identity no user name can be (a DN) is refused like an unknown one', () => {
    const { r } = responder();
    refused(login(r, { idType: IdType.ID_DER_ASN1_DN, data: Buffer.from('3000', 'hex') }, ALICE_KEY), r);
  });

  it('without per-user keys configured, a shared-key AUTH is refused (EAP only)', () => {
    const { r } = responder({ psk: undefined });
    const x = login(r, fqdn('alice'), ALICE_KEY);
    refused(x, r);
    expect(logs(x.out).find((l) => l.event === 'ikev2.auth.failed')!.fields.reason).toMatch(/not in use/);
  });

  it('AUTH with another method (RSA signature) is refused: the client did not ask for EAP, and keys are method 2 only', () => {
    const { r } = responder();
    const c = client(r, fqdn('alice'));
    const out = r.receive(c.request([...c.firstPayloads(), { type: PayloadType.AUTH, value: { method: AuthMethod.RSA_SIG, data: Buffer.alloc(256, 1) } }])[0]!, CLIENT, SERVER, 0);
    refused({ c, chain: c.open(sends(out)), out }, r);
  });

  it('EAP-MSCHAPv2 works beside keys: no AUTH in the first request means EAP (§2.16), also for a user who has a key', () => {
    const { r } = responder();
    for (const [user, password] of [['carol', 'carol password'], ['alice', 'alice password']] as const) {
      const c = client(r, { idType: IdType.ID_RFC822_ADDR, data: Buffer.from(user) }, CLIENT, 0, password);
      const rt = (p: Payload[]) => {
        const out = r.receive(c.request(p)[0]!, CLIENT, SERVER, 0);
        return { chain: c.open(sends(out)), out };
      };
      let chain = rt(c.firstPayloads()).chain;
      expect(findPayload(chain, PayloadType.EAP)).toBeDefined();
      expect(c.checkServerAuth(chain, serverKey.publicKey)).toBe(true);
      for (let k = 0; k < 3; k++) chain = rt(c.eapAnswer(chain)).chain;
      const last = rt(c.finalAuth());
      expect(last.out.find((o) => o.type === 'ikev2-sa-up')).toMatchObject({ user });
    }
  });

  it('admission refused (session limit) ends with AUTHENTICATION_FAILED after a correct key', () => {
    const { r } = responder({ users: { lookup: () => undefined, admit: () => ({ ok: false, message: 'session limit of 1 reached' }) } });
    const x = login(r, fqdn('alice'), ALICE_KEY);
    refused(x, r);
    expect(logs(x.out).find((l) => l.event === 'ikev2.auth.failed')!.fields.reason).toBe('session limit of 1 reached ("alice")');
  });

  it('per-user backoff: after the free failures even the right key waits; the block ends, and success clears it', () => {
    const failures = new AuthFailureTracker({ freeFailures: 2, baseDelayMs: 10_000 });
    const { r } = responder({ failures });
    // other addresses each time: it is the user that is blocked
    const from = (n: number): Endpoint => ({ address: `203.0.113.${n}`, port: 500 });
    for (let n = 1; n <= 3; n++) refused(login(r, fqdn('alice'), `guess number ${n} of many`, from(n), 1000 * n), r);
    expect(failures.failures({ user: 'alice' }, 3000)).toBe(3);
    const blocked = login(r, fqdn('alice'), ALICE_KEY, from(9), 4000);
    refused(blocked, r);
    expect(logs(blocked.out).find((l) => l.event === 'ikev2.auth.failed')!.fields.reason).toMatch(/^shared key: blocked for \d+ s after repeated failures \("alice"\)$/);
    // bob is not blocked by alice's guesses
    expect(login(r, fqdn('bob'), BOB_KEY, from(10), 4000).out.some((o) => o.type === 'ikev2-sa-up')).toBe(true);
    const later = login(r, fqdn('alice'), ALICE_KEY, from(11), 14_000);
    expect(later.out.some((o) => o.type === 'ikev2-sa-up')).toBe(true);
    expect(failures.failures({ user: 'alice' }, 14_000)).toBe(0);
  });

  it('unknown identities are counted too (per address), so guessing names meets the backoff', () => {
    const failures = new AuthFailureTracker({ freeFailures: 1, baseDelayMs: 60_000 });
    const { r } = responder({ failures });
    refused(login(r, fqdn('nobody1'), 'x'.repeat(20), CLIENT, 0), r);
    refused(login(r, fqdn('nobody2'), 'x'.repeat(20), CLIENT, 1), r);
    expect(failures.failures({ address: CLIENT.address }, 2)).toBe(2);
    // the address is now blocked: even alice's right key from there waits
    const x = login(r, fqdn('alice'), ALICE_KEY, CLIENT, 3);
    refused(x, r);
    expect(logs(x.out).find((l) => l.event === 'ikev2.auth.failed')!.fields.reason).toMatch(/blocked/);
  });

  it('property: any identity with any AUTH data never throws and never logs anyone in unless it is the user and their key', () => {
    const { r } = responder();
    fc.assert(
      fc.property(
        fc.constantFrom(IdType.ID_KEY_ID, IdType.ID_FQDN, IdType.ID_RFC822_ADDR, IdType.ID_IPV4_ADDR, IdType.ID_DER_ASN1_DN),
        fc.oneof(fc.constantFrom('alice', 'bob', 'carol', 'mallory'), fc.string({ minLength: 1, maxLength: 40 })),
        fc.oneof(fc.constantFrom(ALICE_KEY, BOB_KEY, ''), fc.string({ maxLength: 40 })),
        (idType, name, key) => {
          const data = idType === IdType.ID_IPV4_ADDR ? Buffer.from([10, 1, 2, 3]) : Buffer.from(name);
          const idi = { idType, data };
          const x = login(r, idi, key);
          const up = x.out.find((o) => o.type === 'ikev2-sa-up');
          const who = pskIdentity(idi);
          const own = who !== undefined && USERS[who]?.key !== undefined && USERS[who]!.key === key;
          expect(up !== undefined).toBe(own);
        },
      ),
      { numRuns: 60 },
    );
  });
});
