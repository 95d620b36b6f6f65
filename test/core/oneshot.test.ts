import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { cbc, digest, hmac, oneShotProvider, useOneShotProvider, type OneShotProvider } from '../../src/core/oneshot.js';
import { challengeHash, generateAuthenticatorResponse, generateNTResponse } from '../../src/core/mschap/mschapv2.js';
import { desEncryptBlock } from '../../src/core/mschap/des.js';
import { derivePhase1, keymat } from '../../src/ike/crypto/keys.js';
import { encryptBody, decryptBody } from '../../src/ike/crypto/cipher.js';
import { encrAlg, INTEG_ALGS } from '../../src/ikev2/crypto/algorithms.js';
import { openEncrypted, sealEncrypted, skKeys } from '../../src/ikev2/crypto/sk.js';
import { phase1Cipher } from '../../src/ike/crypto/algorithms.js';
import { nativeOneShot } from '../../src/io/udp-native.js';

const NATIVE = nativeOneShot();
const HASHES = ['sha1', 'sha256', 'sha384', 'sha512'] as const;
const CIPHERS = [
  ['aes-128-cbc', 16, 16],
  ['aes-192-cbc', 24, 16],
  ['aes-256-cbc', 32, 16],
  ['des-ede3-cbc', 24, 8],
] as const;

const nodeDigest = (name: string, parts: Uint8Array[]): Buffer => parts.reduce((h, p) => h.update(p), createHash(name)).digest();
const nodeHmac = (name: string, key: Uint8Array, parts: Uint8Array[]): Buffer => parts.reduce((h, p) => h.update(p), createHmac(name, key)).digest();
const nodeCbc = (name: string, key: Uint8Array, iv: Uint8Array, data: Uint8Array, encrypt: boolean): Buffer => {
  const c = encrypt ? createCipheriv(name, key, iv) : createDecipheriv(name, key, iv);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(data), c.final()]);
};

afterEach(() => useOneShotProvider(undefined));

/** The same known answers with node:crypto alone and with the addon. */
const modes: Array<[string, OneShotProvider | undefined]> = [['node:crypto', undefined]];
if (NATIVE) modes.push(['the addon (native/hmac.c, native/once.c)', NATIVE]);

describe.each(modes)('one-shot crypto through %s', (_label, provider) => {
  const use = (): void => useOneShotProvider(provider);

  it('installs the provider asked for', () => {
    use();
    expect(oneShotProvider()).toBe(provider);
  });

  it('HMAC: RFC 2202 §3 case 2 (SHA-1), RFC 4231 §4.3 case 2 and §4.7 case 6 (SHA-256, a key longer than the block)', () => {
    use();
    expect(hmac('sha1', Buffer.from('Jefe'), Buffer.from('what do ya want '), Buffer.from('for nothing?')).toString('hex')).toBe('effcdf6ae5eb2fa2d27416d5f184df9c259a7c79');
    expect(hmac('sha256', Buffer.from('Jefe'), Buffer.from('what do ya want for nothing?')).toString('hex')).toBe('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
    expect(hmac('sha256', Buffer.alloc(131, 0xaa), Buffer.from('Test Using Larger Than Block-Size Key - Hash Key First')).toString('hex')).toBe(
      '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
    );
  });

  it('digest: FIPS 180 "abc" (SHA-1, SHA-256) in parts', () => {
    use();
    expect(digest('sha1', Buffer.from('a'), Buffer.from('bc')).toString('hex')).toBe('a9993e364706816aba3e25717850c26c9cd0d89d');
    expect(digest('sha256', Buffer.from('ab'), new Uint8Array(0), Buffer.from('c')).toString('hex')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('CBC: RFC 3602 §4 case 2 (AES-128), both ways, the input untouched', () => {
    use();
    const key = Buffer.from('c286696d887c9aa0611bbb3e2025a45a', 'hex');
    const iv = Buffer.from('562e17996d093d28ddb3ba695a2e6f58', 'hex');
    const plain = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
    const ct = cbc('aes-128-cbc', key, iv, plain, true);
    expect(ct.toString('hex')).toBe('d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1');
    expect(plain[0]).toBe(0);
    expect(cbc('aes-128-cbc', key, iv, ct, false).equals(plain)).toBe(true);
  });

  it('CBC refuses what is not whole blocks and a key of the wrong size', () => {
    use();
    expect(() => cbc('aes-128-cbc', Buffer.alloc(16), Buffer.alloc(16), Buffer.alloc(17), true)).toThrow();
    expect(() => cbc('aes-256-cbc', Buffer.alloc(16), Buffer.alloc(16), Buffer.alloc(16), true)).toThrow();
  });

  it('DES (MS-CHAPv2): FIPS 81 and FIPS 46 vectors; RFC 2759 §9.2 ChallengeHash, NT-Response, AuthenticatorResponse', () => {
    use();
    expect(desEncryptBlock(Buffer.from('0123456789abcdef', 'hex'), Buffer.from('Now is t', 'ascii')).toString('hex')).toBe('3fa40e8a984d4815');
    expect(desEncryptBlock(Buffer.from('133457799bbcdff1', 'hex'), Buffer.from('0123456789abcdef', 'hex')).toString('hex')).toBe('85e813540f0ab405');
    const auth = Buffer.from('5B5D7C7D7B3F2F3E3C2C602132262628', 'hex');
    const peer = Buffer.from('21402324255E262A28295F2B3A337C7E', 'hex');
    expect(challengeHash(peer, auth, 'User').toString('hex')).toBe('d02e4386bce91226');
    const nt = generateNTResponse(auth, peer, 'User', 'clientPass');
    expect(nt.toString('hex')).toBe('82309ecd8d708b5ea08faa3981cd83544233114a3d85d6df');
    expect(generateAuthenticatorResponse('clientPass', nt, peer, auth, 'User')).toBe('S=407A5589115FD0D6209F510FE9C04566932CDA56');
  });
});

describe.skipIf(!NATIVE)('the addon gives the bytes node:crypto gives', () => {
  const parts = fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 10 });

  it('digest and HMAC, any hash, key length (0 to past the block) and split of the message, up to 10 parts (9 and 10 fall back)', () => {
    useOneShotProvider(NATIVE);
    fc.assert(
      fc.property(fc.constantFrom(...HASHES), fc.uint8Array({ maxLength: 200 }), parts, (h, key, ps) => {
        expect(digest(h, ...ps).equals(nodeDigest(h, ps))).toBe(true);
        expect(hmac(h, key, ...ps).equals(nodeHmac(h, key, ps))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('the addon refuses more than eight parts instead of reading past its argument array', () => {
    const nine = Array.from({ length: 9 }, () => Buffer.from('x'));
    expect(() => NATIVE!.digestOnce('sha1', Buffer.alloc(20), ...nine)).toThrow(RangeError);
    expect(() => NATIVE!.hmacOnce('sha1', Buffer.alloc(20), Buffer.from('k'), ...nine)).toThrow(RangeError);
    expect(() => NATIVE!.digestOnce('sha1', Buffer.alloc(19), Buffer.from('x'))).toThrow(TypeError);
    expect(() => NATIVE!.digestOnce('md5', Buffer.alloc(20), Buffer.from('x'))).toThrow(TypeError);
    expect(() => NATIVE!.cbcOnce!('aes-128-cbc', Buffer.alloc(16), Buffer.alloc(16), Buffer.alloc(15), true)).toThrow(TypeError);
    expect(() => NATIVE!.cbcOnce!('des-cbc', Buffer.alloc(8), Buffer.alloc(8), Buffer.alloc(8), true)).toThrow(TypeError);
  });

  it('MD5 falls back to node:crypto', () => {
    useOneShotProvider(NATIVE);
    expect(digest('md5', Buffer.from('abc')).toString('hex')).toBe('900150983cd24fb0d6963f7d28e17f72');
    expect(hmac('md5', Buffer.from('k'), Buffer.from('m')).equals(createHmac('md5', 'k').update('m').digest())).toBe(true);
  });

  it('CBC: any cipher, key, IV and number of blocks, both ways', () => {
    useOneShotProvider(NATIVE);
    fc.assert(
      fc.property(fc.constantFrom(...CIPHERS), fc.integer({ min: 0, max: 40 }), fc.integer(), ([name, keyLen, block], blocks, seed) => {
        void seed;
        const key = randomBytes(keyLen);
        const iv = randomBytes(block);
        const data = randomBytes(blocks * block);
        const ct = cbc(name, key, iv, data, true);
        expect(ct.equals(nodeCbc(name, key, iv, data, true))).toBe(true);
        expect(cbc(name, key, iv, ct, false).equals(data)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('IKEv1 Phase 1 keys, KEYMAT and message bodies are the same bytes with and without the addon', () => {
    const args = [randomBytes(16), randomBytes(32), randomBytes(32), randomBytes(128), randomBytes(8), randomBytes(8)] as const;
    const run = (): Buffer[] => {
      const k = derivePhase1('sha1', ...args, 32);
      const km = keymat('sha1', k.skeyidD, undefined, 3, Buffer.from('c0ffee01', 'hex'), args[1], args[2], 52);
      const alg = phase1Cipher(7, 256)!;
      const iv = Buffer.alloc(16, 7);
      const body = encryptBody(alg, k.encKey, iv, Buffer.from('a message body that is not whole blocks'));
      return [k.skeyid, k.skeyidD, k.skeyidA, k.skeyidE, k.encKey, km, body, decryptBody(alg, k.encKey, iv, body)!];
    };
    const plain = run();
    useOneShotProvider(NATIVE);
    const native = run();
    expect(native.map((b) => b.toString('hex'))).toEqual(plain.map((b) => b.toString('hex')));
  });

  it('IKEv2 SK with AES-CBC + HMAC-SHA-256: sealed by the addon, opened by node:crypto and back', () => {
    const suite = { encr: encrAlg(12, 256)!, integ: Object.values(INTEG_ALGS).find((i) => i.hash === 'sha256')! };
    const keys = skKeys(suite, randomBytes(32), randomBytes(suite.integ.keyBytes));
    const prefix = randomBytes(32);
    const plain = randomBytes(77);
    useOneShotProvider(NATIVE);
    const sealed = sealEncrypted(suite, keys, prefix, plain, randomBytes(16));
    useOneShotProvider(undefined);
    expect(openEncrypted(suite, keys, prefix, sealed)?.equals(plain)).toBe(true);
    const back = sealEncrypted(suite, keys, prefix, plain, randomBytes(16));
    useOneShotProvider(NATIVE);
    expect(openEncrypted(suite, keys, prefix, back)?.equals(plain)).toBe(true);
    back[back.length - 1]! ^= 1;
    expect(openEncrypted(suite, keys, prefix, back)).toBeUndefined();
  });
});
