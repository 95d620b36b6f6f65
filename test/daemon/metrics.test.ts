import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { Counters } from '../../src/core/counters.js';
import { escapeLabelValue, formatExposition, MetricsServer, type MetricsSource } from '../../src/daemon/metrics.js';
import type { DaemonEvent, StatusInfo } from '../../src/daemon/control-types.js';

interface Parsed {
  help: Map<string, string>;
  type: Map<string, string>;
  samples: Array<{ name: string; labels: Record<string, string>; value: number }>;
}

/** An independent reader of the Prometheus text format (0.0.4) for the subset we emit. */
function parseExposition(text: string): Parsed {
  const p: Parsed = { help: new Map(), type: new Map(), samples: [] };
  expect(text.endsWith('\n')).toBe(true);
  for (const line of text.slice(0, -1).split('\n')) {
    let m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (m) {
      p.help.set(m[1]!, m[2]!.replace(/\\n/g, '\n').replace(/\\\\/g, '\\'));
      continue;
    }
    m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (m) {
      expect(p.type.has(m[1]!)).toBe(false);
      p.type.set(m[1]!, m[2]!);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`bad line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    let rest = m[2] ?? '';
    while (rest.length > 0) {
      const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\[\\"n])*)"(,|$)/.exec(rest);
      if (!lm) throw new Error(`bad labels: ${rest}`);
      labels[lm[1]!] = lm[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      rest = rest.slice(lm[0].length);
    }
    // every sample follows the TYPE line of its family
    expect(p.type.has(m[1]!)).toBe(true);
    p.samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return p;
}

describe('Prometheus exposition', () => {
  it('escapes label values and round-trips through an independent parser', () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    const text = formatExposition([
      { name: 'x_total', help: 'line one\nback\\slash', type: 'counter', samples: [{ labels: { reason: 'a\\b"c\nd', k: 'v' }, value: 3 }, { value: 0 }] },
      { name: 'y', help: 'g', type: 'gauge', samples: [{ value: 0.25 }] },
    ]);
    const p = parseExposition(text);
    expect(p.help.get('x_total')).toBe('line one\nback\\slash');
    expect(p.type.get('y')).toBe('gauge');
    expect(p.samples).toEqual([
      { name: 'x_total', labels: { reason: 'a\\b"c\nd', k: 'v' }, value: 3 },
      { name: 'x_total', labels: {}, value: 0 },
      { name: 'y', labels: {}, value: 0.25 },
    ]);
  });

  it('serves the daemon families on GET /metrics, counting ended and live sessions', async () => {
    const counters = new Counters('t');
    counters.inc('ppp.auth.failure', 2);
    counters.inc('esp.in.drop.replay', 5);
    counters.inc('ike.auth.failed');
    counters.inc('ike.rx', 100);
    // PPP and the forwarder count into the daemon's registry through prefixed views
    counters.view('ppp.').inc('drop.lcp-not-opened', 3);
    counters.view('nat.').inc('drop.spoofed-source');
    const listeners = new Set<(e: DaemonEvent) => void>();
    const status: StatusInfo = {
      listen: [], pskFingerprint: '', pool: { cidr: '10.40.0.0/29', size: 5, used: 1, free: 4 }, ikeSas: 1, users: 1, uptime: 1,
      sessions: [
        { id: 's', user: 'a', address: '10.40.0.2', kind: 'l2tp', peer: null, natT: null, ike: null, esp: null, started: '', uptime: 1, bytesIn: 100, bytesOut: 200, packetsIn: 1, packetsOut: 2, idle: 0, phase: 'network' },
        { id: 'v', user: 'b', address: '10.40.0.3', kind: 'ikev2', peer: null, natT: true, ike: null, esp: null, started: '', uptime: 1, bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0, idle: 0, phase: 'network' },
      ],
    };
    const src: MetricsSource = { counters, statusInfo: () => status, subscribe: (fn) => (listeners.add(fn), () => listeners.delete(fn)), logDropped: () => 7 };
    const m = new MetricsServer(src);
    const port = await m.listen('127.0.0.1:0');
    try {
      for (const l of listeners) {
        l({ type: 'ike.sa.up', time: '' });
        l({ type: 'session.stop', time: '', bytesIn: 1000, bytesOut: 2000, packetsIn: 10, packetsOut: 20 });
      }
      const text = await new Promise<string>((resolveReq, reject) => {
        request({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
          expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
          let b = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (b += c));
          res.on('end', () => resolveReq(b));
        })
          .on('error', reject)
          .end();
      });
      const p = parseExposition(text);
      const v = (name: string, labels: Record<string, string> = {}): number | undefined =>
        p.samples.find((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels))?.value;
      expect(v('l2tpsec_sessions')).toBe(2);
      expect(v('l2tpsec_sessions_by_kind', { kind: 'l2tp' })).toBe(1);
      expect(v('l2tpsec_sessions_by_kind', { kind: 'ikev2' })).toBe(1);
      expect(v('l2tpsec_ike_sas')).toBe(1);
      expect(v('l2tpsec_handshakes_total', { outcome: 'established' })).toBe(1);
      expect(v('l2tpsec_handshakes_total', { outcome: 'auth-failed' })).toBe(1);
      expect(v('l2tpsec_auth_failures_total')).toBe(2);
      expect(v('l2tpsec_bytes_total', { direction: 'in' })).toBe(1100);
      expect(v('l2tpsec_bytes_total', { direction: 'out' })).toBe(2200);
      expect(v('l2tpsec_packets_total', { direction: 'out' })).toBe(22);
      expect(v('l2tpsec_drops_total', { reason: 'esp.in.drop.replay' })).toBe(5);
      expect(p.samples.some((s) => s.name === 'l2tpsec_drops_total' && s.labels['reason'] === 'ike.rx')).toBe(false);
      expect(v('l2tpsec_drops_total', { reason: 'ppp.drop.lcp-not-opened' })).toBe(3);
      expect(v('l2tpsec_drops_total', { reason: 'nat.drop.spoofed-source' })).toBe(1);
      expect(v('l2tpsec_counter_total', { name: 'ike.rx' })).toBe(100);
      expect(v('l2tpsec_log_lines_dropped_total')).toBe(7);
      expect(v('l2tpsec_pool_free_addresses')).toBe(4);
      expect(v('l2tpsec_event_loop_lag_seconds')).toBeGreaterThanOrEqual(0);
      for (const n of ['l2tpsec_sessions', 'l2tpsec_bytes_total', 'l2tpsec_drops_total']) expect(p.help.has(n)).toBe(true);
      expect(p.type.get('l2tpsec_bytes_total')).toBe('counter');
      expect(p.type.get('l2tpsec_sessions')).toBe('gauge');
    } finally {
      await m.close();
    }
    expect(listeners.size).toBe(0);
  });
});
