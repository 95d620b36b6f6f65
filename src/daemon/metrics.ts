import { createServer, type Server } from 'node:http';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { ControlTarget, DaemonEvent } from './control-types.js';

/**
 * Prometheus text exposition format 0.0.4, written by hand:
 * "# HELP name text", "# TYPE name counter|gauge", then `name{label="value"} number`.
 */
export interface MetricFamily {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  samples: Array<{ labels?: Record<string, string>; value: number }>;
}

/** Label values escape backslash, double quote and newline. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text escapes backslash and newline. */
function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

export function formatExposition(families: MetricFamily[]): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`);
    out.push(`# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = s.labels ? Object.entries(s.labels) : [];
      const l = labels.length > 0 ? `{${labels.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}` : '';
      out.push(`${f.name}${l} ${formatValue(s.value)}`);
    }
  }
  return out.join('\n') + '\n';
}

export type MetricsSource = Pick<ControlTarget, 'statusInfo' | 'subscribe'> & {
  counters: { snapshot(): Record<string, number> };
  /** Log lines dropped because the output could not keep up. */
  logDropped?(): number;
};

/** IKE counters that mean a failed handshake, by outcome label. */
const HANDSHAKE_FAILURES: Record<string, string> = {
  'ike.auth.failed': 'auth-failed',
  'ike.proposal.rejected': 'no-proposal',
  'ike.halfopen.expired': 'timeout',
  'ike.qm.rejected': 'quick-mode-rejected',
};

/**
 * Collects the daemon's numbers: live state from statusInfo(), totals from the
 * Counters snapshot plus ended sessions (session.stop events) for bytes/packets.
 */
export class MetricsCollector {
  private readonly unsubscribe: () => void;
  private established = 0;
  private ended = { bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0 };
  private readonly lag: IntervalHistogram;

  constructor(private readonly src: MetricsSource) {
    this.unsubscribe = src.subscribe((e) => this.onEvent(e));
    this.lag = monitorEventLoopDelay({ resolution: 20 });
    this.lag.enable();
  }

  private onEvent(e: DaemonEvent): void {
    if (e.type === 'ike.sa.up') this.established++;
    else if (e.type === 'session.stop') {
      for (const k of ['bytesIn', 'bytesOut', 'packetsIn', 'packetsOut'] as const) {
        const v = e[k];
        if (typeof v === 'number') this.ended[k] += v;
      }
    }
  }

  collect(): MetricFamily[] {
    const st = this.src.statusInfo();
    const c = this.src.counters.snapshot();
    const live = { bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0 };
    for (const s of st.sessions) {
      live.bytesIn += s.bytesIn;
      live.bytesOut += s.bytesOut;
      live.packetsIn += s.packetsIn;
      live.packetsOut += s.packetsOut;
    }
    const handshakes = [{ labels: { outcome: 'established' }, value: this.established }];
    for (const [k, outcome] of Object.entries(HANDSHAKE_FAILURES)) handshakes.push({ labels: { outcome }, value: c[k] ?? 0 });
    const drops = Object.entries(c)
      .filter(([k]) => k.includes('.drop.'))
      .map(([k, v]) => ({ labels: { reason: k }, value: v }));
    const lagSeconds = Number.isFinite(this.lag.mean) ? this.lag.mean / 1e9 : 0;
    return [
      { name: 'l2tpsec_sessions', help: 'Sessions now (L2TP/IPsec and IKEv2)', type: 'gauge', samples: [{ value: st.sessions.length }] },
      {
        name: 'l2tpsec_sessions_by_kind',
        help: 'Sessions now by kind (l2tp, ikev2)',
        type: 'gauge',
        samples: (['l2tp', 'ikev2'] as const).map((kind) => ({ labels: { kind }, value: st.sessions.filter((s) => s.kind === kind).length })),
      },
      { name: 'l2tpsec_ike_sas', help: 'Established IKE SAs now', type: 'gauge', samples: [{ value: st.ikeSas }] },
      { name: 'l2tpsec_handshakes_total', help: 'IKE handshakes by outcome', type: 'counter', samples: handshakes },
      { name: 'l2tpsec_auth_failures_total', help: 'PPP authentication failures', type: 'counter', samples: [{ value: c['ppp.auth.failure'] ?? 0 }] },
      {
        name: 'l2tpsec_bytes_total',
        help: 'IPv4 bytes forwarded, from clients (in) and to clients (out)',
        type: 'counter',
        samples: [
          { labels: { direction: 'in' }, value: this.ended.bytesIn + live.bytesIn },
          { labels: { direction: 'out' }, value: this.ended.bytesOut + live.bytesOut },
        ],
      },
      {
        name: 'l2tpsec_packets_total',
        help: 'IPv4 packets forwarded, from clients (in) and to clients (out)',
        type: 'counter',
        samples: [
          { labels: { direction: 'in' }, value: this.ended.packetsIn + live.packetsIn },
          { labels: { direction: 'out' }, value: this.ended.packetsOut + live.packetsOut },
        ],
      },
      { name: 'l2tpsec_drops_total', help: 'Dropped packets by reason (counter name)', type: 'counter', samples: drops },
      { name: 'l2tpsec_pool_free_addresses', help: 'Free addresses in the PPP pool', type: 'gauge', samples: [{ value: st.pool.free }] },
      { name: 'l2tpsec_event_loop_lag_seconds', help: 'Mean event loop delay since the last scrape', type: 'gauge', samples: [{ value: lagSeconds }] },
      { name: 'l2tpsec_log_lines_dropped_total', help: 'Log lines dropped because the log output could not keep up', type: 'counter', samples: [{ value: this.src.logDropped?.() ?? 0 }] },
      ...radiusFamilies(st),
      {
        name: 'l2tpsec_counter_total',
        help: 'Every internal counter of the daemon by name (drops, messages, refusals, ...)',
        type: 'counter',
        samples: Object.entries(c).map(([k, v]) => ({ labels: { name: k }, value: v })),
      },
    ];
  }

  /** The exposition text; resets the event-loop histogram so each scrape sees its own window. */
  text(): string {
    const t = formatExposition(this.collect());
    this.lag.reset();
    return t;
  }

  close(): void {
    this.unsubscribe();
    this.lag.disable();
  }
}

/** Per RADIUS server (label server="address:auth_port"): requests, timeouts, rejects, accepts, drops, up; the spool. */
function radiusFamilies(st: ReturnType<MetricsSource['statusInfo']>): MetricFamily[] {
  const r = st.radius;
  if (!r) return [];
  const servers = r.servers;
  const per = (pick: (s: (typeof servers)[number]) => number): MetricFamily['samples'] => servers.map((s) => ({ labels: { server: s.name }, value: pick(s) }));
  return [
    { name: 'l2tpsec_radius_requests_total', help: 'RADIUS datagrams sent by server (retransmissions included)', type: 'counter', samples: per((s) => s.requests) },
    { name: 'l2tpsec_radius_timeouts_total', help: 'RADIUS requests a server never answered', type: 'counter', samples: per((s) => s.timeouts) },
    { name: 'l2tpsec_radius_rejects_total', help: 'Access-Rejects by server', type: 'counter', samples: per((s) => s.rejects) },
    { name: 'l2tpsec_radius_accepts_total', help: 'Access-Accepts by server', type: 'counter', samples: per((s) => s.accepts) },
    { name: 'l2tpsec_radius_dropped_replies_total', help: 'RADIUS replies dropped (bad authenticator, no Message-Authenticator, ...) by server', type: 'counter', samples: per((s) => s.drops) },
    { name: 'l2tpsec_radius_server_up', help: '1 when the RADIUS server is not passed over as dead', type: 'gauge', samples: per((s) => (s.state === 'alive' ? 1 : 0)) },
    { name: 'l2tpsec_radius_accounting_spooled', help: 'Accounting requests waiting in the spool', type: 'gauge', samples: [{ value: r.spooled }] },
  ];
}

/** GET /metrics on `listen` ("127.0.0.1:9810"); anything else is 404. */
export class MetricsServer {
  private server: Server | undefined;
  readonly collector: MetricsCollector;

  constructor(src: MetricsSource) {
    this.collector = new MetricsCollector(src);
  }

  async listen(listen: string): Promise<number> {
    const i = listen.lastIndexOf(':');
    const host = listen.slice(0, i);
    const port = Number(listen.slice(i + 1));
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method === 'GET' && path === '/metrics') {
        let body: string;
        try {
          body = this.collector.text();
        } catch (e) {
          // a scrape must never take the daemon down
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: e instanceof Error ? e.message : String(e) }) + '\n');
          return;
        }
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      } else {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{"error":"not found: GET /metrics"}\n');
      }
    });
    await new Promise<void>((r, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        r();
      });
    });
    this.server = server;
    const a = server.address();
    return typeof a === 'object' && a ? a.port : port;
  }

  async close(): Promise<void> {
    this.collector.close();
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    const closed = new Promise<void>((r) => s.close(() => r()));
    s.closeAllConnections();
    await closed;
  }
}
