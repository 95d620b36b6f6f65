/**
 * Signature AUTH payloads (RFC 7296 §3.8, RFC 4754, RFC 7427). The keys and expected
 * signatures were made once with this Python script (pyca/cryptography) and pasted;
 * the AlgorithmIdentifier bytes were checked with `openssl asn1parse`:
 *
 *   from cryptography.hazmat.primitives.asymmetric import rsa, ec, padding, utils
 *   from cryptography.hazmat.primitives import hashes, serialization
 *   rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
 *   ec_key = ec.generate_private_key(ec.SECP256R1())
 *   octets = b'IKE_SA_INIT response | Ni | prf(SK_pr, IDr)' * 2
 *   pem = lambda k: k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
 *   print(pem(rsa_key)); print(pem(ec_key))
 *   print('rsa-pkcs1-sha1', rsa_key.sign(octets, padding.PKCS1v15(), hashes.SHA1()).hex())
 *   print('rsa-pkcs1-sha256', rsa_key.sign(octets, padding.PKCS1v15(), hashes.SHA256()).hex())
 *   print('rsa-pss-sha256', rsa_key.sign(octets, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256()).hex())
 *   r, s = utils.decode_dss_signature(ec_key.sign(octets, ec.ECDSA(hashes.SHA256())))
 *   print('ecdsa-p256-rs', (r.to_bytes(32, 'big') + s.to_bytes(32, 'big')).hex())
 *   print('ecdsa-p256-der', ec_key.sign(octets, ec.ECDSA(hashes.SHA256())).hex())
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { algorithmIdentifier, signAuth, verifyAuth } from '../../src/ikev2/crypto/signature.js';
import { AuthMethod, HashAlgorithm } from '../../src/ikev2/wire/constants.js';

const RSA_PEM = [
  '-----BEGIN PRIVATE KEY-----',
  'MIICeAIBADANBgkqhkiG9w0BAQEFAASCAmIwggJeAgEAAoGBALr91np9MVliTn7t',
  'vopZxIXotdspbSbWkJQH2lvQY2JsE/8YxY4CEn47C7i7uFR9kW0xUUU4LWwzA1Cq',
  'fMjSfYcbK/XSiuWDLlbm2YSrhN3AEtX3Qst/SMTrxHv0J1v19hGfEq1GD8/SKx1T',
  'M7jW0QJfNfbsdhQsbylI2ZH9p/snAgMBAAECgYEAiYZ3X88DpIGwyZmBMa+j4fit',
  'B2sIZDAaVUURS8WP0qs6abuGUFMl1sEGde9aOom/k1daNlaC0bkTDxjUfb6RorJr',
  'xeVHhDx/jqygrM+Hcuh0LOEJcegIl9nujlyo0JA0AvZcNuiCIl3YZLsMU1rNP8DC',
  'NEsmChUC8z6h9BZfP4ECQQDfPSmt0jSVw4KKYgIjMg63chHETPeC3KQrCo9ScNH1',
  'mJR1rHBdHo9QOx12loq7cjbPtJ85UsoUrBag4azz0XAvAkEA1m7m6AR8DIrDz31d',
  'poLPHoPYWpyrUMsipsYIRn4ACD50ZXELeCtczkbVprtFcDgH8uuq0tKdx/t0ize9',
  '/R2uiQJAUGtfLWARU3ZH+4QNExLAXHN6VQYJEBpeBadbNC6yZFAgAzgojlMo+5Ug',
  'Kw1WUup1NmPyDBt38vR/fltuC7OCPwJBANUgsVxWaL1GhsyJ/DTtutLHlJirMxNA',
  'c5ZzKfJ2da279ZCFxTKRVtKnUN9BLwkUh8IIPmcAc1Y7NWDR7IHRqJECQQDE4C9I',
  'R+vMiDohO/sIgyedF1hcb8xZClSFVUobP04bOXaZFI+NlTuCVwISxIPl6VTypnJ+',
  'z+mcSYz6wXyklIS1',
  '-----END PRIVATE KEY-----'
].join('\n');
const EC_PEM = [
  '-----BEGIN PRIVATE KEY-----',
  'MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg/M2F+MhFvPbg6iHS',
  'yKi1KDbnLK1KFHcqQaHpIY5eKHehRANCAARylVmkHb8AzGxyI2GGyu91rA2agc2Q',
  'cU591iazx7Hhocq0WqCY8TrHlBa7Rtwvt7cU+dLWTVby8gsB3fiudit9',
  '-----END PRIVATE KEY-----'
].join('\n');
const OCTETS = Buffer.from('IKE_SA_INIT response | Ni | prf(SK_pr, IDr)'.repeat(2));
const rsaKey = createPrivateKey(RSA_PEM);
const ecKey = createPrivateKey(EC_PEM);
const rsaPub = createPublicKey(rsaKey);
const ecPub = createPublicKey(ecKey);
const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const RSA_PKCS1_SHA1 = hex('761c9b9eb4c1a520fd434b141ec6576618257166f42668df6318257e6d4d625f56a330b4a92d540ae7fdb5a223e4d0541a9e9666cc2b34ce073cc3f6e8d9213bdcfbc296832c2130489143ceb319dc9e113912162516e8369ace3801a44300d8ed12fe11d994418f2000eb1a280ed2a025383612882758cb2a28dfc05a77f825');
const RSA_PKCS1_SHA256 = hex('6b491ac3d66f79c19102610c08ba706a1a3704e2d0da7ff805ca54cd6c00d1cfaa856711b728efadfccef4cc4b1d36bb56cd85e195ac747b7811c69025f6b13483924cbb030cda60e1857269ae90e0f5a42783689ad4b1e0dab420e35c1ff23a02a97a5c51b4b5790d1cf5e4ced161dbbbfd69873bf0e3e896440ca41db2892f');
const RSA_PSS_SHA256 = hex('20e2c69a98d0924b684f345bc6b258d8d69e73dc3e363c7e022ac7a061cf2ae3b937c1b3a6dfed3f3703c5df4b4d0a3565c79653cc219d05c9753dcf68228d0d809c1805671b1bb4e3c83b5be07b84f9410a7bb26230d38d1a7cff775be28fe2c98adc2958cd18d1588c96f7098d2dc7fdebec62def7e371cfe403ae34014ae8');
const ECDSA_P256_RS = hex('5ec27fee3fce029b6aec5a6862009a27073050cd61476158e632d7770112863fb848d2deba15fdc68b511ba98a5c55fe44712871494ff0045b60252437df82ee');
const ECDSA_P256_DER = hex('304502202af87823446af2c62cb6bed53516036b91d6cfc197efd9a599db79066b0765ba022100c631f67849f9376455ec68646b6f4eb91b2c2837b985953771f23ae08600acd9');

const ALL = [HashAlgorithm.SHA2_256, HashAlgorithm.SHA2_384, HashAlgorithm.SHA2_512];
const ds = (alg: Buffer, sig: Buffer): Buffer => Buffer.concat([Buffer.from([alg.length]), alg, sig]);

describe('RFC 7427 AlgorithmIdentifiers', () => {
  it('match the DER of Appendix A (OIDs checked with openssl asn1parse)', () => {
    expect(algorithmIdentifier('rsa-pkcs1', 'sha256').toString('hex')).toBe('300d06092a864886f70d01010b0500');
    expect(algorithmIdentifier('rsa-pkcs1', 'sha384').toString('hex')).toBe('300d06092a864886f70d01010c0500');
    expect(algorithmIdentifier('rsa-pkcs1', 'sha512').toString('hex')).toBe('300d06092a864886f70d01010d0500');
    expect(algorithmIdentifier('ecdsa', 'sha256').toString('hex')).toBe('300a06082a8648ce3d040302');
    expect(algorithmIdentifier('ecdsa', 'sha384').toString('hex')).toBe('300a06082a8648ce3d040303');
    expect(algorithmIdentifier('ecdsa', 'sha512').toString('hex')).toBe('300a06082a8648ce3d040304');
    // rsassaPss { [0] sha256, [1] mgf1(sha256), [2] saltLength 32 }
    expect(algorithmIdentifier('rsa-pss', 'sha256').toString('hex')).toBe(
      '304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120',
    );
  });
});

describe('signing (server side)', () => {
  it('RSA without SIGNATURE_HASH_ALGORITHMS: method 1, PKCS#1 v1.5 with SHA-1, the known signature', () => {
    expect(signAuth(rsaKey, OCTETS, undefined)).toEqual({ method: AuthMethod.RSA_SIG, data: RSA_PKCS1_SHA1 });
    expect(signAuth(rsaKey, OCTETS, [])).toEqual({ method: AuthMethod.RSA_SIG, data: RSA_PKCS1_SHA1 });
  });
  it('RSA with SIGNATURE_HASH_ALGORITHMS and PSS off: method 14, PKCS#1 v1.5 with SHA-256, the known signature', () => {
    const a = signAuth(rsaKey, OCTETS, ALL, { rsaPss: false });
    expect(a).toEqual({ method: AuthMethod.DIGITAL_SIGNATURE, data: ds(algorithmIdentifier('rsa-pkcs1', 'sha256'), RSA_PKCS1_SHA256) });
  });
  it('RSA with SIGNATURE_HASH_ALGORITHMS: method 14 with RSASSA-PSS, a hash the client announced', () => {
    const a = signAuth(rsaKey, OCTETS, [HashAlgorithm.SHA2_384]);
    expect(a.method).toBe(AuthMethod.DIGITAL_SIGNATURE);
    const alg = algorithmIdentifier('rsa-pss', 'sha384');
    expect(a.data.subarray(0, 1 + alg.length)).toEqual(Buffer.concat([Buffer.from([alg.length]), alg]));
    expect(verifyAuth(rsaPub, a.method, a.data, OCTETS)).toBe(true);
    expect(signAuth(rsaKey, OCTETS, [HashAlgorithm.SHA1, HashAlgorithm.IDENTITY]).method).toBe(AuthMethod.RSA_SIG); // nothing usable announced
  });
  it('ECDSA P-256: method 9 with r|s of 64 bytes, or method 14 DER-encoded', () => {
    const a = signAuth(ecKey, OCTETS, undefined);
    expect(a.method).toBe(AuthMethod.ECDSA_SHA256_P256);
    expect(a.data).toHaveLength(64);
    expect(verifyAuth(ecPub, a.method, a.data, OCTETS)).toBe(true);
    const b = signAuth(ecKey, OCTETS, ALL);
    expect(b.method).toBe(AuthMethod.DIGITAL_SIGNATURE);
    expect(b.data.subarray(1, 13)).toEqual(algorithmIdentifier('ecdsa', 'sha256'));
    expect(b.data[13]).toBe(0x30); // DER SEQUENCE
    expect(verifyAuth(ecPub, b.method, b.data, OCTETS)).toBe(true);
  });
  it('P-384 and P-521 keys use methods 10 and 11', () => {
    for (const [curve, method, len] of [['secp384r1', 10, 96], ['secp521r1', 11, 132]] as const) {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
      const a = signAuth(privateKey, OCTETS, undefined);
      expect(a.method).toBe(method);
      expect(a.data).toHaveLength(len);
      expect(verifyAuth(publicKey, method, a.data, OCTETS)).toBe(true);
    }
  });
  it('an Ed25519 key has no method here', () => {
    expect(() => signAuth(generateKeyPairSync('ed25519').privateKey, OCTETS, undefined)).toThrow(RangeError);
  });
});

describe('verifying (signatures made by pyca/cryptography)', () => {
  it('accepts the known signatures', () => {
    expect(verifyAuth(rsaPub, AuthMethod.RSA_SIG, RSA_PKCS1_SHA1, OCTETS)).toBe(true);
    expect(verifyAuth(rsaPub, AuthMethod.DIGITAL_SIGNATURE, ds(algorithmIdentifier('rsa-pkcs1', 'sha256'), RSA_PKCS1_SHA256), OCTETS)).toBe(true);
    expect(verifyAuth(rsaPub, AuthMethod.DIGITAL_SIGNATURE, ds(algorithmIdentifier('rsa-pss', 'sha256'), RSA_PSS_SHA256), OCTETS)).toBe(true);
    expect(verifyAuth(ecPub, AuthMethod.ECDSA_SHA256_P256, ECDSA_P256_RS, OCTETS)).toBe(true);
    expect(verifyAuth(ecPub, AuthMethod.DIGITAL_SIGNATURE, ds(algorithmIdentifier('ecdsa', 'sha256'), ECDSA_P256_DER), OCTETS)).toBe(true);
  });
  it('refuses changed octets, changed signatures, a wrong method or hash, a wrong key, and malformed data', () => {
    const other = Buffer.from(OCTETS);
    other[0] = other[0]! ^ 1;
    expect(verifyAuth(rsaPub, AuthMethod.RSA_SIG, RSA_PKCS1_SHA1, other)).toBe(false);
    const bent = Buffer.from(ECDSA_P256_RS);
    bent[5] = bent[5]! ^ 1;
    expect(verifyAuth(ecPub, AuthMethod.ECDSA_SHA256_P256, bent, OCTETS)).toBe(false);
    expect(verifyAuth(ecPub, AuthMethod.ECDSA_SHA384_P384, ECDSA_P256_RS, OCTETS)).toBe(false);
    expect(verifyAuth(rsaPub, AuthMethod.DIGITAL_SIGNATURE, ds(algorithmIdentifier('rsa-pkcs1', 'sha384'), RSA_PKCS1_SHA256), OCTETS)).toBe(false);
    expect(verifyAuth(rsaPub, AuthMethod.DIGITAL_SIGNATURE, ds(algorithmIdentifier('rsa-pss', 'sha256'), RSA_PKCS1_SHA256), OCTETS)).toBe(false);
    expect(verifyAuth(ecPub, AuthMethod.RSA_SIG, RSA_PKCS1_SHA1, OCTETS)).toBe(false);
    expect(verifyAuth(rsaPub, AuthMethod.SHARED_KEY_MIC, RSA_PKCS1_SHA1, OCTETS)).toBe(false);
    for (const data of [Buffer.alloc(0), Buffer.from([200, 1, 2]), Buffer.from([0]), ds(Buffer.from('300a06082a8648ce3d040309', 'hex'), ECDSA_P256_DER)]) {
      expect(verifyAuth(ecPub, AuthMethod.DIGITAL_SIGNATURE, data, OCTETS)).toBe(false);
      expect(verifyAuth(rsaPub, AuthMethod.DIGITAL_SIGNATURE, data, OCTETS)).toBe(false);
    }
    expect(verifyAuth(ecPub, AuthMethod.ECDSA_SHA256_P256, ECDSA_P256_RS.subarray(0, 63), OCTETS)).toBe(false);
  });
});
