/**
 * The RADIUS client against a real FreeRADIUS (Debian's package; see freeradius.ts).
 * Skipped, saying why, when the package is not installed: test/interop/setup.sh
 * installs it for CI.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateAuthenticatorResponse, generateNTResponse, hashNtPasswordHash, ntPasswordHash } from '../../src/ppp/mschapv2.js';
import { accountingStart, accountingStop, newAcctSessionId } from '../../src/radius/accounting.js';
import { encodeAttributes } from '../../src/radius/attributes.js';
import { RadiusClient, type RadiusClientOptions, type RadiusRequest, type RadiusResult, type ServerStatus } from '../../src/radius/client.js';
import { findMessageAuthenticator, signAccessRequest, verifyResponse } from '../../src/radius/crypto.js';
import { ACCT_TERMINATE_CAUSE, CODE } from '../../src/radius/dictionary.js';
import { msChapV2AccessRequest, parseMsChapV2Result, type MsChapV2Grant } from '../../src/radius/mschapv2.js';
import { decodePacket } from '../../src/radius/packet.js';
import { readFileSync } from 'node:fs';
import { freeradiusUnavailable, freeradiusVersion, README_SETTING, startFreeRadius, type FreeRadius } from './freeradius.js';

const SECRET = 'testing123-l2tpsec';
const USER = 'alice';
const PASSWORD = 'correct horse battery';
const CLASS_HEX = '6c327470736563';
const USERS = [
  {
    name: USER,
    password: PASSWORD,
    reply: ['Framed-IP-Address = 10.77.0.9', 'Session-Timeout = 3600', 'Idle-Timeout = 600', 'Acct-Interim-Interval = 300', `Class = 0x${CLASS_HEX}`],
  },
];
const NAS = { nasIdentifier: 'vpn-test', nasIpAddress: '127.0.0.1', calledStationId: '127.0.0.1:4500' };

/** RFC 3079 §3.4, §3.3: the MPPE keys of the server side from the password and the NT-Response (written from the RFC, not from src/). */
function rfc3079ServerKeys(password: string, ntResponse: Uint8Array): { send: Buffer; recv: Buffer } {
  const magic1 = Buffer.from('This is the MPPE Master Key', 'ascii');
  const magic2 = Buffer.from('On the client side, this is the send key; on the server side, it is the receive key.', 'ascii');
  const magic3 = Buffer.from('On the client side, this is the receive key; on the server side, it is the send key.', 'ascii');
  const pad1 = Buffer.alloc(40, 0x00);
  const pad2 = Buffer.alloc(40, 0xf2);
  const master = createHash('sha1').update(hashNtPasswordHash(ntPasswordHash(password))).update(ntResponse).update(magic1).digest().subarray(0, 16);
  const start = (s: Buffer): Buffer => createHash('sha1').update(master).update(pad1).update(s).update(pad2).digest().subarray(0, 16);
  // GetAsymmetricStartKey(IsSend, IsServer): the server's send key uses Magic3, its receive key Magic2
  return { send: start(magic3), recv: start(magic2) };
}

/** Drives a RadiusClient over a real UDP socket on loopback with the real clock. */
class UdpHost {
  readonly client: RadiusClient;
  private readonly sock: Socket;
  private readonly waiters = new Map<number, (r: RadiusResult) => void>();
  private timer: NodeJS.Timeout | undefined;
  private readonly t0 = performance.now();
  readonly seen: Buffer[] = [];

  constructor(opts: Omit<RadiusClientOptions, 'random'>) {
    this.client = new RadiusClient({ ...opts, random: (n) => randomBytes(n) });
    this.sock = createSocket('udp4');
    this.sock.on('message', (msg, rinfo) => {
      this.seen.push(Buffer.from(msg));
      this.apply(this.client.receive(msg, { address: rinfo.address, port: rinfo.port }, this.now()));
    });
  }

  ready(): Promise<void> {
    return new Promise((r) => this.sock.bind(0, '127.0.0.1', () => r()));
  }

  private now(): number {
    return performance.now() - this.t0;
  }

  private apply(out: ReturnType<RadiusClient['tick']>): void {
    for (const o of out) {
      if (o.type === 'send') this.sock.send(o.datagram, o.port, o.address);
      else if (o.type === 'result') this.waiters.get(o.handle)?.(o.result);
    }
    this.arm();
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    const d = this.client.nextDeadline();
    if (d === undefined) return;
    this.timer = setTimeout(() => this.apply(this.client.tick(this.now())), Math.max(0, d - this.now()) + 1);
  }

  request(req: RadiusRequest): Promise<RadiusResult> {
    return new Promise((resolve) => {
      const { handle, out } = this.client.request(req, this.now());
      this.waiters.set(handle, resolve);
      this.apply(out);
    });
  }

  status(): ServerStatus[] {
    return this.client.status(this.now());
  }

  close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    return new Promise((r) => this.sock.close(() => r()));
  }
}

/** One MS-CHAPv2 exchange as PPP would have it: our Challenge, the peer's Response computed from a password. */
function attempt(password: string, ident = 0x17) {
  const authenticatorChallenge = randomBytes(16);
  const peerChallenge = randomBytes(16);
  const ntResponse = generateNTResponse(authenticatorChallenge, peerChallenge, USER, password);
  return { userName: USER, ident, authenticatorChallenge, peerChallenge, ntResponse, callingStationId: '127.0.0.1:54321' };
}

/** Send one signed Access-Request ourselves and return the raw reply (to look at it without the client's checks). */
async function rawExchange(port: number, datagram: Buffer): Promise<Buffer> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no reply from FreeRADIUS')), 5000);
      s.once('message', (m) => {
        clearTimeout(t);
        resolve(Buffer.from(m));
      });
      s.send(datagram, port, '127.0.0.1');
    });
  } finally {
    s.close();
  }
}

const unavailable = freeradiusUnavailable();
if (unavailable) console.warn(`test/radius/freeradius.test.ts skipped: ${unavailable}`);

describe('README', () => {
  it('shows the very FreeRADIUS line these tests configure, and the option for old servers', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## RADIUS'), readme.indexOf('\n## ', readme.indexOf('## RADIUS') + 3));
    expect(section).toContain(`\n${README_SETTING}\n`);
    expect(section).toContain('require_message_authenticator');
  });
});

// CI installs the package first (.ci/run → test/interop/setup.sh): there a missing FreeRADIUS is a failure, not a skip.
describe.runIf(unavailable !== undefined && process.env.CI === 'true')('FreeRADIUS interop in CI', () => {
  it('has FreeRADIUS installed', () => {
    expect(unavailable).toBeUndefined();
  });
});
const title = unavailable ? `FreeRADIUS interop (SKIPPED: ${unavailable})` : `FreeRADIUS ${freeradiusVersion()} interop`;

describe.skipIf(unavailable !== undefined)(title, () => {
  describe('with the README setting (Message-Authenticator in every reply)', () => {
    let fr: FreeRadius;
    let host: UdpHost;
    beforeAll(async () => {
      fr = await startFreeRadius({ secret: SECRET, users: USERS, messageAuthenticator: true });
      host = new UdpHost({ servers: [{ address: '127.0.0.1', authPort: fr.authPort, acctPort: fr.acctPort, secret: SECRET, name: 'fr' }], timeoutMs: 1000, tries: 3 });
      await host.ready();
    }, 30_000);
    afterAll(async () => {
      await host?.close();
      await fr?.stop();
    });

    it('a correct MS-CHAPv2 login: Access-Accept with an MS-CHAP2-Success that verifies, RFC 3079 MPPE keys, and the users file reply', async () => {
      const a = attempt(PASSWORD);
      const result = await host.request(msChapV2AccessRequest(a, NAS));
      expect(result.kind).toBe('accept');
      const g = parseMsChapV2Result(result, a.ident) as MsChapV2Grant;
      expect(g.ok).toBe(true);
      expect(g.success.slice(0, 42)).toBe(generateAuthenticatorResponse(PASSWORD, a.ntResponse, a.peerChallenge, a.authenticatorChallenge, USER));
      const keys = rfc3079ServerKeys(PASSWORD, a.ntResponse);
      expect(g.sendKey?.toString('hex')).toBe(keys.send.toString('hex'));
      expect(g.recvKey?.toString('hex')).toBe(keys.recv.toString('hex'));
      expect(g.framedIpAddress).toBe('10.77.0.9');
      expect(g.sessionTimeout).toBe(3600);
      expect(g.idleTimeout).toBe(600);
      expect(g.acctInterimInterval).toBe(300);
      expect(g.classes.map((c) => c.toString('hex'))).toEqual([CLASS_HEX]);
      expect(host.status()[0]!.counters['drop.no-message-authenticator']).toBeUndefined();
    });

    it('a wrong password: Access-Reject with MS-CHAP-Error E=691', async () => {
      const a = attempt('wrong password');
      const result = await host.request(msChapV2AccessRequest(a, NAS));
      expect(result.kind).toBe('reject');
      const r = parseMsChapV2Result(result, a.ident);
      expect(r).toMatchObject({ ok: false, rejected: true, errorCode: 691 });
    });

    it('an unknown user is rejected too', async () => {
      const a = { ...attempt(PASSWORD), userName: 'mallory' };
      expect((await host.request(msChapV2AccessRequest(a, NAS))).kind).toBe('reject');
    });

    it('the replies carry a Message-Authenticator that checks (Accept and Reject)', async () => {
      for (const password of [PASSWORD, 'nope']) {
        const auth = randomBytes(16);
        const req = msChapV2AccessRequest(attempt(password), NAS);
        const dgram = signAccessRequest({ code: CODE.AccessRequest, identifier: 200, authenticator: auth, attributes: encodeAttributes(req.attributes) }, Buffer.from(SECRET));
        const reply = await rawExchange(fr.authPort, dgram);
        expect(reply[0]).toBe(password === PASSWORD ? CODE.AccessAccept : CODE.AccessReject);
        expect(findMessageAuthenticator(reply)).toBeGreaterThan(0);
        expect(verifyResponse(reply, auth, Buffer.from(SECRET))).toEqual({ authenticator: true, messageAuthenticator: 'valid' });
      }
    });

    it('accounting Start and Stop land in the detail file with the counters, the Class echoed and the Terminate-Cause', async () => {
      const session = { sessionId: newAcctSessionId(randomBytes, 'vpn-test'), userName: USER, framedIpAddress: '10.77.0.9', classes: [Buffer.from(CLASS_HEX, 'hex')], callingStationId: '127.0.0.1:54321' };
      const start = await host.request(accountingStart(session, NAS, Date.now()));
      expect(start.kind).toBe('accounted');
      const counters = { sessionTime: 125, inputOctets: 3 * 2 ** 32 + 1234, outputOctets: 98765, inputPackets: 4321, outputPackets: 210 };
      const stop = await host.request(accountingStop(session, NAS, counters, ACCT_TERMINATE_CAUSE.IdleTimeout, Date.now()));
      expect(stop.kind).toBe('accounted');
      const records = fr
        .detail()
        .split(/\n\n+/)
        .filter((r) => r.includes(`Acct-Session-Id = "${session.sessionId}"`));
      expect(records.length).toBe(2);
      const [s, e] = records as [string, string];
      expect(s).toMatch(/Acct-Status-Type = Start/);
      expect(s).toMatch(/User-Name = "alice"/);
      expect(s).toMatch(new RegExp(`Class = 0x${CLASS_HEX}`));
      expect(s).toMatch(/NAS-Identifier = "vpn-test"/);
      expect(s).toMatch(/NAS-Port-Type = Virtual/);
      expect(e).toMatch(/Acct-Status-Type = Stop/);
      expect(e).toMatch(/Acct-Session-Time = 125\b/);
      expect(e).toMatch(/Acct-Input-Octets = 1234\b/);
      expect(e).toMatch(/Acct-Input-Gigawords = 3\b/);
      expect(e).toMatch(/Acct-Output-Octets = 98765\b/);
      expect(e).toMatch(/Acct-Input-Packets = 4321\b/);
      expect(e).toMatch(/Acct-Output-Packets = 210\b/);
      expect(e).toMatch(/Acct-Terminate-Cause = Idle-Timeout/);
      expect(e).toMatch(/Framed-IP-Address = 10\.77\.0\.9/);
      expect(e).toMatch(new RegExp(`Class = 0x${CLASS_HEX}`));
    });

    it('failover: with the first server silent, the request goes to FreeRADIUS as the second', async () => {
      // ports that receive and never answer
      const silent = [createSocket('udp4'), createSocket('udp4')];
      await Promise.all(silent.map((s) => new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()))));
      const [deadAuth, deadAcct] = silent.map((s) => s.address().port) as [number, number];
      const h = new UdpHost({
        servers: [
          { address: '127.0.0.1', authPort: deadAuth, acctPort: deadAcct, secret: 'unused', name: 'silent' },
          { address: '127.0.0.1', authPort: fr.authPort, acctPort: fr.acctPort, secret: SECRET, name: 'fr' },
        ],
        timeoutMs: 200,
        tries: 2,
      });
      await h.ready();
      try {
        const result = await h.request(msChapV2AccessRequest(attempt(PASSWORD), NAS));
        expect(result).toMatchObject({ kind: 'accept', server: 'fr' });
        const [s0, s1] = h.status();
        expect(s0).toMatchObject({ name: 'silent', state: 'dead' });
        expect(s0!.counters).toMatchObject({ 'requests.auth': 1, retransmissions: 1, timeouts: 1 });
        expect(s1!.counters['responses.accept']).toBe(1);
      } finally {
        await h.close();
        for (const s of silent) s.close();
      }
    });
  });

  describe('FreeRADIUS as installed (no Message-Authenticator setting)', () => {
    let fr: FreeRadius;
    beforeAll(async () => {
      fr = await startFreeRadius({ secret: SECRET, users: USERS, messageAuthenticator: false });
    }, 30_000);
    afterAll(async () => {
      await fr?.stop();
    });

    it('its MS-CHAPv2 Access-Accept and Access-Reject carry no Message-Authenticator', async () => {
      for (const [password, code] of [
        [PASSWORD, CODE.AccessAccept],
        ['nope', CODE.AccessReject],
      ] as const) {
        const auth = randomBytes(16);
        const req = msChapV2AccessRequest(attempt(password), NAS);
        const dgram = signAccessRequest({ code: CODE.AccessRequest, identifier: 7, authenticator: auth, attributes: encodeAttributes(req.attributes) }, Buffer.from(SECRET));
        const reply = await rawExchange(fr.authPort, dgram);
        expect(reply[0]).toBe(code);
        expect(decodePacket(reply).attributes.some((a) => a.vendor === 0 && a.type === 80)).toBe(false);
        expect(verifyResponse(reply, auth, Buffer.from(SECRET))).toEqual({ authenticator: true, messageAuthenticator: 'absent' });
      }
    });

    it('so the client drops its replies and counts them (the login times out) ...', async () => {
      const h = new UdpHost({ servers: [{ address: '127.0.0.1', authPort: fr.authPort, acctPort: fr.acctPort, secret: SECRET, name: 'fr' }], timeoutMs: 200, tries: 2 });
      await h.ready();
      try {
        const result = await h.request(msChapV2AccessRequest(attempt(PASSWORD), NAS));
        expect(result).toEqual({ kind: 'timeout', servers: ['fr'] });
        // the first transmission and the retransmission were both answered, both dropped
        expect(h.status()[0]!.counters['drop.no-message-authenticator']).toBe(2);
        expect(h.seen.length).toBe(2);
      } finally {
        await h.close();
      }
    });

    it('... unless require_message_authenticator is off, when the login succeeds and each such reply is counted', async () => {
      const h = new UdpHost({
        servers: [{ address: '127.0.0.1', authPort: fr.authPort, acctPort: fr.acctPort, secret: SECRET, name: 'fr' }],
        timeoutMs: 1000,
        requireMessageAuthenticator: false,
      });
      await h.ready();
      try {
        const a = attempt(PASSWORD);
        const g = parseMsChapV2Result(await h.request(msChapV2AccessRequest(a, NAS)), a.ident);
        expect(g.ok).toBe(true);
        expect(h.status()[0]!.counters['accepted-without-message-authenticator']).toBe(1);
      } finally {
        await h.close();
      }
    });

    it('its Accounting-Response carries none either, and the client accepts it (RFC 2866 has none; its Response Authenticator covers the secret)', async () => {
      const h = new UdpHost({ servers: [{ address: '127.0.0.1', authPort: fr.authPort, acctPort: fr.acctPort, secret: SECRET, name: 'fr' }], timeoutMs: 1000 });
      await h.ready();
      try {
        const session = { sessionId: newAcctSessionId(randomBytes), userName: USER };
        expect((await h.request(accountingStart(session, NAS))).kind).toBe('accounted');
        const reply = h.seen[0]!;
        expect(reply[0]).toBe(CODE.AccountingResponse);
        expect(findMessageAuthenticator(reply)).toBe(-1);
        expect(fr.detail()).toContain(`Acct-Session-Id = "${session.sessionId}"`);
      } finally {
        await h.close();
      }
    });
  });
});
