from __future__ import annotations

import http.server
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from modet.checkpoint import (
    DETECTRON2_URL_PREFIX,
    CheckpointDownloadError,
    DetectionCheckpointer,
    atomic_write,
    get_cache_dir,
    get_local_path,
)
from modet.checkpoint.file_io import resolve_url


class _Server:
    """A file server on 127.0.0.1 that counts requests; ``truncate`` lies about Content-Length."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        self.truncate = False
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(server.root), **kwargs)

            def do_GET(self) -> None:
                server.requests.append(self.path)
                if server.truncate:
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    self.wfile.write(b"PK\x03\x04 only a few bytes")
                    return
                super().do_GET()

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[_Server]:
    root = tmp_path / "served"
    (root / "models").mkdir(parents=True)
    srv = _Server(root)
    yield srv
    srv.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_local_and_file_urls_resolve_to_the_path(tmp_path: Path) -> None:
    path = tmp_path / "a b.pth"
    assert get_local_path(str(path)) == str(path)
    assert get_local_path(path.as_uri()) == str(path)
    assert get_local_path(f"file://localhost{path}") == str(path)


def test_detectron2_shorthand_maps_to_the_public_model_zoo() -> None:
    assert DETECTRON2_URL_PREFIX == "https://dl.fbaipublicfiles.com/detectron2/"
    assert resolve_url("detectron2://ImageNetPretrained/MSRA/R-50.pkl") == (
        "https://dl.fbaipublicfiles.com/detectron2/ImageNetPretrained/MSRA/R-50.pkl"
    )


def test_cache_dir_comes_from_modet_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODET_CACHE", str(tmp_path / "c"))
    assert get_cache_dir() == str(tmp_path / "c")
    monkeypatch.delenv("MODET_CACHE")
    assert get_cache_dir() == os.path.expanduser("~/.cache/modet")


def test_a_url_is_downloaded_once_into_the_cache(server: _Server, tmp_path: Path) -> None:
    weights = {"weight": torch.arange(6.0).view(2, 3), "bias": torch.tensor([1.0, -1.0])}
    torch.save({"model": weights}, server.root / "models" / "tiny.pth")
    url = f"{server.url}/models/tiny.pth"

    model = torch.nn.Linear(3, 2)
    DetectionCheckpointer(model).load(url)
    assert torch.equal(model.weight, weights["weight"]) and torch.equal(model.bias, weights["bias"])

    cached = get_local_path(url)
    assert cached.startswith(str(tmp_path / "cache")) and cached.endswith(os.path.join("models", "tiny.pth"))
    DetectionCheckpointer(torch.nn.Linear(3, 2)).load(url + "?matching_heuristics=True")
    assert server.requests == ["/models/tiny.pth"]
    assert not [name for name in os.listdir(os.path.dirname(cached)) if name.endswith(".tmp")]


def test_a_url_that_does_not_answer_names_the_url_and_the_cause(server: _Server) -> None:
    with pytest.raises(CheckpointDownloadError, match=r"/models/missing\.pth: HTTP 404"):
        get_local_path(f"{server.url}/models/missing.pth")
    dead = f"http://127.0.0.1:{_free_port()}/model.pth"
    with pytest.raises(CheckpointDownloadError, match=rf"Could not download {dead}: .*[Cc]onnection refused"):
        DetectionCheckpointer(torch.nn.Linear(1, 1)).load(dead)


def test_a_truncated_download_is_not_cached(server: _Server) -> None:
    server.truncate = True
    url = f"{server.url}/models/big.pth"
    with pytest.raises(CheckpointDownloadError, match=r"big\.pth: connection closed after \d+ of 1000 bytes"):
        get_local_path(url)
    cache_folder = Path(get_cache_dir())
    assert not [p for p in cache_folder.rglob("*") if p.is_file()]


def test_atomic_write_leaves_the_old_file_when_the_body_fails(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"), atomic_write(target) as tmp:
        Path(tmp).write_text("half of the new")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["file.txt"]
    with atomic_write(target) as tmp:
        Path(tmp).write_text("new")
    assert target.read_text() == "new"
    assert os.listdir(tmp_path) == ["file.txt"]
