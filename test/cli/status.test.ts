import { describe, expect, it } from 'vitest';
import { formatSessionTable, formatStatus } from '../../src/cli/status.js';
import type { StatusInfo } from '../../src/daemon/control-types.js';

const status: StatusInfo = {
  listen: ['0.0.0.0:500', '0.0.0.0:4500'],
  pskFingerprint: '0011223344556677:0123456789abcdef',
  pool: { cidr: '10.40.0.0/24', size: 253, used: 2, free: 251 },
  ikeSas: 2,
  users: 3,
  uptime: 3725,
  sessions: [
    { id: '3/7', user: 'alice', address: '10.40.0.2', kind: 'l2tp', peer: '198.51.100.7:4500', natT: true, ike: 'aes256-sha256-modp2048', esp: 'aes-cbc256-hmac-sha256', started: '2026-11-27T00:00:00.000Z', uptime: 125, bytesIn: 2048, bytesOut: 1048576, packetsIn: 10, packetsOut: 700, idle: 3, phase: 'network' },
    { id: '4/1', user: null, address: null, kind: 'l2tp', peer: '203.0.113.9:500', natT: false, ike: null, esp: null, started: '2026-11-27T00:00:00.000Z', uptime: 2, bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0, idle: null, phase: 'authenticate' },
    { id: '100.64.1.1:4500/ikev2/ikev2-3', user: 'bob', address: '10.40.0.3', kind: 'ikev2', peer: '100.64.1.1:4500', natT: true, ike: 'aes256-sha256-ecp256', esp: 'aes-cbc256-hmac-sha256', started: '2026-11-27T00:00:00.000Z', uptime: 60, bytesIn: 100, bytesOut: 200, packetsIn: 1, packetsOut: 2, idle: 0, phase: 'network' },
  ],
};

describe('status screen', () => {
  it('shows server lines and one block per session', () => {
    const text = formatStatus(status);
    expect(text).toContain('  listening: 0.0.0.0:500, 0.0.0.0:4500\n');
    expect(text).toContain('  psk fingerprint: 0011223344556677:0123456789abcdef (salt:hmac-sha256)\n');
    expect(text).toContain('  pool: 10.40.0.0/24, 2/253 used\n');
    expect(text).toContain('  uptime: 1h 02m\n');
    expect(text).toContain('session: 3/7\n  kind: l2tp\n  user: alice\n  address: 10.40.0.2\n  endpoint: 198.51.100.7:4500 (NAT-T, UDP 4500)\n  ike: aes256-sha256-modp2048\n  esp: aes-cbc256-hmac-sha256\n  uptime: 2m 05s\n  transfer: 2.00 KiB received (10 packets), 1.00 MiB sent (700 packets)\n  last activity: 3s ago\n');
    expect(text).toContain('session: 100.64.1.1:4500/ikev2/ikev2-3\n  kind: ikev2\n  user: bob\n  address: 10.40.0.3\n');
    expect(text).toContain('session: 4/1\n  kind: l2tp\n  user: (authenticating)\n  address: -\n  endpoint: 203.0.113.9:500 (ESP)\n');
  });
  it('sessions table: a header, one line per session, columns aligned to the widest cell', () => {
    const long = { ...status.sessions[0]!, id: '100.64.1.1:4500/1701/64601/1540' };
    const lines = formatSessionTable([long, status.sessions[1]!, status.sessions[2]!]).trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]!.split(/\s+/)).toEqual(['SESSION', 'KIND', 'USER', 'ADDRESS', 'PEER', 'PHASE', 'UPTIME', 'IN/OUT']);
    expect(lines[1]!.split(/\s+/)).toEqual(['100.64.1.1:4500/1701/64601/1540', 'l2tp', 'alice', '10.40.0.2', '198.51.100.7:4500', 'network', '2m', '05s', '2.00', 'KiB/1.00', 'MiB']);
    expect(lines[2]!.split(/\s+/).slice(0, 6)).toEqual(['4/1', 'l2tp', '-', '-', '203.0.113.9:500', 'authenticate']);
    expect(lines[3]!.split(/\s+/).slice(0, 6)).toEqual(['100.64.1.1:4500/ikev2/ikev2-3', 'ikev2', 'bob', '10.40.0.3', '100.64.1.1:4500', 'network']);
    // every column starts at the same offset on every line
    for (const col of ['KIND', 'USER', 'ADDRESS', 'PEER', 'PHASE']) {
      const at = lines[0]!.indexOf(col);
      expect(at).toBeGreaterThan(0);
      expect(lines[1]![at - 1]).toBe(' ');
      expect(lines[1]![at]).not.toBe(' ');
      expect(lines[2]![at]).not.toBe(' ');
      expect(lines[3]![at]).not.toBe(' ');
    }
    const empty = formatSessionTable([]);
    expect(empty.endsWith('\n') && empty.trimEnd().split('\n')).toEqual(['SESSION  KIND  USER  ADDRESS  PEER  PHASE  UPTIME  IN/OUT']);
  });
});
