#!/usr/bin/env python3
"""The interop run's web server: GET of the run's files, PUT/POST of an upload.

Run by the interop harness (test/interop/run.ts) INSIDE the run's `inet` namespace, on
203.0.113.10:80. GET serves --directory as `python3 -m http.server` does. PUT or POST to
/upload/NAME (NAME: letters, digits, `.`, `_`, `-`, at most 80) streams the body into a
SHA-256 and writes nothing of it anywhere: the verdict (bytes received, Content-Length,
SHA-256, whether the body was complete, seconds) goes to --uploads/NAME.json and, as
JSON, into the answer. Bounded: a body needs a Content-Length of at most --max-bytes
(413 otherwise, 411 without one), each name is taken once (409), at most --max-uploads
uploads per run (503), and a read that waits longer than --read-timeout seconds ends the
upload as incomplete (the verdict is written all the same).
"""
import argparse
import functools
import hashlib
import http.server
import json
import os
import re
import sys
import threading
import time

NAME = re.compile(r"^/upload/([A-Za-z0-9_-][A-Za-z0-9._-]{0,79})$")
CHUNK = 64 * 1024


class Handler(http.server.SimpleHTTPRequestHandler):
    uploads_dir = ""
    max_bytes = 64 * 1024 * 1024
    max_uploads = 200
    read_timeout = 120.0
    lock = threading.Lock()
    taken = set()

    def do_PUT(self):
        self.upload()

    def do_POST(self):
        self.upload()

    def answer(self, code, body):
        data = (json.dumps(body) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def upload(self):
        m = NAME.match(self.path)
        if not m:
            return self.answer(404, {"error": "PUT/POST only to /upload/NAME"})
        name = m.group(1)
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self.answer(411, {"error": "no chunked bodies: send a Content-Length"})
        raw = self.headers.get("Content-Length")
        if raw is None or not raw.strip().isdigit():
            return self.answer(411, {"error": "Content-Length required"})
        length = int(raw)
        if length > self.max_bytes:
            return self.answer(413, {"error": f"body over {self.max_bytes} bytes"})
        with self.lock:
            if name in self.taken:
                return self.answer(409, {"error": f"{name} already uploaded"})
            if len(self.taken) >= self.max_uploads:
                return self.answer(503, {"error": "upload limit of this run reached"})
            self.taken.add(name)
        h = hashlib.sha256()
        got = 0
        t0 = time.monotonic()
        error = ""
        self.connection.settimeout(self.read_timeout)
        try:
            while got < length:
                chunk = self.rfile.read(min(CHUNK, length - got))
                if not chunk:
                    error = "connection closed early"
                    break
                h.update(chunk)
                got += len(chunk)
        except OSError as e:
            error = f"{type(e).__name__}: {e}"
        verdict = {
            "name": name,
            "bytes": got,
            "contentLength": length,
            "sha256": h.hexdigest(),
            "complete": got == length and error == "",
            "seconds": round(time.monotonic() - t0, 3),
            "client": self.client_address[0],
        }
        if error:
            verdict["error"] = error
        tmp = os.path.join(self.uploads_dir, f".{name}.tmp")
        with open(tmp, "w") as f:
            json.dump(verdict, f)
        os.replace(tmp, os.path.join(self.uploads_dir, f"{name}.json"))
        self.log_message("upload %s: %d of %d bytes in %.1fs sha256 %s%s", name, got, length, verdict["seconds"], verdict["sha256"], f" ({error})" if error else "")
        if error:
            self.close_connection = True
            return
        self.answer(200, verdict)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bind", required=True)
    p.add_argument("--port", type=int, default=80)
    p.add_argument("--directory", required=True)
    p.add_argument("--uploads", required=True)
    p.add_argument("--max-bytes", type=int, default=64 * 1024 * 1024)
    p.add_argument("--max-uploads", type=int, default=200)
    p.add_argument("--read-timeout", type=float, default=120.0)
    a = p.parse_args()
    Handler.uploads_dir = a.uploads
    Handler.max_bytes = a.max_bytes
    Handler.max_uploads = a.max_uploads
    Handler.read_timeout = a.read_timeout
    handler = functools.partial(Handler, directory=a.directory)
    server = http.server.ThreadingHTTPServer((a.bind, a.port), handler)
    server.daemon_threads = True
    print(f"serving {a.directory} on {a.bind}:{a.port}, uploads to {a.uploads} (at most {a.max_bytes} bytes each)", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
