import { flat } from '../core/flat.js';
import type { Session, Tunnel } from './tunnel.js';

/**
 * The LNS's indexes: tunnels by our Tunnel ID (unique across all peers),
 * by (peer key, peer's Assigned Tunnel ID) to recognise a retransmitted
 * SCCRQ, by peer key (closePeer), per-group counts (tunnel limit), and
 * established sessions by session key (the sendPpp hot path).
 */
export class Registry {
  readonly tunnels = new Map<number, Tunnel>();
  readonly sessions = new Map<string, Session>();
  private readonly byPeerTid = new Map<string, Tunnel>();
  private readonly byPeer = new Map<string, Set<Tunnel>>();
  private readonly perGroup = new Map<string, number>();

  constructor(private readonly random: (n: number) => Buffer) {}

  groupCount(group: string): number {
    return this.perGroup.get(group) ?? 0;
  }

  /** A live (not closing) tunnel the peer set up with this Assigned Tunnel ID. */
  byPeerTunnelId(peerKey: string, peerTid: number): Tunnel | undefined {
    return this.byPeerTid.get(`${peerKey}|${peerTid}`);
  }

  peerCount(peerKey: string): number {
    return this.byPeer.get(peerKey)?.size ?? 0;
  }

  peerTunnels(peerKey: string): Tunnel[] {
    return [...(this.byPeer.get(peerKey) ?? [])];
  }

  addTunnel(t: Tunnel): void {
    this.tunnels.set(t.tunnelId, t);
    this.byPeerTid.set(flat(t.peerKey, '|', t.peerTunnelId), t);
    let set = this.byPeer.get(t.peerKey);
    if (!set) this.byPeer.set(t.peerKey, (set = new Set()));
    set.add(t);
    this.perGroup.set(t.group, this.groupCount(t.group) + 1);
  }

  /** Stop recognising SCCRQ retransmissions for this tunnel (it is closing): a new SCCRQ makes a new tunnel. */
  unindexPeerTunnelId(t: Tunnel): void {
    const k = `${t.peerKey}|${t.peerTunnelId}`;
    if (this.byPeerTid.get(k) === t) this.byPeerTid.delete(k);
  }

  removeTunnel(t: Tunnel): void {
    this.unindexPeerTunnelId(t);
    if (this.tunnels.get(t.tunnelId) === t) {
      this.tunnels.delete(t.tunnelId);
      const n = this.groupCount(t.group) - 1;
      if (n > 0) this.perGroup.set(t.group, n);
      else this.perGroup.delete(t.group);
    }
    const set = this.byPeer.get(t.peerKey);
    if (set) {
      set.delete(t);
      if (set.size === 0) this.byPeer.delete(t.peerKey);
    }
  }

  /** A random non-zero 16-bit id for which inUse is false; undefined when all 65535 are taken. */
  allocId(inUse: (id: number) => boolean): number | undefined {
    for (let i = 0; i < 32; i++) {
      const id = this.random16();
      if (id !== 0 && !inUse(id)) return id;
    }
    const start = this.random16();
    for (let i = 0; i < 0x10000; i++) {
      const id = (start + i) & 0xffff;
      if (id !== 0 && !inUse(id)) return id;
    }
    return undefined;
  }

  private random16(): number {
    const b = this.random(2);
    return ((b[0] ?? 0) << 8) | (b[1] ?? 0);
  }
}
