import type { RadiusServerInfo, SessionInfo, StatusInfo } from '../daemon/control-types.js';
import { humanBytes, humanDuration } from './format.js';

/** `l2tpsec status`: one screen in the spirit of `wg show`. */
export function formatStatus(s: StatusInfo): string {
  const lines: string[] = [];
  lines.push('server: l2tpsec');
  lines.push(`  listening: ${s.listen.join(', ')}`);
  lines.push(`  psk fingerprint: ${s.pskFingerprint} (salt:hmac-sha256)`);
  lines.push(`  pool: ${s.pool.cidr}, ${s.pool.used}/${s.pool.size} used`);
  lines.push(`  ike sas: ${s.ikeSas}, sessions: ${s.sessions.length}, users: ${s.users}`);
  lines.push(`  uptime: ${humanDuration(s.uptime)}`);
  if (s.counters) lines.push(...counterLines(s.counters));
  if (s.radius) {
    for (const r of s.radius.servers) {
      lines.push(
        `  radius ${r.name} (acct ${r.acctPort}): ${radiusState(r)}, ${r.requests} requests (${r.retransmissions} retransmitted, ${r.timeouts} timed out), ${r.accepts} accepted, ${r.rejects} rejected, ${r.accounted} accounted, ${r.drops} replies dropped${r.outstanding > 0 ? `, ${r.outstanding} in flight` : ''}`,
      );
    }
    if (s.radius.spooled > 0) lines.push(`  radius accounting spooled: ${s.radius.spooled} (sent when a server answers)`);
  }
  for (const x of s.sessions) {
    lines.push('');
    lines.push(`session: ${x.id}`);
    lines.push(`  kind: ${x.kind}`);
    lines.push(`  user: ${x.user ?? '(authenticating)'}`);
    lines.push(`  address: ${x.address ?? '-'}`);
    lines.push(`  endpoint: ${x.peer ?? '-'}${x.natT === null ? '' : x.natT ? ' (NAT-T, UDP 4500)' : ' (ESP)'}`);
    lines.push(`  ike: ${x.ike ?? '-'}`);
    lines.push(`  esp: ${x.esp ?? '-'}`);
    lines.push(`  uptime: ${humanDuration(x.uptime)}`);
    lines.push(`  transfer: ${humanBytes(x.bytesIn)} received (${x.packetsIn} packets), ${humanBytes(x.bytesOut)} sent (${x.packetsOut} packets)`);
    lines.push(`  last activity: ${x.idle === null ? '-' : `${humanDuration(x.idle)} ago`}`);
  }
  return lines.join('\n') + '\n';
}

/** The counters worth a glance, as the metrics name them; every counter is in `status --json`. */
export function counterLines(c: Record<string, number>): string[] {
  const sum = (f: (k: string) => boolean): number => Object.entries(c).reduce((n, [k, v]) => (f(k) ? n + v : n), 0);
  const failed = ['ike.auth.failed', 'ike.proposal.rejected', 'ike.halfopen.expired', 'ike.qm.rejected'].map((k) => c[k] ?? 0);
  const drops = Object.entries(c)
    .filter(([k, v]) => k.includes('.drop.') && v > 0)
    .sort((a, b) => b[1] - a[1]);
  return [
    `  handshakes failed: ${failed.reduce((a, b) => a + b, 0)} (auth ${failed[0]}, no proposal ${failed[1]}, timeout ${failed[2]}, quick mode ${failed[3]})`,
    `  ppp auth failures: ${c['ppp.auth.failure'] ?? 0}`,
    `  drops: ${sum((k) => k.includes('.drop.'))}${drops.length > 0 ? ` (${drops.slice(0, 3).map(([k, v]) => `${k} ${v}`).join(', ')}${drops.length > 3 ? ', ...' : ''})` : ''}`,
  ];
}

const SESSION_COLUMNS = ['SESSION', 'KIND', 'USER', 'ADDRESS', 'PEER', 'PHASE', 'UPTIME', 'IN/OUT'] as const;

function sessionCells(x: SessionInfo): string[] {
  return [x.id, x.kind, x.user ?? '-', x.address ?? '-', x.peer ?? '-', x.phase, humanDuration(x.uptime), `${humanBytes(x.bytesIn)}/${humanBytes(x.bytesOut)}`];
}

/**
 * `l2tpsec sessions`: a header and one line per session, npppctl-style; every column
 * as wide as its widest cell (session ids such as `100.64.1.1:4500/1701/64601/1540` vary).
 */
export function formatSessionTable(sessions: SessionInfo[]): string {
  const rows: string[][] = [[...SESSION_COLUMNS], ...sessions.map(sessionCells)];
  const widths = SESSION_COLUMNS.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')).join('\n') + '\n';
}

/** A RADIUS server's state as an operator reads it: whether it answers, since when, and when a dead one is tried again. */
function radiusState(r: RadiusServerInfo): string {
  const last = r.lastAnswer === null ? 'no answer yet' : `last answer ${humanDuration(r.lastAnswer)} ago`;
  return r.state === 'dead' ? `dead (not answering, tried again in ${humanDuration(r.retryIn ?? 0)}; ${last})` : `alive (${last})`;
}
