"""The HTTP plumbing of `FakeOpenAI`: a threading server on 127.0.0.1 that can cut its open connections
(the "drop" fault), and the request handler that hands each request to the fake."""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from memskill.testing.faults import error_reply


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that knows its fake and can cut its open connections."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the default of 5 drops connections when many clients call at once

    def __init__(self, address: tuple[str, int], fake: Any) -> None:
        self.fake = fake
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up, which can be slow; loopback needs no name.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def close_connections(self) -> None:
        with self.connections_lock:
            for connection in self.connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: object, client_address: object) -> None:
        """Errors while talking to a client (it went away) are not the fake's business."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 30

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `FakeOpenAI.requests` instead."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    do_PUT = do_DELETE = do_PATCH = do_POST

    def _serve(self) -> None:
        self.close_connection = True
        fake = self.server.fake
        try:
            raw = self._read_body()
            headers = {name.lower(): value for name, value in self.headers.items()}
            response = fake._answer(self.command, self.path, headers, raw)
        except Exception as error:
            fake._note_error()
            response = error_reply(500, f"The fake server failed: {error!r}", "server_error", "fake_error")
        fake._wait_before_reply(response)
        if response.drop:
            return
        payload = json.dumps(response.body, ensure_ascii=False).encode()
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Connection", "close")
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))
