import { request } from 'node:http';

export class ControlClientError extends Error {
  constructor(
    readonly status: number | undefined,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

function unreachable(socketPath: string, e: NodeJS.ErrnoException): ControlClientError {
  const hint =
    e.code === 'ENOENT' || e.code === 'ECONNREFUSED'
      ? 'is "l2tpsec serve" running? (l2tpsec doctor; --socket or control.socket of --config name another socket)'
      : e.code === 'EACCES'
        ? 'run as root or as a member of control.group'
        : undefined;
  return new ControlClientError(undefined, `cannot reach the daemon at ${socketPath}: ${e.message}`, hint);
}

/** One request to the control API over its Unix socket; resolves with the parsed JSON body. */
export function controlRequest(socketPath: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
  return new Promise((resolveReq, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        socketPath,
        // one connection per request: no pooled socket of an earlier daemon is reused
        agent: false,
        method,
        path,
        headers: payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let v: unknown;
          try {
            v = JSON.parse(text);
          } catch {
            reject(new ControlClientError(res.statusCode, `bad answer from the daemon: ${text.slice(0, 200)}`));
            return;
          }
          const status = res.statusCode ?? 0;
          if (status >= 400) {
            const msg = v !== null && typeof v === 'object' && typeof (v as { error?: unknown }).error === 'string' ? (v as { error: string }).error : `HTTP ${status}`;
            reject(new ControlClientError(status, msg));
            return;
          }
          resolveReq(v);
        });
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => reject(unreachable(socketPath, e)));
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** Follow GET /v1/events: calls `onEvent` with each event's JSON until the stream ends. */
export function followEvents(socketPath: string, onEvent: (data: string) => void): Promise<void> {
  return new Promise((resolveReq, reject) => {
    const req = request({ socketPath, agent: false, method: 'GET', path: '/v1/events' }, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buf += c;
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          if (data) onEvent(data);
        }
      });
      res.on('end', () => resolveReq());
    });
    req.on('error', (e: NodeJS.ErrnoException) => reject(unreachable(socketPath, e)));
    req.end();
  });
}
