import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  challengeHash,
  challengeResponse,
  desEncrypt,
  desEncryptBlock,
  expandDesKey,
  generateAuthenticatorResponse,
  generateAuthenticatorResponseFromHash,
  generateNTResponse,
  hashNtPasswordHash,
  md4,
  ntPasswordHash,
  verifyNTResponse,
} from '../../src/ppp/index.js';


const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase();

describe('MD4 (RFC 1320 §A.5 test suite)', () => {
  const vectors: Array<[string, string]> = [
    ['', '31d6cfe0d16ae931b73c59d7e0c089c0'],
    ['a', 'bde52cb31de33e46245e05fbdbd6fb24'],
    ['abc', 'a448017aaf21d8525fc10ae87aa6729d'],
    ['message digest', 'd9130a8164549fe818874806e1c7014b'],
    ['abcdefghijklmnopqrstuvwxyz', 'd79e1c308aa5bbcdeea8ed63df412da9'],
    ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', '043f8582f241db351ce627e153e7f0e4'],
    ['12345678901234567890123456789012345678901234567890123456789012345678901234567890', 'e33b4ddc9c38f2199c3e7b164fcc0536'],
  ];
  for (const [input, digest] of vectors) {
    it(`MD4("${input.length > 20 ? input.slice(0, 20) + '…' : input}")`, () => {
      expect(md4(Buffer.from(input, 'ascii')).toString('hex')).toBe(digest);
    });
  }

  it('padding boundaries (55, 56, 63, 64, 65 bytes) give distinct 16-byte digests', () => {
    const seen = new Set<string>();
    for (const n of [55, 56, 63, 64, 65, 119, 120]) {
      const d = md4(Buffer.alloc(n, 0x61));
      expect(d.length).toBe(16);
      seen.add(d.toString('hex'));
    }
    expect(seen.size).toBe(7);
  });
});

describe('single DES via des-ede3 with K|K|K', () => {
  it('FIPS 81 / classic vector: key 0123456789ABCDEF, "Now is t" → 3FA40E8A984D4815', () => {
    expect(hex(desEncryptBlock(Buffer.from('0123456789abcdef', 'hex'), Buffer.from('Now is t', 'ascii')))).toBe('3FA40E8A984D4815');
  });

  it('FIPS 46 validation: key 133457799BBCDFF1, plaintext 0123456789ABCDEF → 85E813540F0AB405', () => {
    expect(hex(desEncryptBlock(Buffer.from('133457799bbcdff1', 'hex'), Buffer.from('0123456789abcdef', 'hex')))).toBe('85E813540F0AB405');
  });

  it('7→8 byte key expansion sets odd parity and spreads the 56 bits', () => {
    const k = expandDesKey(Buffer.from('ffffffffffffff', 'hex'));
    expect(hex(k)).toBe('FEFEFEFEFEFEFEFE');
    const z = expandDesKey(Buffer.alloc(7));
    expect(hex(z)).toBe('0101010101010101');
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 7, maxLength: 7 }), (k7) => {
        const k8 = expandDesKey(k7);
        let bits = '';
        for (const b of k8) {
          let ones = 0;
          for (let i = 0; i < 8; i++) ones += (b >> i) & 1;
          if (ones % 2 !== 1) return false;
          bits += (b >> 1).toString(2).padStart(7, '0');
        }
        const expected = [...k7].map((b) => b.toString(2).padStart(8, '0')).join('');
        return bits === expected;
      }),
      { numRuns: 200 },
    );
  });

  it('DesEncrypt with a 7-byte key equals DES with the expanded key', () => {
    const k7 = Buffer.from('44ebba8d5312b8', 'hex');
    expect(desEncrypt(Buffer.from('d02e4386bce91226', 'hex'), k7).equals(desEncryptBlock(expandDesKey(k7), Buffer.from('d02e4386bce91226', 'hex')))).toBe(true);
  });
});

describe('MS-CHAPv2 (RFC 2759 §9.2 example)', () => {
  const AuthenticatorChallenge = Buffer.from('5B5D7C7D7B3F2F3E3C2C602132262628', 'hex');
  const PeerChallenge = Buffer.from('21402324255E262A28295F2B3A337C7E', 'hex');
  const UserName = 'User';
  const Password = 'clientPass';

  it('UserName and Password encodings', () => {
    expect(hex(Buffer.from(UserName))).toBe('55736572');
    expect(hex(Buffer.from(Password, 'utf16le'))).toBe('63006C00690065006E0074005000610073007300');
  });

  it('ChallengeHash = D02E4386BCE91226', () => {
    expect(hex(challengeHash(PeerChallenge, AuthenticatorChallenge, UserName))).toBe('D02E4386BCE91226');
  });

  it('NtPasswordHash = 44EBBA8D5312B8D611474411F56989AE', () => {
    expect(hex(ntPasswordHash(Password))).toBe('44EBBA8D5312B8D611474411F56989AE');
  });

  it('PasswordHashHash = 41C00C584BD2D91C4017A2A12FA59F3F', () => {
    expect(hex(hashNtPasswordHash(ntPasswordHash(Password)))).toBe('41C00C584BD2D91C4017A2A12FA59F3F');
  });

  it('ChallengeResponse / NT-Response = 82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF', () => {
    expect(hex(challengeResponse(Buffer.from('D02E4386BCE91226', 'hex'), ntPasswordHash(Password)))).toBe('82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF');
    expect(hex(generateNTResponse(AuthenticatorChallenge, PeerChallenge, UserName, Password))).toBe('82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF');
  });

  it('AuthenticatorResponse = S=407A5589115FD0D6209F510FE9C04566932CDA56', () => {
    const nt = Buffer.from('82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF', 'hex');
    expect(generateAuthenticatorResponse(Password, nt, PeerChallenge, AuthenticatorChallenge, UserName)).toBe('S=407A5589115FD0D6209F510FE9C04566932CDA56');
    expect(generateAuthenticatorResponseFromHash(ntPasswordHash(Password), nt, PeerChallenge, AuthenticatorChallenge, UserName)).toBe('S=407A5589115FD0D6209F510FE9C04566932CDA56');
  });

  it('well-known NT hash of "password" is 8846F7EAEE8FB117AD06BDD830B7586C', () => {
    expect(hex(ntPasswordHash('password'))).toBe('8846F7EAEE8FB117AD06BDD830B7586C');
  });

  it('a DOMAIN\\ prefix is excluded from ChallengeHash (RFC 2759 §8.2)', () => {
    expect(hex(challengeHash(PeerChallenge, AuthenticatorChallenge, 'CORP\\User'))).toBe('D02E4386BCE91226');
  });

  it('verifyNTResponse accepts the right response and rejects any single-bit change or wrong length', () => {
    const h = ntPasswordHash(Password);
    const nt = generateNTResponse(AuthenticatorChallenge, PeerChallenge, UserName, Password);
    expect(verifyNTResponse(AuthenticatorChallenge, PeerChallenge, UserName, h, nt)).toBe(true);
    expect(verifyNTResponse(AuthenticatorChallenge, PeerChallenge, UserName, h, nt.subarray(0, 23))).toBe(false);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 24 * 8 - 1 }), (bit) => {
        const m = Buffer.from(nt);
        m[bit >> 3]! ^= 1 << (bit & 7);
        return !verifyNTResponse(AuthenticatorChallenge, PeerChallenge, UserName, h, m);
      }),
      { numRuns: 100 },
    );
  });
});
