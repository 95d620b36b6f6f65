import { existsSync } from 'node:fs';
import { DEFAULT_CONTROL_SOCKET, loadConfig } from '../daemon/config.js';
import type { SessionInfo, StatusInfo } from '../daemon/control-types.js';
import { HistoryFile, type HistoryEntry } from '../daemon/history.js';
import { controlRequest, ControlClientError, followEvents } from './client.js';
import type { ControlOptions } from './common.js';
import { CliError } from './errors.js';
import { formatHistoryLine } from './format.js';
import { formatSessionTable, formatStatus } from './status.js';

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

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** status, sessions, disconnect, history, reload, events. */
export async function controlCommand(cmd: string, o: ControlOptions, configPath: (v: string | undefined) => string, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const sock = socketPath(o, configPath);
  const json = o.json === true;
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
      const who = o.target ?? '';
      // a session id as listed by "l2tpsec sessions" first, else a user name
      const list = (await controlRequest(sock, 'GET', '/v1/sessions')) as { sessions: SessionInfo[] };
      const body = list.sessions.some((x) => x.id === who) ? { session: who } : { user: who };
      let r: { disconnected: string[] };
      try {
        r = (await controlRequest(sock, 'POST', '/v1/disconnect', body)) as { disconnected: string[] };
      } catch (e) {
        if (e instanceof ControlClientError && e.status === 404) {
          throw new CliError(`${JSON.stringify(who)} is neither a connected user nor a session id`, 'l2tpsec sessions lists both');
        }
        throw e;
      }
      out.write(json ? JSON.stringify(r) + '\n' : `disconnecting ${r.disconnected.join(', ')}\n`);
      return 0;
    }
    case 'history': {
      const q = new URLSearchParams();
      if (o.user !== undefined) q.set('user', o.user);
      if (o.limit !== undefined) q.set('limit', String(o.limit));
      const qs = q.toString();
      // like `last`, this works without the daemon: read the file when there is no socket
      const file = !o.socket && !existsSync(sock) ? historyFileOf(o.config, configPath) : undefined;
      const r: { history: HistoryEntry[] } = file
        ? { history: new HistoryFile(file).read({ ...(o.user !== undefined ? { user: o.user } : {}), ...(o.limit !== undefined ? { limit: o.limit } : {}) }) }
        : ((await controlRequest(sock, 'GET', `/v1/history${qs ? `?${qs}` : ''}`)) as { history: HistoryEntry[] });
      if (json) out.write(JSON.stringify(r.history) + '\n');
      else out.write(r.history.length === 0 ? 'no ended sessions\n' : [...r.history].reverse().map(formatHistoryLine).join('\n') + '\n');
      return 0;
    }
    case 'reload': {
      const r = (await controlRequest(sock, 'POST', '/v1/reload')) as { users: number };
      out.write(
        json
          ? JSON.stringify(r) + '\n'
          : `reloaded the users file: ${plural(r.users, 'user')}\n` +
              'only users are reloaded: changes to the pool, the PSK or any other setting need a restart (systemctl restart l2tpsec)\n',
      );
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
    return `the running daemon reloaded the users file (${plural(r.users, 'user')})`;
  } catch (e) {
    return `could not ask the daemon to reload (${(e as Error).message}); send it SIGHUP or run "l2tpsec reload"`;
  }
}
