/**
 * A small L2TP access concentrator (LAC) for tests: it builds messages the
 * way xl2tpd 1.3 does (same AVPs, same order, same M bits) and runs the
 * reliable control channel, so it can drive the LNS through a whole call.
 */
import { type AvpSpec, encodeAvps } from '../../src/l2tp/avp.js';
import {
  type ControlMessage,
  avpBytes,
  avpMessageType,
  avpProtocolVersion,
  avpResultCode,
  avpString,
  avpU16,
  avpU32,
  decodeControlMessage,
} from '../../src/l2tp/attributes.js';
import { AvpType, MessageType, messageTypeName } from '../../src/l2tp/constants.js';
import { decodeHeader, encodeHeader } from '../../src/l2tp/header.js';
import { challengeResponse } from '../../src/l2tp/hidden.js';
import { ControlChannel, type ChannelConfig, DEFAULT_CHANNEL_CONFIG } from '../../src/l2tp/reliable.js';

/** xl2tpd's FIRMWARE_REV. */
export const XL2TPD_FIRMWARE = 0x0690;

/** SCCRQ as xl2tpd 1.3 builds it (control.c): MT, version, framing, bearer, firmware, host, vendor, tunnel id, RWS. */
export function xl2tpdSccrqAvps(hostName: string, tunnelId: number, rws: number, challenge?: Uint8Array): AvpSpec[] {
  const avps = [
    avpMessageType(MessageType.SCCRQ),
    avpProtocolVersion(1, 0),
    avpU32(AvpType.FramingCapabilities, 3),
    avpU32(AvpType.BearerCapabilities, 0),
    avpU16(AvpType.FirmwareRevision, XL2TPD_FIRMWARE, false),
    avpString(AvpType.HostName, hostName),
    avpString(AvpType.VendorName, 'xelerance.com', false),
    avpU16(AvpType.AssignedTunnelId, tunnelId),
    avpU16(AvpType.ReceiveWindowSize, rws),
  ];
  if (challenge) avps.push(avpBytes(AvpType.Challenge, challenge));
  return avps;
}

/** SCCRQ as Android's mtpd builds it (l2tp.c): MT, version, Host Name "anonymous", framing 3, tunnel id, RWS 1, optional 32-byte Challenge. */
export function androidSccrqAvps(tunnelId: number, challenge?: Uint8Array): AvpSpec[] {
  const avps = [
    avpMessageType(MessageType.SCCRQ),
    avpProtocolVersion(1, 0),
    avpString(AvpType.HostName, 'anonymous'),
    avpU32(AvpType.FramingCapabilities, 3),
    avpU16(AvpType.AssignedTunnelId, tunnelId),
    avpU16(AvpType.ReceiveWindowSize, 1),
  ];
  if (challenge) avps.push(avpBytes(AvpType.Challenge, challenge));
  return avps;
}

/** ICRQ as xl2tpd builds it: MT, Assigned Session ID, Call Serial Number, Bearer Type, (Calling Number). */
export function xl2tpdIcrqAvps(sessionId: number, serial: number): AvpSpec[] {
  return [
    avpMessageType(MessageType.ICRQ),
    avpU16(AvpType.AssignedSessionId, sessionId),
    avpU32(AvpType.CallSerialNumber, serial),
    avpU32(AvpType.BearerType, 2),
  ];
}

/** ICCN as xl2tpd builds it: MT, Tx Connect Speed, Framing Type (async), optionally Sequencing Required. */
export function xl2tpdIccnAvps(sequencing = false): AvpSpec[] {
  const avps = [avpMessageType(MessageType.ICCN), avpU32(AvpType.TxConnectSpeed, 10_000_000), avpU32(AvpType.FramingType, 2)];
  if (sequencing) avps.push({ type: AvpType.SequencingRequired, value: new Uint8Array(0), mandatory: true });
  return avps;
}

interface LacInbound {
  sessionId: number;
  msg: ControlMessage;
}

export interface LacSession {
  /** Our (the LAC's) session id. */
  sessionId: number;
  /** The LNS's session id, from ICRP. */
  peerSessionId: number;
  state: 'wait-reply' | 'established' | 'closed';
  /** Assigned Session IDs in every ICRP seen for it (a second one would mean double processing). */
  icrpCount: number;
  closeReason?: string;
}

export interface LacOptions {
  hostName?: string;
  tunnelId?: number;
  rws?: number;
  secret?: Uint8Array;
  channel?: Partial<ChannelConfig>;
  sequencing?: boolean;
  /** Build SCCRQ like Android's mtpd instead of xl2tpd (RWS 1, 32-byte challenge). */
  android?: boolean;
  /** Skip checking the LNS's Challenge Response (to test the LNS's own check with a wrong secret). */
  trustServer?: boolean;
  /** HELLO after this much silence (ms), like xl2tpd's hello delay. */
  helloMs?: number;
}

export class TestLac {
  readonly hostName: string;
  readonly tunnelId: number;
  readonly channel: ControlChannel<LacInbound>;
  state: 'idle' | 'wait-ctl-reply' | 'established' | 'closed' = 'idle';
  /** Why the tunnel ended. */
  closeReason?: string;
  /** The LNS's tunnel id from SCCRP. */
  peerTunnelId = 0;
  readonly sessions = new Map<number, LacSession>();
  /** Every control message processed (delivered in order by the channel), by name. */
  readonly processed: string[] = [];
  /** Data frames received, by our session id. */
  readonly frames: Array<{ sessionId: number; frame: Buffer }> = [];
  private nextSession = 1;
  private readonly secret: Uint8Array | undefined;
  private readonly challenge: Buffer;
  private readonly android: boolean;
  private readonly trustServer: boolean;
  private readonly sequencing: boolean;
  private readonly helloMs: number;
  private lastHeard = 0;

  constructor(opts: LacOptions = {}) {
    this.hostName = opts.hostName ?? 'lac.example';
    this.tunnelId = opts.tunnelId ?? 0x1234;
    this.channel = new ControlChannel<LacInbound>({ ...DEFAULT_CHANNEL_CONFIG, ourWindow: opts.rws ?? 4, ...opts.channel });
    this.secret = opts.secret;
    this.sequencing = opts.sequencing ?? false;
    this.helloMs = opts.helloMs ?? 60_000;
    this.android = opts.android ?? false;
    this.trustServer = opts.trustServer ?? false;
    this.challenge = this.android ? Buffer.alloc(32, 0xa5) : Buffer.from('0123456789abcdef');
  }

  private send(sessionId: number, avps: AvpSpec[], now: number): Buffer[] {
    return this.channel.send(sessionId, encodeAvps(avps), now);
  }

  /** Start the control connection: SCCRQ. */
  start(now: number): Buffer[] {
    this.state = 'wait-ctl-reply';
    this.lastHeard = now;
    this.channel.peerTunnelId = 0;
    const challenge = this.secret ? this.challenge : undefined;
    if (this.android) return this.send(0, androidSccrqAvps(this.tunnelId, challenge), now);
    return this.send(0, xl2tpdSccrqAvps(this.hostName, this.tunnelId, this.channel.cfg.ourWindow, challenge), now);
  }

  /** Place an incoming call: ICRQ. */
  call(now: number): { sessionId: number; out: Buffer[] } {
    const sessionId = this.nextSession++;
    this.sessions.set(sessionId, { sessionId, peerSessionId: 0, state: 'wait-reply', icrpCount: 0 });
    return { sessionId, out: this.send(0, xl2tpdIcrqAvps(sessionId, sessionId), now) };
  }

  hello(now: number): Buffer[] {
    return this.send(0, [avpMessageType(MessageType.HELLO)], now);
  }

  hangUp(sessionId: number, now: number): Buffer[] {
    const s = this.sessions.get(sessionId);
    if (!s) return [];
    s.state = 'closed';
    return this.send(s.peerSessionId, [avpMessageType(MessageType.CDN), avpResultCode(1), avpU16(AvpType.AssignedSessionId, sessionId)], now);
  }

  stop(now: number): Buffer[] {
    this.state = 'closed';
    this.closeReason = 'local stop';
    return this.send(0, [avpMessageType(MessageType.StopCCN), avpU16(AvpType.AssignedTunnelId, this.tunnelId), avpResultCode(1, 0)], now);
  }

  /** A data message as xl2tpd sends it (L bit set, `length bit = yes`). */
  data(sessionId: number, frame: Uint8Array): Buffer {
    const s = this.sessions.get(sessionId);
    return encodeHeader({ isControl: false, hasLength: true, hasSequence: false, tunnelId: this.peerTunnelId, sessionId: s?.peerSessionId ?? 0 }, frame);
  }

  receive(datagram: Uint8Array, now: number): Buffer[] {
    const h = decodeHeader(datagram);
    if (!h.isControl) {
      for (const s of this.sessions.values()) {
        if (s.sessionId === h.sessionId) this.frames.push({ sessionId: s.sessionId, frame: Buffer.from(datagram.subarray(h.payloadOffset, h.payloadEnd)) });
      }
      return [];
    }
    if (h.tunnelId !== this.tunnelId) return [];
    this.lastHeard = now;
    const msg = decodeControlMessage(datagram.subarray(h.payloadOffset, h.payloadEnd), this.secret);
    const r = this.channel.receive(h.ns ?? 0, h.nr ?? 0, msg === null ? null : { sessionId: h.sessionId, msg }, now);
    const out = [...r.transmit];
    for (const m of r.deliver) out.push(...this.dispatch(m, now));
    const zlb = this.channel.zlbIfNeeded();
    if (zlb) out.push(zlb);
    return out;
  }

  private dispatch(m: LacInbound, now: number): Buffer[] {
    const { msg } = m;
    this.processed.push(messageTypeName(msg.messageType));
    switch (msg.messageType) {
      case MessageType.SCCRP: {
        if (this.state !== 'wait-ctl-reply') return [];
        if (this.secret && !this.trustServer) {
          const expected = challengeResponse(MessageType.SCCRP, this.secret, this.challenge);
          if (!msg.attrs.challengeResponse || !expected.equals(Buffer.from(msg.attrs.challengeResponse))) {
            this.state = 'closed';
            this.closeReason = 'bad SCCRP challenge response';
            return [];
          }
        }
        this.peerTunnelId = msg.attrs.assignedTunnelId ?? 0;
        this.channel.peerTunnelId = this.peerTunnelId;
        this.channel.peerWindow = msg.attrs.receiveWindowSize ?? 4;
        this.state = 'established';
        const avps = [avpMessageType(MessageType.SCCCN)];
        if (this.secret && msg.attrs.challenge) avps.push(avpBytes(AvpType.ChallengeResponse, challengeResponse(MessageType.SCCCN, this.secret, msg.attrs.challenge)));
        return this.send(0, avps, now);
      }
      case MessageType.ICRP: {
        const s = this.sessions.get(m.sessionId);
        if (!s) return [];
        s.icrpCount++;
        if (s.state !== 'wait-reply') return [];
        s.peerSessionId = msg.attrs.assignedSessionId ?? 0;
        s.state = 'established';
        return this.send(s.peerSessionId, xl2tpdIccnAvps(this.sequencing), now);
      }
      case MessageType.CDN: {
        const s = this.sessions.get(m.sessionId);
        if (s) {
          s.state = 'closed';
          s.closeReason = `CDN ${msg.attrs.resultCode?.result}`;
        }
        return [];
      }
      case MessageType.StopCCN:
        this.state = 'closed';
        this.closeReason = `StopCCN ${msg.attrs.resultCode?.result}`;
        this.channel.abandon();
        return [];
      default:
        return [];
    }
  }

  /** Retransmission timer; 'failed' when the retry limit is reached. */
  tick(now: number): Buffer[] | 'failed' {
    const r = this.channel.onTimer(now);
    if (r === 'failed') return r;
    if (this.state === 'established' && this.channel.idle && now - this.lastHeard >= this.helloMs) {
      this.lastHeard = now;
      r.push(...this.hello(now));
    }
    return r;
  }

  /** When tick() next has something to do. */
  nextDeadline(): number | undefined {
    const d = this.channel.deadline;
    if (this.state !== 'established' || !this.channel.idle) return d;
    const h = this.lastHeard + this.helloMs;
    return d === undefined ? h : Math.min(d, h);
  }
}
