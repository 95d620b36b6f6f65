#!/usr/bin/env python3
"""Spoofed IKE Main Mode 1 and garbage on UDP 4500, bounded in rate, count and time.

Run by the interop harness (test/interop/flood.ts) INSIDE the run's `inet` namespace
only: a raw socket there reaches the server namespace over the veth and nothing else
(the namespaces have no link to the host). Source addresses are random addresses of
--src-net (the harness passes a part of 100.64.0.0/10 that no home uses and blackholes
in inet, so the server's answers die there).

Prints one JSON line with what it sent when it ends (count or time reached, or SIGTERM).
"""
import argparse
import ipaddress
import json
import os
import random
import signal
import socket
import struct
import sys
import time

# Main Mode message 1 as strongSwan 5.9.8 sends it (/work/shared/testbed): one proposal
# AES-CBC-128/SHA1/PSK/MODP1024 and the usual vendor IDs; the initiator cookie (bytes
# 0-7) is replaced per packet.
MM1 = bytes.fromhex(
    "6a42af5582a608fa00000000000000000110020000000000000000b40d000038"
    "00000001000000010000002c01010001000000240101000080010007800e0080"
    "800200028004000280030001800b0001800c3de00d00000c09002689dfd6b712"
    "0d000014afcad71368a1f1c96b8696fc775701000d0000184048b7d56ebce885"
    "25e7de7f00d6c2d3800000000d0000144a131c81070358455c5728f20e95452f"
    "0000001490cb80913ebb696e086381b5ec427b1f"
)


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return (~s) & 0xFFFF


def packet(src, dst, sport, dport, payload):
    udp_len = 8 + len(payload)
    pseudo = struct.pack("!4s4sBBH", src, dst, 0, 17, udp_len)
    udp = struct.pack("!HHHH", sport, dport, udp_len, 0)
    c = checksum(pseudo + udp + payload) or 0xFFFF
    udp = struct.pack("!HHHH", sport, dport, udp_len, c)
    total = 20 + udp_len
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, random.getrandbits(16), 0, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return ip + udp + payload


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dst", required=True)
    ap.add_argument("--src-net", required=True)
    ap.add_argument("--mm1-rate", type=int, required=True, help="Main Mode 1 per second")
    ap.add_argument("--garbage-rate", type=int, required=True, help="garbage datagrams to 4500 per second")
    ap.add_argument("--max-seconds", type=float, required=True)
    ap.add_argument("--max-packets", type=int, required=True)
    a = ap.parse_args()
    assert len(MM1) == 0xB4, len(MM1)

    net = ipaddress.ip_network(a.src_net)
    # never send from outside the given range, never to anything but --dst
    assert net.prefixlen >= 12 and net.version == 4
    dst = socket.inet_aton(a.dst)
    base = int(net.network_address)
    span = net.num_addresses - 2
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)

    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))

    sent = {"mm1": 0, "garbage4500": 0, "errors": 0}
    sources = set()
    t0 = time.monotonic()
    tick = 0.01
    per_tick_mm1 = a.mm1_rate * tick
    per_tick_garbage = a.garbage_rate * tick
    acc_mm1 = acc_g = 0.0
    nxt = t0
    while not stop["now"]:
        now = time.monotonic()
        if now - t0 >= a.max_seconds or sent["mm1"] + sent["garbage4500"] >= a.max_packets:
            break
        acc_mm1 += per_tick_mm1
        acc_g += per_tick_garbage
        batch = []
        while acc_mm1 >= 1:
            acc_mm1 -= 1
            src = base + 1 + random.randrange(span)
            cookie = os.urandom(8)
            # half from port 500 (a client without NAT), half from random ports (behind NAT)
            sport = 500 if random.random() < 0.5 else random.randrange(1024, 65536)
            batch.append(("mm1", src, packet(struct.pack("!I", src), dst, sport, 500, cookie + MM1[8:])))
        while acc_g >= 1:
            acc_g -= 1
            src = base + 1 + random.randrange(span)
            n = random.randrange(16, 240)
            body = os.urandom(n)
            if random.random() < 0.2:
                body = b"\0\0\0\0" + body  # non-ESP marker: garbage that claims to be IKE
            elif body[:4] == b"\0\0\0\0":
                body = b"\1" + body[1:]  # otherwise an ESP-looking datagram with a random SPI
            batch.append(("garbage4500", src, packet(struct.pack("!I", src), dst, random.randrange(1024, 65536), 4500, body)))
        for kind, src, p in batch:
            try:
                sock.sendto(p, (a.dst, 0))
                sent[kind] += 1
                sources.add(src)
            except OSError:
                sent["errors"] += 1
        nxt += tick
        delay = nxt - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        elif delay < -1:
            nxt = time.monotonic()  # fell behind (the machine is busy): do not burst to catch up
    el = time.monotonic() - t0
    print(json.dumps({**sent, "sources": len(sources), "seconds": round(el, 2),
                      "mm1PerS": round(sent["mm1"] / el, 1) if el > 0 else 0}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
