/**
 * Who carries what: IPsec SA lineages and the L2TP peers (routes) on them.
 *
 * A lineage is one client's child SAs and their rekeys under one IKE identity
 * seen at one outer endpoint. A Phase 1 rekey (a new IKE SA from the same
 * endpoint with the same identity while the old one or its children live)
 * continues the lineage; anything else starts a new one, so a second IKE peer
 * behind the same address and port never shares a lineage with the first.
 * A route is a lineage plus the client's inner UDP port: the L2TP core's peer.
 * The newest child SA of a lineage carries everything sent on its routes.
 */
import { flat } from '../core/flat.js';
import type { Endpoint } from '../core/sa.js';
import { endpointText } from '../core/sa.js';

export interface Lineage {
  readonly id: number;
  /** The identity endpoint (the outer address and port when it came up). */
  readonly peer: Endpoint;
  readonly peerId: string;
  readonly ikeSas: Set<string>;
  /** Child SA ids, oldest first: the last one carries what we send. */
  readonly children: string[];
  /** Inner UDP source port → route. */
  readonly routes: Map<number, Route>;
}

/** An L2TP peer: a lineage and the client's inner UDP port. `key` is what the L2TP core calls the peer. */
export interface Route {
  readonly lineage: Lineage;
  readonly port: number;
  readonly key: string;
}

export class Lineages {
  private readonly all = new Map<number, Lineage>();
  private readonly ofIke = new Map<string, Lineage>();
  private readonly ofChild = new Map<string, Lineage>();
  private readonly byKey = new Map<string, Route>();
  /** Lineages by identity endpoint and peer ID, oldest first: where a Phase 1 rekey looks (not every lineage). */
  private readonly byIdentity = new Map<string, Lineage[]>();
  private next = 1;

  get size(): number {
    return this.all.size;
  }

  get routeCount(): number {
    return this.byKey.size;
  }

  /** The lineage of a new IKE SA (see the module comment). */
  ikeUp(ikeSaId: string, peer: Endpoint, peerId: string): Lineage {
    const known = this.ofIke.get(ikeSaId);
    if (known) return known;
    const ident = identityKey(peer, peerId);
    const same = this.byIdentity.get(ident);
    for (const l of same ?? []) {
      if (l.ikeSas.size > 0 || l.children.length > 0) {
        l.ikeSas.add(ikeSaId);
        this.ofIke.set(ikeSaId, l);
        return l;
      }
    }
    const l: Lineage = { id: this.next++, peer: { ...peer }, peerId, ikeSas: new Set([ikeSaId]), children: [], routes: new Map() };
    this.all.set(l.id, l);
    if (same) same.push(l);
    else this.byIdentity.set(ident, [l]);
    this.ofIke.set(ikeSaId, l);
    return l;
  }

  ikeDown(ikeSaId: string): void {
    const l = this.ofIke.get(ikeSaId);
    this.ofIke.delete(ikeSaId);
    if (!l) return;
    l.ikeSas.delete(ikeSaId);
    this.forgetIfEmpty(l);
  }

  /** A child SA joins its IKE SA's lineage (and becomes the one that carries sends). */
  childUp(childId: string, ikeSaId: string, peer: Endpoint, peerId: string): Lineage {
    const l = this.ikeUp(ikeSaId, peer, peerId);
    l.children.push(childId);
    this.ofChild.set(childId, l);
    return l;
  }

  /** A child SA is gone; returns its lineage and whether that lineage has no SA left. */
  childDown(childId: string): { lineage: Lineage; orphaned: boolean } | undefined {
    const l = this.ofChild.get(childId);
    this.ofChild.delete(childId);
    if (!l) return undefined;
    const i = l.children.indexOf(childId);
    if (i >= 0) l.children.splice(i, 1);
    return { lineage: l, orphaned: l.children.length === 0 };
  }

  ofChildSa(childId: string): Lineage | undefined {
    return this.ofChild.get(childId);
  }

  /** The child SA that carries what the lineage sends. */
  newest(l: Lineage): string | undefined {
    return l.children[l.children.length - 1];
  }

  route(key: string): Route | undefined {
    return this.byKey.get(key);
  }

  addRoute(l: Lineage, port: number): Route {
    const r: Route = { lineage: l, port, key: flat(endpointText(l.peer), '/', port, '#', l.id) };
    l.routes.set(port, r);
    this.byKey.set(r.key, r);
    return r;
  }

  removeRoute(r: Route): void {
    if (r.lineage.routes.get(r.port) === r) r.lineage.routes.delete(r.port);
    this.byKey.delete(r.key);
    this.forgetIfEmpty(r.lineage);
  }

  forgetIfEmpty(l: Lineage): void {
    if (l.ikeSas.size > 0 || l.children.length > 0 || l.routes.size > 0 || !this.all.delete(l.id)) return;
    const ident = identityKey(l.peer, l.peerId);
    const same = this.byIdentity.get(ident);
    const i = same ? same.indexOf(l) : -1;
    if (i >= 0) same!.splice(i, 1);
    if (same?.length === 0) this.byIdentity.delete(ident);
  }
}

function identityKey(peer: Endpoint, peerId: string): string {
  return flat(peer.address, '|', peer.port, '|', peerId);
}
