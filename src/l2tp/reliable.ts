import { CONTROL_NR_OFFSET, encodeHeader } from './header.js';

/**
 * Reliable delivery of control messages, RFC 2661 §5.8: each message carries
 * Ns (its sequence number) and Nr (the next Ns we expect, acknowledging
 * everything before it). Messages past the peer's Receive Window Size wait;
 * unacknowledged ones are retransmitted with a capped exponential backoff and
 * the tunnel is torn down after `maxRetries` retransmissions without progress.
 * Received messages are delivered exactly once and in order: duplicates are
 * acknowledged (ZLB) and dropped, out-of-order ones inside our window are
 * held, ones beyond it are dropped.
 *
 * Generic over the decoded message type M so that the test LAC can reuse it.
 */
export interface ChannelConfig {
  /** Our Receive Window Size (how many out-of-order messages we hold). */
  ourWindow: number;
  /** Retransmissions before giving up. */
  maxRetries: number;
  /** First retransmission timeout, ms (RFC 2661 §5.8 recommends 1 s). */
  initialRto: number;
  /** Backoff cap, ms (at least 8 s per §5.8). */
  maxRto: number;
}

export const DEFAULT_CHANNEL_CONFIG: ChannelConfig = { ourWindow: 8, maxRetries: 5, initialRto: 1000, maxRto: 8000 };

interface Outgoing {
  ns: number;
  datagram: Buffer;
}

/** a - b in 16-bit sequence space, in [0, 65535]. */
export function seqDiff(a: number, b: number): number {
  return (a - b) & 0xffff;
}

export type ReceiveVerdict = 'in-order' | 'duplicate' | 'queued' | 'beyond-window' | 'zlb';

export interface ReceiveResult<M> {
  verdict: ReceiveVerdict;
  /** Messages now deliverable, in order (this one and any it unblocked). */
  deliver: M[];
  /** Datagrams newly allowed into the peer's window by the ack. */
  transmit: Buffer[];
  /** Whether the peer's Nr acknowledged something new. */
  acked: boolean;
}

export class ControlChannel<M> {
  /** Ns of the next new message we send. */
  ns = 0;
  /** Ns we expect next from the peer (our Nr). */
  nr = 0;
  /** The peer's Receive Window Size (RFC 2661 §5.8: 4 when it sent none). */
  peerWindow = 4;
  /** Header Tunnel ID of messages we send: the peer's Assigned Tunnel ID. */
  peerTunnelId = 0;
  /** Retransmission deadline, ms, when something is unacknowledged. */
  deadline: number | undefined;
  retries = 0;
  /** Something was received that we have not acknowledged yet. */
  ackPending = false;
  private rto: number;
  private readonly unacked: Outgoing[] = [];
  private readonly waiting: Outgoing[] = [];
  /** Out-of-order messages inside our window; made when the first one arrives (most tunnels never see one). */
  private held: Map<number, M> | undefined;

  constructor(readonly cfg: ChannelConfig = DEFAULT_CHANNEL_CONFIG) {
    this.rto = cfg.initialRto;
  }

  /** Nothing sent is unacknowledged and nothing waits for the window. */
  get idle(): boolean {
    return this.unacked.length === 0 && this.waiting.length === 0;
  }

  get outstanding(): number {
    return this.unacked.length + this.waiting.length;
  }

  /** Queue a control message (its encoded AVPs); returns the datagrams to send now. */
  send(sessionId: number, avps: Uint8Array, now: number): Buffer[] {
    const ns = this.ns;
    this.ns = (this.ns + 1) & 0xffff;
    const datagram = encodeHeader(
      { isControl: true, hasLength: true, hasSequence: true, tunnelId: this.peerTunnelId, sessionId, ns, nr: this.nr },
      avps,
    );
    const o: Outgoing = { ns, datagram };
    if (this.waiting.length > 0 || this.unacked.length >= this.peerWindow) {
      this.waiting.push(o);
      return [];
    }
    return [this.transmitNew(o, now)];
  }

  private transmitNew(o: Outgoing, now: number): Buffer {
    this.unacked.push(o);
    if (this.deadline === undefined) this.deadline = now + this.rto;
    return this.stamp(o);
  }

  /** A copy of the datagram carrying our current Nr (so a retransmission acknowledges what we received since). */
  private stamp(o: Outgoing): Buffer {
    this.ackPending = false;
    const d = o.datagram.readUInt16BE(CONTROL_NR_OFFSET) === this.nr ? o.datagram : Buffer.from(o.datagram);
    d.writeUInt16BE(this.nr, CONTROL_NR_OFFSET);
    return d;
  }

  /** Process the Nr of a received message: drop what it acknowledges, let waiting messages in. */
  private ack(nr: number, now: number): { acked: boolean; transmit: Buffer[] } {
    const transmit: Buffer[] = [];
    const first = this.unacked[0];
    let acked = false;
    if (first !== undefined) {
      const d = seqDiff(nr, first.ns);
      // Only an Nr inside what we sent is meaningful; anything else is stale or bogus.
      if (d > 0 && d <= this.unacked.length) {
        this.unacked.splice(0, d);
        acked = true;
        this.retries = 0;
        this.rto = this.cfg.initialRto;
        this.deadline = undefined;
      }
    }
    while (this.waiting.length > 0 && this.unacked.length < this.peerWindow) {
      transmit.push(this.transmitNew(this.waiting.shift()!, now));
    }
    if (acked && this.unacked.length > 0 && this.deadline === undefined) this.deadline = now + this.rto;
    return { acked, transmit };
  }

  /** Handle a received control message (msg null for a ZLB). */
  receive(ns: number, nr: number, msg: M | null, now: number): ReceiveResult<M> {
    const { acked, transmit } = this.ack(nr, now);
    const deliver: M[] = [];
    if (msg === null) return { verdict: 'zlb', deliver, transmit, acked };
    const d = seqDiff(ns, this.nr);
    let verdict: ReceiveVerdict;
    if (d === 0) {
      verdict = 'in-order';
      deliver.push(msg);
      this.nr = (this.nr + 1) & 0xffff;
      for (let m = this.held?.get(this.nr); m !== undefined; m = this.held?.get(this.nr)) {
        this.held!.delete(this.nr);
        deliver.push(m);
        this.nr = (this.nr + 1) & 0xffff;
      }
      this.ackPending = true;
    } else if (d >= 0x8000) {
      // Ns before our Nr: already received (RFC 2661 §5.8): acknowledge, do not process again.
      verdict = 'duplicate';
      this.ackPending = true;
    } else if (d < this.cfg.ourWindow) {
      verdict = 'queued';
      this.held ??= new Map();
      if (!this.held.has(ns)) this.held.set(ns, msg);
    } else {
      verdict = 'beyond-window';
    }
    return { verdict, deliver, transmit, acked };
  }

  /** Forget everything outstanding (the peer cleared the connection, or the tunnel is freed). */
  abandon(): void {
    this.unacked.length = 0;
    this.waiting.length = 0;
    this.held?.clear();
    this.deadline = undefined;
  }

  /** A ZLB acknowledging everything received, when an acknowledgement is owed (RFC 2661 §5.8). */
  zlbIfNeeded(): Buffer | undefined {
    if (!this.ackPending) return undefined;
    this.ackPending = false;
    return encodeHeader({ isControl: true, hasLength: true, hasSequence: true, tunnelId: this.peerTunnelId, sessionId: 0, ns: this.ns, nr: this.nr });
  }

  /**
   * Retransmission timer. Returns the datagrams to resend, or 'failed' once
   * `maxRetries` retransmissions went unanswered (RFC 2661 §5.8).
   */
  onTimer(now: number): Buffer[] | 'failed' {
    if (this.deadline === undefined || now < this.deadline) return [];
    if (this.retries >= this.cfg.maxRetries) {
      this.deadline = undefined;
      return 'failed';
    }
    this.retries++;
    this.rto = Math.min(this.rto * 2, this.cfg.maxRto);
    this.deadline = now + this.rto;
    return this.unacked.map((o) => this.stamp(o));
  }
}
