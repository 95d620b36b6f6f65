import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ChildSaUp, Endpoint } from '../../src/core/sa.js';
import { EspEngine } from '../../src/esp/engine.js';
import { HALF_OPEN_TIMEOUT_MS } from '../../src/ikev2/responder.js';
import { sharedKeyAuth, signedOctets } from '../../src/ikev2/crypto/auth.js';
import { encodeEncryptedMessage, openSk } from '../../src/ikev2/crypto/sk.js';
import { AuthMethod, CfgType, DhGroup, Encr, ExchangeType, HeaderFlag, Integ, NotifyType, PayloadType, Prf } from '../../src/ikev2/wire/constants.js';
import { encodeId } from '../../src/ikev2/wire/id.js';
import { allPayloads, decodeMessage, decodePayloadChain, findPayload, type Payload } from '../../src/ikev2/wire/message.js';
import { notify } from '../../src/ikev2/wire/notify.js';
import { AuthClient, espProposal } from '../ikev2/auth-client.js';
import { ikeProposal, TestInitiator } from '../ikev2/initiator.js';
import { ClientIkeSa } from '../ikev2/ike-peer.js';
import { INTERNET, World, dstOf, ipv4, srcOf } from './harness.js';

const SERVER: Endpoint = { address: '198.51.100.1', port: 500 };
const SERVER4500: Endpoint = { address: '198.51.100.1', port: 4500 };
const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

function world(extra: ConstructorParameters<typeof World>[0] = {}): World {
  return new World({
    ...extra,
    ikev2: { certificates: [Buffer.from('certificate')], privateKey: key.privateKey, localId: { idType: 2, data: Buffer.from('vpn.example.net') } },
  });
}

/** An IKEv2 client (Android-like: AES-CBC-256/SHA-256, ECP-256) through the pipeline. */
class V2Client {
  readonly esp = new EspEngine();
  readonly received: Buffer[] = [];
  address = '';
  saId = '';
  c!: AuthClient;
  at4500: Endpoint;
  /** Log in with this IKEv2 pre-shared key (AUTH method 2, IDi = the user name as ID_FQDN) instead of EAP. */
  psk: string | undefined;

  constructor(
    private readonly w: World,
    readonly user: string,
    readonly password: string,
    readonly at: Endpoint = { address: '203.0.113.9', port: 500 },
    /** Announce MOBIKE_SUPPORTED in IKE_AUTH (RFC 4555 §3.3). */
    readonly mobike = false,
  ) {
    this.at4500 = { address: at.address, port: at.port === 500 ? 4500 : at.port + 1 };
    w.espTaps.push({ to: this.at4500, fn: (d) => this.fromServer(d) });
  }

  /** The client's own address changes: ESP to the new one reaches it, none to the old one. */
  moveTo(to: Endpoint): void {
    const old = this.at4500;
    const i = this.w.espTaps.findIndex((t) => t.to.address === old.address && t.to.port === old.port);
    this.w.espTaps.splice(i, 1);
    this.at4500 = to;
    this.w.espTaps.push({ to, fn: (d) => this.fromServer(d) });
  }

  /** An INFORMATIONAL request from where the client is now; the server's datagrams back there (its response, and a request of its own if any). */
  informational(payloads: Payload[], messageId = this.c.messageId): Buffer[] {
    return this.w.ikeFrom(this.at4500, SERVER4500, this.c.request(payloads, undefined, messageId, ExchangeType.INFORMATIONAL)[0]!);
  }

  /** Answers one of the server's own requests, copying its COOKIE2 (RFC 4555 §3.5), from where the client is now. */
  answerServer(d: Buffer): void {
    const m = decodeMessage(d);
    const sk = { encr: this.c.init.suite!.encr, integ: this.c.init.suite!.integ };
    const plain = openSk(sk, this.c.skIn, d, m.chain.sk!)!;
    const inner = decodePayloadChain(m.chain.sk!.firstInner, plain, 0, plain.length, false);
    const cookie = allPayloads(inner, PayloadType.N).filter((n) => n.type === NotifyType.COOKIE2);
    const answer = encodeEncryptedMessage(
      { spiI: this.c.init.spiI, spiR: this.c.init.spiR, exchangeType: ExchangeType.INFORMATIONAL, flags: HeaderFlag.INITIATOR | HeaderFlag.RESPONSE, messageId: m.header.messageId },
      cookie.map((n) => ({ type: PayloadType.N, value: n })),
      sk,
      this.c.skOut,
      randomBytes,
    );
    this.w.ikeFrom(this.at4500, SERVER4500, answer);
  }

  /** IKE_SA_INIT, IKE_AUTH with EAP-MSCHAPv2; true when the server gave an address and a child SA. */
  connect(): boolean {
    const w = this.w;
    const i = new TestInitiator({ proposals: [ikeProposal(1, { encr: [[Encr.AES_CBC, 256]], integ: [Integ.HMAC_SHA2_256_128], prf: [Prf.HMAC_SHA2_256], dh: [DhGroup.ECP256] })], keGroup: DhGroup.ECP256, local: this.at, remote: SERVER });
    const init = w.ikeFrom(this.at, SERVER, i.request());
    if (init.length !== 1) return false;
    i.handle(init[0]!);
    const c = (this.c = new AuthClient(i, this.user, this.password, this.psk === undefined ? undefined : { idType: 2, data: Buffer.from(this.user) }));
    // after IKE_SA_INIT the client floats to 4500 (the server claimed a NAT)
    const rt = (p: Parameters<AuthClient['request']>[0]) => c.open(w.ikeFrom(this.at4500, SERVER4500, c.request(p)[0]!));
    let last;
    try {
      const mobike: Payload[] = this.mobike ? [{ type: PayloadType.N, value: notify(NotifyType.MOBIKE_SUPPORTED) }] : [];
      if (this.psk !== undefined) {
        const octets = signedOctets(i.suite!.prf, i.lastRequest, i.nr, i.keys!.skPi, encodeId(c.idi));
        const auth: Payload = { type: PayloadType.AUTH, value: { method: AuthMethod.SHARED_KEY_MIC, data: sharedKeyAuth(i.suite!.prf, Buffer.from(this.psk), octets) } };
        last = rt([...c.firstPayloads(espProposal(Encr.AES_CBC, 256, Integ.HMAC_SHA2_256_128)), auth, ...mobike]);
      } else {
        let chain = rt([...c.firstPayloads(espProposal(Encr.AES_CBC, 256, Integ.HMAC_SHA2_256_128)), ...mobike]);
        for (let k = 0; k < 3 && findPayload(chain, PayloadType.EAP); k++) chain = rt(c.eapAnswer(chain));
        last = rt(c.finalAuth());
      }
    } catch {
      // EAP-Failure / AUTHENTICATION_FAILED: the server answered no more
      return false;
    }
    const cp = findPayload(last, PayloadType.CP)?.value;
    const sa = findPayload(last, PayloadType.SA)?.value.proposals[0];
    if (!cp || cp.cfgType !== CfgType.CFG_REPLY || !sa) return false;
    this.address = [...cp.attributes.find((a) => a.type === 1)!.value].join('.');
    const k = c.childKeys(32, 32);
    const up: ChildSaUp = {
      type: 'child-sa-up',
      id: 'v2-client',
      ikeSaId: 'client',
      peer: SERVER4500,
      local: this.at4500,
      encapsulation: 'udp',
      mode: 'tunnel',
      transform: { cipher: 'aes-cbc', keyBits: 256, integ: 'hmac-sha256-128' },
      inbound: { spi: 0xca11ab1e, encKey: k.r2i.encKey, authKey: k.r2i.integKey },
      outbound: { spi: sa.spi.readUInt32BE(0), encKey: k.i2r.encKey, authKey: k.i2r.integKey },
      lifetimeSeconds: 3600,
    };
    const refused = this.esp.tryAddSa(up);
    if (refused) throw new Error(refused);
    this.saId = up.id;
    return true;
  }

  send(packet: Buffer): void {
    const { sends } = this.esp.encryptBatch([{ saId: this.saId, innerDstPort: 0, payload: packet }], this.w.now);
    for (const s of sends) this.w.sendToServer(Buffer.from(s.data), this.at4500);
    this.w.pump();
  }

  private fromServer(d: Buffer): void {
    const { ipv4 } = this.esp.decryptBatch([{ data: d, from: SERVER4500 }], this.w.now);
    for (const x of ipv4) this.received.push(Buffer.from(x.packet));
  }
}

describe('IKEv2 sessions through the pipeline (EAP-MSCHAPv2, ESP tunnel mode)', () => {
  it('handshakesInProgress counts an IKEv2 SA from IKE_SA_INIT until IKE_AUTH ends or it times out, beside the IKEv1 Main Modes (what the heap trim waits for)', () => {
    const w = world();
    expect(w.pipeline.handshakesInProgress).toBe(0);
    // a client that stops after IKE_SA_INIT
    const at = { address: '203.0.113.40', port: 500 };
    const i = new TestInitiator({ proposals: [ikeProposal(1, { encr: [[Encr.AES_CBC, 256]], integ: [Integ.HMAC_SHA2_256_128], prf: [Prf.HMAC_SHA2_256], dh: [DhGroup.ECP256] })], keGroup: DhGroup.ECP256, local: at, remote: SERVER });
    const init = w.ikeFrom(at, SERVER, i.request());
    expect(init).toHaveLength(1);
    expect(i.handle(init[0]!).kind).toBe('done');
    expect(w.pipeline.handshakesInProgress).toBe(1);
    // an IKEv1 Main Mode under way at the same time
    const v1 = w.client({ user: 'bob', password: 'bob password', address: '198.18.0.9' });
    v1.ikeInit.onMm2(w.ike(v1, v1.ikeInit.mm1())[0]!);
    expect(w.pipeline.handshakesInProgress).toBe(2);
    // a whole IKEv2 login leaves the count as it found it
    const c = new V2Client(w, 'alice', 'alice password');
    expect(c.connect()).toBe(true);
    expect(w.pipeline.handshakesInProgress).toBe(2);
    v1.ikeInit.onMm4(w.ike(v1, v1.ikeInit.mm3())[0]!);
    w.ike(v1, v1.ikeInit.mm5());
    expect(w.pipeline.handshakesInProgress).toBe(1);
    // the silent one's half-open SA times out
    w.advance(HALF_OPEN_TIMEOUT_MS + 1000);
    expect(w.pipeline.handshakesInProgress).toBe(0);
    expect(w.pipeline.sessions(w.now).map((v) => v.rec.user)).toEqual(['alice']);
  });

  it('logs in, gets a pool address, its packets reach the TUN with that source and replies come back', () => {
    const w = world();
    const c = new V2Client(w, 'alice', 'alice password');
    expect(c.connect()).toBe(true);
    expect(c.address).toBe('10.40.0.2');
    const [s] = w.pipeline.sessions(w.now);
    expect(s!.rec.kind).toBe('ikev2');
    expect(s!.rec.user).toBe('alice');
    expect(s!.rec.address).toBe('10.40.0.2');
    c.send(ipv4(c.address, INTERNET, Buffer.from('up')));
    expect(w.tun.map(srcOf)).toEqual([c.address]);
    w.pipeline.tunPackets([ipv4(INTERNET, c.address, Buffer.from('down'))], w.now);
    w.pump();
    expect(c.received.map((p) => [dstOf(p), p.subarray(20).toString()])).toEqual([[c.address, 'down']]);
    // another source inside the tunnel never reaches the TUN
    c.send(ipv4('10.40.0.99', INTERNET, Buffer.from('spoof')));
    expect(w.tun).toHaveLength(1);
    expect(w.pipeline.counters.get('nat.drop.spoofed-source')).toBe(1);
    expect(w.events.map((e) => e.type)).toEqual(expect.arrayContaining(['session.start', 'ipsec.sa.up', 'ike.sa.up']));
  });

  it('an L2TP client and an IKEv2 client share the pool and the per-user limit', () => {
    const w = world({ maxSessionsPerUser: 1 });
    const l2tp = w.client({ user: 'alice', password: 'alice password', address: '198.18.5.5' });
    expect(l2tp.connect()).toBe(true);
    const bob = new V2Client(w, 'bob', 'bob password');
    expect(bob.connect()).toBe(true);
    expect(bob.address).not.toBe(l2tp.ppp.address);
    // alice already has her one session (over L2TP): her IKEv2 login is refused
    const again = new V2Client(w, 'alice', 'alice password', { address: '203.0.113.50', port: 500 });
    expect(again.connect()).toBe(false);
    expect(w.pipeline.table.countUser('alice')).toBe(1);
    expect(w.pipeline.sessions(w.now).map((v) => v.rec.kind).sort()).toEqual(['ikev2', 'l2tp-ppp']);
  });

  it("per-user IKEv2 keys from the users file: alice's key logs alice in (her static address), bob's key for alice does not, and the backoff is the daemon's", () => {
    const w = world({ limits: { authFailuresBeforeBackoff: 2 } });
    w.users.setIkev2Psk('alice', 'alice-key-0123456789');
    w.users.setIkev2Psk('bob', 'bob-key-0123456789ab');
    w.pipeline.setUsers(w.users);
    const swap = new V2Client(w, 'alice', '', { address: '203.0.113.21', port: 500 });
    swap.psk = 'bob-key-0123456789ab';
    expect(swap.connect()).toBe(false);
    expect(w.pipeline.table.list()).toEqual([]);
    const ok = new V2Client(w, 'alice', '', { address: '203.0.113.22', port: 500 });
    ok.psk = 'alice-key-0123456789';
    expect(ok.connect()).toBe(true);
    const [s] = w.pipeline.sessions(w.now);
    expect(s!.rec).toMatchObject({ kind: 'ikev2', user: 'alice', address: ok.address });
    ok.send(ipv4(ok.address, INTERNET, Buffer.from('up')));
    expect(w.tun.map(srcOf)).toEqual([ok.address]);
    // bob: two wrong keys, then even his right key waits
    for (const n of [31, 32, 33]) {
      const bad = new V2Client(w, 'bob', '', { address: `203.0.113.${n}`, port: 500 });
      bad.psk = `not bob's key, try ${n}`;
      expect(bad.connect()).toBe(false);
    }
    const bob = new V2Client(w, 'bob', '', { address: '203.0.113.40', port: 500 });
    bob.psk = 'bob-key-0123456789ab';
    expect(bob.connect()).toBe(false);
    expect(w.logs.some((l) => l.event === 'ikev2.auth.failed' && /blocked for/.test(String(l.fields?.reason)) && l.fields?.user === 'bob')).toBe(true);
    // nothing logged holds a key
    expect(JSON.stringify(w.logs)).not.toMatch(/key-0123456789/);
  });

  it('a wrong password is refused and leaves nothing behind', () => {
    const w = world();
    const c = new V2Client(w, 'alice', 'wrong password');
    expect(c.connect()).toBe(false);
    expect(w.pipeline.table.list()).toEqual([]);
    expect(w.pipeline.table.pool.free).toBe(w.pipeline.table.pool.size);
  });

  it('idle timeout (ppp.idle_timeout) applies to IKEv2 sessions: traffic either way keeps one up; silence ends it on time with the IKE SA\'s Delete and the reason L2TP gives', () => {
    const w = world({ idleTimeout: 60 });
    const c = new V2Client(w, 'alice', 'alice password');
    expect(c.connect()).toBe(true);
    const started = w.now;
    const deleteAt: number[] = [];
    w.ikeTaps.push({ to: c.at4500, fn: () => deleteAt.push(w.now) });
    // a packet from the client at +40 s, one to it at +90 s: neither lets 60 s of silence pass
    w.advance(40_000);
    c.send(ipv4(c.address, INTERNET, Buffer.from('up')));
    w.advance(50_000);
    w.pipeline.tunPackets([ipv4(INTERNET, c.address, Buffer.from('down'))], w.now);
    w.pump();
    expect(c.received).toHaveLength(1);
    const lastTraffic = w.now;
    w.advance(59_000);
    expect(deleteAt).toEqual([]);
    expect(w.pipeline.table.countUser('alice')).toBe(1);
    // 60 s after the last packet: the Delete goes out (the client stays silent: retransmitted, then the session ends)
    w.advance(2_000);
    expect(deleteAt[0]).toBe(lastTraffic + 60_000);
    expect(w.logged('ikev2.idle-timeout')).toHaveLength(1);
    w.advance(60_000);
    expect(deleteAt.length).toBeGreaterThan(1);
    expect(w.ended.map((e) => [e.user, e.reason])).toEqual([['alice', 'idle timeout']]);
    expect(w.pipeline.sizes()).toMatchObject({ sessions: 0, ikev2Sessions: 0, forwarder: 0, poolUsed: 0 });
    expect(lastTraffic - started).toBe(90_000);
  });

  it('idle timeout 0 (off): an IKEv2 session stays up however long it is silent', () => {
    const w = world({ idleTimeout: 0 });
    const c = new V2Client(w, 'alice', 'alice password');
    expect(c.connect()).toBe(true);
    w.advance(7 * 3600_000); // (at 90% of child_lifetime_max, 7.2 h, the server would rekey the child)
    expect(w.ended).toEqual([]);
    expect(w.pipeline.table.countUser('alice')).toBe(1);
  });

  it('failed logins back off per user, L2TP and IKEv2 together (the one AuthFailureTracker): once blocked, even the right IKEv2 password is refused until the block ends', () => {
    const w = world({ limits: { authFailuresBeforeBackoff: 2 } });
    // one wrong L2TP password, then two wrong IKEv2 passwords, each from its own address: alice is over her free failures
    const l2tp = w.client({ user: 'alice', password: 'wrong 1', address: '198.18.7.7' });
    expect(l2tp.connect(20_000)).toBe(false);
    expect(l2tp.ppp.authFailures.join(' ')).toMatch(/E=691/);
    expect(new V2Client(w, 'alice', 'wrong 2', { address: '203.0.113.21', port: 500 }).connect()).toBe(false);
    expect(new V2Client(w, 'alice', 'wrong 3', { address: '203.0.113.22', port: 500 }).connect()).toBe(false);
    // from a fourth address, with the right password: blocked (the user key), nobody logged in
    const blocked = new V2Client(w, 'alice', 'alice password', { address: '203.0.113.24', port: 500 });
    expect(blocked.connect()).toBe(false);
    expect(w.pipeline.table.countUser('alice')).toBe(0);
    expect(w.logged('ikev2.auth.failed').map((l) => String(l.fields?.['reason'])).join(' | ')).toMatch(/blocked for \d+ s after repeated failures/);
    // bob is not alice: his login works meanwhile
    expect(new V2Client(w, 'bob', 'bob password', { address: '203.0.113.25', port: 500 }).connect()).toBe(true);
    // after the block (at most the base delay doubled once here), alice logs in
    w.advance(10_000);
    expect(new V2Client(w, 'alice', 'alice password', { address: '203.0.113.26', port: 500 }).connect()).toBe(true);
    expect(w.pipeline.table.countUser('alice')).toBe(1);
  });

  it('admin disconnect sends the Delete; the session ends with its history and frees its address (here after the retries of the Delete: the client stays silent)', () => {
    const w = world();
    const c = new V2Client(w, 'alice', 'alice password');
    expect(c.connect()).toBe(true);
    const deletes: Buffer[] = [];
    w.ikeTaps.push({ to: c.at4500, fn: (d) => deletes.push(d) });
    expect(w.pipeline.disconnect({ user: 'alice' }, 'admin disconnect', w.now)).toHaveLength(1);
    w.pump();
    expect(deletes.length).toBeGreaterThan(0);
    // no answer: the server gives up after its retransmissions and the session ends all the same
    w.advance(120_000);
    expect(w.ended.map((e) => [e.user, e.address, e.reason])).toEqual([['alice', '10.40.0.2', 'admin disconnect']]);
    expect(w.pipeline.sizes()).toMatchObject({ sessions: 0, ikev2Sessions: 0, forwarder: 0, poolUsed: 0 });
  });
});

describe('IKEv2 sessions on the move (MOBIKE, RFC 4555)', () => {
  const isRequest = (d: Buffer) => !(decodeMessage(d).header.flags & HeaderFlag.RESPONSE);

  it('UPDATE_SA_ADDRESSES: same session, pool address and counters at the new address; bulk data waits for the COOKIE2 check, then flows there', () => {
    const w = world();
    const c = new V2Client(w, 'alice', 'alice password', undefined, true);
    expect(c.connect()).toBe(true);
    c.send(ipv4(c.address, INTERNET, Buffer.from('up')));
    w.pipeline.tunPackets([ipv4(INTERNET, c.address, Buffer.from('down 1'))], w.now);
    w.pump();
    const [before] = w.pipeline.sessions(w.now);
    expect(before!.peer).toBe('203.0.113.9:4500');
    const counts = { in: before!.rec.packetsIn, out: before!.rec.packetsOut };
    expect(counts).toEqual({ in: 1, out: 1 });

    // the phone leaves Wi-Fi: a new address, and it says so
    const NEW = { address: '192.0.2.200', port: 4500 };
    c.moveTo(NEW);
    const back = c.informational([{ type: PayloadType.N, value: notify(NotifyType.UPDATE_SA_ADDRESSES) }]);
    expect(back).toHaveLength(2); // the response, and the server's return routability check
    const check = back.find(isRequest)!;
    const [moved] = w.pipeline.sessions(w.now);
    expect(moved!.rec.handle).toBe(before!.rec.handle);
    expect(moved!.rec.address).toBe(c.address);
    expect(moved!.peer).toBe('192.0.2.200:4500');
    expect(w.events.find((e) => e.type === 'session.moved')?.fields).toMatchObject({ from: '203.0.113.9:4500', to: '192.0.2.200:4500', by: 'mobike', verified: false, address: c.address });

    // not yet verified: nothing goes to the new address
    w.pipeline.tunPackets([ipv4(INTERNET, c.address, Buffer.from('held'))], w.now);
    w.pump();
    expect(c.received.map((p) => p.subarray(20).toString())).toEqual(['down 1']);
    expect(w.pipeline.counters.get('session.drop.ikev2-path-unverified')).toBe(1);

    // the client copies COOKIE2 back: data flows to the new address, counted on the same session
    c.answerServer(check);
    expect(w.logged('session.path-verified')).toHaveLength(1);
    w.pipeline.tunPackets([ipv4(INTERNET, c.address, Buffer.from('down 2'))], w.now);
    w.pump();
    expect(c.received.map((p) => p.subarray(20).toString())).toEqual(['down 1', 'down 2']);
    c.send(ipv4(c.address, INTERNET, Buffer.from('up 2')));
    expect(w.tun.map((p) => p.subarray(20).toString())).toEqual(['up', 'up 2']);
    const [after] = w.pipeline.sessions(w.now);
    expect(after!.rec.handle).toBe(before!.rec.handle);
    expect({ in: after!.rec.packetsIn, out: after!.rec.packetsOut }).toEqual({ in: 2, out: 2 });
    expect(w.pipeline.table.pool.free).toBe(w.pipeline.table.pool.size - 1);
  });

  it('a forged or replayed update from elsewhere moves nothing', () => {
    const w = world();
    const c = new V2Client(w, 'alice', 'alice password', undefined, true);
    expect(c.connect()).toBe(true);
    const upd = c.c.request([{ type: PayloadType.N, value: notify(NotifyType.UPDATE_SA_ADDRESSES) }], undefined, c.c.messageId, ExchangeType.INFORMATIONAL)[0]!;
    const forged = Buffer.from(upd);
    forged[forged.length - 1]! ^= 1;
    const evil = { address: '198.18.66.6', port: 4500 };
    expect(w.ikeFrom(evil, SERVER4500, forged)).toEqual([]);
    // an old Message ID (already used by IKE_AUTH)
    expect(w.ikeFrom(evil, SERVER4500, c.c.request([{ type: PayloadType.N, value: notify(NotifyType.UPDATE_SA_ADDRESSES) }], undefined, 1, ExchangeType.INFORMATIONAL)[0]!)).toEqual([]);
    expect(w.pipeline.sessions(w.now)[0]!.peer).toBe('203.0.113.9:4500');
    expect(w.events.some((e) => e.type === 'session.moved')).toBe(false);
  });

  it('ESP from a new NAT mapping: the session and its IKE SA follow (status, DPD), nothing is held', () => {
    const w = world({ dpdIdle: 10 });
    const c = new V2Client(w, 'alice', 'alice password', undefined, true);
    expect(c.connect()).toBe(true);
    const NEW = { address: '203.0.113.9', port: 40123 };
    c.moveTo(NEW);
    c.send(ipv4(c.address, INTERNET, Buffer.from('from the new mapping')));
    expect(w.pipeline.sessions(w.now)[0]!.peer).toBe('203.0.113.9:40123');
    expect(w.events.find((e) => e.type === 'session.moved')?.fields).toMatchObject({ by: 'esp', verified: true });
    w.pipeline.tunPackets([ipv4(INTERNET, c.address, Buffer.from('down'))], w.now);
    w.pump();
    expect(c.received.map((p) => p.subarray(20).toString())).toEqual(['down']);
    // the server's liveness check goes to the new mapping too
    const dpd: Buffer[] = [];
    w.ikeTaps.push({ to: NEW, fn: (d) => dpd.push(d) });
    w.advance(11_000);
    expect(dpd.length).toBeGreaterThan(0);
  });
});

describe('IKE SA rekey started by the server (RFC 7296 §2.18), through the pipeline', () => {
  it('at 90% of ike_lifetime_max (less up to a tenth): the session keeps its handle, user, address and counters; the old SA goes quietly; the new one answers with the roles flipped', () => {
    const w = world({ ikeLifetimeMax: 100 });
    const c = new V2Client(w, 'alice', 'alice password');
    expect(c.connect()).toBe(true);
    c.send(ipv4(c.address, INTERNET, Buffer.from('before')));
    const before = w.pipeline.sessions(w.now)[0]!.rec;
    const seen: Buffer[] = [];
    w.ikeTaps.push({ to: c.at4500, fn: (d) => seen.push(d) });
    w.advance(80_000);
    expect(seen).toEqual([]);
    expect(w.runUntil(() => seen.length > 0, 10_001)).toBe(true);
    expect(w.now).toBeGreaterThanOrEqual(81_000);
    expect(seen).toHaveLength(1);
    w.ikeTaps.pop();
    const old = ClientIkeSa.of(c.c);
    const req = old.openRequest(seen[0]!);
    expect(req.header.exchangeType).toBe(ExchangeType.CREATE_CHILD_SA);
    const a = old.answerIkeRekey(req);
    const del = w.ikeFrom(c.at4500, SERVER4500, req.answer(a.payloads));
    const d = old.openRequest(del[0]!);
    expect(findPayload(d.chain, PayloadType.D)!.value.protocolId).toBe(1);
    expect(w.ikeFrom(c.at4500, SERVER4500, d.answer([]))).toEqual([]);
    expect(w.ended).toEqual([]);
    const [s] = w.pipeline.sessions(w.now);
    expect(s!.rec).toBe(before);
    expect([s!.rec.user, s!.rec.address, s!.rec.packetsIn]).toEqual(['alice', '10.40.0.2', 1]);
    // ESP goes on (same children), and the new IKE SA answers a liveness check with I and R set
    c.send(ipv4(c.address, INTERNET, Buffer.from('after')));
    expect(s!.rec.packetsIn).toBe(2);
    const pong = w.ikeFrom(c.at4500, SERVER4500, a.next.request([]));
    expect(decodeMessage(pong[0]!).header.flags).toBe(HeaderFlag.INITIATOR | HeaderFlag.RESPONSE);
    expect(a.next.openResponse(pong[0]!).payloads).toEqual([]);
    // and disconnect still finds it: the Delete goes on the new SA
    const deletes: Buffer[] = [];
    w.ikeTaps.push({ to: c.at4500, fn: (x) => deletes.push(x) });
    expect(w.pipeline.disconnect({ user: 'alice' }, 'admin disconnect', w.now)).toHaveLength(1);
    w.pump();
    const bye = a.next.openRequest(deletes[0]!);
    expect(findPayload(bye.chain, PayloadType.D)!.value.protocolId).toBe(1);
  });
});
