/**
 * Known answers for the IKEv2 key schedule (RFC 7296 §2.13-2.14, §2.17, §2.18) and
 * AUTH (§2.15-2.16). The expected values were computed once with this independent
 * Python script (hmac/hashlib only) and pasted:
 *
 *   import hmac, hashlib
 *   def prf(h, k, d): return hmac.new(k, d, h).digest()
 *   def prfplus(h, k, s, n):
 *       out=b''; t=b''; i=1
 *       while len(out)<n:
 *           t=prf(h,k,t+s+bytes([i])); out+=t; i+=1
 *       return out[:n]
 *   ni=bytes(range(0,32)); nr=bytes(range(32,64)); gir=bytes((i*7)&0xff for i in range(64))
 *   spii=bytes.fromhex('0102030405060708'); spir=bytes.fromhex('1112131415161718')
 *   suites={'A':(hashlib.sha256,32,32,32),'B':(hashlib.sha1,20,20,16),'C':(hashlib.sha384,48,0,36),'D':(hashlib.sha512,64,64,32)}
 *   res={}
 *   for name,(h,p,a,e) in suites.items():
 *       seed=prf(h,ni+nr,gir)
 *       km=prfplus(h,seed,ni+nr+spii+spir,3*p+2*a+2*e)
 *       o=0; ks={}
 *       for kn,l in [('skD',p),('skAi',a),('skAr',a),('skEi',e),('skEr',e),('skPi',p),('skPr',p)]:
 *           ks[kn]=km[o:o+l].hex(); o+=l
 *       ks['skeyseed']=seed.hex()
 *       res[name]=ks
 *       print(name, ks)
 *   skd=bytes.fromhex(res['A']['skD'])
 *   km=prfplus(hashlib.sha256,skd,ni+nr,2*(16+32)); print('childA', km.hex())
 *   gir2=bytes((i*13+1)&0xff for i in range(32))
 *   km=prfplus(hashlib.sha256,skd,gir2+ni+nr,2*(20+0)); print('childA-gcm-pfs', km.hex())
 *   print('rekeyB', prf(hashlib.sha1, bytes.fromhex(res['B']['skD']), gir2+ni+nr).hex())
 *   msg1=b'IKE_SA_INIT request bytes'*3
 *   idi=bytes([2,0,0,0])+b'client.example'
 *   skpi=bytes.fromhex(res['A']['skPi'])
 *   octets=msg1+nr+prf(hashlib.sha256,skpi,idi)
 *   print('authPsk', prf(hashlib.sha256, prf(hashlib.sha256,b'correct horse','Key Pad for IKEv2'.encode()), octets).hex())
 *   msk=bytes(range(100,164))
 *   print('authMsk', prf(hashlib.sha256, prf(hashlib.sha256,msk,b'Key Pad for IKEv2'), octets).hex())
 *   # prf+ over several blocks with SHA-1: 100 bytes
 *   print('prfplus', prfplus(hashlib.sha1,b'key',b'seed',100).hex())
 */
import { describe, expect, it } from 'vitest';
import { encrAlg, INTEG_ALGS, PRF_ALGS } from '../../src/ikev2/crypto/algorithms.js';
import { childKeys, ikeKeys, skeyseedRekey, deriveIkeKeys } from '../../src/ikev2/crypto/keys.js';
import { prfPlus } from '../../src/ikev2/crypto/prf.js';
import { sharedKeyAuth, signedOctets, verifySharedKeyAuth } from '../../src/ikev2/crypto/auth.js';
import { Encr, Integ, Prf } from '../../src/ikev2/wire/constants.js';

const range = (a: number, b: number): Buffer => Buffer.from(Array.from({ length: b - a }, (_, i) => a + i));
const ni = range(0, 32);
const nr = range(32, 64);
const gir = Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 7) & 0xff));
const gir2 = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 13 + 1) & 0xff));
const spiI = Buffer.from('0102030405060708', 'hex');
const spiR = Buffer.from('1112131415161718', 'hex');
const hex = (b: Buffer): string => b.toString('hex');

const P = (id: number) => PRF_ALGS[id]!;
const SUITES = {
  A: { prf: P(Prf.HMAC_SHA2_256), encr: encrAlg(Encr.AES_CBC, 256)!, integ: INTEG_ALGS[Integ.HMAC_SHA2_256_128]! },
  B: { prf: P(Prf.HMAC_SHA1), encr: encrAlg(Encr.AES_CBC, 128)!, integ: INTEG_ALGS[Integ.HMAC_SHA1_96]! },
  C: { prf: P(Prf.HMAC_SHA2_384), encr: encrAlg(Encr.AES_GCM_16, 256)! },
  D: { prf: P(Prf.HMAC_SHA2_512), encr: encrAlg(Encr.AES_CBC, 256)!, integ: INTEG_ALGS[Integ.HMAC_SHA2_512_256]! },
};

const EXPECTED = {
  A: {
    skD: '1e7ee0407f6477462e44d2ab2f77ea025ff9cc5e4f474a5aaa1a6de307b60f16',
    skAi: '74adebd08be342db3aa95b7f139ae0de7fc0c2c753ab458294d3bc53842f339d',
    skAr: '8e4e09bb6bcc80c7606d076277f2e470e28c4f05d120529eaac4a74d1c310216',
    skEi: '37a139467c83c8401b43ec1f3f73b0e2e59dfc7dbd9b54ef5f820edb6d059e36',
    skEr: '2e728556053ba33f0337819f601e9f8f3d33da2646e6b71c3e3178c70752601a',
    skPi: 'f140597f5d6445d7ae1a8aa988d7e55327d12e466df3af3e0000cbc8c61ba899',
    skPr: '62786df00c5faddb0e3916b472e6c5e37e6a72d70806b40418edd204ed5eff98',
    skeyseed: 'c74b0436b33eaf088bc863c4c8d51b925e234999f23c46b566ea3143c27ab2b2',
  },
  B: {
    skD: 'a1f7aa2bbb53528f6b920c2b21536dc0469d22ab',
    skAi: 'f3096bbb693323144ef69030ddb7b771473127c8',
    skAr: '787633443026d92705b6ba8b892ba66336b21356',
    skEi: 'be974d22ca525d14bc307509c6b2e876',
    skEr: '3be977e6bf950c3bf8429bf19aa5cfb9',
    skPi: '3d108dfa7debd3ad501f4a59725a9a32096caa4d',
    skPr: '771d807586ef8787e21c9265831067010b244b58',
    skeyseed: '0a897a894088ba47572846d17f4f4576d34f1cdc',
  },
  C: {
    skD: 'cff482055e5cecee1f5492d31c61bb9a6d9adc0eec874aa310fbee8dd34f012e3b2b053ea451c1bc4d61d73f981b5168',
    skAi: '',
    skAr: '',
    skEi: 'ddde8adef3f327b96e74231cf2c08183677fe5e5555706d51a3a30a8bf54ba9eee6ef40e',
    skEr: 'd8181ac2e3d0ed1dcb3b4ee81316199b0adac7c4cec73c24021e31dd2eae11d4b1a3387d',
    skPi: '256ecea1db8e42c837d897b6d1a69add2dc345f4ab96da381f508883993501635d5290e69f504bdaea42e8a1fffcc97e',
    skPr: 'c8dc8e775a1959d08fa02b00abc51da72661c489f058157764ebbce2c46ab13ca8180b9a10a5bcd8d9b8c26618c50eb5',
    skeyseed: '8c82e16243c6d8b9fca74bea6f375e66bfcc14699eed14c2d187c2a574c35972e48e5d6fed2c39bea46e2fa291a6a57a',
  },
  D: {
    skD: '9fbe2fc922302d39f9dcd3cfdfa3c3fb2a7102ad439c7cbba4f54f56ec87365ed0dc86d1a0b8835399a7ed437d43cbd627251d2bba9c2680caa83f99fe00f8d3',
    skAi: '3c2b53a884b1209c37d651e049836c4480ce27c8ed5384e79bb04e1b66ae6219b6806c723f10757bc53f66ce0fff86658ee2f544dee1bd6f28ba0c8bd7082ce8',
    skAr: '8064266668b6fcf0697365e7332b0f4b187861feb36b71f0dbf4e3e963ff947cc0c95491a0006bb4ca288878ed5a09de838bfaea7608108dfa87951818346966',
    skEi: '03e9dec723cb23eee62b575b7c3ae92ef10105ffe6734630484b067bbef96234',
    skEr: '6dd45bb9119fdbdfb18b4bdda054eba299c0356b306ad9394b75993a8db342be',
    skPi: '35237783164ce639b322e58e608c5c611eb30b49be6955157b447e822fa5092d3abe1537f4b0612ddefd47aebe4f1e3d7bd82b629a9bfc0da560d5d777729cb5',
    skPr: '24a1f25b73b035ecdb8f5df08f1d99d1b9be5f21c97fd508d2126c4207e6d78db7d38022ff70bb0ec0ab12ce19be92427b6650815e735d8f4c7cc9a07c23b0d5',
    skeyseed: '3806690c344f9a1a2724bf112d0595a4690a7e2749206155cf7b50b2b7ec666398df37bfb1b624a2283508ddbc763a8a4729955f727fe810dc61409d5960ee4f',
  },
};
const CHILDA = 'ec9b3626d97e6fc65dd2d2d1a4dce9216553b4f663a159469f33869a2f2518129c4121a32a4e549b7bbd898dcbe07d0055b9823e5c04cbc8de7689f3dc62b0cf143770a84698282d7eec539b9f62397dbcf8dba59272bfbeb4943360b0043474';
const CHILDA_GCM_PFS = '0f106ac938911da2555d04091f86e6d83638409579f6642a44506bb65f0e7201589fc541b16b6135';
const REKEYB = '2c2cdc7fdf73a54066b2e231bb26701713cf66d5';
const AUTHPSK = '0da2304a3d57bc7e517f6498b23111e916e030ce1d563e5117a08f35fb4fdf30';
const AUTHMSK = 'a0fd876dbd882c0bc955d5601c08d54e5d12afc3018d9f7cdb54feedea474b22';
const PRFPLUS = '0a4dd4d286ae93c5e1d24f24f3756216b533dd67ad15d19cef25f483bcc5300fd5487404a2c5000664d807a67dba048c69ac226939eb01a5b44c634ad5b79dcd667a4120a8eab5b472d4316d27b4059ba4f3f28c7dd1c3152892d94bce8e01506c3b5ded';

describe('IKE SA keys (§2.14)', () => {
  for (const [name, suite] of Object.entries(SUITES)) {
    it(`suite ${name} (${suite.prf.label}, ${suite.encr.label}${'integ' in suite ? `, ${suite.integ.label}` : ''}): SKEYSEED and SK_d..SK_pr`, () => {
      const k = ikeKeys(suite, ni, nr, gir, spiI, spiR);
      const e = EXPECTED[name as keyof typeof EXPECTED];
      expect({ skeyseed: hex(k.skeyseed), skD: hex(k.skD), skAi: hex(k.skAi), skAr: hex(k.skAr), skEi: hex(k.skEi), skEr: hex(k.skEr), skPi: hex(k.skPi), skPr: hex(k.skPr) }).toEqual({
        skeyseed: e.skeyseed, skD: e.skD, skAi: e.skAi, skAr: e.skAr, skEi: e.skEi, skEr: e.skEr, skPi: e.skPi, skPr: e.skPr,
      });
    });
  }
  it('GCM: no SK_a, SK_e carries 4 bytes of salt', () => {
    const k = ikeKeys(SUITES.C, ni, nr, gir, spiI, spiR);
    expect(k.skAi).toHaveLength(0);
    expect(k.skEi).toHaveLength(36);
  });
  it('rekeyed IKE SA: SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr) with the old PRF', () => {
    const old = ikeKeys(SUITES.B, ni, nr, gir, spiI, spiR);
    const seed = skeyseedRekey(SUITES.B.prf, old.skD, gir2, ni, nr);
    expect(hex(seed)).toBe(REKEYB);
    // and the new SA's keys come from prf+ of the new suite (here A) over that SKEYSEED
    const k = deriveIkeKeys(SUITES.A, seed, ni, nr, spiI, spiR);
    expect(hex(k.skD)).toBe(hex(prfPlus(SUITES.A.prf, seed, Buffer.concat([ni, nr, spiI, spiR]), 32)));
  });
});

describe('prf+ (§2.13)', () => {
  it('several blocks with HMAC-SHA1', () => {
    expect(hex(prfPlus(P(Prf.HMAC_SHA1), Buffer.from('key'), Buffer.from('seed'), 100))).toBe(PRFPLUS);
  });
  it('refuses more than 255 blocks', () => {
    expect(() => prfPlus(P(Prf.HMAC_SHA1), Buffer.from('k'), Buffer.alloc(0), 255 * 20 + 1)).toThrow(RangeError);
    expect(prfPlus(P(Prf.HMAC_SHA1), Buffer.from('k'), Buffer.alloc(0), 255 * 20)).toHaveLength(5100);
  });
});

describe('child SA keys (§2.17)', () => {
  const skD = Buffer.from(EXPECTED.A.skD, 'hex');
  it('without PFS: KEYMAT = prf+(SK_d, Ni | Nr); i→r enc, i→r integ, r→i enc, r→i integ', () => {
    const k = childKeys(SUITES.A.prf, skD, ni, nr, 16, 32);
    expect(hex(Buffer.concat([k.i2r.encKey, k.i2r.integKey, k.r2i.encKey, k.r2i.integKey]))).toBe(CHILDA);
    expect(k.i2r.encKey).toHaveLength(16);
    expect(k.r2i.integKey).toHaveLength(32);
  });
  it('with PFS (GCM-128 keys with salt): KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr)', () => {
    const k = childKeys(SUITES.A.prf, skD, ni, nr, 20, 0, gir2);
    expect(hex(Buffer.concat([k.i2r.encKey, k.r2i.encKey]))).toBe(CHILDA_GCM_PFS);
    expect(k.i2r.integKey).toHaveLength(0);
  });
});

describe('AUTH (§2.15, §2.16)', () => {
  const msg1 = Buffer.from('IKE_SA_INIT request bytes'.repeat(3));
  const idi = Buffer.concat([Buffer.from([2, 0, 0, 0]), Buffer.from('client.example')]);
  const skPi = Buffer.from(EXPECTED.A.skPi, 'hex');
  const octets = signedOctets(SUITES.A.prf, msg1, nr, skPi, idi);
  it('shared key: prf(prf(secret, "Key Pad for IKEv2"), RealMessage1 | NonceRData | prf(SK_pi, IDi))', () => {
    expect(hex(sharedKeyAuth(SUITES.A.prf, Buffer.from('correct horse'), octets))).toBe(AUTHPSK);
  });
  it('EAP: the MSK is the shared secret', () => {
    const msk = range(100, 164);
    const auth = sharedKeyAuth(SUITES.A.prf, msk, octets);
    expect(hex(auth)).toBe(AUTHMSK);
    expect(verifySharedKeyAuth(SUITES.A.prf, msk, octets, auth)).toBe(true);
    const bad = Buffer.from(auth);
    bad[0] = bad[0]! ^ 1;
    expect(verifySharedKeyAuth(SUITES.A.prf, msk, octets, bad)).toBe(false);
    expect(verifySharedKeyAuth(SUITES.A.prf, msk, octets, auth.subarray(0, 31))).toBe(false);
    expect(verifySharedKeyAuth(SUITES.A.prf, range(0, 64), octets, auth)).toBe(false);
  });
});
