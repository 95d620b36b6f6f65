import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { certInit } from '../../src/daemon/certs.js';
import { loadConfig } from '../../src/daemon/config.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { createLogger } from '../../src/daemon/log.js';
import { UserStore } from '../../src/daemon/users.js';
import { CfgType, DhGroup, Encr, Integ, PayloadType, Prf } from '../../src/ikev2/wire/constants.js';
import { findPayload } from '../../src/ikev2/wire/message.js';
import { AuthClient, espProposal } from '../ikev2/auth-client.js';
import { ikeProposal, TestInitiator } from '../ikev2/initiator.js';

// The real daemon (UDP on loopback, no TUN) with [ikev2] enabled and a certificate from
// cert init: an IKEv2 client logs in with EAP-MSCHAPv2 over real sockets, moving to the
// NAT-T port (non-ESP marker) after IKE_SA_INIT, and shows up in status as kind ikev2.
describe('daemon serves IKEv2 beside IKEv1 on the same ports', () => {
  let dir = '';
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = '';
  });

  it('IKE_SA_INIT on 500, IKE_AUTH on 4500, a session with a pool address; IKEv1 still answered on 500', async () => {
    dir = mkdtempSync(join(tmpdir(), 'l2tpsec-ikev2d-'));
    const file = join(dir, 'l2tpsec.toml');
    const ike = 40000 + Math.floor(Math.random() * 10000);
    writeFileSync(
      file,
      `[server]\nlisten = "127.0.0.1"\nike_port = ${ike}\nnatt_port = ${ike + 1}\n[ipsec]\npsk = "q8Vf3kT9zLm2Rw7xNc4PqjRs"\n[ppp]\npool = "10.40.0.0/24"\n[control]\nsocket = ""\n[ikev2]\nenabled = true\n`,
    );
    await certInit(file, { name: 'vpn.test', ips: ['127.0.0.1'] });
    const cfg = loadConfig(file);
    const users = new UserStore();
    users.add('alice', 'alice password 1');
    const d = new Daemon(cfg, users, createLogger({ level: 'error', format: 'json', stream: new PassThrough() }), { noTun: true });
    await d.start();
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const inbox: Buffer[] = [];
    let wake: (() => void) | undefined;
    sock.on('message', (m) => {
      inbox.push(m);
      wake?.();
    });
    const next = async (): Promise<Buffer> => {
      const end = Date.now() + 5000;
      while (inbox.length === 0) {
        if (Date.now() > end) throw new Error('no answer from the daemon');
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 50);
        });
      }
      return inbox.shift()!;
    };
    try {
      const local = { address: '127.0.0.1', port: sock.address().port };
      const i = new TestInitiator({ proposals: [ikeProposal(1, { encr: [[Encr.AES_CBC, 256]], integ: [Integ.HMAC_SHA2_256_128], prf: [Prf.HMAC_SHA2_256], dh: [DhGroup.ECP256] })], keGroup: DhGroup.ECP256, local, remote: { address: '127.0.0.1', port: ike } });
      sock.send(i.request(), ike, '127.0.0.1');
      expect(i.handle(await next())).toEqual({ kind: 'done' });
      const c = new AuthClient(i, 'alice', 'alice password 1');
      // on the NAT-T port IKE carries the 4-byte non-ESP marker (RFC 3948 §2.2)
      const rt = async (p: Parameters<AuthClient['request']>[0]) => {
        sock.send(Buffer.concat([Buffer.alloc(4), c.request(p)[0]!]), ike + 1, '127.0.0.1');
        const m = await next();
        expect(m.readUInt32BE(0)).toBe(0);
        return c.open([m.subarray(4)]);
      };
      let chain = await rt(c.firstPayloads(espProposal(Encr.AES_CBC, 256, Integ.HMAC_SHA2_256_128)));
      expect(findPayload(chain, PayloadType.CERT)).toBeDefined();
      for (let k = 0; k < 3 && findPayload(chain, PayloadType.EAP); k++) chain = await rt(c.eapAnswer(chain));
      const last = await rt(c.finalAuth());
      const cp = findPayload(last, PayloadType.CP)!.value;
      expect(cp.cfgType).toBe(CfgType.CFG_REPLY);
      const st = d.statusInfo();
      expect(st.sessions.map((s) => [s.user, s.kind, s.address])).toEqual([['alice', 'ikev2', [...cp.attributes.find((a) => a.type === 1)!.value].join('.')]]);
      expect(st.sessions[0]!.esp).toBe('aes256-hmac-sha256-128');
      // IKEv1 Main Mode 1 on the same port still reaches the IKEv1 responder
      const { initiator } = await import('../ike/harness.js');
      const v1 = initiator({ psk: Buffer.from(cfg.ipsec.psk) });
      sock.send(v1.mm1(), ike, '127.0.0.1');
      const mm2 = await next();
      expect(mm2[17]).toBe(0x10); // ISAKMP version 1.0
      expect(d.disconnect({ user: 'alice' }, 'admin disconnect')).toHaveLength(1);
    } finally {
      sock.close();
      await d.stop();
    }
  }, 30_000);
});
