"""``stylegram serve``: start the studio. Only click is imported here; the web stack loads when the
command runs, so ``stylegram --help`` stays fast."""
from __future__ import annotations

import errno
import ipaddress
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import ConfigError

if TYPE_CHECKING:  # the web stack loads when the server starts
    from fastapi import FastAPI


def default_data_dir() -> Path:
    """Where the studio keeps uploads and jobs: $STYLEGRAM_STUDIO_DIR, else
    $XDG_CACHE_HOME/stylegram/studio, else ~/.cache/stylegram/studio."""
    env = os.environ.get("STYLEGRAM_STUDIO_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stylegram" / "studio"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="address to listen on; anything but loopback lets other machines use the studio")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535))
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="folder for uploads and job results [default: $STYLEGRAM_STUDIO_DIR, else "
                   "$XDG_CACHE_HOME/stylegram/studio, else ~/.cache/stylegram/studio]")
@click.option("--explore-dir", type=click.Path(file_okay=False), default=None,
              help="output folder of a finished `stylegram explore units` run, shown on the Explore page")
@click.option("--device", "devices", multiple=True, default=("auto",), show_default=True,
              help="device to run jobs on; repeat for one worker per device (e.g. --device cuda:0 --device cuda:1)")
@click.option("--max-upload-mb", default=20.0, show_default=True, type=click.FloatRange(0.01, 1024),
              help="largest accepted upload")
@click.option("--threads", type=click.IntRange(1, 256), default=None,
              help="CPU threads per job (torch.set_num_threads); default: torch's choice")
def serve_cmd(host: str, port: int, data_dir: str | None, explore_dir: str | None, devices: tuple[str, ...],
              max_upload_mb: float, threads: int | None) -> None:
    """Start the studio, a local web app: transfer with a live preview, explore, Gram view."""
    if max_upload_mb != max_upload_mb:  # NaN passes FloatRange: every comparison with it is false
        raise ConfigError("--max-upload-mb nan: give a size in MB, e.g. 20")
    try:
        import uvicorn  # noqa: F401  (checked here, used by run_server)

        from .app import StudioSettings, check_folders, create_app, studio_url
        from .datalock import lock_data_dir
    except ImportError as e:
        raise ConfigError(f"the studio needs fastapi and uvicorn ({e}); pip install fastapi uvicorn") from None
    if not is_loopback(host):
        click.echo(f"stylegram: warning: serving on {host}: anyone who can reach this machine on port {port} "
                   "can upload files and run jobs; there is no login. Use --host 127.0.0.1 unless you mean it.",
                   err=True)
    settings = StudioSettings(data_dir=Path(data_dir) if data_dir else default_data_dir(), host=host, port=port,
                              devices=list(devices), explore_dir=Path(explore_dir) if explore_dir else None,
                              max_upload_bytes=int(max_upload_mb * 2**20), torch_threads=threads)
    # Bound before the app is made: a second studio on a busy port printed its address as if it
    # served, then uvicorn's "ERROR: [Errno 98] ... address already in use" and exit code 3, and its
    # job queue had meanwhile marked the running studio's jobs in the same --data-dir interrupted.
    check_folders(settings)  # a mistyped folder is the error to show, even where the port is busy too
    # The data folder's lock before the port: the same command run twice finds both taken, and the
    # lock's refusal names the studio that has them (pid, address). Nothing in the folder is read
    # before it is ours.
    data_lock = lock_data_dir(settings.data_dir, studio_url(settings))
    try:
        sock = listen_socket(host, port)
    except BaseException:
        data_lock.release()
        raise
    try:
        app = create_app(settings, data_lock)  # releases the lock if it fails
    except BaseException:
        sock.close()
        raise
    app.state.listen_socket = sock
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"stylegram studio: http://{shown}:{port}/  (data in {settings.data_dir}; Ctrl-C stops)", err=True)
    try:
        run_server(app, host, port)
    finally:  # the app's stop released it; not so where it never started
        app.state.data_lock.release()


def listen_socket(host: str, port: int) -> socket.socket:
    """A TCP socket listening on ``host``:``port`` (connections wait until the server accepts them),
    or ConfigError (one line) for a port in use or an address that is not this machine's."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: a restart reuses the port at once
    try:
        sock.bind((host, port))
        # Listening now, not when uvicorn starts: with SO_REUSEADDR, Linux lets a second socket bind
        # a port that no socket listens on yet, so two studios started together both got past bind.
        sock.listen(2048)  # uvicorn's default backlog
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise ConfigError(f"--port {port}: already in use on {host} (another studio?); stop that program or "
                              "give another --port") from None
        raise ConfigError(f"--host {host}: cannot listen there ({e.strerror or e}); give an address of this "
                          "machine, e.g. 127.0.0.1") from None
    return sock


def run_server(app: FastAPI, host: str, port: int) -> None:
    """Serve ``app`` until Ctrl-C/SIGTERM; open event streams are closed at once so it stops quickly.
    Uses the socket ``serve_cmd`` bound (``app.state.listen_socket``) where there is one."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            app.state.hub.close()
            super().handle_exit(sig, frame)

    sock = getattr(app.state, "listen_socket", None)
    Server(uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=3)).run(
        sockets=[sock] if sock is not None else None)
