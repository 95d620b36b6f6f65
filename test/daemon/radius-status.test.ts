import { describe, expect, it } from 'vitest';
import { Counters } from '../../src/core/counters.js';
import { formatStatus } from '../../src/cli/status.js';
import { MetricsCollector, type MetricsSource } from '../../src/daemon/metrics.js';
import type { RadiusServerInfo, StatusInfo } from '../../src/daemon/control-types.js';

const server = (name: string, extra: Partial<RadiusServerInfo>): RadiusServerInfo => ({
  name,
  address: name.split(':')[0]!,
  authPort: 1812,
  acctPort: 1813,
  state: 'alive',
  lastAnswer: null,
  outstanding: 0,
  requests: 0,
  retransmissions: 0,
  timeouts: 0,
  accepts: 0,
  rejects: 0,
  accounted: 0,
  drops: 0,
  ...extra,
});

const status: StatusInfo = {
  listen: [],
  pskFingerprint: '',
  pool: { cidr: '10.40.0.0/24', size: 253, used: 0, free: 253 },
  ikeSas: 0,
  users: 0,
  uptime: 1,
  sessions: [],
  radius: {
    servers: [
      server('10.0.0.5:1812', { state: 'dead', retryIn: 23, lastAnswer: 4000, requests: 9, retransmissions: 6, timeouts: 3 }),
      server('10.0.0.6:1812', { lastAnswer: 2, requests: 20, accepts: 7, rejects: 2, accounted: 11, drops: 1, outstanding: 1 }),
      server('10.0.0.7:1812', { state: 'dead', retryIn: 30, requests: 3, timeouts: 1 }),
      server('10.0.0.8:1812', {}),
    ],
    spooled: 4,
  },
};

describe('RADIUS in status and metrics', () => {
  it('status shows each server with its state and counters, and the spool', () => {
    const text = formatStatus(status);
    expect(text).toContain('  radius 10.0.0.5:1812 (acct 1813): dead (not answering, tried again in 23s; last answer 1h 06m ago), 9 requests (6 retransmitted, 3 timed out), 0 accepted, 0 rejected, 0 accounted, 0 replies dropped\n');
    expect(text).toContain('  radius 10.0.0.6:1812 (acct 1813): alive (last answer 2s ago), 20 requests (0 retransmitted, 0 timed out), 7 accepted, 2 rejected, 11 accounted, 1 replies dropped, 1 in flight\n');
    expect(text).toContain('  radius 10.0.0.7:1812 (acct 1813): dead (not answering, tried again in 30s; no answer yet), 3 requests');
    expect(text).toContain('  radius 10.0.0.8:1812 (acct 1813): alive (no answer yet), 0 requests');
    expect(text).toContain('  radius accounting spooled: 4 (sent when a server answers)\n');
    expect(formatStatus({ ...status, radius: undefined } as StatusInfo)).not.toContain('radius');
  });

  it('metrics: requests, timeouts, rejects and up per server; the spool', () => {
    const src: MetricsSource = { counters: new Counters('t'), statusInfo: () => status, subscribe: () => () => undefined };
    const m = new MetricsCollector(src);
    try {
      const fam = Object.fromEntries(m.collect().map((f) => [f.name, f]));
      const v = (name: string, server?: string): number | undefined => fam[name]?.samples.find((s) => (server === undefined ? !s.labels : s.labels?.['server'] === server))?.value;
      expect(v('l2tpsec_radius_requests_total', '10.0.0.5:1812')).toBe(9);
      expect(v('l2tpsec_radius_timeouts_total', '10.0.0.5:1812')).toBe(3);
      expect(v('l2tpsec_radius_rejects_total', '10.0.0.6:1812')).toBe(2);
      expect(v('l2tpsec_radius_accepts_total', '10.0.0.6:1812')).toBe(7);
      expect(v('l2tpsec_radius_server_up', '10.0.0.5:1812')).toBe(0);
      expect(v('l2tpsec_radius_server_up', '10.0.0.6:1812')).toBe(1);
      expect(v('l2tpsec_radius_accounting_spooled')).toBe(4);
      expect(fam['l2tpsec_radius_timeouts_total']!.type).toBe('counter');
      // without [radius] no family appears
      const none = new MetricsCollector({ ...src, statusInfo: () => ({ ...status, radius: undefined }) as StatusInfo });
      expect(none.collect().some((f) => f.name.startsWith('l2tpsec_radius_'))).toBe(false);
      none.close();
    } finally {
      m.close();
    }
  });
});
