/** An IKE SA logged in with EAP-MSCHAPv2 and its first child, for the exchanges that follow IKE_AUTH. */
import { generateKeyPairSync } from 'node:crypto';
import type { ChildSaUp, Endpoint } from '../../src/core/sa.js';
import { ntPasswordHash } from '../../src/core/mschap/mschapv2.js';
import { Ikev2Responder, type Ikev2Output, type Ikev2ResponderConfig } from '../../src/ikev2/responder.js';
import { DhGroup, Encr, Integ, Prf } from '../../src/ikev2/wire/constants.js';
import type { Payload, PayloadChain } from '../../src/ikev2/wire/message.js';
import { AuthClient } from './auth-client.js';
import { ikeProposal, TestInitiator } from './initiator.js';

export const SERVER: Endpoint = { address: '198.51.100.1', port: 500 };
export const CLIENT: Endpoint = { address: '203.0.113.7', port: 500 };
export const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
export const sends = (out: Ikev2Output[]) => out.filter((o): o is Extract<Ikev2Output, { type: 'send' }> => o.type === 'send').map((s) => s.data);

/**
 * `firstExtra`: payloads added to the first IKE_AUTH request (e.g. N(MOBIKE_SUPPORTED)), or
 * the responder settings when it is not a list; `cfg`: responder settings.
 */
export function established(firstExtra: Payload[] | Partial<Ikev2ResponderConfig> = [], cfg: Partial<Ikev2ResponderConfig> = {}): { r: Ikev2Responder; c: AuthClient; child: ChildSaUp; last: PayloadChain } {
  if (!Array.isArray(firstExtra)) return established([], { ...firstExtra, ...cfg });
  const r = new Ikev2Responder({
    ...cfg,
    cookieSecret: Buffer.alloc(32, 1),
    auth: {
      certificates: [Buffer.from('cert')],
      privateKey: key.privateKey,
      localId: { idType: 2, data: Buffer.from('vpn.example.net') },
      serverName: 'vpn',
      users: { lookup: (n) => (n === 'alice' ? { name: n, ntHash: ntPasswordHash('pw') } : undefined) },
      assignAddress: () => '10.10.0.2',
      dns: [],
    },
  });
  const i = new TestInitiator({ proposals: [ikeProposal(1, { encr: [[Encr.AES_CBC, 256]], integ: [Integ.HMAC_SHA2_256_128], prf: [Prf.HMAC_SHA2_256], dh: [DhGroup.ECP256] })], keGroup: DhGroup.ECP256, local: CLIENT, remote: SERVER });
  i.handle(sends(r.receive(i.request(), CLIENT, SERVER, 0))[0]!);
  const c = new AuthClient(i, 'alice', 'pw');
  const rt = (p: Payload[]) => {
    const out = r.receive(c.request(p)[0]!, CLIENT, SERVER, 0);
    return { chain: c.open(sends(out)), out };
  };
  let chain = rt([...c.firstPayloads(), ...firstExtra]).chain;
  for (let k = 0; k < 3; k++) chain = rt(c.eapAnswer(chain)).chain;
  const last = rt(c.finalAuth());
  return { r, c, child: last.out.find((o): o is ChildSaUp => o.type === 'child-sa-up')!, last: last.chain };
}

