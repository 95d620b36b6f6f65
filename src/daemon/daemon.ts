import { randomBytes } from 'node:crypto';
import { isAbsolute } from 'node:path';
import type { Clock } from '../core/clock.js';
import { monotonicClock } from '../core/clock.js';
import { warmDhGroups } from '../core/dh.js';
import { fullGc, HEAP_TRIM_DEFAULTS, HeapTrim } from './heap-trim.js';
import { Counters } from '../core/counters.js';
import type { Endpoint } from '../core/sa.js';
import { Pipeline, classifyNatt, type Ikev2Options, espLabel, mssForMtu, nftRules, type EndedSession, type PipelineEvent, type PipelineSink, type TunPort, type UdpPort } from '../session/index.js';
import { UdpEndpoints } from '../io/udp.js';
import { nativeCbc, nativeGcm, nativeHmac, nativeOneShot } from '../io/udp-native.js';
import { useOneShotProvider } from '../core/oneshot.js';
import { TunDevice, tunStats } from '../io/tun.js';
import { NetConfig } from '../io/netcfg.js';
import type { Config } from './config.js';
import { serverTunnelAddress } from './config.js';
import type { Logger } from './log.js';
import type { UserStore } from './users.js';
import { loadUsers } from './users.js';
import { ReloadRefused, usersFileErrors } from './reload.js';
import { loadServerIdentity } from './certs.js';
import { HistoryFile, type HistoryEntry } from './history.js';
import type { ControlTarget, DaemonEvent, DisconnectTarget, SessionInfo, StatusInfo } from './control-types.js';
import { pskFingerprint } from './control-util.js';
import { RadiusHost } from './radius-host.js';

export { espLabel };

/** One timer at a time, set and cleared by the daemon (tests inject a fake). */
export interface Scheduler {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const realScheduler: Scheduler = {
  set: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface DaemonOptions {
  clock?: Clock;
  scheduler?: Scheduler;
  /** Skip the TUN device and kernel setup (tests that only exercise the protocol path). */
  noTun?: boolean;
  /** The full collection after a burst of sessions (heap-trim.ts); default V8's, off with L2TPSEC_HEAP_TRIM=0. */
  fullGc?: (() => void) | undefined;
}

/**
 * The host: opens and closes the I/O (UDP 500/4500, the TUN device, the kernel's
 * forwarding and NAT rules), reloads users, serves the control API's questions,
 * keeps the history file, and arms one timer at the pipeline's next deadline.
 * Every protocol decision is the pipeline's (src/session).
 */
export class Daemon implements ControlTarget {
  readonly counters = new Counters('daemon');
  private readonly clock: Clock;
  private readonly scheduler: Scheduler;
  private readonly pipeline: Pipeline;
  private udp: UdpEndpoints | undefined;
  private tun: TunDevice | undefined;
  private net: NetConfig | undefined;
  private timer: unknown;
  private timerAt: number | undefined;
  private stopping = false;
  /** One full collection after a burst of sessions starting or ending (undefined: off). */
  readonly heapTrim: HeapTrim | undefined;
  private readonly startedAt = Date.now();
  private readonly listeners = new Set<(e: DaemonEvent) => void>();
  private readonly historyFile: HistoryFile | undefined;
  /** With [radius]: logins, accounting and Disconnect-Request (radius-host.ts). */
  readonly radius: RadiusHost | undefined;

  constructor(
    readonly cfg: Config,
    private users: UserStore,
    private readonly log: Logger,
    private readonly opts: DaemonOptions = {},
  ) {
    this.clock = opts.clock ?? monotonicClock;
    this.scheduler = opts.scheduler ?? realScheduler;
    // the control plane's hashes, HMACs and CBC (IKE's PRF and bodies, MS-CHAPv2) through the addon when built, like ESP's
    useOneShotProvider(process.env.L2TPSEC_ESP_CRYPTO === 'js' ? undefined : nativeOneShot());
    const gc = 'fullGc' in opts ? opts.fullGc : process.env.L2TPSEC_HEAP_TRIM === '0' ? undefined : fullGc();
    this.heapTrim = gc
      ? new HeapTrim({ ...HEAP_TRIM_DEFAULTS, now: () => this.clock.now(), set: (fn, ms) => this.scheduler.set(fn, ms), clear: (h) => this.scheduler.clear(h), collect: gc, busy: () => this.pipeline.handshakesInProgress > 0 })
      : undefined;
    // only a path resolved by parseConfig (absolute) is used: bare defaults write nothing
    this.historyFile = cfg.control?.historyFile && isAbsolute(cfg.control.historyFile) ? new HistoryFile(cfg.control.historyFile) : undefined;
    const udpPort: UdpPort = {
      sendIke: (from, to, data) => this.udp?.sendIke(from, to, data),
      sendEsp: (sends) => this.udp?.sendEspBatch(sends),
      copiesOnSend: () => this.udp?.sendEspCopies === true,
    };
    const tunPort: TunPort = { write: (packets) => (this.tun ? this.tun.write(packets) : packets.length) };
    this.radius = cfg.radius?.enabled
      ? new RadiusHost({ cfg: cfg.radius, clock: this.clock, timer: realScheduler, log: (ev) => this.log.event(ev), counters: this.counters.view('radius.'), afterInput: () => this.arm() })
      : undefined;
    const sink: PipelineSink = {
      log: (ev) => this.log.event(ev),
      event: (ev) => {
        this.onEvent(ev);
        this.radius?.onEvent(ev);
      },
      ended: (entry) => {
        this.record(entry);
        this.radius?.onEnded(entry);
      },
    };
    this.pipeline = new Pipeline(
      {
        psk: Buffer.from(cfg.ipsec.psk, 'utf8'),
        cookieSecret: randomBytes(32),
        allowLegacy: cfg.ipsec.allowLegacy,
        ikeLifetimeMax: cfg.ipsec.ikeLifetimeMax,
        childLifetimeMax: cfg.ipsec.childLifetimeMax,
        dpdIdle: cfg.ipsec.dpdIdle,
        hostName: cfg.server.hostname,
        l2tpSecret: cfg.l2tp.secret ? Buffer.from(cfg.l2tp.secret, 'utf8') : undefined,
        helloInterval: cfg.l2tp.helloInterval,
        pool: cfg.ppp.pool,
        serverAddress: serverTunnelAddress(cfg),
        dns: cfg.ppp.dns,
        mru: cfg.ppp.mru,
        auth: cfg.ppp.auth,
        idleTimeout: cfg.ppp.idleTimeout,
        maxSessionsPerUser: cfg.ppp.maxSessionsPerUser,
        limits: cfg.limits,
        counters: this.counters,
        // PPP's per-packet debug lines are not even built when the log level drops them
        pppDebug: this.log.enabled?.('debug') ?? true,
        // ESP's HMAC and AES-GCM per batch through the addon when built; L2TPSEC_ESP_CRYPTO=js keeps node:crypto per packet
        ...(process.env.L2TPSEC_ESP_CRYPTO === 'js' ? {} : { hmacBatch: nativeHmac(), gcmBatch: nativeGcm(), cbcBatch: nativeCbc() }),
        ...(cfg.ikev2?.enabled ? { ikev2: this.ikev2Identity() } : {}),
        ...(this.radius ? { remoteAuth: this.radius } : {}),
      },
      users,
      udpPort,
      tunPort,
      sink,
    );
    this.radius?.attach(this.pipeline);
  }

  /** The server's certificate chain, key and IDr for IKEv2 (`check` and `serve` refuse a bad one first). */
  private ikev2Identity(): Ikev2Options {
    const id = loadServerIdentity(this.cfg);
    for (const w of id.warnings) this.log.warn('ikev2.certificate.warning', { key: w.key, file: w.file, problem: w.problem });
    return { certificates: id.certificates, privateKey: id.privateKey, localId: { idType: id.localId.idType, data: id.localId.data }, allowModp1024: this.cfg.ikev2.allowModp1024 };
  }

  async start(): Promise<void> {
    const { cfg } = this;
    if (!this.opts.noTun) {
      this.tun = TunDevice.open(cfg.tun.name, (packets) => this.input(() => this.pipeline.tunPackets(packets, this.clock.now())), {
        onError: (err) => this.log.error('tun.error', { error: err.message }),
      });
      this.net = new NetConfig({ rules: nftRules(), log: (e) => this.log.event(e) });
      const net = this.net;
      process.once('exit', () => net.tearDownSync());
      const { outInterface } = await this.net.bringUp({
        tunName: this.tun.name,
        pool: cfg.ppp.pool,
        mtu: cfg.tun.mtu,
        // the one MSS clamp (kernel): what fits in the tunnel MTU and in our PPP MRU
        mss: mssForMtu(Math.min(cfg.tun.mtu, cfg.ppp.mru)),
        masquerade: cfg.nat.masquerade,
        outInterface: cfg.nat.outInterface,
        clientToClient: cfg.nat.clientToClient,
      });
      this.log.info('nat.up', { tun: this.tun.name, outInterface, masquerade: cfg.nat.masquerade, tunOffload: this.tun.offload });
      // TUN writes coalesced into offload super-packets (native/tunoff.c), in /metrics and status
      this.counters.sampled('tun.write.super-packets', () => tunStats().superPackets);
      this.counters.sampled('tun.write.coalesced', () => tunStats().coalesced);
      this.counters.sampled('tun.read.dropped', () => tunStats().readDropped);
    }
    await this.radius?.start();
    // modp1024's parameter checks (every IKEv1 client proposes it) before the first client, not in its handshake
    warmDhGroups([2, 5, 14]);
    this.udp = await UdpEndpoints.open(
      {
        address: cfg.server.listen,
        ikePort: cfg.server.ikePort,
        nattPort: cfg.server.nattPort,
        counters: this.counters,
        classify: classifyNatt,
        // server.socket_buffer (4 MiB): a thousand clients hanging up at once must not overflow it
        recvBufferSize: cfg.server.socketBuffer,
        sendBufferSize: cfg.server.socketBuffer,
        // the NAT-T port's I/O: recvmmsg/sendmmsg through the addon when built; L2TPSEC_UDP_IO=dgram selects node:dgram
        io: process.env.L2TPSEC_UDP_IO === 'dgram' ? 'dgram' : process.env.L2TPSEC_UDP_IO === 'native' ? 'native' : 'auto',
        gso: process.env.L2TPSEC_UDP_GSO !== '0',
      },
      {
        onIke: (msg: Uint8Array, from: Endpoint, to: Endpoint) => this.input(() => this.pipeline.ikeMessage(msg, from, to, this.clock.now())),
        onEspBatch: (batch) => this.input(() => this.pipeline.espBatch(batch, this.clock.now())),
        onError: (err) => this.log.warn('udp.error', { error: err instanceof Error ? err.message : String(err) }),
      },
    );
    this.log.info('daemon.start', {
      listen: cfg.server.listen,
      ikev2: cfg.ikev2?.enabled === true,
      ports: [cfg.server.ikePort, cfg.server.nattPort],
      pool: cfg.ppp.pool,
      tun: this.tun?.name,
      users: this.users.list().length,
    });
  }

  /** Graceful stop: tell every client (LCP Terminate, StopCCN, Delete), then undo the kernel setup. */
  async stop(reason = 'shutdown'): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.disarm();
    this.heapTrim?.stop();
    this.pipeline.shutdown(reason, this.clock.now());
    // let the last datagrams leave before the sockets close
    await new Promise((r) => setTimeout(r, 100));
    this.pipeline.finish(reason, this.clock.now());
    await this.udp?.close();
    // accounting Stops of the sessions just ended: a few seconds to be answered, then the spool
    await this.radius?.stop();
    this.tun?.close();
    if (this.net) await this.net.tearDown();
    this.log.info('daemon.stop', { reason });
  }

  /** Run one input through the pipeline, then re-arm the timer. */
  private input(f: () => void): void {
    if (this.stopping) return;
    f();
    this.arm();
  }

  /** One timer at the earliest deadline; a later deadline keeps the earlier timer (it re-arms when it fires). */
  private arm(): void {
    const at = this.pipeline.nextDeadline();
    if (at === undefined || (this.timerAt !== undefined && this.timerAt <= at)) return;
    this.disarm();
    this.timerAt = at;
    this.timer = this.scheduler.set(() => this.fire(), Math.max(0, Math.ceil(at - this.clock.now())));
  }

  private disarm(): void {
    if (this.timer !== undefined) this.scheduler.clear(this.timer);
    this.timer = undefined;
    this.timerAt = undefined;
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = undefined;
    this.input(() => this.pipeline.tick(this.clock.now()));
  }

  // ---- users, events, history ------------------------------------------------

  /** Swap in a reloaded user store (SIGHUP). */
  setUsers(users: UserStore): void {
    this.users = users;
    this.pipeline.setUsers(users);
    this.log.info('users.reload', { users: users.list().length });
    this.emit('users.reload', { users: users.list().length });
  }

  /**
   * Reload the users file (SIGHUP and POST /v1/reload), only when `check` would accept
   * it: otherwise ReloadRefused names every problem and the users stay as they were.
   */
  async reload(): Promise<{ users: number }> {
    const errors = await usersFileErrors(this.cfg);
    if (errors.length > 0) throw new ReloadRefused(errors);
    const u = await loadUsers(this.cfg.ppp.usersFile);
    this.setUsers(u);
    return { users: u.list().length };
  }

  subscribe(fn: (e: DaemonEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private onEvent(ev: PipelineEvent): void {
    if (ev.type === 'session.start' || ev.type === 'session.stop') this.heapTrim?.note();
    if (ev.type === 'session.disconnect') this.log.info('session.disconnect', ev.fields);
    this.emit(ev.type, ev.fields);
  }

  private isoMs = Number.NaN;
  private isoText = '';
  /** The wall clock as ISO text, made once per millisecond (a burst of events shares it). */
  private isoNow(): string {
    const ms = Date.now();
    if (ms !== this.isoMs) {
      this.isoMs = ms;
      this.isoText = new Date(ms).toISOString();
    }
    return this.isoText;
  }

  private emit(type: string, fields: Record<string, unknown>): void {
    if (this.listeners.size === 0) return;
    const ev: DaemonEvent = { ...fields, type, time: this.isoNow() };
    for (const l of [...this.listeners]) {
      try {
        l(ev);
      } catch {
        // a broken listener must not disturb the daemon
      }
    }
  }

  private record(entry: EndedSession): void {
    if (!this.historyFile) return;
    try {
      this.historyFile.append(entry);
    } catch (e) {
      this.log.warn('history.write.error', { file: this.historyFile.path, error: (e as Error).message });
    }
  }

  // ---- control API (src/daemon/control.ts) ------------------------------------

  logDropped(): number {
    return this.log.dropped();
  }

  /** The counters `status` shows (failed handshakes, auth failures, drops). */
  counterSnapshot(): Record<string, number> {
    return this.counters.snapshot();
  }

  history(opts: { user?: string; limit?: number }): HistoryEntry[] {
    return this.historyFile?.read(opts) ?? [];
  }

  usersInfo(): Array<{ name: string; address: string | null; maxSessions: number | null }> {
    return this.users.list().map((u) => ({ name: u.name, address: u.address ?? null, maxSessions: u.maxSessions ?? null }));
  }

  statusInfo(): StatusInfo {
    const now = this.clock.now();
    const sessions: SessionInfo[] = this.pipeline.sessions(now).map((v) => ({
      id: v.rec.id,
      user: v.rec.user ?? null,
      address: v.rec.address ?? null,
      kind: v.rec.kind === 'ikev2' ? 'ikev2' : 'l2tp',
      peer: v.peer,
      natT: v.natT,
      ike: v.ike,
      esp: v.esp,
      started: new Date(v.rec.startedAt).toISOString(),
      uptime: Math.max(0, Math.floor((now - v.rec.started) / 1000)),
      bytesIn: v.rec.bytesIn,
      bytesOut: v.rec.bytesOut,
      packetsIn: v.rec.packetsIn,
      packetsOut: v.rec.packetsOut,
      idle: v.idle,
      phase: v.phase,
    }));
    const pool = this.pipeline.table.pool;
    return {
      listen: [`${this.cfg.server.listen}:${this.cfg.server.ikePort}`, `${this.cfg.server.listen}:${this.cfg.server.nattPort}`],
      pskFingerprint: pskFingerprint(this.cfg.ipsec.psk),
      pool: { cidr: this.cfg.ppp.pool, size: pool.size, used: pool.size - pool.free, free: pool.free },
      ikeSas: this.pipeline.ikeSaCount,
      users: this.users.list().length,
      uptime: Math.floor((Date.now() - this.startedAt) / 1000),
      sessions,
      ...(this.radius ? { radius: this.radius.info() } : {}),
    };
  }

  /** PPP Terminate → CDN → IKE Delete when the client has no other session (see Pipeline.disconnect). */
  disconnect(target: DisconnectTarget, reason: string): string[] {
    const ids = this.pipeline.disconnect(target, reason, this.clock.now());
    this.arm();
    return ids;
  }
}
