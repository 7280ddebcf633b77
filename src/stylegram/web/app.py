"""The studio's web app (FastAPI): pages, uploads, jobs, live progress as server-sent events.

Security model, for a server meant for one person on 127.0.0.1:
- Host header must name this server (DNS-rebinding pages cannot reach it under another name).
- Every state-changing request (POST, DELETE) needs the per-process token from the page in the
  ``X-Stylegram-Token`` header (a cross-site form cannot set headers; a cross-site fetch that
  tries is stopped by CORS, which this server never allows), and a cross-site ``Origin`` or
  ``Sec-Fetch-Site`` is refused outright.
- Request bodies have a size limit, checked before they are read; uploads are checked by
  content; no client-supplied name ever becomes a path (ids are generated and matched by regex;
  files under --explore-dir are resolved and must stay inside it).
"""
from __future__ import annotations

import asyncio
import json
import logging
import mimetypes
import secrets
import shutil
import threading
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from ..errors import ConfigError, InputError, StylegramError
from .datalock import DataDirLock, lock_data_dir
from .jobs import FINISHED, UNRECORDED_GRACE_S, Job, JobQueue, QueueFull
from .options import Limits, form_schema, parse_job_request
from .uploads import UploadStore, too_large

log = logging.getLogger("stylegram.studio")
STATIC = Path(__file__).with_name("static")
EXAMPLES = STATIC / "examples"
EXAMPLE_NAMES = {"tubingen": "Tübingen (photo)", "starry_night": "The Starry Night (painting)"}
EXPLORE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".svg", ".html", ".htm", ".json", ".css", ".txt"}
PAGE_CSP = ("default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
            "connect-src 'self'; frame-src 'self'; frame-ancestors 'self'; form-action 'none'; base-uri 'none'")
# Files from --explore-dir are shown as they are, but sandboxed with scripts off: a report can show
# its pictures and links, but cannot run code against the studio's API.
EXPLORE_CSP = "sandbox allow-same-origin allow-popups allow-popups-to-escape-sandbox; frame-ancestors 'self'"


@dataclass
class StudioSettings:
    """Everything ``stylegram serve`` can set."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8765
    devices: list[str] = field(default_factory=lambda: ["auto"])
    explore_dir: Path | None = None
    max_upload_bytes: int = 20 * 2**20
    max_json_bytes: int = 64 * 2**10
    max_pixels: int = 40_000_000
    max_queued: int = 50
    max_event_clients: int = 32
    torch_threads: int | None = None
    limits: Limits = field(default_factory=Limits)

    def allowed_hosts(self) -> set[str]:
        names = {"127.0.0.1", "localhost", "[::1]", self.host if ":" not in self.host else f"[{self.host}]"}
        if self.host in ("0.0.0.0", "::"):  # any interface: the names a user can reach it by are unknown
            return set()
        return {f"{n}:{self.port}" for n in names} | (names if self.port == 80 else set())


class EventHub:
    """Fans out events from worker threads to the page's event streams (asyncio queues)."""

    def __init__(self, max_clients: int):
        self.loop: asyncio.AbstractEventLoop | None = None
        self.clients: set[asyncio.Queue] = set()
        self.max_clients = max_clients

    def close(self) -> None:
        """End every open event stream (the server is stopping); safe from any thread."""
        self.publish({"type": "_close"})

    def publish(self, event: dict) -> None:
        if self.loop is not None and not self.loop.is_closed():
            try:
                self.loop.call_soon_threadsafe(self._fanout, event)
            except RuntimeError:  # loop closing
                pass

    def _fanout(self, event: dict) -> None:
        for q in list(self.clients):
            try:
                q.put_nowait(event)
            except asyncio.QueueFull:  # a slow page: it gets a fresh snapshot instead
                q.overflow = True  # type: ignore[attr-defined]


class _NotJSON(ValueError):
    pass


def _no_constant(name: str) -> None:
    raise _NotJSON(f"{name} is not JSON")


def strict_json(body: bytes) -> Any:
    """Decode a request body as JSON proper, or raise ConfigError (a 400, one line). Python's
    reader also takes NaN and Infinity, which no browser sends and which would only reach the
    options as numbers that compare false; a body nested thousands deep is a RecursionError."""
    try:
        return json.loads(body, parse_constant=_no_constant)
    except _NotJSON as e:
        raise ConfigError(f"the request body is not valid JSON ({e})") from None
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise ConfigError("the request body is not valid JSON") from None


def _error(status: int, msg: str):
    return JSONResponse({"error": msg}, status_code=status)


def check_folders(settings: StudioSettings) -> None:
    """ConfigError (one line) for a --data-dir that cannot be made or a missing --explore-dir; the
    data folder is created. ``stylegram serve`` checks these before it takes its port."""
    root = Path(settings.data_dir)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--data-dir {root}: cannot create it ({e.strerror or e}); give a folder you can "
                          "write to") from None
    if settings.explore_dir is not None and not Path(settings.explore_dir).is_dir():
        raise ConfigError(f"--explore-dir {settings.explore_dir}: no such folder; give the output folder of "
                          "`stylegram explore units`")


def studio_url(settings: StudioSettings) -> str:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{settings.port}/"


def create_app(settings: StudioSettings, data_lock: DataDirLock | None = None) -> FastAPI:
    """Build the FastAPI app for ``settings``; workers start with the app and stop with it.

    The app holds the data directory's lock (``data_lock``, taken here when not given) from before
    it reads the folder until it stops; ConfigError (one line) while another studio holds it."""
    from ..device import resolve_device

    check_folders(settings)
    root = Path(settings.data_dir)
    if data_lock is None:
        data_lock = lock_data_dir(root, studio_url(settings))
    try:
        token = secrets.token_urlsafe(24)
        hub = EventHub(settings.max_event_clients)
        devices = [str(resolve_device(d)) for d in settings.devices]
        # with the folder ours alone, a job folder without its record is a dead studio's, never a
        # submission in flight: removed at once (see JobQueue._unrecorded)
        queue = JobQueue(root / "jobs", devices, hub.publish, max_queued=settings.max_queued,
                         torch_threads=settings.torch_threads,
                         unrecorded_grace_s=0.0 if data_lock.held else UNRECORDED_GRACE_S)
        uploads = UploadStore(root / "uploads", max_pixels=settings.max_pixels, min_side=settings.limits.min_size)
    except BaseException:
        data_lock.release()
        raise
    gram_cache: dict = {}
    gram_lock = threading.Lock()
    allowed_hosts = settings.allowed_hosts()
    explore_root = Path(settings.explore_dir).resolve() if settings.explore_dir else None

    @asynccontextmanager
    async def lifespan(app):
        hub.loop = asyncio.get_running_loop()
        queue.start()
        try:
            yield
        finally:
            try:
                await run_in_threadpool(queue.stop)
            finally:
                data_lock.release()

    app = FastAPI(title="stylegram studio", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.token = token
    app.state.queue = queue
    app.state.hub = hub
    app.state.settings = settings
    app.state.data_lock = data_lock

    def refusal(request: Request) -> JSONResponse | None:
        """The error response for a request the studio refuses before any handler runs, else None."""
        host = request.headers.get("host", "")
        if allowed_hosts and host not in allowed_hosts:
            return _error(421, f"unknown host {host[:60]!r}; open the studio at http://{settings.host}:{settings.port}/")
        method = request.method
        if method in ("GET", "HEAD"):
            return None
        origin = request.headers.get("origin")
        site = request.headers.get("sec-fetch-site")
        if method not in ("POST", "DELETE"):
            return _error(405, f"method {method} is not allowed")
        # same origin: the page's own scheme://host:port, i.e. what the (checked) Host header names
        if origin is not None and origin != f"http://{host}":
            return _error(403, "cross-site request refused")
        if site is not None and site not in ("same-origin", "none"):
            return _error(403, "cross-site request refused")
        if not secrets.compare_digest(request.headers.get("x-stylegram-token", ""), token):
            return _error(403, "missing or wrong X-Stylegram-Token header; reload the studio page")
        if chunked(request):
            return _error(411, "send the request with a Content-Length")
        limit = body_limit(request)
        length = declared_length(request)
        if length is None:
            return _error(400, "malformed Content-Length")
        if request.url.path == "/api/uploads":
            refused = too_large(length, limit, upload_name(request))
            return None if refused is None else _error(413, refused)
        if length > limit:
            return _error(413, f"request of {length} bytes is above the limit of {limit} bytes")
        return None

    def upload_name(request: Request) -> str | None:
        """The client's name for an uploaded file (the page sends it URL-encoded in X-File-Name)."""
        name = request.headers.get("x-file-name") or request.query_params.get("name")
        return unquote(name) if name else None

    def chunked(request: Request) -> bool:
        return "chunked" in request.headers.get("transfer-encoding", "").lower()

    def body_limit(request: Request) -> int:
        return settings.max_upload_bytes if request.url.path == "/api/uploads" else settings.max_json_bytes

    def declared_length(request: Request) -> int | None:
        try:
            length = int(request.headers.get("content-length", "0"))
        except ValueError:
            return None
        return length if length >= 0 else None

    @app.middleware("http")
    async def guard(request: Request, call_next):
        refused = refusal(request)
        if refused is not None:
            length = declared_length(request)
            if length and length <= 4 * body_limit(request) and not chunked(request):
                # read and drop a body of plausible size first: closing on unread bytes makes the kernel send
                # a TCP reset, which can overtake the error so the client sees "connection reset" instead
                try:
                    async for _ in request.stream():
                        pass
                except ClientDisconnect:
                    pass
            return refused
        try:
            response = await call_next(request)
        except Exception as exc:  # a bug: one traceback in the log, one line for the user
            # answered here, not by an exception handler: Starlette re-raises after those run (so
            # that the server logs it too), which wrote every 500's traceback twice
            log.exception("internal error on %s %s", request.method, request.url.path)
            response = internal_error(exc)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        return response

    async def read_body(request: Request, limit: int) -> bytes:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise InputError(f"request body is above the limit of {limit} bytes")
        return bytes(body)

    @app.exception_handler(StylegramError)
    async def user_error(request: Request, exc: StylegramError):
        return _error(400, str(exc))

    @app.exception_handler(QueueFull)
    async def queue_full(request: Request, exc: QueueFull):
        return _error(503, str(exc))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        errs = exc.errors()
        where = ".".join(str(x) for x in errs[0].get("loc", ())) if errs else "request"
        return _error(400, f"{where}: {errs[0].get('msg', 'invalid') if errs else 'invalid request'}")

    @app.exception_handler(404)
    async def not_found(request: Request, exc):
        return _error(404, "not found")

    @app.exception_handler(405)
    async def not_allowed(request: Request, exc):
        return _error(405, "method not allowed")

    def internal_error(exc: Exception) -> JSONResponse:
        return _error(500, f"internal error ({type(exc).__name__}); see the server log")

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception):
        # only what the guard above cannot catch reaches this (e.g. a failure while a streamed
        # body is sent): Starlette re-raises it afterwards and the server logs the traceback
        return internal_error(exc)

    # -- pages ------------------------------------------------------------------------------------
    # HEAD as GET without the body (the server sends the headers only): health checks and some
    # browsers ask the page with HEAD, which a plain @app.get answers 405
    @app.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse)
    async def index():
        html = (STATIC / "index.html").read_text(encoding="utf-8").replace("{{TOKEN}}", token)
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    @app.get("/static/{name}")
    async def static(name: str):
        if name not in ("studio.js", "studio.css", "favicon.svg"):
            return _error(404, "not found")
        return FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})

    @app.get("/examples/{name}")
    async def example(name: str):
        if name.removesuffix(".jpg") not in EXAMPLE_NAMES:
            return _error(404, "not found")
        return FileResponse(EXAMPLES / f"{name.removesuffix('.jpg')}.jpg")

    # -- API --------------------------------------------------------------------------------------
    @app.get("/api/config")
    async def config():
        return {"form": form_schema(settings.limits), "devices": devices,
                "examples": [{"id": f"example:{k}", "name": v, "url": f"/examples/{k}.jpg"} for k, v in EXAMPLE_NAMES.items()],
                "max_upload_bytes": settings.max_upload_bytes, "explore_dir": bool(explore_root)}

    @app.post("/api/uploads")
    async def upload(request: Request):
        if request.headers.get("content-type", "").startswith("multipart/"):  # curl -F: not the page's way
            return _error(415, "send the image file's bytes as the request body, not a form (e.g. curl "
                               "--data-binary @photo.jpg -H 'X-File-Name: photo.jpg')")
        data = await read_body(request, settings.max_upload_bytes)
        meta = await run_in_threadpool(uploads.add, data, upload_name(request))
        return {**meta, "url": f"/api/uploads/{meta['id']}/thumb.png", "source": f"upload:{meta['id']}"}

    @app.get("/api/uploads/{uid}/thumb.png")
    async def upload_thumb(uid: str):
        p = uploads.thumb_path(uid)
        return FileResponse(p) if p is not None and p.exists() else _error(404, "not found")

    def source_path(src: str, role: str) -> tuple[Path, str]:
        """The file and display name of ``src`` (``example:<name>`` or ``upload:<32 hex>``), given
        as the job's ``role`` image; InputError naming the role (which of the images, and what to
        do) when there is no such example or the upload is gone."""
        kind, _, ident = src.partition(":")
        if kind == "example":
            if ident in EXAMPLE_NAMES:
                return EXAMPLES / f"{ident}.jpg", EXAMPLE_NAMES[ident]
            raise InputError(f"{role}: there is no example {ident!r}; choose one of "
                             f"{', '.join('example:' + k for k in EXAMPLE_NAMES)}")
        meta = uploads.get(ident)
        if meta is not None:
            return uploads.root / ident / meta["file"], meta["name"]
        # the id names no upload: never made here, or removed (the store keeps the latest few hundred)
        # 'image' (the Gram view's one input) read "upload the image image again"
        again = "the image" if role == "image" else f"the {role} image"
        raise InputError(f"{role}: that uploaded image is no longer in the studio (it keeps the latest "
                         f"{uploads.keep} uploads); upload {again} again")

    @app.post("/api/jobs")
    async def submit(request: Request):
        if not request.headers.get("content-type", "").startswith("application/json"):
            return _error(415, "send the job as JSON (Content-Type: application/json)")
        body = await read_body(request, settings.max_json_bytes)
        params = strict_json(body)
        form, options = parse_job_request(params, settings.limits)
        return queue_job(form, options, {role: source_path(form[role], role) for role in ("content", "style")})

    def queue_job(form: dict, options: dict, inputs: dict[str, tuple[Path, str]]) -> JSONResponse:
        """A new job in its own folder with copies of ``inputs`` ({role: (file, name shown)}),
        queued; the 201 reply with its summary."""
        job_id, folder = queue.new_folder()
        try:
            files = {}
            for role, (src, _) in inputs.items():
                files[role] = role + src.suffix.lower()
                shutil.copyfile(src, folder / files[role])
            job = Job(id=job_id, folder=folder, form=form, options=options, files=files,
                      names={role: shown for role, (_, shown) in inputs.items()})
            queue.submit(job)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return JSONResponse(job.summary(queue.position(job.id)), status_code=201)

    @app.post("/api/jobs/{job_id}/rerun")
    async def rerun(job_id: str, request: Request):
        """A finished job (cancelled, interrupted by a stopped studio, failed or done) again, as a
        new job: its own copies of the images (the uploads may be gone) and its form, checked
        against today's limits, the uploaded images against today's upload limit too (413, the
        refusal their upload would get now). A body ``{"size": N}`` runs it at another size (the
        page's "Render at 2N px"). The old job keeps its files."""
        old = queue.get(job_id)
        if old is None:
            return _error(404, "no such job")
        if old.status not in FINISHED:
            return _error(409, f"the job is {old.status}; it can run again once it has ended")
        if not old.form:  # a folder found without a readable job.json (see JobQueue._unrecorded)
            return _error(409, "the job's settings are lost (its job.json is missing or unreadable); choose the "
                               "images and settings again")
        body = await read_body(request, settings.max_json_bytes)
        change = strict_json(body) if body.strip() else {}
        if not isinstance(change, dict) or set(change) - {"size"}:
            raise ConfigError('send no body, or {"size": N} to run the job at another size')
        form, options = parse_job_request({**old.form, **change}, settings.limits)
        inputs = {role: (old.folder / old.files[role], old.names.get(role, role)) for role in ("content", "style")}
        missing = [role for role, (src, _) in inputs.items() if not src.is_file()]
        if missing:
            raise InputError(f"the job's {missing[0]} image is gone from its folder; choose the images again")
        try:
            for role, (src, shown) in inputs.items():
                # an upload passed the limit of its day, which may have been larger; the examples are
                # the studio's own files, under no upload limit
                refused = old.form[role].startswith("upload:") and too_large(
                    src.stat().st_size, settings.max_upload_bytes, shown)
                if refused:
                    return _error(413, refused)
            return queue_job(form, options, inputs)
        except FileNotFoundError:
            # a DELETE (run in a worker thread) removed the job's folder while its images were copied
            if queue.get(job_id) is None:
                return _error(404, "no such job")
            raise InputError("the job's images are gone from its folder; choose the images again") from None

    @app.get("/api/jobs")
    async def jobs():
        return {"jobs": queue.summaries()}

    @app.get("/api/jobs/{job_id}")
    async def job_detail(job_id: str):
        job = queue.get(job_id)
        return job.summary(queue.position(job_id), history=True) if job else _error(404, "no such job")

    @app.post("/api/jobs/{job_id}/cancel")
    async def cancel(job_id: str):
        job = queue.cancel(job_id)
        return job.summary(queue.position(job_id)) if job else _error(404, "no such job")

    @app.delete("/api/jobs/{job_id}")
    async def delete(job_id: str):
        return {"deleted": job_id} if await run_in_threadpool(queue.delete, job_id) else _error(404, "no such job")

    @app.get("/api/jobs/{job_id}/preview.png")
    async def preview(job_id: str):
        job = queue.get(job_id)
        if job is None:
            return _error(404, "no such job")
        data = job.preview
        if data is not None:
            return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})
        if "result" in job.files and (job.folder / job.files["result"]).exists():
            return FileResponse(job.folder / job.files["result"], headers={"Cache-Control": "no-store"})
        return _error(404, "no preview yet")

    @app.get("/api/jobs/{job_id}/files/{name}")
    async def job_file(job_id: str, name: str, download: int = 0):
        job = queue.get(job_id)
        if job is None or name not in job.files.values() or not (job.folder / name).is_file():
            return _error(404, "not found")
        headers = {}
        if download:
            headers["Content-Disposition"] = f'attachment; filename="stylegram-{job_id}-{name}"'
        return FileResponse(job.folder / name, headers=headers)

    @app.get("/api/events")
    async def events(request: Request):
        if len(hub.clients) >= hub.max_clients:
            return _error(503, "too many open studio pages; close some")
        q: asyncio.Queue = asyncio.Queue(maxsize=1000)
        q.overflow = False  # type: ignore[attr-defined]
        hub.clients.add(q)

        async def stream():
            try:
                yield f"event: snapshot\ndata: {json.dumps({'jobs': queue.summaries()})}\n\n"
                while True:
                    try:
                        ev = await asyncio.wait_for(q.get(), timeout=15)
                    except asyncio.TimeoutError:
                        if await request.is_disconnected():
                            return
                        yield ": keep-alive\n\n"
                        continue
                    if ev["type"] == "_close":
                        return
                    if q.overflow:  # type: ignore[attr-defined]
                        while not q.empty():
                            q.get_nowait()
                        q.overflow = False  # type: ignore[attr-defined]
                        yield f"event: snapshot\ndata: {json.dumps({'jobs': queue.summaries()})}\n\n"
                        continue
                    yield f"event: {ev['type']}\ndata: {json.dumps(ev)}\n\n"
            finally:
                hub.clients.discard(q)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    # -- explore ----------------------------------------------------------------------------------
    @app.get("/api/explore")
    async def explore_list():
        if explore_root is None:
            return {"dir": None, "files": [],
                    "message": "no explorer run shown: start the studio with --explore-dir FOLDER "
                               "(the output folder of `stylegram explore units`)"}
        if not explore_root.is_dir():
            return {"dir": explore_root.name, "files": [], "message": f"{explore_root.name}: folder not found"}

        def scan():
            out = []
            for p in sorted(explore_root.rglob("*")):
                if len(out) >= 1000:
                    break
                try:
                    r = p.resolve()
                except OSError:
                    continue
                # the sheets (PNG) and reports (HTML); the per-unit JPEGs are reached through the report
                if p.is_file() and p.suffix.lower() in (".png", ".html", ".htm") and r.is_relative_to(explore_root):
                    rel = p.relative_to(explore_root).as_posix()
                    out.append({"path": rel, "kind": "html" if p.suffix.lower() in (".html", ".htm") else "image",
                                "bytes": p.stat().st_size})
            return out
        files = await run_in_threadpool(scan)
        return {"dir": explore_root.name, "files": files,
                "message": "" if files else f"{explore_root.name}: no PNG or HTML files in this folder"}

    @app.get("/explore/files/{rel:path}")
    async def explore_file(rel: str):
        if explore_root is None:
            return _error(404, "not found")
        try:
            p = (explore_root / rel).resolve()
        except (OSError, ValueError):
            return _error(404, "not found")
        if not p.is_relative_to(explore_root) or not p.is_file() or p.suffix.lower() not in EXPLORE_SUFFIXES:
            return _error(404, "not found")
        media = mimetypes.guess_type(p.name)[0] or "application/octet-stream"
        return FileResponse(p, media_type=media, headers={"Content-Security-Policy": EXPLORE_CSP})

    @app.post("/api/gram")
    async def gram_view(request: Request):
        body = await read_body(request, settings.max_json_bytes)
        params = strict_json(body)
        if not isinstance(params, dict) or set(params) - {"image", "net", "size"}:
            return _error(400, "send {\"image\": ..., \"net\": ..., \"size\": ...}")
        from .options import SOURCE_RE, offline_nets
        src = params.get("image")
        if not isinstance(src, str) or not SOURCE_RE.match(src):
            return _error(400, "image: choose an example or upload an image first")
        net_name = params.get("net", "vgg16-hed")
        if net_name not in offline_nets():
            raise ConfigError(f"unknown net {net_name!r}; valid: {', '.join(offline_nets())}")
        size = params.get("size", 256)
        if not isinstance(size, int) or isinstance(size, bool) or not 32 <= size <= 512:
            return _error(400, "size: must be an integer between 32 and 512")
        path, shown = source_path(src, "image")
        kind, _, ident = src.partition(":")
        out_dir = (uploads.root / ident) if kind == "upload" else (root / "gram" / ident)
        out_dir.mkdir(parents=True, exist_ok=True)

        def compute():
            from .gramview import GRAM_LAYERS, gram_heatmaps
            with gram_lock:  # one at a time: it shares the CPU with the running job
                key = (net_name,)
                if key not in gram_cache:
                    from ..nets import build_net
                    gram_cache.clear()
                    gram_cache[key] = build_net(net_name, layers=list(GRAM_LAYERS))
                return gram_heatmaps(path, out_dir, net_name=net_name, size=size, net=gram_cache[key])
        layers = await run_in_threadpool(compute)
        for l in layers:
            l["url"] = f"/api/gram/{kind}/{ident}/{l['file']}"
        return {"image": shown, "net": net_name, "size": size, "layers": layers}

    @app.get("/api/gram/{kind}/{ident}/{name}")
    async def gram_file(kind: str, ident: str, name: str):
        import re
        if not re.match(r"^gram_[a-z0-9-]+_\d+_relu\d_\d\.png$", name):
            return _error(404, "not found")
        if kind == "upload" and uploads.get(ident) is not None:
            p = uploads.root / ident / name
        elif kind == "example" and ident in EXAMPLE_NAMES:
            p = root / "gram" / ident / name
        else:
            return _error(404, "not found")
        return FileResponse(p) if p.is_file() else _error(404, "not found")

    return app
