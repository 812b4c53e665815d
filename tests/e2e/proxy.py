"""HTTP proxies in front of the fake GitHub: a pass-through base and a proxy that freezes an answer.

`ForwardingProxy` is the one place that forwards: it relays each request byte-for-byte (headers
too, except Host and hop-by-hop ones), and rewrites the upstream host:port in answers so that
pagination links and resource URLs lead back through the proxy. Subclasses decide per request in
`respond`: forward, answer something else, or never answer. It must not change what it forwards.

`FreezingProxy` is for crash stories: it forwards everything, but when a matching request has been
forwarded and answered, it holds the answer back from the bot until released, so the test can
kill the bot at exactly that moment (after GitHub did the work, before the bot learned of it).
Fault injection (5xx, 429, errors after the write) is `faults.FaultProxy`.
"""

from __future__ import annotations

import http.client
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import urlsplit

# RFC 9110 §7.6.1 connection-specific headers, plus those the proxy sets itself.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "expect",
    }
)
BODILESS_STATUSES = (204, 304)


@dataclass(frozen=True)
class Request:
    """One request as the proxy received it; `path` keeps the query string."""

    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def route(self) -> str:
        """The path without its query string, what fault and freeze patterns are matched on."""
        return self.path.split("?", 1)[0]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class ForwardingProxy:
    """A threaded HTTP/1.1 proxy (keep-alive, many connections) relaying to one upstream."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.host, self.port = parts.hostname, parts.port
        self.prefix = parts.path.rstrip("/")
        self.forwarded = 0  # requests relayed upstream
        self._lock = threading.Lock()
        self.server = _Server(("127.0.0.1", 0), _handler_for(self))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._upstream_netloc = parts.netloc
        self._own_netloc = f"127.0.0.1:{self.server.server_address[1]}"
        serve = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        serve.start()  # a short poll interval: close() returns at once

    def respond(self, request: Request) -> Answer | None:
        """The answer to send; None closes the connection without answering."""
        return self.forward(request)

    def forward(self, request: Request) -> Answer:
        """Relay `request` upstream and return its answer with links rewritten to the proxy."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.putrequest(request.method, self.prefix + request.path, skip_accept_encoding=True)
            for key, value in request.headers:
                # Accept-Encoding is dropped so answers come uncompressed and can be rewritten.
                if key.lower() not in HOP_BY_HOP and key.lower() != "accept-encoding":
                    conn.putheader(key, value)
            if request.body or request.method in ("POST", "PUT", "PATCH"):
                conn.putheader("Content-Length", str(len(request.body)))
            conn.endheaders(request.body or None)
            with self._lock:
                self.forwarded += 1
            resp = conn.getresponse()
            body = resp.read()
            headers = [
                (key, value.replace(self._upstream_netloc, self._own_netloc))
                for key, value in resp.getheaders()
                if key.lower() not in HOP_BY_HOP
            ]
            if request.method == "HEAD" and resp.getheader("Content-Length"):
                headers.append(("Content-Length", resp.getheader("Content-Length", "0")))
            own = self._own_netloc.encode()
            return Answer(resp.status, headers, body.replace(self._upstream_netloc.encode(), own))
        finally:
            conn.close()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops bursts of connects (a 1 s SYN retry each)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up (a killed bot, a timed-out test) is not an error of the proxy.
        pass


def _handler_for(proxy: ForwardingProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as requests sessions expect
        # Headers and body go out in separate writes; with Nagle on, a kept-alive connection
        # waits for the client's delayed ACK (40 ms) before every body.
        disable_nagle_algorithm = True

        def log_message(self, *_args: Any) -> None:  # quiet
            pass

        def _handle(self) -> None:
            request = Request(self.command, self.path, list(self.headers.items()), self._body())
            try:
                answer = proxy.respond(request)
            except OSError as exc:  # upstream unreachable: what a load balancer would say
                answer = Answer(502, [("Content-Type", "text/plain")], f"proxy: {exc}\n".encode())
            if answer is None:
                self.close_connection = True
                return
            self.send_response(answer.status)
            for key, value in answer.headers:
                self.send_header(key, value)
            bodiless = self.command == "HEAD" or answer.status in BODILESS_STATUSES
            if not bodiless:
                self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if not bodiless:
                self.wfile.write(answer.body)

        def _body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                return self._chunked_body()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _chunked_body(self) -> bytes:
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # the CRLF after each chunk
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(chunks)

        do_GET = do_HEAD = do_POST = do_PATCH = do_PUT = do_DELETE = do_OPTIONS = _handle

    return Handler


class FreezingProxy(ForwardingProxy):
    """Forwards everything, but holds back the first answer to `freeze` = (method, path regex)."""

    def __init__(self, upstream: str, freeze: tuple[str, str]) -> None:
        self.method, self.pattern = freeze[0], re.compile(freeze[1])
        self.reached = threading.Event()  # a frozen answer is waiting
        self.release = threading.Event()
        self.armed = True
        super().__init__(upstream)

    def respond(self, request: Request) -> Answer | None:
        answer = self.forward(request)
        if request.method == self.method and self.pattern.search(request.route):
            with self._lock:
                freeze, self.armed = self.armed, False
            if freeze:
                self.reached.set()
                self.release.wait(60)
                return None  # the answer never reaches the bot
        return answer

    def close(self) -> None:
        self.release.set()
        super().close()
