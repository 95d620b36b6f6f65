/**
 * The client side of the whole-path benchmark (bench/path.ts), run in the client
 * network namespace and driven over the IPC channel. Each client is made of the
 * in-repo peers (test/ike/initiator.ts, an EspEngine on the client side,
 * test/l2tp/lac.ts, test/ppp/client.ts) talking to the real daemon over real UDP:
 * Main Mode + Quick Mode (NAT-T: the initiator claims a private address, so the
 * daemon sees it behind a NAT and both sides float to 4500), the L2TP tunnel and
 * call, PPP up to IPCP. Each client has its own source address (the namespace
 * routes a whole /17 to lo, so any address in it can be bound).
 *
 * Commands: connect, pool (write a pre-encrypted ESP pool for the C blaster and
 * release the client's 4500 socket to it), hangup (every client at once),
 * metrics (the daemon's Prometheus text), exit.
 */
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import type { ChildSaUp, Endpoint } from '../src/core/sa.js';
import { internetChecksum, partialSum } from '../src/core/ipv4.js';
import { EspEngine } from '../src/esp/engine.js';
import { ExchangeType, Flags, PayloadType } from '../src/ike/wire/constants.js';
import { decodeHeader } from '../src/ike/wire/header.js';
import { encodeDelete } from '../src/ike/wire/delete.js';
import { TestInitiator } from '../test/ike/initiator.js';
import { TestLac } from '../test/l2tp/lac.js';
import { TestClient } from '../test/ppp/client.js';
import { ipv4 } from '../test/session/harness.js';

export interface ClientAddr {
  address: string;
  port500: number;
  port4500: number;
}

export type ClientCmd =
  | { cmd: 'connect'; server: string; psk: string; user: string; password: string; group: number; clients: ClientAddr[]; concurrency: number }
  | { cmd: 'pool'; index: number; dst: string; dstPort: number; srcPort: number; size: number; count: number; file: string; punch: number }
  | { cmd: 'hangup' }
  | { cmd: 'metrics'; url: string }
  | { cmd: 'exit' };

export type ClientReply =
  | { type: 'connected'; ok: number; failed: number; ms: number; cpuMs: number; errors: string[] }
  | { type: 'pool'; authKey: string; nextSeq: number; address: string; datagramSize: number }
  | { type: 'hungup'; clients: number; datagrams: number; ms: number }
  | { type: 'metrics'; text: string }
  | { type: 'error'; error: string };

const IKE_RETRY_MS = 2000;
const IKE_TRIES = 5;
const STEP_MS = 30_000;
const MARKER = Buffer.alloc(4);

function send(sock: dgram.Socket, data: Buffer, port: number, address: string): void {
  sock.send(data, port, address, () => undefined);
}

class NetClient {
  readonly init: TestInitiator;
  readonly esp = new EspEngine();
  readonly lac: TestLac;
  readonly ppp: TestClient;
  sock500: dgram.Socket | undefined;
  sock4500: dgram.Socket | undefined;
  saId = '';
  authKey: Buffer = Buffer.alloc(0);
  sessionId = 0;
  /** ESP datagrams this client encrypted (the next outbound sequence number is this + 1). */
  espSent = 0;
  connected = false;
  /** Hung up: no more retransmissions (what was sent is what the daemon gets). */
  left = false;
  private ikeWait: { accept: (m: Buffer) => boolean; resolve: (m: Buffer) => void } | undefined;
  private condWait: { cond: () => boolean; resolve: () => void } | undefined;
  private pppRetransmitAt: number | undefined;
  private readonly server500: Endpoint;
  private readonly server4500: Endpoint;

  constructor(
    readonly addr: ClientAddr,
    private readonly o: Extract<ClientCmd, { cmd: 'connect' }>,
    tunnelId: number,
  ) {
    this.server500 = { address: o.server, port: 500 };
    this.server4500 = { address: o.server, port: 4500 };
    this.init = new TestInitiator({
      psk: Buffer.from(o.psk, 'utf8'),
      // a private address of its own: the daemon's NAT-D check sees a NAT, so NAT-T on 4500
      local: { address: '192.168.1.10', port: 500 },
      seen500: { address: addr.address, port: addr.port500 },
      seen4500: { address: addr.address, port: addr.port4500 },
      server: this.server500,
      p1: [{ enc: 'aes128', hash: 'sha1', group: o.group }],
      natT: true,
      dpd: false,
    });
    this.lac = new TestLac({ hostName: `bench-${addr.address}`, tunnelId });
    this.ppp = new TestClient({ user: o.user, password: o.password });
  }

  private bind(port: number): Promise<dgram.Socket> {
    return new Promise((resolve, reject) => {
      const s = dgram.createSocket('udp4');
      s.once('error', reject);
      s.bind(port, this.addr.address, () => {
        s.removeListener('error', reject);
        s.on('error', () => undefined);
        resolve(s);
      });
    });
  }

  private onIke(m: Buffer): void {
    const w = this.ikeWait;
    if (w && w.accept(m)) {
      this.ikeWait = undefined;
      w.resolve(m);
    }
  }

  private on4500(m: Buffer): void {
    if (m.length >= 4 && m.readUInt32BE(0) === 0) {
      this.onIke(m.subarray(4));
      return;
    }
    if (m.length < 8 || !this.saId) return;
    const now = performance.now();
    const { delivered } = this.esp.decryptBatch([{ data: m, from: this.server4500 }], now);
    for (const d of delivered) {
      const before = this.lac.frames.length;
      this.sendL2tp(this.lac.receive(d.payload, now));
      const frames = this.lac.frames.splice(before);
      for (const { frame } of frames) {
        const f = frame[0] === 0xff && frame[1] === 0x03 ? frame : Buffer.concat([Buffer.from([0xff, 0x03]), frame]);
        if (f[2] === 0x00 && f[3] === 0x21) continue; // IP to the client: nothing to answer
        this.sendPpp(this.ppp.receive(f));
      }
    }
    this.check();
  }

  private check(): void {
    const w = this.condWait;
    if (w && w.cond()) {
      this.condWait = undefined;
      w.resolve();
    }
  }

  /** One IKE request, retransmitted until a reply `accept` takes arrives. */
  private async exchange(msg: Buffer, natt: boolean, accept: (m: Buffer) => boolean): Promise<Buffer> {
    for (let i = 0; i < IKE_TRIES; i++) {
      let timer: NodeJS.Timeout | undefined;
      const reply = new Promise<Buffer | undefined>((resolve) => {
        this.ikeWait = { accept, resolve };
        timer = setTimeout(() => resolve(undefined), IKE_RETRY_MS);
      });
      this.sendIke(msg, natt);
      const r = await reply;
      clearTimeout(timer);
      if (r) return r;
    }
    this.ikeWait = undefined;
    throw new Error(`no IKE reply after ${IKE_TRIES} tries`);
  }

  sendIke(msg: Buffer, natt: boolean): void {
    if (natt) send(this.sock4500!, Buffer.concat([MARKER, msg]), 4500, this.o.server);
    else send(this.sock500!, msg, 500, this.o.server);
  }

  sendL2tp(datagrams: Buffer[]): void {
    if (datagrams.length === 0 || !this.sock4500) return;
    const { sends } = this.esp.encryptBatch(
      datagrams.map((payload) => ({ saId: this.saId, innerDstPort: 1701, payload })),
      performance.now(),
    );
    for (const s of sends) {
      this.espSent++;
      send(this.sock4500, Buffer.from(s.data), 4500, this.o.server);
    }
  }

  sendPpp(frames: Buffer[]): void {
    this.sendL2tp(frames.map((f) => this.lac.data(this.sessionId, f)));
  }

  /** Retransmissions (L2TP control channel, PPP restart timer); called from a shared timer. */
  tick(now: number): void {
    if (!this.sock4500 || !this.saId || this.left) return;
    const r = this.lac.tick(now);
    if (r !== 'failed') this.sendL2tp(r);
    if (this.pppRetransmitAt !== undefined && now >= this.pppRetransmitAt) {
      const again = this.ppp.retransmit();
      this.sendPpp(again);
      this.pppRetransmitAt = again.length === 0 && this.ppp.ipcpOpened ? undefined : now + 3000;
    }
  }

  /** Wait for cond; fails at once when the daemon closes the tunnel (a refused SCCRQ is answered with StopCCN). */
  private until(cond: () => boolean, what: string): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.condWait = undefined;
        reject(new Error(`timed out waiting for ${what}`));
      }, STEP_MS);
      this.condWait = {
        cond: () => cond() || this.lac.state === 'closed',
        resolve: () => {
          clearTimeout(t);
          if (cond()) resolve();
          else reject(new Error(`waiting for ${what}: the daemon closed the tunnel (${this.lac.closeReason ?? 'no reason'})`));
        },
      };
    });
  }

  async connect(): Promise<void> {
    this.sock500 = await this.bind(this.addr.port500);
    this.sock4500 = await this.bind(this.addr.port4500);
    this.sock500.on('message', (m) => this.onIke(m));
    this.sock4500.on('message', (m) => this.on4500(m));
    const i = this.init;
    const plain = (first: number) => (m: Buffer) => {
      try {
        const h = decodeHeader(m);
        return h.exchangeType === ExchangeType.IDENTITY_PROTECTION && !(h.flags & Flags.ENCRYPTION) && h.nextPayload === first;
      } catch {
        return false;
      }
    };
    i.onMm2(await this.exchange(i.mm1(), false, plain(PayloadType.SA)));
    i.onMm4(await this.exchange(i.mm3(), false, plain(PayloadType.KE)));
    const natt = i.dst.port === 4500;
    if (!natt) throw new Error('the daemon did not detect NAT (no NAT-T)');
    // from MM5 on everything runs on 4500
    this.sock500.close();
    this.sock500 = undefined;
    const mm6 = (m: Buffer): boolean => {
      try {
        const h = decodeHeader(m);
        return h.exchangeType === ExchangeType.IDENTITY_PROTECTION && (h.flags & Flags.ENCRYPTION) !== 0 && h.messageId === 0;
      } catch {
        return false;
      }
    };
    i.onMm6(await this.exchange(i.mm5(), true, mm6));
    const q = i.qm1({ cipher: 'aes128', auth: 'sha1', ids: 'udp1701' });
    const qm2 = (m: Buffer): boolean => {
      try {
        const h = decodeHeader(m);
        return h.exchangeType === ExchangeType.QUICK_MODE && h.messageId === q.mid;
      } catch {
        return false;
      }
    };
    i.onQm2(await this.exchange(q.data, true, qm2));
    const f = i.qm3(q.mid);
    this.sendIke(f.data, true);
    const k = f.keys;
    const up: ChildSaUp = {
      type: 'child-sa-up',
      id: `client-${k.spiI.toString(16)}`,
      ikeSaId: 'client',
      peer: this.server4500,
      local: { address: this.addr.address, port: this.addr.port4500 },
      encapsulation: 'udp',
      transform: { cipher: 'aes-cbc', keyBits: 128, integ: 'hmac-sha1-96' },
      inbound: { spi: k.spiI, encKey: k.r2i.encKey, authKey: k.r2i.authKey },
      outbound: { spi: k.spiR, encKey: k.i2r.encKey, authKey: k.i2r.authKey },
      lifetimeSeconds: 3600,
    };
    const refused = this.esp.tryAddSa(up);
    if (refused) throw new Error(`client ESP SA refused: ${refused}`);
    this.saId = up.id;
    this.authKey = k.i2r.authKey;
    this.sendL2tp(this.lac.start(performance.now()));
    await this.until(() => this.lac.state === 'established', 'SCCRP');
    const call = this.lac.call(performance.now());
    this.sessionId = call.sessionId;
    this.sendL2tp(call.out);
    await this.until(() => this.lac.sessions.get(this.sessionId)?.state === 'established', 'ICRP');
    this.sendPpp(this.ppp.start());
    this.pppRetransmitAt = performance.now() + 3000;
    await this.until(() => this.ppp.ipcpOpened, 'IPCP');
    this.connected = true;
  }

  /** Leave as a client does: LCP Terminate-Request, CDN, StopCCN, then one Informational deleting the IPsec and the IKE SA. */
  hangUpDatagrams(): Array<{ sock: dgram.Socket; data: Buffer }> {
    const sock = this.sock4500!;
    const out: Array<{ sock: dgram.Socket; data: Buffer }> = [];
    const before = this.espSent;
    const collect = (datagrams: Buffer[]): void => {
      const { sends } = this.esp.encryptBatch(
        datagrams.map((payload) => ({ saId: this.saId, innerDstPort: 1701, payload })),
        performance.now(),
      );
      for (const s of sends) out.push({ sock, data: Buffer.from(s.data) });
    };
    const now = performance.now();
    collect([this.lac.data(this.sessionId, Buffer.from([0xff, 0x03, 0xc0, 0x21, 0x05, 0x77, 0x00, 0x04]))]);
    collect(this.lac.hangUp(this.sessionId, now));
    collect(this.lac.stop(now));
    this.espSent = before + out.length;
    const spi = Buffer.alloc(4);
    spi.writeUInt32BE(Number.parseInt(this.saId.slice('client-'.length), 16));
    const delEsp = encodeDelete({ doi: 1, protocolId: 3, spiSize: 4, spis: [spi] });
    const delIke = encodeDelete({ doi: 1, protocolId: 1, spiSize: 16, spis: [Buffer.concat([this.init.ckyI, this.init.ckyR])] });
    out.push({ sock, data: Buffer.concat([MARKER, this.init.informational([{ type: PayloadType.D, body: delEsp }, { type: PayloadType.D, body: delIke }])]) });
    this.connected = false;
    this.left = true;
    return out;
  }

  close(): void {
    this.condWait = undefined;
    this.ikeWait = undefined;
    this.sock500?.close();
    this.sock4500?.close();
    this.sock500 = undefined;
    this.sock4500 = undefined;
  }
}

let clients: NetClient[] = [];
let server = '';

const ticker = setInterval(() => {
  const now = performance.now();
  for (const c of clients) c.tick(now);
}, 250);
ticker.unref();

async function connect(m: Extract<ClientCmd, { cmd: 'connect' }>): Promise<ClientReply> {
  for (const c of clients) c.close();
  server = m.server;
  clients = m.clients.map((a, i) => new NetClient(a, m, 1 + (i % 65000)));
  const errors: string[] = [];
  let ok = 0;
  let failed = 0;
  let next = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  // bounded: once a tenth of the clients (at least 20) failed, the rest are not tried
  const giveUp = Math.max(20, Math.ceil(clients.length / 10));
  const worker = async (): Promise<void> => {
    while (next < clients.length && failed < giveUp) {
      const c = clients[next++]!;
      try {
        await c.connect();
        ok++;
      } catch (e) {
        failed++;
        if (errors.length < 5) errors.push(`${c.addr.address}: ${(e as Error).message}`);
        c.close();
      }
    }
  };
  const progress = setInterval(() => process.send?.({ type: 'progress', ok, failed, of: clients.length }), 5000);
  await Promise.all(Array.from({ length: Math.max(1, Math.min(m.concurrency, clients.length)) }, worker));
  clearInterval(progress);
  const cpu = process.cpuUsage(cpu0);
  if (failed >= giveUp && errors.length < 6) errors.push(`gave up after ${failed} failures: ${clients.length - next} clients not tried`);
  return { type: 'connected', ok, failed: clients.length - ok, ms: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000, errors };
}

/**
 * ESP pool for the C blaster: `count` datagrams of one client, each carrying a
 * `size`-byte IPv4/UDP packet from the client's pool address to dst:dstPort.
 * The first `punch` go out through our socket (the daemon forwards them and the
 * masquerade learns the flow the downstream sender answers on); then the
 * socket closes so the blaster and the receiver can take the client's port.
 */
function pool(m: Extract<ClientCmd, { cmd: 'pool' }>): ClientReply {
  const c = clients[m.index];
  if (!c?.connected || !c.sock4500) throw new Error(`client ${m.index} is not connected`);
  // As a Linux sender makes them: DF, consecutive IPv4 IDs, a UDP checksum
  // (the daemon's TUN coalescing checks each one), payloads that differ.
  const frameOf = (i: number): Buffer => {
    const udp = Buffer.alloc(m.size - 20, 0x5a);
    udp.writeUInt16BE(m.srcPort, 0);
    udp.writeUInt16BE(m.dstPort, 2);
    udp.writeUInt16BE(udp.length, 4);
    udp.writeUInt16BE(0, 6);
    udp.writeUInt32BE(i, 8);
    const ip = ipv4(c.ppp.address, m.dst, udp);
    ip.writeUInt16BE(i & 0xffff, 4);
    ip.writeUInt16BE(0, 10);
    ip.writeUInt16BE(internetChecksum(ip, 0, 20), 10);
    const pseudo = Buffer.alloc(12);
    ip.copy(pseudo, 0, 12, 20);
    pseudo[9] = 17;
    pseudo.writeUInt16BE(udp.length, 10);
    ip.writeUInt16BE(internetChecksum(ip, 20, ip.length, partialSum(pseudo)) || 0xffff, 26);
    return c.lac.data(c.sessionId, Buffer.concat([Buffer.from([0xff, 0x03, 0x00, 0x21]), ip]));
  };
  for (let i = 0; i < m.punch; i++) c.sendL2tp([frameOf(i)]);
  const parts: Buffer[] = [];
  const head = Buffer.alloc(4);
  head.writeUInt32LE(m.count);
  parts.push(head);
  let size = 0;
  for (let i = 0; i < m.count; i++) {
    const { sends } = c.esp.encryptBatch([{ saId: c.saId, innerDstPort: 1701, payload: frameOf(m.punch + i) }], performance.now());
    const d = Buffer.from(sends[0]!.data);
    c.espSent++;
    size = d.length;
    const len = Buffer.alloc(4);
    len.writeUInt32LE(d.length);
    parts.push(len, d);
  }
  writeFileSync(m.file, Buffer.concat(parts));
  const reply: ClientReply = { type: 'pool', authKey: c.authKey.toString('hex'), nextSeq: c.espSent + 1, address: c.addr.address, datagramSize: size };
  c.close();
  return reply;
}

/** Every connected client hangs up at once: all datagrams built first, then sent back to back. */
async function hangup(): Promise<ClientReply> {
  const all: Array<{ sock: dgram.Socket; data: Buffer }> = [];
  const leaving = clients.filter((c) => c.connected);
  for (const c of leaving) all.push(...c.hangUpDatagrams());
  const t0 = performance.now();
  for (const d of all) send(d.sock, d.data, 4500, server);
  const ms = performance.now() - t0;
  // let the answers (ZLB, acks) arrive before the sockets close
  await new Promise((r) => setTimeout(r, 1000));
  for (const c of leaving) c.close();
  return { type: 'hungup', clients: leaving.length, datagrams: all.length, ms };
}

async function handle(m: ClientCmd): Promise<ClientReply | undefined> {
  switch (m.cmd) {
    case 'connect':
      return await connect(m);
    case 'pool':
      return pool(m);
    case 'hangup':
      return await hangup();
    case 'metrics': {
      const r = await fetch(m.url);
      return { type: 'metrics', text: await r.text() };
    }
    case 'exit':
      for (const c of clients) c.close();
      process.exit(0);
  }
  return undefined;
}

process.on('message', (m: ClientCmd) => {
  handle(m).then(
    (r) => r && process.send?.(r),
    (e: unknown) => process.send?.({ type: 'error', error: (e as Error).stack ?? String(e) }),
  );
});
process.on('disconnect', () => process.exit(0));
process.send?.({ type: 'ready' });
