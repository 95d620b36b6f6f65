/**
 * Manual interop harness (not a vitest test): runs the IKE responder on UDP 500/4500
 * of one address so a real strongSwan charon can negotiate with it.
 *   tsx test/ike/live-strongswan.ts <bind-address> <psk> [seconds]
 * Prints every output as one JSON line. Not part of the daemon.
 */
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { IkeResponder, type IkeOutput } from '../../src/ike/responder.js';
import { keymat } from '../../src/ike/crypto/keys.js';
import type { ResponderCore } from '../../src/ike/core.js';

const [addr = '0.0.0.0', psk = 'test', seconds = '60'] = process.argv.slice(2);
const r = new IkeResponder({ psk: Buffer.from(psk), cookieSecret: randomBytes(32), dpdIdle: 10 });
const socks = new Map<number, Socket>();
const now = (): number => performance.now();

function handle(out: IkeOutput[]): void {
  for (const o of out) {
    if (o.type === 'send') {
      const s = socks.get(o.from.port);
      const data = o.from.port === 4500 ? Buffer.concat([Buffer.alloc(4), o.data]) : o.data;
      s?.send(data, o.to.port, o.to.address);
      console.log(JSON.stringify({ type: 'send', to: o.to, from: o.from, len: o.data.length }));
    } else if (o.type === 'child-sa-up') {
      console.log(JSON.stringify({ ...o, inbound: { spi: o.inbound.spi.toString(16), enc: o.inbound.encKey.toString('hex'), auth: o.inbound.authKey.toString('hex') }, outbound: { spi: o.outbound.spi.toString(16), enc: o.outbound.encKey.toString('hex'), auth: o.outbound.authKey.toString('hex') } }));
    } else {
      console.log(JSON.stringify(o));
    }
  }
}

/** Debug aid: KEYMAT of pending Quick Modes (charon logs its keys in XFRM_MSG_NEWSA at knl=4). */
const dumped = new Set<number>();
function dumpKeymat(): void {
  const core = (r as unknown as { core: ResponderCore }).core;
  for (const sa of core.sas.values()) {
    for (const qm of sa.quickModes.values()) {
      if (dumped.has(qm.messageId) || !sa.keys) continue;
      dumped.add(qm.messageId);
      const n = qm.choice.encKeyBytes + (qm.choice.auth?.keyBytes ?? 0);
      const k = (spi: Buffer): string => keymat(sa.choice.hash.name, sa.keys!.skeyidD, qm.gqmxy, 3, spi, qm.niB, qm.nrB, n).toString('hex');
      console.log(JSON.stringify({ type: 'keymat', ourSpi: qm.ourSpi.toString('hex'), inbound: k(qm.ourSpi), peerSpi: qm.peerSpi.toString('hex'), outbound: k(qm.peerSpi) }));
    }
  }
}

for (const port of [500, 4500]) {
  const s = createSocket('udp4');
  s.on('message', (msg, rinfo) => {
    let data = msg;
    if (port === 4500) {
      if (msg.length === 1 && msg[0] === 0xff) return;
      if (msg.length < 4 || msg.readUInt32BE(0) !== 0) {
        console.log(JSON.stringify({ type: 'esp', len: msg.length, spi: msg.length >= 4 ? msg.readUInt32BE(0).toString(16) : '' }));
        return;
      }
      data = msg.subarray(4);
    }
    console.log(JSON.stringify({ type: 'recv', from: `${rinfo.address}:${rinfo.port}`, port, len: data.length }));
    handle(r.receive(data, { address: rinfo.address, port: rinfo.port }, { address: addr, port }, now()));
    dumpKeymat();
  });
  s.bind(port, addr);
  socks.set(port, s);
}
const timer = setInterval(() => handle(r.tick(now())), 500);
setTimeout(() => {
  clearInterval(timer);
  handle(r.shutdown(now()));
  setTimeout(() => process.exit(0), 200);
}, Number(seconds) * 1000);
