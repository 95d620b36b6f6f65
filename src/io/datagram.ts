import dgram from 'node:dgram';

/**
 * One plain UDP socket (IPv4) for the RADIUS client and the RFC 5176 listener: bind,
 * send, receive. What is sent and what a datagram means is decided elsewhere
 * (src/radius, sans-I/O); this only moves bytes.
 */
export interface DatagramHandlers {
  onMessage(data: Buffer, from: { address: string; port: number }): void;
  onError(err: Error): void;
}

export class DatagramSocket {
  private closed = false;

  private constructor(
    private readonly sock: dgram.Socket,
    readonly address: string,
    readonly port: number,
  ) {}

  /** Bind to address:port (port 0 = any free one). */
  static async open(address: string, port: number, handlers: DatagramHandlers): Promise<DatagramSocket> {
    const sock = dgram.createSocket({ type: 'udp4' });
    sock.on('message', (msg, rinfo) => {
      try {
        handlers.onMessage(msg, { address: rinfo.address, port: rinfo.port });
      } catch (e) {
        handlers.onError(e instanceof Error ? e : new Error(String(e)));
      }
    });
    sock.on('error', (e) => handlers.onError(e));
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ address, port, exclusive: true }, () => {
        sock.off('error', reject);
        resolve();
      });
    });
    const a = sock.address();
    return new DatagramSocket(sock, a.address, a.port);
  }

  send(address: string, port: number, data: Uint8Array, onError?: (e: Error) => void): void {
    if (this.closed) return;
    this.sock.send(data, port, address, (err) => {
      if (err) onError?.(err);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await new Promise<void>((resolve) => this.sock.close(() => resolve()));
  }
}
