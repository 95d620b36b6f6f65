import { randomBytes } from 'node:crypto';
import { isAbsolute } from 'node:path';
import type { Clock } from '../core/clock.js';
import { monotonicClock } from '../core/clock.js';
import { Counters } from '../core/counters.js';
import { endpointText, type Endpoint, type EspTransform } from '../core/sa.js';
import { IkeResponder, type IkeOutput } from '../ike/responder.js';
import { EspEngine, type EspEvent, type EspInbound, type EspOutbound } from '../esp/engine.js';
import { classifyNatt } from '../esp/natt.js';
import { nftRules } from '../nat/rules.js';
import { L2tpServer, type L2tpOutput } from '../l2tp/server.js';
import { PppSession, type PppAuthBackend, type PppOutput, type PppUser } from '../ppp/session.js';
import { AddressPool } from '../ppp/pool.js';
import { Forwarder } from '../nat/forwarder.js';
import { UdpEndpoints } from '../io/udp.js';
import { TunDevice } from '../io/tun.js';
import { NetConfig } from '../io/netcfg.js';
import type { Config } from './config.js';
import { serverTunnelAddress } from './config.js';
import type { Logger } from './log.js';
import type { UserStore } from './users.js';
import { loadUsers } from './users.js';
import { HistoryFile, type HistoryEntry } from './history.js';
import type { ControlTarget, DaemonEvent, DisconnectTarget, SessionInfo, StatusInfo } from './control-types.js';
import { pskFingerprint } from './control-util.js';

/** L2TP peers are keyed by the SA's outer endpoint AND the inner UDP source port. */
interface PeerInfo {
  peer: Endpoint;
  innerPort: number;
}

interface SessionState {
  key: string;
  peerKey: string;
  ppp: PppSession;
  user: string | undefined;
  address: string | undefined;
  started: number;
  /** Wall-clock start (ms since the epoch), for history and status. */
  startedAt: number;
  /** Set by an administrative disconnect: delete the peer's SAs once the session is gone. */
  disconnectRequested: boolean;
  bytesIn: number;
  bytesOut: number;
  packetsIn: number;
  packetsOut: number;
}

export interface DaemonOptions {
  clock?: Clock;
  /** Skip the TUN device and kernel setup (tests that only exercise the protocol path). */
  noTun?: boolean;
}

const TICK_MS = 250;

/**
 * Wires the layers: UDP 500/4500 → IKE and ESP → L2TP → PPP → forwarder → TUN,
 * and back. All protocol state lives in the sans-I/O cores; this class only
 * moves their outputs to the next layer or to the I/O objects.
 */
export class Daemon implements ControlTarget {
  readonly counters = new Counters('daemon');
  private readonly clock: Clock;
  private readonly ike: IkeResponder;
  private readonly esp: EspEngine;
  private readonly l2tp: L2tpServer;
  private readonly pool: AddressPool;
  private readonly forwarder: Forwarder;
  private readonly peers = new Map<string, PeerInfo>();
  private readonly sessions = new Map<string, SessionState>();
  private udp: UdpEndpoints | undefined;
  private tun: TunDevice | undefined;
  private net: NetConfig | undefined;
  private timer: NodeJS.Timeout | undefined;
  private espOut: EspOutbound[] = [];
  private tunOut: Buffer[] = [];
  private stopping = false;
  private readonly startedAt = Date.now();
  private readonly listeners = new Set<(e: DaemonEvent) => void>();
  private readonly historyFile: HistoryFile | undefined;
  /** Child SA id → what status shows about it. */
  private readonly childInfo = new Map<string, { natT: boolean; transform: string }>();

  constructor(
    readonly cfg: Config,
    private users: UserStore,
    private readonly log: Logger,
    private readonly opts: DaemonOptions = {},
  ) {
    this.clock = opts.clock ?? monotonicClock;
    this.ike = new IkeResponder({
      psk: Buffer.from(cfg.ipsec.psk, 'utf8'),
      cookieSecret: randomBytes(32),
      allowLegacy: cfg.ipsec.allowLegacy,
      ikeLifetimeMax: cfg.ipsec.ikeLifetimeMax,
      childLifetimeMax: cfg.ipsec.childLifetimeMax,
      dpdIdle: cfg.ipsec.dpdIdle,
      counters: this.counters,
    });
    this.esp = new EspEngine({ counters: this.counters });
    this.l2tp = new L2tpServer({
      hostName: cfg.server.hostname,
      secret: cfg.l2tp.secret ? Buffer.from(cfg.l2tp.secret, 'utf8') : undefined,
      helloInterval: cfg.l2tp.helloInterval,
      counters: this.counters,
      // peer keys are "address:port/innerPort": limit tunnels per outer address
      peerGroup: (k) => k.slice(0, k.lastIndexOf(':')),
    });
    this.pool = new AddressPool(cfg.ppp.pool);
    this.pool.setStatic(users.staticAddresses());
    this.forwarder = new Forwarder({ pool: cfg.ppp.pool, mtu: Math.min(cfg.tun.mtu, cfg.ppp.mru) });
    // only a path resolved by parseConfig (absolute) is used: bare defaults write nothing
    this.historyFile = cfg.control?.historyFile && isAbsolute(cfg.control.historyFile) ? new HistoryFile(cfg.control.historyFile) : undefined;
  }

  async start(): Promise<void> {
    const { cfg } = this;
    if (!this.opts.noTun) {
      this.tun = TunDevice.open(cfg.tun.name, (packets) => this.onTunPackets(packets), {
        onError: (err) => this.log.error('tun.error', { error: err.message }),
      });
      this.net = new NetConfig({ rules: nftRules(), log: (e) => this.log.event(e) });
      const net = this.net;
      process.once('exit', () => net.tearDownSync());
      const { outInterface } = await this.net.bringUp({
        tunName: this.tun.name,
        pool: cfg.ppp.pool,
        mtu: cfg.tun.mtu,
        masquerade: cfg.nat.masquerade,
        outInterface: cfg.nat.outInterface,
        clientToClient: cfg.nat.clientToClient,
      });
      this.log.info('nat.up', { tun: this.tun.name, outInterface, masquerade: cfg.nat.masquerade });
    }
    this.udp = await UdpEndpoints.open(
      { address: cfg.server.listen, ikePort: cfg.server.ikePort, nattPort: cfg.server.nattPort, counters: this.counters, classify: classifyNatt },
      {
        onIke: (msg, from, to) => this.onIke(msg, from, to),
        onEspBatch: (batch) => this.onEspBatch(batch),
        onError: (err) => this.log.warn('udp.error', { error: err instanceof Error ? err.message : String(err) }),
      },
    );
    this.timer = setInterval(() => this.onTick(), TICK_MS);
    this.timer.unref();
    this.log.info('daemon.start', {
      listen: cfg.server.listen,
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
    const now = this.clock.now();
    // Innermost first, each flushed while the SAs that carry it still exist:
    // LCP Terminate and StopCCN go out through ESP, then IKE sends its Deletes.
    for (const s of [...this.sessions.values()]) this.handlePpp(s, s.ppp.close(reason, now));
    this.handleL2tp(this.l2tp.shutdown(now));
    this.flush();
    this.handleIke(this.ike.shutdown(now));
    this.flush();
    if (this.timer) clearInterval(this.timer);
    // let the last datagrams leave before the sockets close
    await new Promise((r) => setTimeout(r, 100));
    const end = this.clock.now();
    for (const s of [...this.sessions.values()]) this.handlePpp(s, s.ppp.lowerDown(reason, end));
    await this.udp?.close();
    this.tun?.close();
    if (this.net) await this.net.tearDown();
    this.log.info('daemon.stop', { reason });
  }

  /** Swap in a reloaded user store (SIGHUP). */
  setUsers(users: UserStore): void {
    this.users = users;
    this.pool.setStatic(users.staticAddresses());
    this.log.info('users.reload', { users: users.list().length });
    this.emit('users.reload', { users: users.list().length });
  }

  // ---- control API (src/daemon/control.ts) --------------------------------

  /** Reload the users file (SIGHUP and POST /v1/reload). */
  async reload(): Promise<{ users: number }> {
    const u = await loadUsers(this.cfg.ppp.usersFile);
    this.setUsers(u);
    return { users: u.list().length };
  }

  subscribe(fn: (e: DaemonEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(type: string, fields: Record<string, unknown>): void {
    if (this.listeners.size === 0) return;
    const ev: DaemonEvent = { ...fields, type, time: new Date().toISOString() };
    for (const l of [...this.listeners]) {
      try {
        l(ev);
      } catch {
        // a broken listener must not disturb the daemon
      }
    }
  }

  history(opts: { user?: string; limit?: number }): HistoryEntry[] {
    return this.historyFile?.read(opts) ?? [];
  }

  usersInfo(): Array<{ name: string; address: string | null; maxSessions: number | null }> {
    return this.users.list().map((u) => ({ name: u.name, address: u.address ?? null, maxSessions: u.maxSessions ?? null }));
  }

  statusInfo(): StatusInfo {
    const now = this.clock.now();
    const ikeSas = this.ike.list();
    const sessions: SessionInfo[] = [...this.sessions.values()].map((s) => {
      const peer = this.peers.get(s.peerKey)?.peer;
      const saId = peer ? this.esp.saForPeer(peer) : undefined;
      const child = saId ? this.childInfo.get(saId) : undefined;
      const ike = peer ? ikeSas.find((i) => i.peer.address === peer.address && i.peer.port === peer.port) : undefined;
      const st = s.ppp.status(now);
      return {
        id: s.key,
        user: s.user ?? null,
        address: s.address ?? null,
        // where the client is now (its NAT mapping may have moved since it connected)
        peer: peer ? endpointText(this.esp.destinationOf(peer) ?? peer) : null,
        natT: child ? child.natT : null,
        ike: ike?.algorithms ?? null,
        esp: child?.transform ?? null,
        started: new Date(s.startedAt).toISOString(),
        uptime: Math.max(0, Math.floor((now - s.started) / 1000)),
        bytesIn: s.bytesIn,
        bytesOut: s.bytesOut,
        packetsIn: s.packetsIn,
        packetsOut: s.packetsOut,
        idle: st.idleSeconds ?? null,
        phase: st.phase,
      };
    });
    return {
      listen: [`${this.cfg.server.listen}:${this.cfg.server.ikePort}`, `${this.cfg.server.listen}:${this.cfg.server.nattPort}`],
      pskFingerprint: pskFingerprint(this.cfg.ipsec.psk),
      pool: { cidr: this.cfg.ppp.pool, size: this.pool.size, used: this.pool.size - this.pool.free, free: this.pool.free },
      ikeSas: ikeSas.length,
      users: this.users.list().length,
      uptime: Math.floor((Date.now() - this.startedAt) / 1000),
      sessions,
    };
  }

  /**
   * Administrative disconnect: PPP Terminate-Request now; when PPP reports closed
   * the L2TP session gets its CDN, and if that client has no other session its
   * child SA is deleted (IKE Delete).
   */
  disconnect(target: DisconnectTarget, reason: string): string[] {
    const ids: string[] = [];
    this.guard('disconnect', () => {
      const now = this.clock.now();
      for (const s of [...this.sessions.values()]) {
        const match = (target.session !== undefined && s.key === target.session) || (target.user !== undefined && s.user === target.user);
        if (!match) continue;
        ids.push(s.key);
        s.disconnectRequested = true;
        this.log.info('session.disconnect', { session: s.key, user: s.user, reason });
        this.emit('session.disconnect', { session: s.key, user: s.user ?? null, reason });
        this.handlePpp(s, s.ppp.close(reason, now));
      }
    });
    this.flush();
    return ids;
  }

  status(): {
    ikeSas: ReturnType<IkeResponder['list']>;
    sessions: Array<Omit<SessionState, 'ppp'> & { peer: Endpoint | undefined }>;
    poolFree: number;
    poolSize: number;
    counters: Record<string, number>;
  } {
    return {
      ikeSas: this.ike.list(),
      sessions: [...this.sessions.values()].map(({ ppp: _ppp, ...s }) => ({ ...s, peer: this.peers.get(s.peerKey)?.peer })),
      poolFree: this.pool.free,
      poolSize: this.pool.size,
      counters: this.counters.snapshot(),
    };
  }

  // ---- inputs -------------------------------------------------------------

  private onIke(msg: Uint8Array, from: Endpoint, to: Endpoint): void {
    this.guard('ike', () => this.handleIke(this.ike.receive(msg, from, to, this.clock.now())));
    this.flush();
  }

  private onEspBatch(batch: EspInbound[]): void {
    this.guard('esp', () => {
      const now = this.clock.now();
      const { delivered, events } = this.esp.decryptBatch(batch, now);
      this.handleEspEvents(events);
      for (const d of delivered) {
        const peerKey = `${endpointText(d.peer)}/${d.innerSrcPort}`;
        if (!this.peers.has(peerKey)) this.peers.set(peerKey, { peer: d.peer, innerPort: d.innerSrcPort });
        this.handleL2tp(this.l2tp.receive(d.payload, peerKey, now));
      }
    });
    this.flush();
  }

  private onTunPackets(packets: Buffer[]): void {
    this.guard('tun', () => {
      for (const p of packets) {
        const r = this.forwarder.toClient(p);
        if (!r) {
          this.counters.inc('tun.drop.no-session');
          continue;
        }
        const s = this.sessions.get(r.sessionKey);
        if (!s) continue;
        s.bytesOut += r.packet.length;
        s.packetsOut++;
        this.handleL2tp(this.l2tp.sendPpp(s.key, s.ppp.encapsulateIpv4(r.packet)));
      }
    });
    this.flush();
  }

  private onTick(): void {
    this.guard('tick', () => {
      const now = this.clock.now();
      this.handleIke(this.ike.tick(now));
      this.handleL2tp(this.l2tp.tick(now));
      for (const s of [...this.sessions.values()]) this.handlePpp(s, s.ppp.tick(now));
    });
    this.flush();
  }

  /** The last line of defence: a bug in a core must not kill the daemon. */
  private guard(where: string, f: () => void): void {
    try {
      f();
    } catch (e) {
      this.counters.inc(`internal-error.${where}`);
      this.log.error('internal.error', { where, error: (e as Error).stack ?? String(e) });
    }
  }

  // ---- outputs of each layer ----------------------------------------------

  private handleIke(outs: IkeOutput[]): void {
    for (const o of outs) {
      switch (o.type) {
        case 'send':
          this.udp?.sendIke(o.from, o.to, o.data);
          break;
        case 'child-sa-up':
          this.esp.addSa(o);
          this.saPeers.set(o.id, o.peer);
          this.childInfo.set(o.id, { natT: o.encapsulation === 'udp', transform: espLabel(o.transform) });
          this.emit('ipsec.sa.up', { id: o.id, peer: endpointText(o.peer), natT: o.encapsulation === 'udp' });
          this.log.info('ipsec.sa.up', {
            id: o.id,
            peer: endpointText(o.peer),
            spiIn: o.inbound.spi.toString(16),
            spiOut: o.outbound.spi.toString(16),
            transform: espLabel(o.transform),
            lifetime: o.lifetimeSeconds,
          });
          break;
        case 'child-sa-down': {
          const sa = this.findPeerOfSa(o.id);
          this.esp.removeSa(o.id);
          this.childInfo.delete(o.id);
          this.log.info('ipsec.sa.down', { id: o.id, reason: o.reason });
          this.emit('ipsec.sa.down', { id: o.id, reason: o.reason });
          // Without any SA left for that peer its L2TP tunnels cannot speak: free them.
          if (sa && !this.esp.saForPeer(sa)) this.closePeerTunnels(sa, `ipsec sa ${o.reason}`);
          break;
        }
        case 'ike-sa-up':
          this.log.info('ike.sa.up', { id: o.id, peer: endpointText(o.peer), peerId: o.peerId, algorithms: o.algorithms });
          this.emit('ike.sa.up', { id: o.id, peer: endpointText(o.peer), algorithms: o.algorithms });
          break;
        case 'peer-moved':
          // IKE followed the client's new NAT mapping: its ESP SAs send there too
          this.esp.movePeer(o.peer, o.remote);
          this.log.info('peer.moved', { peer: endpointText(o.peer), to: endpointText(o.remote), by: 'ike' });
          break;
        case 'ike-sa-down':
          this.log.info('ike.sa.down', { id: o.id, peer: endpointText(o.peer), reason: o.reason });
          this.emit('ike.sa.down', { id: o.id, peer: endpointText(o.peer), reason: o.reason });
          break;
        case 'log':
          this.log.event(o);
          break;
      }
    }
  }

  private readonly saPeers = new Map<string, Endpoint>();

  private findPeerOfSa(id: string): Endpoint | undefined {
    const p = this.saPeers.get(id);
    this.saPeers.delete(id);
    return p;
  }

  /** The sessions end with `reason` (history, session.stop): e.g. "ipsec sa dpd", "ipsec sa deleted by peer". */
  private closePeerTunnels(peer: Endpoint, reason: string): void {
    const prefix = `${endpointText(peer)}/`;
    const now = this.clock.now();
    for (const key of [...this.peers.keys()]) {
      if (!key.startsWith(prefix)) continue;
      this.handleL2tp(this.l2tp.closePeer(key, now, false, reason));
      this.peers.delete(key);
    }
  }

  private handleEspEvents(events: EspEvent[]): void {
    for (const e of events) {
      if (e.type === 'log') this.log.event(e);
      else if (e.type === 'rekey-needed') this.log.warn('ipsec.sa.rekey-needed', { id: e.saId });
      else if (e.type === 'peer-moved') {
        // The client's NAT mapping changed (authenticated ESP from a new port): ESP already
        // sends there; IKE's DPD and Deletes follow. Sessions keep their keys (the identity).
        this.counters.inc('peer.moved');
        this.log.info('peer.moved', { sa: e.saId, peer: endpointText(e.peer), to: endpointText(e.observed), by: 'esp' });
        this.handleIke(this.ike.movePeer(e.peer, e.observed));
      }
    }
  }

  private handleL2tp(outs: L2tpOutput[]): void {
    for (const o of outs) {
      switch (o.type) {
        case 'send': {
          const p = this.peers.get(o.peerKey);
          const saId = p ? this.esp.saForPeer(p.peer) : undefined;
          if (!p || !saId) {
            this.counters.inc('l2tp.drop.no-sa');
            break;
          }
          this.espOut.push({ saId, innerDstPort: p.innerPort, payload: o.data });
          break;
        }
        case 'session-up':
          this.startSession(o.sessionKey, o.peerKey);
          break;
        case 'ppp-frame': {
          const s = this.sessions.get(o.sessionKey);
          if (s) this.handlePpp(s, s.ppp.receive(o.frame, this.clock.now()));
          break;
        }
        case 'session-down': {
          const s = this.sessions.get(o.sessionKey);
          // The L2TP session is gone: PPP frees its lease and reports 'closed'.
          if (s) this.handlePpp(s, s.ppp.lowerDown(o.reason, this.clock.now()));
          break;
        }
        case 'tunnel-down':
          this.peers.delete(o.peerKey);
          break;
        case 'log':
          this.log.event(o);
          break;
      }
    }
  }

  private startSession(key: string, peerKey: string): void {
    const now = this.clock.now();
    const ppp = new PppSession(
      {
        serverAddress: serverTunnelAddress(this.cfg),
        dns: this.cfg.ppp.dns,
        mru: this.cfg.ppp.mru,
        authProtocols: this.cfg.ppp.auth,
        idleTimeout: this.cfg.ppp.idleTimeout,
        serverName: this.cfg.server.hostname,
      },
      this.authBackend,
      this.pool,
      now,
    );
    const s: SessionState = { key, peerKey, ppp, user: undefined, address: undefined, started: now, startedAt: Date.now(), disconnectRequested: false, bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0 };
    this.sessions.set(key, s);
    this.handlePpp(s, ppp.start(now));
  }

  private readonly authBackend: PppAuthBackend = {
    lookup: (name: string): PppUser | undefined => this.users.lookup(name),
    admit: (name: string) => {
      const limit = this.users.get(name)?.maxSessions ?? this.cfg.ppp.maxSessionsPerUser;
      let active = 0;
      for (const s of this.sessions.values()) if (s.user === name) active++;
      if (limit > 0 && active >= limit) return { ok: false, message: `session limit of ${limit} reached` };
      return { ok: true };
    },
  };

  private handlePpp(s: SessionState, outs: PppOutput[]): void {
    for (const o of outs) {
      switch (o.type) {
        case 'send':
          this.handleL2tp(this.l2tp.sendPpp(s.key, o.frame));
          break;
        case 'auth-success':
          s.user = o.user;
          break;
        case 'auth-failure':
          this.counters.inc('ppp.auth.failure');
          break;
        case 'ip-up':
          s.address = o.address;
          this.forwarder.addSession(s.key, o.address);
          this.log.info('session.start', { user: o.user, address: o.address, session: s.key, peer: this.peerText(s) });
          this.emit('session.start', { user: o.user, address: o.address, session: s.key, peer: this.peerText(s) ?? null });
          break;
        case 'ipv4': {
          const packet = Buffer.isBuffer(o.packet) ? o.packet : Buffer.from(o.packet.buffer, o.packet.byteOffset, o.packet.byteLength);
          const r = this.forwarder.fromClient(s.key, packet);
          if (!r.ok) {
            this.counters.inc(`forward.drop.${r.reason}`);
            const ev = this.forwarder.dropEvent(r.reason, s.key, this.clock.now());
            // a client sending from an address that is not its own is worth a warning
            if (ev) this.log.log(r.reason === 'spoofed-source' ? 'warn' : ev.level, ev.event, { ...ev.fields, user: s.user, peer: this.peerText(s) });
            break;
          }
          s.bytesIn += r.packet.length;
          s.packetsIn++;
          this.tunOut.push(r.packet);
          break;
        }
        case 'closed':
          this.handleL2tp(this.l2tp.closeSession(s.key, 3, this.clock.now(), o.reason));
          this.destroySession(s, o.reason);
          break;
        case 'log':
          // PPP does not know where the session comes from: add it (ppp.auth.failure names user and peer).
          this.log.log(o.level, o.event, { ...o.fields, session: s.key, peer: this.peerText(s) });
          break;
      }
    }
  }

  private destroySession(s: SessionState, reason: string): void {
    if (!this.sessions.delete(s.key)) return;
    this.forwarder.removeSession(s.key);
    if (s.address) {
      this.log.info('session.stop', {
        user: s.user,
        address: s.address,
        session: s.key,
        reason,
        duration: Math.round((this.clock.now() - s.started) / 1000),
        bytesIn: s.bytesIn,
        bytesOut: s.bytesOut,
      });
      const entry: HistoryEntry = {
        user: s.user ?? null,
        peer: this.peerText(s) ?? null,
        address: s.address,
        session: s.key,
        start: new Date(s.startedAt).toISOString(),
        end: new Date().toISOString(),
        duration: Math.round((this.clock.now() - s.started) / 1000),
        bytesIn: s.bytesIn,
        bytesOut: s.bytesOut,
        packetsIn: s.packetsIn,
        packetsOut: s.packetsOut,
        reason,
      };
      this.emit('session.stop', { ...entry });
      if (this.historyFile) {
        try {
          this.historyFile.append(entry);
        } catch (e) {
          this.log.warn('history.write.error', { file: this.historyFile.path, error: (e as Error).message });
        }
      }
    }
    if (s.disconnectRequested) this.deletePeerSaIfUnused(s);
  }

  /** After an admin disconnect: IKE Delete of the client's child SA when no other session uses that peer. */
  private deletePeerSaIfUnused(s: SessionState): void {
    const peer = this.peers.get(s.peerKey)?.peer;
    if (!peer) return;
    const prefix = `${endpointText(peer)}/`;
    for (const o of this.sessions.values()) if (o.peerKey.startsWith(prefix)) return;
    const saId = this.esp.saForPeer(peer);
    if (!saId) return;
    // the CDN queued just before must leave while the SA still exists
    this.flush();
    this.handleIke(this.ike.deleteChildSa(saId, this.clock.now()));
  }

  private peerText(s: SessionState): string | undefined {
    const p = this.peers.get(s.peerKey)?.peer;
    return p ? endpointText(p) : undefined;
  }

  /** Send what the layers queued during this turn: one ESP batch, one TUN write. */
  private flush(): void {
    if (this.espOut.length > 0) {
      const batch = this.espOut;
      this.espOut = [];
      this.guard('esp-out', () => {
        const { sends, events } = this.esp.encryptBatch(batch, this.clock.now());
        this.handleEspEvents(events);
        for (const s of sends) this.udp?.sendEsp(s.to, s.data);
      });
    }
    if (this.tunOut.length > 0) {
      const packets = this.tunOut;
      this.tunOut = [];
      if (this.tun) {
        const n = this.tun.write(packets);
        if (n < packets.length) this.counters.inc('tun.drop.write-full', packets.length - n);
      }
    }
  }
}

/** An ESP transform for logs and status: "aes-cbc256-hmac-sha1-96", "3des-cbc192-hmac-sha1-96", "aes-gcm128-icv16". */
export function espLabel(t: EspTransform): string {
  if (t.cipher === 'aes-gcm-16') return `aes-gcm${t.keyBits}-icv16`;
  return `${t.cipher}${t.keyBits}-${t.integ}`;
}
