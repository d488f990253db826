"""A loopback HTTP mirror for the download tests: serves a temporary directory and records every request."""

from __future__ import annotations

import functools
import http.server
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest


@dataclass
class Mirror:
    """A directory served over HTTP on 127.0.0.1; ``requests`` lists the paths asked for, in order."""

    root: Path
    url: str
    requests: list[str] = field(default_factory=list)
    failures: dict[str, list[int]] = field(default_factory=dict)


class _Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, mirror: Mirror, **kwargs):
        self.mirror = mirror
        super().__init__(*args, directory=str(mirror.root), **kwargs)

    def do_GET(self):
        self.mirror.requests.append(self.path)
        planned = self.mirror.failures.get(self.path)
        if planned:
            self.send_error(planned.pop(0))
            return
        super().do_GET()

    def log_message(self, format, *args):
        pass


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """Serve ``tmp_path / 'mirror'``. Set ``mirror.failures[path] = [503, ...]`` to fail requests first."""
    for variable in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    root = tmp_path / "mirror"
    root.mkdir()
    state = Mirror(root, "")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, mirror=state))
    state.url = f"http://127.0.0.1:{server.server_port}/"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def dead_url():
    """A loopback URL where nothing listens: connecting is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"
