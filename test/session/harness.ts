/**
 * A world for composition tests: the real Pipeline behind in-memory UDP and TUN
 * ports under a fake clock, and simulated clients made of the in-repo peers
 * (IKE initiator, an ESP engine on the client side, the L2TP LAC and the PPP
 * client), joined by a network that can drop, duplicate and reorder ESP.
 * Time only moves to the next deadline of someone (the pipeline, a LAC, a
 * client's restart timer): nothing polls.
 */
import { randomBytes } from 'node:crypto';
import type { LogEvent } from '../../src/core/log.js';
import type { ChildSaUp, Endpoint } from '../../src/core/sa.js';
import { EspEngine } from '../../src/esp/engine.js';
import { DOI_IPSEC, NotifyType, PayloadType, ProtocolId } from '../../src/ike/wire/constants.js';
import { encodeNotify } from '../../src/ike/wire/notify.js';
import { encodeDelete } from '../../src/ike/wire/delete.js';
import type { IdPayload } from '../../src/ike/wire/id.js';
import { internetChecksum, parseIPv4 } from '../../src/core/ipv4.js';
import { Pipeline, type PipelineOptions } from '../../src/session/pipeline.js';
import type { PipelineEvent } from '../../src/session/ports.js';
import type { EndedSession } from '../../src/session/table.js';
import { UserStore } from '../../src/daemon/users.js';
import { TestInitiator, type P2Spec } from '../ike/initiator.js';
import { TestLac } from '../l2tp/lac.js';
import { TestClient } from '../ppp/client.js';

export const PSK = Buffer.from('composition test group pre-shared key 0123456789');
export const SERVER500: Endpoint = { address: '198.51.100.1', port: 500 };
export const SERVER4500: Endpoint = { address: '198.51.100.1', port: 4500 };
export const INTERNET = '203.0.113.10';

export interface Faults {
  drop: number;
  dup: number;
  reorder: number;
  /** Deterministic randomness in [0, 1). */
  rand: () => number;
}

const same = (a: Endpoint, b: Endpoint): boolean => a.address === b.address && a.port === b.port;

export class World {
  now = 0;
  readonly pipeline: Pipeline;
  readonly users = new UserStore();
  readonly logs: LogEvent[] = [];
  readonly events: PipelineEvent[] = [];
  readonly ended: EndedSession[] = [];
  /** IPv4 packets the pipeline wrote to the TUN. */
  readonly tun: Buffer[] = [];
  readonly clients: SimClient[] = [];
  /** ESP datagrams on their way: to the server (from a client) or to a client. */
  private toServer: Array<{ data: Buffer; from: Endpoint }> = [];
  private toClients: Array<{ data: Buffer; to: Endpoint }> = [];
  private ikeToClients: Array<{ data: Buffer; to: Endpoint }> = [];
  faults: Faults | undefined;
  /** Other peers (an IKEv2 client): what the server sends to their endpoints. */
  readonly espTaps: Array<{ to: Endpoint; fn: (data: Buffer) => void }> = [];
  readonly ikeTaps: Array<{ to: Endpoint; fn: (data: Buffer) => void }> = [];
  /** Benchmarks: ESP datagrams from the server are counted and dropped, as a socket would take them. */
  countOnly = false;
  counted = 0;
  /** The times the pipeline had something due and was ticked (to prove timers fire on time, and only then). */
  readonly wakeups: number[] = [];

  constructor(opts: Partial<PipelineOptions> = {}, users: Array<[string, string]> = [['alice', 'alice password'], ['bob', 'bob password']]) {
    for (const [u, p] of users) this.users.add(u, p);
    this.pipeline = new Pipeline(
      {
        psk: PSK,
        cookieSecret: randomBytes(32),
        allowLegacy: false,
        ikeLifetimeMax: 86400,
        childLifetimeMax: 28800,
        dpdIdle: 0,
        hostName: 'lns.test',
        helloInterval: 0,
        pool: '10.40.0.0/24',
        serverAddress: '10.40.0.1',
        dns: ['10.40.0.1'],
        mru: 1360,
        auth: ['mschapv2'],
        idleTimeout: 0,
        maxSessionsPerUser: 2,
        ...opts,
      },
      this.users,
      {
        sendIke: (_from, to, data) => this.ikeToClients.push({ data: Buffer.from(data), to }),
        sendEsp: (sends) => {
          if (this.countOnly) {
            this.counted += sends.length;
            return;
          }
          for (const s of sends) this.toClients.push({ data: Buffer.from(s.data), to: s.to });
        },
      },
      { write: (packets) => (this.tun.push(...packets.map((p) => Buffer.from(p))), packets.length) },
      { log: (e) => this.logs.push(e), event: (e) => this.events.push(e), ended: (e) => this.ended.push(e) },
    );
  }

  client(o: ClientSpec): SimClient {
    const c = new SimClient(this, o);
    this.clients.push(c);
    return c;
  }

  /** A client's ESP datagram on the wire to the server. */
  sendToServer(data: Buffer, from: Endpoint): void {
    this.toServer.push({ data, from });
  }

  /** IKE from a client: delivered at once (the in-repo initiator does not retransmit). */
  ike(c: SimClient, msg: Buffer): Buffer[] {
    this.pipeline.ikeMessage(msg, c.ikeInit.src, c.ikeInit.dst, this.now);
    return this.takeIkeFor(c);
  }

  /** An IKE message from any endpoint; the server's replies to it, taken off the wire. */
  ikeFrom(from: Endpoint, to: Endpoint, msg: Buffer): Buffer[] {
    this.pipeline.ikeMessage(msg, from, to, this.now);
    const mine = this.ikeToClients.filter((s) => same(s.to, from));
    this.ikeToClients = this.ikeToClients.filter((s) => !same(s.to, from));
    return mine.map((s) => s.data);
  }

  /** What the server sent to `to` since it was last taken (an answer that came later than its request). */
  takeIke(to: Endpoint): Buffer[] {
    const mine = this.ikeToClients.filter((s) => same(s.to, to));
    this.ikeToClients = this.ikeToClients.filter((s) => !same(s.to, to));
    return mine.map((s) => s.data);
  }

  private takeIkeFor(c: SimClient): Buffer[] {
    const mine = this.ikeToClients.filter((s) => same(s.to, c.ikeInit.src));
    this.ikeToClients = this.ikeToClients.filter((s) => !same(s.to, c.ikeInit.src));
    return mine.map((s) => s.data);
  }

  private faulty<T>(q: T[]): T[] {
    const f = this.faults;
    if (!f) return q;
    const out: T[] = [];
    for (const x of q) {
      if (f.rand() < f.drop) continue;
      out.push(x);
      if (f.rand() < f.dup) out.push(x);
    }
    for (let i = 0; i + 1 < out.length; i++) {
      if (f.rand() < f.reorder) [out[i], out[i + 1]] = [out[i + 1]!, out[i]!];
    }
    return out;
  }

  /** Deliver everything in flight, back and forth, until the wire is quiet. */
  pump(maxRounds = 1000): void {
    for (let round = 0; round < maxRounds; round++) {
      if (this.toServer.length === 0 && this.toClients.length === 0 && this.ikeToClients.length === 0) return;
      const up = this.faulty(this.toServer);
      this.toServer = [];
      if (up.length) this.pipeline.espBatch(up, this.now);
      const down = this.faulty(this.toClients);
      this.toClients = [];
      for (const d of down) {
        const c = this.clients.find((x) => x.alive && same(x.seen4500, d.to));
        if (c) c.fromServer(d.data);
        else this.espTaps.find((t) => same(t.to, d.to))?.fn(d.data);
      }
      const ike = this.ikeToClients;
      this.ikeToClients = [];
      for (const m of ike) {
        const c = this.clients.find((x) => x.alive && same(x.ikeInit.src, m.to));
        if (c) c.ikeFromServer(m.data);
        else this.ikeTaps.find((t) => same(t.to, m.to))?.fn(m.data);
      }
    }
    throw new Error('the wire never went quiet');
  }

  /** The next time anyone has something to do. */
  nextDeadline(): number | undefined {
    let d = this.pipeline.nextDeadline();
    for (const c of this.clients) {
      const cd = c.nextDeadline();
      if (cd !== undefined && (d === undefined || cd < d)) d = cd;
    }
    return d;
  }

  /** Move time to the next deadline (at most `until`) and let everyone act. Returns false when nothing is due before `until`. */
  step(until: number): boolean {
    this.pump();
    const d = this.nextDeadline();
    if (d === undefined || d > until) {
      this.now = Math.max(this.now, until);
      return false;
    }
    this.now = Math.max(this.now, d);
    const pd = this.pipeline.nextDeadline();
    if (pd !== undefined && pd <= this.now) this.wakeups.push(this.now);
    this.pipeline.tick(this.now);
    for (const c of this.clients) c.tick();
    this.pump();
    return true;
  }

  /** Run until `cond` holds or `ms` of fake time pass. */
  runUntil(cond: () => boolean, ms: number): boolean {
    const end = this.now + ms;
    this.pump();
    while (!cond()) {
      if (!this.step(end) && this.now >= end) return cond();
    }
    return true;
  }

  /** Let `ms` of fake time pass, every deadline on its time. */
  advance(ms: number): void {
    const end = this.now + ms;
    while (this.step(end));
  }

  logged(event: string): LogEvent[] {
    return this.logs.filter((l) => l.event === event);
  }
}

export interface ClientSpec {
  user: string;
  password: string;
  /** How the server sees the client (after NAT); default a public address of its own. */
  address?: string;
  port500?: number;
  port4500?: number;
  esp?: P2Spec;
  dpd?: boolean;
  /** The LAC's HELLO after this much silence (xl2tpd: 60 s). */
  helloMs?: number;
  /** The Phase 1 identity (default ID_IPV4_ADDR 192.168.1.10). */
  id?: IdPayload;
}

export class SimClient {
  readonly ikeInit: TestInitiator;
  readonly esp = new EspEngine();
  readonly lac: TestLac;
  readonly ppp: TestClient;
  readonly seen4500: Endpoint;
  /** A vanished client receives and answers nothing. */
  alive = true;
  saId = '';
  sessionId = 0;
  /** When this client last sent IKE (Quick Mode) and last sent anything through ESP. */
  lastIke = 0;
  lastEsp = 0;
  /** IPv4 packets that reached this client through the tunnel. */
  readonly received: Buffer[] = [];
  /** More LACs on the same SA and inner port (more tunnels from one client). */
  readonly extraLacs: TestLac[] = [];
  private nextRetransmit: number | undefined;
  private espSpec: P2Spec;

  constructor(
    private readonly world: World,
    spec: ClientSpec,
  ) {
    const address = spec.address ?? '203.0.113.77';
    this.seen4500 = { address, port: spec.port4500 ?? 4500 };
    this.ikeInit = new TestInitiator({
      psk: PSK,
      local: { address: '192.168.1.10', port: 500 },
      seen500: { address, port: spec.port500 ?? 500 },
      seen4500: this.seen4500,
      server: SERVER500,
      p1: [{ enc: 'aes128', hash: 'sha1', group: 14 }],
      natT: true,
      dpd: spec.dpd ?? true,
      ...(spec.id ? { id: spec.id } : {}),
    });
    this.espSpec = spec.esp ?? { cipher: 'aes128', auth: 'sha1', ids: 'udp1701' };
    this.lac = new TestLac({ hostName: `lac-${spec.user}`, tunnelId: 0x1000 + world.clients.length, ...(spec.helloMs ? { helloMs: spec.helloMs } : {}) });
    this.ppp = new TestClient({ user: spec.user, password: spec.password });
  }

  private one(msgs: Buffer[]): Buffer {
    if (msgs.length !== 1) throw new Error(`expected one IKE reply, got ${msgs.length}: ${JSON.stringify(this.world.logs.slice(-5))}`);
    return msgs[0]!;
  }

  /** Main Mode and Quick Mode; the client's ESP SA pair is installed. */
  ipsec(): void {
    const w = this.world;
    const i = this.ikeInit;
    i.onMm2(this.one(w.ike(this, i.mm1())));
    i.onMm4(this.one(w.ike(this, i.mm3())));
    i.onMm6(this.one(w.ike(this, i.mm5())));
    this.quickMode();
  }

  /** A (new) Quick Mode: the client's newest SA carries what it sends. */
  quickMode(): void {
    const w = this.world;
    const i = this.ikeInit;
    const q = i.qm1(this.espSpec);
    i.onQm2(this.one(w.ike(this, q.data)));
    const f = i.qm3(q.mid);
    w.ike(this, f.data);
    this.lastIke = w.now;
    const k = f.keys;
    const aes = this.espSpec.cipher;
    const up: ChildSaUp = {
      type: 'child-sa-up',
      id: `client-${k.spiI.toString(16)}`,
      ikeSaId: 'client',
      peer: SERVER4500,
      local: this.seen4500,
      encapsulation: 'udp',
      transform: aes.includes('gcm')
        ? { cipher: 'aes-gcm-16', keyBits: aes.startsWith('aes256') ? 256 : 128, integ: 'none' }
        : { cipher: 'aes-cbc', keyBits: aes === 'aes256' ? 256 : 128, integ: this.espSpec.auth === 'sha256' ? 'hmac-sha256-128' : 'hmac-sha1-96' },
      inbound: { spi: k.spiI, encKey: k.r2i.encKey, authKey: k.r2i.authKey },
      outbound: { spi: k.spiR, encKey: k.i2r.encKey, authKey: k.i2r.authKey },
      lifetimeSeconds: 3600,
    };
    const refused = this.esp.tryAddSa(up);
    if (refused) throw new Error(`client ESP SA refused: ${refused}`);
    this.saId = up.id;
  }

  /** L2TP datagrams from the client to the server, through its newest SA. */
  sendL2tp(datagrams: Buffer[]): void {
    if (!this.alive || datagrams.length === 0) return;
    this.lastEsp = this.world.now;
    const { sends } = this.esp.encryptBatch(
      datagrams.map((payload) => ({ saId: this.saId, innerDstPort: 1701, payload })),
      this.world.now,
    );
    for (const s of sends) this.world.sendToServer(Buffer.from(s.data), this.seen4500);
  }

  /** Tunnel, call and PPP: run until the client has its address (or time runs out). */
  connect(ms = 60_000): boolean {
    this.ipsec();
    this.sendL2tp(this.lac.start(this.world.now));
    const w = this.world;
    const ok = w.runUntil(() => this.lac.state === 'established', ms);
    if (!ok) return false;
    const call = this.lac.call(w.now);
    this.sessionId = call.sessionId;
    this.sendL2tp(call.out);
    if (!w.runUntil(() => this.lac.sessions.get(this.sessionId)?.state === 'established', ms)) return false;
    this.sendPpp(this.ppp.start());
    this.nextRetransmit = w.now + 3000;
    // up when both ends are (a lost Configure-Ack makes one side retransmit and renegotiate):
    // both opened and no retransmission of ours pending
    const bothUp = (): boolean => this.ppp.ipcpOpened && this.nextRetransmit === undefined && w.pipeline.table.list().some((r) => r.address === this.ppp.address);
    return w.runUntil(bothUp, ms);
  }

  /** Leave as a client does: LCP Terminate, CDN, StopCCN, then Deletes of the IPsec and the IKE SA. */
  hangUpAll(): void {
    const w = this.world;
    this.sendPpp([Buffer.from([0xff, 0x03, 0xc0, 0x21, 0x05, 0x77, 0x00, 0x04])]);
    this.sendL2tp(this.lac.hangUp(this.sessionId, w.now));
    this.sendL2tp(this.lac.stop(w.now));
    w.pump();
    const spi = Buffer.alloc(4);
    spi.writeUInt32BE(Number.parseInt(this.saId.slice('client-'.length), 16));
    const delEsp = encodeDelete({ doi: 1, protocolId: 3, spiSize: 4, spis: [spi] });
    const delIke = encodeDelete({ doi: 1, protocolId: 1, spiSize: 16, spis: [Buffer.concat([this.ikeInit.ckyI, this.ikeInit.ckyR])] });
    w.ike(this, this.ikeInit.informational([{ type: PayloadType.D, body: delEsp }, { type: PayloadType.D, body: delIke }]));
    this.alive = false;
  }

  sendPpp(frames: Buffer[]): void {
    this.sendL2tp(frames.map((f) => this.lac.data(this.sessionId, f)));
  }

  /** An IPv4 packet from the client's address (or `src`) into the tunnel. */
  sendIp(dst: string, payload: Buffer, src = this.ppp.address): void {
    const ip = ipv4(src, dst, payload);
    this.sendPpp([Buffer.concat([Buffer.from([0xff, 0x03, 0x00, 0x21]), ip])]);
  }

  fromServer(data: Buffer): void {
    const { delivered } = this.esp.decryptBatch([{ data, from: SERVER4500 }], this.world.now);
    for (const d of delivered) {
      for (const l of this.extraLacs) this.sendL2tp(l.receive(d.payload, this.world.now));
      const before = this.lac.frames.length;
      this.sendL2tp(this.lac.receive(d.payload, this.world.now));
      for (const { frame } of this.lac.frames.slice(before)) {
        const f = frame[0] === 0xff && frame[1] === 0x03 ? frame : Buffer.concat([Buffer.from([0xff, 0x03]), frame]);
        if (f[2] === 0x00 && f[3] === 0x21) this.received.push(Buffer.from(f.subarray(4)));
        else this.sendPpp(this.ppp.receive(f));
      }
    }
    // a renegotiation (RFC 1661 RCR in Opened) restarts our restart timer
    if (this.sessionId !== 0 && !this.ppp.ipcpOpened && !this.ppp.terminated && this.nextRetransmit === undefined) this.nextRetransmit = this.world.now + 3000;
  }

  /** DPD: answer R-U-THERE like charon does. */
  ikeFromServer(msg: Buffer): void {
    let info;
    try {
      info = this.ikeInit.openInformational(msg);
    } catch {
      return;
    }
    for (const n of info.notifies) {
      if (n.notifyType !== NotifyType.R_U_THERE) continue;
      const ack = encodeNotify({ doi: DOI_IPSEC, protocolId: ProtocolId.ISAKMP, spi: n.spi, notifyType: NotifyType.R_U_THERE_ACK, data: n.data });
      this.world.ike(this, this.ikeInit.informational([{ type: PayloadType.N, body: ack }]));
    }
  }

  nextDeadline(): number | undefined {
    if (!this.alive) return undefined;
    let l = this.lac.nextDeadline();
    for (const x of this.extraLacs) {
      const d = x.nextDeadline();
      if (d !== undefined && (l === undefined || d < l)) l = d;
    }
    const r = this.nextRetransmit;
    if (l === undefined) return r;
    return r === undefined ? l : Math.min(l, r);
  }

  tick(): void {
    if (!this.alive) return;
    const now = this.world.now;
    for (const l of [this.lac, ...this.extraLacs]) {
      const r = l.tick(now);
      if (r !== 'failed') this.sendL2tp(r);
    }
    if (this.nextRetransmit !== undefined && now >= this.nextRetransmit) {
      const again = this.ppp.retransmit();
      this.sendPpp(again);
      this.nextRetransmit = again.length === 0 && this.ppp.ipcpOpened ? undefined : now + 3000;
    }
  }
}

/** A minimal IPv4/UDP packet (header checksum set). */
export function ipv4(src: string, dst: string, payload: Buffer, proto = 17): Buffer {
  const p = Buffer.alloc(20 + payload.length);
  p[0] = 0x45;
  p.writeUInt16BE(p.length, 2);
  p.writeUInt16BE(0x4000, 6);
  p[8] = 64;
  p[9] = proto;
  p.writeUInt32BE(parseIPv4(src), 12);
  p.writeUInt32BE(parseIPv4(dst), 16);
  payload.copy(p, 20);
  p.writeUInt16BE(internetChecksum(p, 0, 20), 10);
  return p;
}

export function srcOf(p: Buffer): string {
  return `${p[12]}.${p[13]}.${p[14]}.${p[15]}`;
}

export function dstOf(p: Buffer): string {
  return `${p[16]}.${p[17]}.${p[18]}.${p[19]}`;
}
