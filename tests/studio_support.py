"""Helpers for the studio tests: a real uvicorn server on 127.0.0.1 in a thread, and a tiny HTTP client."""
from __future__ import annotations

import http.client
import json
import re
import socket
import threading
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StudioClient:
    """A small HTTP client of a studio at 127.0.0.1:``port`` whose page token is ``token``."""

    port: int
    token: str

    def request(self, method: str, path: str, body: bytes | dict | None = None, headers: dict | None = None,
                token: bool = True, timeout: float = 30) -> tuple[int, dict, bytes]:
        """One HTTP request; returns (status, headers, body). ``path`` is sent as is (no normalization)."""
        h = {"Host": f"127.0.0.1:{self.port}"}
        if token and method not in ("GET", "HEAD"):
            h["X-Stylegram-Token"] = self.token
        if isinstance(body, dict):
            body = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for k, v in h.items():
                conn.putheader(k, v)
            if body is not None and "Content-Length" not in h and "Transfer-Encoding" not in h:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders()
            if body:
                conn.send(body)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def json(self, method: str, path: str, body=None, **kw) -> tuple[int, dict]:
        status, _, data = self.request(method, path, body, **kw)
        try:
            return status, json.loads(data)
        except ValueError:
            return status, {"raw": data[:200].decode("latin-1")}

    def upload(self, data: bytes, name: str = "image.png") -> tuple[int, dict]:
        return self.json("POST", "/api/uploads", data, headers={"X-File-Name": name})

    def wait_job(self, job_id: str, statuses=("done", "cancelled", "failed"), timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, job = self.json("GET", f"/api/jobs/{job_id}")
            if status == 200 and job["status"] in statuses:
                return job
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} did not reach {statuses} in {timeout} s (last: {job})")


class StudioServer(StudioClient):
    """``with StudioServer(tmp) as srv:`` runs the studio on a free loopback port until the block ends."""

    def __init__(self, data_dir: Path, **settings):
        import uvicorn

        from stylegram.web.app import StudioSettings, create_app
        self.port = free_port()
        self.settings = StudioSettings(data_dir=Path(data_dir), port=self.port, devices=["cpu"], torch_threads=1,
                                       **settings)
        self.app = create_app(self.settings)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                timeout_graceful_shutdown=2, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = self.app.state.token

    def __enter__(self) -> "StudioServer":
        import torch
        self._threads = torch.get_num_threads()
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("studio server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        import torch
        self.app.state.hub.close()
        self.server.should_exit = True
        self.thread.join(20)
        torch.set_num_threads(self._threads)



class StudioProcess(StudioClient):
    """``stylegram serve`` on a free loopback port in a process of its own (on CPU, one thread), for
    what one process cannot show: a studio killed with SIGKILL. ``kill()`` is that; ``stop()`` its end."""

    def __init__(self, data_dir: Path, timeout: float = 60):
        import os
        import subprocess
        import sys
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(data_dir).parent / f"studio-{self.port}.log"
        src = str(Path(__file__).resolve().parents[1] / "src")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", "import sys; from stylegram.cli import main; main(sys.argv[1:])", "serve",
                 "--data-dir", str(data_dir), "--port", str(self.port), "--device", "cpu", "--threads", "1"],
                stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while True:
            try:
                status, _, body = self.request("GET", "/", timeout=5)
                if status == 200:
                    self.token = page_token(body.decode())
                    return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"studio process did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)

    def kill(self) -> None:
        import signal
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(20)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except Exception:
                self.kill()


def page_token(html: str) -> str:
    return re.search(r'name="stylegram-token" content="([^"]+)"', html).group(1)
