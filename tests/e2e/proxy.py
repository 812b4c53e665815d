"""A pass-through HTTP proxy in front of the fake GitHub that can freeze one kind of request.

For crash stories: it forwards everything, but when a matching request has been forwarded and
answered, it holds the answer back from the bot until released, so the test can kill the bot at
exactly that moment (after GitHub did the work, before the bot learned of it).
"""

from __future__ import annotations

import http.client
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class FreezingProxy:
    def __init__(self, upstream: str, freeze: tuple[str, str]) -> None:
        parts = urlsplit(upstream)
        self.host, self.port, self.prefix = parts.hostname, parts.port, parts.path.rstrip("/")
        self.method, self.pattern = freeze[0], re.compile(freeze[1])
        self.reached = threading.Event()  # a frozen answer is waiting
        self.release = threading.Event()
        self.armed = True
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args) -> None:  # quiet
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request(self.command, proxy.prefix + self.path, body=body, headers=headers)
                resp = conn.getresponse()
                # Links in answers (pagination, URLs) must lead back through the proxy.
                data = resp.read().replace(proxy.upstream_netloc, proxy.own_netloc)
                if (
                    proxy.armed
                    and self.command == proxy.method
                    and proxy.pattern.search(self.path.split("?")[0])
                ):
                    proxy.armed = False
                    proxy.reached.set()
                    proxy.release.wait(60)
                    return  # the answer never reaches the bot
                self.send_response(resp.status)
                for key, value in resp.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(
                            key,
                            value.replace(
                                proxy.upstream_netloc.decode(), proxy.own_netloc.decode()
                            ),
                        )
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.upstream_netloc = parts.netloc.encode()
        self.own_netloc = f"127.0.0.1:{self.server.server_address[1]}".encode()
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
