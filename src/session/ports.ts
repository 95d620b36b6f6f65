/**
 * The only ways the pipeline reaches the outside: a UDP port and a TUN port
 * (batch interfaces in the manner of wireguard-go's conn.Bind and tun.Device),
 * and a sink for what happened. src/io implements the ports for the daemon;
 * tests plug in memory fakes.
 */
import type { LogEvent } from '../core/log.js';
import type { Endpoint } from '../core/sa.js';
import type { EndedSession } from './table.js';

export interface UdpPort {
  /** An IKE message from our `from` (port 500 or 4500; the I/O adds the non-ESP marker on 4500). */
  sendIke(from: Endpoint, to: Endpoint, data: Uint8Array): void;
  /** ESP-in-UDP datagrams from our NAT-T port, in order. */
  sendEsp(sends: ReadonlyArray<{ to: Endpoint; data: Uint8Array }>): void;
  /**
   * True when sendEsp has copied the datagrams out by the time it returns
   * (the addon's send buffer), so the ESP engine may reuse the buffer they
   * were in. Absent or false: the views must stay valid (node:dgram, tests).
   */
  copiesOnSend?(): boolean;
}

export interface TunPort {
  /** IPv4 packets for the kernel; returns how many were taken. */
  write(packets: readonly Uint8Array[]): number;
}

/** Domain events (control API `/v1/events`, logs): session.start, session.stop, ike.sa.up, ... */
export interface PipelineEvent {
  type: string;
  fields: Record<string, unknown>;
}

export interface PipelineSink {
  /** A log line from a core or the pipeline. */
  log(ev: LogEvent): void;
  /** A domain event for subscribers (logged by the sink as it sees fit). */
  event(ev: PipelineEvent): void;
  /** An ended session that had an address: the history record. */
  ended(entry: EndedSession): void;
}
