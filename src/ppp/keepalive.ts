import { encodeControlFrame } from './frame.js';
import { CODE, PROTO } from './names.js';

/**
 * Our own LCP Echo-Request keepalive (RFC 1661 §5.8). Off by default over
 * L2TP (npppd does the same: L2TP HELLO and IPsec DPD already watch the path).
 */
export class LcpKeepalive {
  private next: number | undefined;
  private outstanding = 0;
  private id = 0;

  constructor(
    /** Interval in ms; 0 = off. */
    private readonly intervalMs: number,
    /** Unanswered requests before the link is declared dead. */
    private readonly maxFailures: number,
  ) {}

  get enabled(): boolean {
    return this.intervalMs > 0;
  }

  /** LCP reached Opened: start counting. */
  start(now: number): void {
    this.outstanding = 0;
    this.next = this.intervalMs > 0 ? now + this.intervalMs : undefined;
  }

  stop(): void {
    this.next = undefined;
  }

  replyReceived(): void {
    this.outstanding = 0;
  }

  nextDeadline(): number | undefined {
    return this.next;
  }

  /**
   * At the deadline: an Echo-Request frame to send, or a reason to close the
   * link (too many unanswered), or nothing yet.
   */
  tick(now: number, magic: number): { send: Buffer } | { dead: string } | undefined {
    if (this.next === undefined || now < this.next) return undefined;
    if (this.outstanding >= this.maxFailures) {
      this.next = undefined;
      return { dead: `no LCP Echo-Reply to ${this.outstanding} Echo-Requests` };
    }
    const data = Buffer.alloc(4);
    data.writeUInt32BE(magic >>> 0, 0);
    this.id = (this.id + 1) & 0xff;
    this.outstanding++;
    this.next = now + this.intervalMs;
    return { send: encodeControlFrame(PROTO.LCP, CODE.EchoRequest, this.id, data) };
  }
}
