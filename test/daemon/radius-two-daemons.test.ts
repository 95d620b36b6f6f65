/**
 * Two whole l2tpsec daemons (the real Daemon: its UDP sockets, pipeline, RADIUS side and
 * accounting; no TUN) on two loopback addresses, 127.0.0.1 as NAS vpn-1 and 127.0.0.2 as
 * NAS vpn-2, sharing one real FreeRADIUS. IKEv2 clients log in with EAP-MSCHAPv2 over
 * real sockets, which each daemon checks with FreeRADIUS: accounting shows both NASes,
 * and Simultaneous-Use := 1 (FreeRADIUS's radutmp, fed by our Start and Stop) refuses
 * alice's second session on the other daemon until the first daemon's Stop for her.
 */
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certInit } from '../../src/daemon/certs.js';
import { loadConfig } from '../../src/daemon/config.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { createLogger } from '../../src/daemon/log.js';
import { UserStore } from '../../src/daemon/users.js';
import { decodeEap, EapCode } from '../../src/ikev2/eap/packet.js';
import { DhGroup, Encr, Integ, PayloadType, Prf } from '../../src/ikev2/wire/constants.js';
import { findPayload, type PayloadChain } from '../../src/ikev2/wire/message.js';
import { AuthClient, espProposal } from '../ikev2/auth-client.js';
import { ikeProposal, TestInitiator } from '../ikev2/initiator.js';
import { freeradiusUnavailable, startSimultaneousUseRadius, type FreeRadius } from '../radius/freeradius.js';
import { tempDir } from '../tmpdir.js';

const SECRET = 'testing123-two-daemons-0123';

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end && !cond()) await new Promise((r) => setTimeout(r, 50));
  return cond();
}

interface Server {
  d: Daemon;
  address: string;
  ike: number;
  nas: string;
}

/** One daemon on `address` with [ikev2] and [radius] (NAS `nas`, NAS-IP-Address = its own address). */
async function daemon(fr: FreeRadius, address: string, nas: string, pool: string): Promise<Server> {
  const dir = tempDir(`l2tpsec-${nas}-`);
  const file = join(dir, 'l2tpsec.toml');
  const ike = 40000 + Math.floor(Math.random() * 10000);
  writeFileSync(
    file,
    `[server]
listen = "${address}"
ike_port = ${ike}
natt_port = ${ike + 1}
hostname = "${nas}"
[ipsec]
psk = "q8Vf3kT9zLm2Rw7xNc4PqjRs"
[ppp]
pool = "${pool}"
[control]
socket = ""
[ikev2]
enabled = true
[radius]
servers = [{ address = "127.0.0.1", auth_port = ${fr.authPort}, acct_port = ${fr.acctPort}, secret = "${SECRET}" }]
nas_identifier = "${nas}"
nas_ip_address = "${address}"
timeout = 2
`,
  );
  await certInit(file, { name: `${nas}.test`, ips: [address] });
  const d = new Daemon(loadConfig(file), new UserStore(), createLogger({ level: 'error', format: 'json', stream: new PassThrough() }), { noTun: true });
  await d.start();
  return { d, address, ike, nas };
}

/** An IKEv2 login with EAP-MSCHAPv2 over real sockets: the virtual IP, or undefined when refused (EAP-Failure). */
async function login(s: Server, user: string, password: string): Promise<string | undefined> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const inbox: Buffer[] = [];
  sock.on('message', (m) => inbox.push(m));
  const next = async (): Promise<Buffer> => {
    // an EAP Response waits for FreeRADIUS's answer: generous for a busy machine
    if (!(await until(() => inbox.length > 0, 20_000))) throw new Error(`no answer from ${s.nas}`);
    return inbox.shift()!;
  };
  try {
    const i = new TestInitiator({
      proposals: [ikeProposal(1, { encr: [[Encr.AES_CBC, 256]], integ: [Integ.HMAC_SHA2_256_128], prf: [Prf.HMAC_SHA2_256], dh: [DhGroup.ECP256] })],
      keGroup: DhGroup.ECP256,
      local: { address: '127.0.0.1', port: sock.address().port },
      remote: { address: s.address, port: s.ike },
    });
    sock.send(i.request(), s.ike, s.address);
    expect(i.handle(await next())).toEqual({ kind: 'done' });
    const c = new AuthClient(i, user, password);
    const rt = async (p: Parameters<AuthClient['request']>[0]): Promise<PayloadChain> => {
      sock.send(Buffer.concat([Buffer.alloc(4), c.request(p)[0]!]), s.ike + 1, s.address);
      return c.open([(await next()).subarray(4)]);
    };
    let chain = await rt(c.firstPayloads(espProposal(Encr.AES_CBC, 256, Integ.HMAC_SHA2_256_128)));
    for (let k = 0; k < 4; k++) {
      const eap = findPayload(chain, PayloadType.EAP);
      if (!eap) break;
      const code = decodeEap(eap.value.message).code;
      if (code === EapCode.FAILURE) return undefined;
      if (code === EapCode.SUCCESS) break;
      chain = await rt(c.eapAnswer(chain));
    }
    const cp = findPayload(await rt(c.finalAuth()), PayloadType.CP)?.value;
    const ip = cp?.attributes.find((a) => a.type === 1)?.value;
    return ip ? [...ip].join('.') : undefined;
  } finally {
    sock.close();
  }
}

const unavailable = freeradiusUnavailable();
describe.skipIf(unavailable !== undefined)(unavailable ? `two daemons, one FreeRADIUS (SKIPPED: ${unavailable})` : 'two daemons, one FreeRADIUS', () => {
  let fr: FreeRadius;
  const running: Daemon[] = [];
  beforeAll(async () => {
    fr = await startSimultaneousUseRadius(SECRET);
  }, 60_000);
  afterAll(async () => {
    for (const d of running) await d.stop();
    await fr?.stop();
  });

  it('logins through both daemons, accounting from both NASes; Simultaneous-Use 1 refuses alice on the second daemon until the first one\'s Stop', async () => {
    const one = await daemon(fr, '127.0.0.1', 'vpn-1', '10.41.0.0/24');
    running.push(one.d);
    const two = await daemon(fr, '127.0.0.2', 'vpn-2', '10.42.0.0/24');
    running.push(two.d);

    const a1 = await login(one, 'alice', 'alice password 1');
    expect(a1).toMatch(/^10\.41\.0\./);
    const b2 = await login(two, 'bob', 'bob password 12');
    expect(b2).toMatch(/^10\.42\.0\./);
    expect(one.d.statusInfo().sessions.map((x) => [x.user, x.kind])).toEqual([['alice', 'ikev2']]);
    expect(two.d.statusInfo().sessions.map((x) => [x.user, x.kind])).toEqual([['bob', 'ikev2']]);

    // accounting: a Start from each NAS, with its identifier, its address and its own Acct-Session-Id
    const records = (type: string): string[] => fr.detail().split(/\n\s*\n/).filter((r) => r.includes(`Acct-Status-Type = ${type}`));
    expect(await until(() => records('Start').length === 2, 10_000)).toBe(true);
    const startOf = (user: string): string => records('Start').find((r) => r.includes(`User-Name = "${user}"`)) ?? '';
    expect(startOf('alice')).toMatch(/NAS-Identifier = "vpn-1"/);
    expect(startOf('alice')).toMatch(/NAS-IP-Address = 127\.0\.0\.1/);
    expect(startOf('alice')).toContain(`Framed-IP-Address = ${a1!}`);
    expect(startOf('bob')).toMatch(/NAS-Identifier = "vpn-2"/);
    expect(startOf('bob')).toMatch(/NAS-IP-Address = 127\.0\.0\.2/);
    const sid = (r: string): string | undefined => /Acct-Session-Id = "([^"]+)"/.exec(r)?.[1];
    expect(sid(startOf('alice'))).toMatch(/^vpn-1-/);
    expect(sid(startOf('bob'))).toMatch(/^vpn-2-/);

    // alice on the second daemon while her one allowed session is on the first: refused by FreeRADIUS
    expect(await login(two, 'alice', 'alice password 1')).toBeUndefined();
    expect(fr.log()).toMatch(/Multiple logins/i);
    expect(two.d.statusInfo().sessions.map((x) => x.user)).toEqual(['bob']);
    expect(two.d.statusInfo().radius?.servers[0]).toMatchObject({ state: 'alive', rejects: 1 });

    // the first daemon shuts down: its Stop for alice reaches FreeRADIUS, then the second daemon may take her
    running.splice(running.indexOf(one.d), 1);
    await one.d.stop();
    expect(await until(() => records('Stop').some((r) => r.includes(`"${sid(startOf('alice'))!}"`)), 10_000)).toBe(true);
    const stop = records('Stop').find((r) => r.includes('User-Name = "alice"'))!;
    expect(stop).toMatch(/NAS-Identifier = "vpn-1"/);
    expect(stop).toMatch(/Acct-Terminate-Cause = Admin-Reboot/);
    const a2 = await login(two, 'alice', 'alice password 1');
    expect(a2).toMatch(/^10\.42\.0\./);
    expect(two.d.statusInfo().sessions.map((x) => x.user).sort()).toEqual(['alice', 'bob']);
  }, 90_000);
});
