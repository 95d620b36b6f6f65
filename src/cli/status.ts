import type { SessionInfo, StatusInfo } from '../daemon/control-types.js';
import { humanBytes, humanDuration } from './format.js';

/** `l2tpsec status`: one screen in the spirit of `wg show`. */
export function formatStatus(s: StatusInfo): string {
  const lines: string[] = [];
  lines.push('server: l2tpsec');
  lines.push(`  listening: ${s.listen.join(', ')}`);
  lines.push(`  psk fingerprint: ${s.pskFingerprint} (sha256)`);
  lines.push(`  pool: ${s.pool.cidr}, ${s.pool.used}/${s.pool.size} used`);
  lines.push(`  ike sas: ${s.ikeSas}, sessions: ${s.sessions.length}, users: ${s.users}`);
  lines.push(`  uptime: ${humanDuration(s.uptime)}`);
  for (const x of s.sessions) {
    lines.push('');
    lines.push(`session: ${x.id}`);
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

/** `l2tpsec sessions`: one line per session, npppctl-style. */
export function formatSessionLine(x: SessionInfo): string {
  return [
    x.id.padEnd(12),
    (x.user ?? '-').padEnd(16),
    (x.address ?? '-').padEnd(15),
    (x.peer ?? '-').padEnd(21),
    x.phase.padEnd(9),
    humanDuration(x.uptime).padEnd(8),
    `${humanBytes(x.bytesIn)}/${humanBytes(x.bytesOut)}`,
  ].join(' ');
}

export const SESSIONS_HEADER = ['SESSION'.padEnd(12), 'USER'.padEnd(16), 'ADDRESS'.padEnd(15), 'PEER'.padEnd(21), 'PHASE'.padEnd(9), 'UPTIME'.padEnd(8), 'IN/OUT'].join(' ');
