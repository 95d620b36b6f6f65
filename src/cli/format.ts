import type { HistoryEntry } from '../daemon/history.js';

/** "1d 2h", "3h 04m", "5m 06s", "7s". */
export function humanDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m ${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}

/** Binary units as `wg show` prints them: "512 B", "1.50 KiB", "3.20 MiB". */
export function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = -1;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(2)} ${units[i]!}`;
}

/** `last`-style line: user, peer, start, duration, bytes in/out, why it ended. */
export function formatHistoryLine(e: HistoryEntry): string {
  const start = e.start.replace('T', ' ').slice(0, 19);
  return [
    (e.user ?? '-').padEnd(16),
    (e.peer ?? '-').padEnd(21),
    (e.address ?? '-').padEnd(15),
    start,
    `(${humanDuration(e.duration)})`.padEnd(10),
    `in ${humanBytes(e.bytesIn)}`.padEnd(14),
    `out ${humanBytes(e.bytesOut)}`.padEnd(15),
    e.reason,
  ].join(' ');
}
