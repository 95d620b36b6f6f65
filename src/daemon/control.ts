import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import type { ControlTarget, DaemonEvent, DisconnectTarget } from './control-types.js';
import type { Logger } from './log.js';

/** Request bodies larger than this are refused with 413. */
export const MAX_BODY = 4096;

/**
 * Bytes of events queued for one /v1/events subscriber that does not read (beyond what
 * the socket itself holds); past this the subscriber is dropped, not the daemon's memory.
 */
export const MAX_EVENT_BACKLOG = 256 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...(status === 413 ? { connection: 'close' } : {}),
  });
  res.end(text);
}

function readBody(req: IncomingMessage, max: number): Promise<string> {
  return new Promise((resolveBody, reject) => {
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > max) {
      reject(new HttpError(413, `request body over ${max} bytes`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > max) {
        failed = true;
        reject(new HttpError(413, `request body over ${max} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) resolveBody(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (e) => {
      if (!failed) reject(e);
    });
  });
}

function parseJsonObject(text: string): Record<string, unknown> {
  if (text.trim() === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'body is not valid JSON');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new HttpError(400, 'body must be a JSON object');
  return v as Record<string, unknown>;
}

/**
 * The local control API: HTTP/1.1 + JSON on a Unix socket (no framework).
 *
 *   GET  /v1/status            StatusInfo (with the daemon's counters)
 *   GET  /v1/sessions          { sessions: SessionInfo[] }
 *   GET  /v1/users             { users: [{ name, address, maxSessions }] }
 *   POST /v1/reload            { users: N }              (same as SIGHUP)
 *   POST /v1/disconnect        {"user": U} | {"session": S}  → { disconnected: [ids] } (404 if none)
 *   GET  /v1/history?user=U&limit=N   { history: HistoryEntry[] }
 *   GET  /v1/events            text/event-stream: "event: TYPE\ndata: {json}\n\n" per DaemonEvent
 *                              (a subscriber with over MAX_EVENT_BACKLOG bytes unread is dropped)
 *
 * Errors are {"error": "..."} with 400/404/405/413/500.
 */
export class ControlServer {
  private server: Server | undefined;
  private readonly streams = new Set<ServerResponse>();

  constructor(
    private readonly target: ControlTarget,
    private readonly log?: Logger,
    private readonly maxEventBacklog: number = MAX_EVENT_BACKLOG,
  ) {}

  /** The request handler (exported for tests that use a TCP server). */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.route(req, res).catch((e: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (e instanceof HttpError) send(res, e.status, { error: e.message });
      else {
        this.log?.error('control.error', { error: (e as Error).message });
        send(res, 500, { error: (e as Error).message });
      }
      // a refused body is read and discarded (bounded by requestTimeout), so the answer arrives intact
      if (e instanceof HttpError && e.status === 413) req.resume();
    });
  };

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    const want = (m: string): void => {
      if (method !== m) throw new HttpError(405, `${url.pathname} takes ${m}`);
    };
    switch (url.pathname) {
      case '/v1/status': {
        want('GET');
        const counters = this.target.counterSnapshot?.();
        send(res, 200, counters ? { ...this.target.statusInfo(), counters } : this.target.statusInfo());
        return;
      }
      case '/v1/sessions':
        want('GET');
        send(res, 200, { sessions: this.target.statusInfo().sessions });
        return;
      case '/v1/users':
        want('GET');
        send(res, 200, { users: this.target.usersInfo() });
        return;
      case '/v1/history': {
        want('GET');
        const user = url.searchParams.get('user') ?? undefined;
        const limitText = url.searchParams.get('limit');
        const limit = limitText === null ? undefined : Number(limitText);
        if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new HttpError(400, 'limit must be a positive integer');
        send(res, 200, { history: this.target.history({ ...(user !== undefined ? { user } : {}), ...(limit !== undefined ? { limit } : {}) }) });
        return;
      }
      case '/v1/reload': {
        want('POST');
        await readBody(req, MAX_BODY);
        try {
          send(res, 200, await this.target.reload());
        } catch (e) {
          throw new HttpError(500, `reload failed: ${(e as Error).message}`);
        }
        return;
      }
      case '/v1/disconnect': {
        want('POST');
        const body = parseJsonObject(await readBody(req, MAX_BODY));
        const t: DisconnectTarget = {};
        if (typeof body['user'] === 'string') t.user = body['user'];
        if (typeof body['session'] === 'string') t.session = body['session'];
        if (t.user === undefined && t.session === undefined) throw new HttpError(400, 'give {"user": "..."} or {"session": "..."}');
        const ids = this.target.disconnect(t, 'admin disconnect');
        if (ids.length === 0) throw new HttpError(404, `no session of ${t.user !== undefined ? `user ${JSON.stringify(t.user)}` : `id ${JSON.stringify(t.session)}`}`);
        send(res, 200, { disconnected: ids });
        return;
      }
      case '/v1/events': {
        want('GET');
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
        res.write(': l2tpsec events\n\n');
        let dropped = false;
        const unsubscribe = this.target.subscribe((e: DaemonEvent) => {
          if (dropped) return;
          if (res.writableLength > this.maxEventBacklog) {
            // a slow reader: close its stream rather than queue without bound
            dropped = true;
            this.log?.warn('control.events.slow', { queued: res.writableLength, limit: this.maxEventBacklog });
            done();
            res.destroy();
            return;
          }
          res.write(`event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
        });
        this.streams.add(res);
        const done = (): void => {
          unsubscribe();
          this.streams.delete(res);
        };
        res.on('close', done);
        return;
      }
      default:
        throw new HttpError(404, `no such route: ${method} ${url.pathname}`);
    }
  }

  /**
   * Listen on a Unix socket: removes a stale socket file, creates the directory,
   * mode 0660, chowned to `group` when given.
   */
  async listen(path: string, group = ''): Promise<void> {
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    if (existsSync(path) && lstatSync(path).isSocket()) {
      // another running daemon keeps its socket; only a stale one is replaced
      if (await socketAnswers(path)) throw new Error(`${path} is in use by another process`);
      unlinkSync(path);
    }
    // the group is looked up before listening: an unknown group fails before any socket exists
    const gid = group ? groupId(group) : undefined;
    const server = createServer(this.handle);
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    await new Promise<void>((resolveListen, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolveListen();
      });
    });
    // 0660: the owner (root) and its group, or the configured group. (Until then the
    // socket has the umask's mode, normally 0755: nobody else can connect to it.)
    try {
      if (gid !== undefined) chownSync(path, process.getuid?.() ?? 0, gid);
      chmodSync(path, 0o660);
    } catch (e) {
      await new Promise<void>((r) => server.close(() => r()));
      throw e;
    }
    this.server = server;
  }

  async close(): Promise<void> {
    for (const s of this.streams) s.end();
    this.streams.clear();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const addr = server.address();
    const closed = new Promise<void>((r) => server.close(() => r()));
    server.closeAllConnections();
    await closed;
    if (typeof addr === 'string') {
      try {
        unlinkSync(addr);
      } catch {
        // already gone
      }
    }
  }
}

function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolveConn) => {
    const c = connect(path);
    c.once('connect', () => {
      c.destroy();
      resolveConn(true);
    });
    c.once('error', () => resolveConn(false));
  });
}

/** Numeric gid of a group name or number (getent). */
function groupId(name: string): number {
  if (/^\d+$/.test(name)) return Number(name);
  let line = '';
  try {
    line = execFileSync('getent', ['group', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    // getent exits 2 for an unknown group
  }
  const gid = Number(line.split(':')[2]);
  if (!line || !Number.isInteger(gid)) throw new Error(`control.group: no group ${JSON.stringify(name)} on this host`);
  return gid;
}
