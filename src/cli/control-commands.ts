import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DEFAULT_CONTROL_SOCKET, loadConfig } from '../daemon/config.js';
import type { SessionInfo, StatusInfo } from '../daemon/control-types.js';
import { HistoryFile, type HistoryEntry } from '../daemon/history.js';
import { controlRequest, followEvents } from './client.js';
import { formatHistoryLine } from './format.js';
import { formatSessionTable, formatStatus } from './status.js';

export const CONTROL_USAGE = `l2tpsec status [--json] [--config FILE] [--socket PATH]
  l2tpsec sessions [--json] [--config FILE] [--socket PATH]
  l2tpsec disconnect USER|SESSION-ID [--json] [--config FILE] [--socket PATH]
  l2tpsec history [--user U] [--limit N] [--json] [--config FILE] [--socket PATH]
  l2tpsec reload [--json] [--config FILE] [--socket PATH]
  l2tpsec events [--config FILE] [--socket PATH]`;

/** The control socket: --socket, else [control] socket of the config file, else the default. */
export function socketPath(values: { socket?: string | undefined; config?: string | undefined }, configPath: (v: string | undefined) => string): string {
  if (values.socket) return values.socket;
  const file = configPath(values.config);
  if (existsSync(file)) {
    const s = loadConfig(file).control.socket;
    if (s) return s;
  }
  return DEFAULT_CONTROL_SOCKET;
}

function historyFileOf(config: string | undefined, configPath: (v: string | undefined) => string): string | undefined {
  const file = configPath(config);
  return existsSync(file) ? loadConfig(file).control.historyFile : undefined;
}

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  socket: { type: 'string' },
  json: { type: 'boolean' },
  user: { type: 'string' },
  limit: { type: 'string' },
} as const;

/** status, sessions, disconnect, history, reload, events. */
export async function controlCommand(cmd: string, args: string[], configPath: (v: string | undefined) => string, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: OPTIONS });
  const sock = socketPath(values, configPath);
  const json = values.json === true;
  switch (cmd) {
    case 'status': {
      const s = (await controlRequest(sock, 'GET', '/v1/status')) as StatusInfo;
      out.write(json ? JSON.stringify(s) + '\n' : formatStatus(s));
      return 0;
    }
    case 'sessions': {
      const r = (await controlRequest(sock, 'GET', '/v1/sessions')) as { sessions: SessionInfo[] };
      if (json) out.write(JSON.stringify(r.sessions) + '\n');
      else out.write(formatSessionTable(r.sessions));
      return 0;
    }
    case 'disconnect': {
      const who = positionals[0];
      if (!who) throw new Error('disconnect needs a USER or SESSION-ID');
      // a session id as listed by "l2tpsec sessions" first, else a user name
      const list = (await controlRequest(sock, 'GET', '/v1/sessions')) as { sessions: SessionInfo[] };
      const body = list.sessions.some((x) => x.id === who) ? { session: who } : { user: who };
      const r = (await controlRequest(sock, 'POST', '/v1/disconnect', body)) as { disconnected: string[] };
      out.write(json ? JSON.stringify(r) + '\n' : `disconnecting ${r.disconnected.join(', ')}\n`);
      return 0;
    }
    case 'history': {
      const q = new URLSearchParams();
      if (values.user !== undefined) q.set('user', values.user);
      if (values.limit !== undefined) q.set('limit', values.limit);
      const qs = q.toString();
      const limit = values.limit !== undefined ? Number(values.limit) : undefined;
      if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new Error('--limit must be a positive integer');
      // like `last`, this works without the daemon: read the file when there is no socket
      const file = !values.socket && !existsSync(sock) ? historyFileOf(values.config, configPath) : undefined;
      const r: { history: HistoryEntry[] } = file
        ? { history: new HistoryFile(file).read({ ...(values.user !== undefined ? { user: values.user } : {}), ...(limit !== undefined ? { limit } : {}) }) }
        : ((await controlRequest(sock, 'GET', `/v1/history${qs ? `?${qs}` : ''}`)) as { history: HistoryEntry[] });
      if (json) out.write(JSON.stringify(r.history) + '\n');
      else out.write(r.history.length === 0 ? 'no ended sessions\n' : [...r.history].reverse().map(formatHistoryLine).join('\n') + '\n');
      return 0;
    }
    case 'reload': {
      const r = (await controlRequest(sock, 'POST', '/v1/reload')) as { users: number };
      out.write(json ? JSON.stringify(r) + '\n' : `reloaded: ${r.users} users\n`);
      return 0;
    }
    case 'events':
      await followEvents(sock, (data) => out.write(data + '\n'));
      return 0;
    default:
      throw new Error(`unknown command ${cmd}`);
  }
}

/** After "users add/del/passwd": ask a running daemon to reload; a note for the user either way. */
export async function reloadIfRunning(sock: string): Promise<string> {
  if (!existsSync(sock)) return 'the daemon is not running here (no control socket); it reads the file when it starts';
  try {
    const r = (await controlRequest(sock, 'POST', '/v1/reload')) as { users: number };
    return `the running daemon reloaded the users file (${r.users} users)`;
  } catch (e) {
    return `could not ask the daemon to reload (${(e as Error).message}); send it SIGHUP or run "l2tpsec reload"`;
  }
}
