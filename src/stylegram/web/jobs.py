"""The studio's job queue: one worker thread per device runs ``stylegram.transfer`` on one job at a
time; the others wait in order. Each job owns a folder ``jobs/<16 hex>/`` with its inputs, its
result, a run report and ``job.json``; finished jobs are reloaded when the studio restarts and stay
until deleted."""
from __future__ import annotations

import collections
import io
import json
import logging
import re
import secrets
import shutil
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import ResourceError, StylegramError, out_of_memory
from ..io.image import write_atomic

log = logging.getLogger("stylegram.studio")
JOB_ID_RE = re.compile(r"^[0-9a-f]{16}$")
INPUT_COPY_RE = re.compile(r"^(content|style)\.[a-z0-9]{1,8}$")  # a job's copies of its images
STATE_TMP_RE = re.compile(r"^\.job\.json\.[0-9a-f]+\.part\.json$")  # write_atomic's temporary job.json
# How long after its last change a job folder of input copies alone may be a submission still in
# flight: in another studio started on the same --data-dir, which this start must not remove.
# A submission copies two images and writes job.json within seconds. Only where the data folder
# could not be locked (see datalock.py): a studio holding its lock removes such folders at once.
UNRECORDED_GRACE_S = 600.0
FINISHED = ("done", "cancelled", "failed", "interrupted")
HISTORY_POINTS = 400


class QueueFull(ResourceError):
    """The queue holds its most waiting jobs: the request is fine, only not now (the studio
    answers 503, not the 400 of a request that would stay wrong)."""


@dataclass
class Job:
    """One transfer request and everything the page shows about it."""

    id: str
    folder: Path
    form: dict
    options: dict
    names: dict  # role -> display name of the input
    files: dict = field(default_factory=dict)  # role -> file name inside ``folder``
    status: str = "queued"
    message: str = ""
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    iter: int = 0
    step: int = 0  # iterations so far over all levels (a pyramid's iter restarts on each)
    level: int = 0  # the pyramid level running (0-based), of ``levels``, with ``level_iters`` iterations
    levels: int = 1
    level_iters: int = 0
    note: str = ""  # what the running level does when it is not a plain transfer level, e.g. "refine"
    losses: dict = field(default_factory=dict)
    history: list = field(default_factory=list)
    device: str = ""
    preview_version: int = 0
    preview: bytes | None = field(default=None, repr=False)
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)

    def summary(self, position: int | None = None, history: bool | None = None) -> dict:
        """JSON-able state for the page (no image bytes). The loss history (up to HISTORY_POINTS
        points) comes with it when ``history`` is True, or by default while the job runs."""
        d = {"id": self.id, "status": self.status, "message": self.message, "form": self.form,
             "names": self.names, "files": self.files, "created": self.created, "started": self.started,
             "finished": self.finished, "iter": self.iter, "iters": self.form.get("iters", 0),
             "level": self.level, "levels": self.levels, "level_iters": self.level_iters, "note": self.note,
             "losses": self.losses, "device": self.device, "preview": self.preview_version, "position": position}
        if history or (history is None and self.status == "running"):
            d["history"] = list(self.history)
        return d

    def save_state(self) -> None:
        state = {k: v for k, v in self.summary(history=True).items() if k not in ("preview", "position")}
        state["options"] = self.options
        text = json.dumps(state, default=str)
        write_atomic(self.folder / "job.json", lambda tmp: Path(tmp).write_text(text))


def _thin(history: list[dict]) -> list[dict]:
    """Keep at most HISTORY_POINTS points for the page's plot (every other one, repeatedly)."""
    while len(history) > HISTORY_POINTS:
        history = history[::2]
    return history


def png_bytes(image: torch.Tensor) -> bytes:
    """Tensor (1, 3, H, W) in 0..1 -> PNG bytes, for the live preview."""
    from ..io.image import tensor_to_pil
    buf = io.BytesIO()
    tensor_to_pil(image).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def keep_content_colors(result_png: Path, content: Path, size: tuple[int, int]) -> None:
    """Colour preservation where the engine has none: the result's luminance (Y) with the
    content's chroma (Cb, Cr), as in Gatys et al. 2017's luminance-only transfer, done by Pillow."""
    from PIL import Image

    from ..io.image import load_image, tensor_to_pil
    with Image.open(result_png) as r:
        y = r.convert("YCbCr").split()[0]
        info = dict(r.info)
    c = tensor_to_pil(load_image(content)).resize(size, Image.BICUBIC).convert("YCbCr")
    merged = Image.merge("YCbCr", (y, *c.split()[1:])).convert("RGB")
    from PIL import PngImagePlugin
    pnginfo = PngImagePlugin.PngInfo()
    for k, v in info.items():
        if isinstance(v, str):
            pnginfo.add_text(k, v)
    dpi = {"dpi": info["dpi"]} if "dpi" in info else {}  # the result's resolution, kept
    write_atomic(result_png, lambda tmp: merged.save(tmp, format="PNG", pnginfo=pnginfo, **dpi))


class JobQueue:
    """FIFO queue of jobs with one worker thread per device.

    ``publish(event)`` is called (from worker threads) with {"type": "job", "job": summary} on every
    status change and {"type": "progress", ...} while a job runs.
    """

    def __init__(self, root: Path, devices: list[str], publish: Callable[[dict], None], *,
                 max_queued: int = 50, torch_threads: int | None = None,
                 unrecorded_grace_s: float = UNRECORDED_GRACE_S):
        self.root = Path(root)
        self.unrecorded_grace_s = unrecorded_grace_s
        self.root.mkdir(parents=True, exist_ok=True)
        self.devices = devices
        self.publish = publish
        self.max_queued = max_queued
        self.torch_threads = torch_threads
        self.jobs: dict[str, Job] = {}
        self.waiting: collections.deque[str] = collections.deque()
        self.cond = threading.Condition()
        self.threads: list[threading.Thread] = []
        self.stopping = False
        self._load()

    # -- persistence ------------------------------------------------------------------------------
    def _load(self) -> None:
        """Reload the jobs of an earlier session; a job that was queued or running then is 'interrupted'."""
        for folder in sorted(self.root.iterdir()):
            if not (folder.is_dir() and JOB_ID_RE.match(folder.name)):
                continue
            try:
                s = json.loads((folder / "job.json").read_text())
                job = Job(id=folder.name, folder=folder, form=s["form"], options=s.get("options", {}),
                          names=s["names"], files=s.get("files", {}), status=s["status"], message=s.get("message", ""),
                          created=s.get("created", 0.0), started=s.get("started"), finished=s.get("finished"),
                          iter=s.get("iter", 0), step=s.get("step", 0), level=s.get("level", 0),
                          levels=s.get("levels", 1), level_iters=s.get("level_iters", 0), note=s.get("note", ""),
                          losses=s.get("losses", {}), history=s.get("history", []), device=s.get("device", ""))
            except (OSError, ValueError, KeyError, TypeError):
                job = self._unrecorded(folder, self.unrecorded_grace_s)
                if job is not None:
                    self.jobs[job.id] = job
                continue
            if job.status not in FINISHED:
                # the process ended without stopping the queue (killed, crashed): when is unknown,
                # so the job ends now, when the studio learns of it
                self._interrupt(job)
            self.jobs[job.id] = job

    @staticmethod
    def _unrecorded(folder: Path, grace_s: float = UNRECORDED_GRACE_S) -> Job | None:
        """A job folder without a readable job.json, found at start: removed when it holds only the
        studio's copies of a job's input images (a submission stopped before its job was recorded),
        else listed as a failed job, its files kept, so that the page can show and delete it.

        Removing the first kind loses nothing: job.json is written before a job's id is answered,
        so no page or client ever knew that job, and its images are copies of an upload (still in
        uploads/, and the user's own file) or of an example. Such a folder changed in the last
        ``grace_s`` is left alone (not listed): without the data folder's lock, another studio
        started on it may be submitting it, between its mkdir and its job.json. Anything else (a result, a report, a
        job.json that does not parse) may be the user's work, or a record a person can mend: kept."""
        try:
            names = sorted(p.name for p in folder.iterdir())
        except OSError as e:
            log.warning("skipping unreadable job folder %s (%s)", folder, e)
            return None
        if "job.json" not in names and all(INPUT_COPY_RE.match(n) or STATE_TMP_RE.match(n) for n in names):
            try:
                changed = max(p.stat().st_mtime for p in (folder, *(folder / n for n in names)))
            except OSError:  # a file went away meanwhile: someone is working in this folder
                changed = time.time()
            if time.time() - changed < grace_s:
                # maybe another studio on this --data-dir submitting it now: left for a later start
                log.warning("left job folder %s without its job.json for now: changed %.0f s ago, it may be a "
                            "submission in flight (another studio on this data directory?)", folder,
                            max(0.0, time.time() - changed))
                return None
            shutil.rmtree(folder, ignore_errors=True)
            log.warning("removed job folder %s: a submission stopped before its job was recorded (it held %s)",
                        folder, ", ".join(names) or "nothing")
            return None
        files = {}
        for name in names:
            role = {"result.png": "result", "report.json": "report"}.get(name) or (
                name.split(".")[0] if INPUT_COPY_RE.match(name) else None)
            if role and (folder / name).is_file():
                files[role] = name
        try:
            when = folder.stat().st_mtime
        except OSError:
            when = 0.0
        record = "is unreadable" if "job.json" in names else "is missing"
        log.warning("job folder %s: its job.json %s; listed as a failed job, files kept", folder, record)
        return Job(id=folder.name, folder=folder, form={}, options={}, names={}, files=files, status="failed",
                   message=f"its record (job.json) {record}, so its settings are lost; its files stay until "
                           "it is deleted",
                   created=when, finished=when)

    @staticmethod
    def _interrupt(job: Job) -> None:
        """End ``job``, waiting or running when the studio stopped, as 'interrupted': a final record
        like a cancelled job's (finished set, the level it was on, the files it has) on disk."""
        if job.status == "running" or job.started is not None:
            where = f" (level {job.level + 1}/{job.levels})" if job.levels > 1 else ""
            job.message = f"the studio stopped while this job was running{where}"
        else:
            job.message = "the studio stopped while this job was waiting"
        job.status, job.finished, job.preview = "interrupted", time.time(), None
        for role, name in (("result", "result.png"), ("report", "report.json")):
            if role not in job.files and (job.folder / name).is_file():  # written just before the stop
                job.files[role] = name
        try:
            job.save_state()
        except OSError as e:
            log.warning("could not record job %s as interrupted (%s)", job.id, e)

    # -- public -----------------------------------------------------------------------------------
    def start(self) -> None:
        for dev in self.devices:
            t = threading.Thread(target=self._work, args=(dev,), name=f"stylegram-worker-{dev}", daemon=True)
            t.start()
            self.threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel the running jobs (their last image is kept) and stop the workers."""
        with self.cond:
            self.stopping = True
            for job in self.jobs.values():
                if job.status == "running":
                    job.cancel.set()
            # the waiting ones end now, when the studio stops (the next start would only know that
            # they ended some time before it)
            while self.waiting:
                self._interrupt(self.jobs[self.waiting.popleft()])
            self.cond.notify_all()
        for t in self.threads:
            t.join(timeout)

    def new_folder(self) -> tuple[str, Path]:
        job_id = secrets.token_hex(8)
        folder = self.root / job_id
        folder.mkdir()
        return job_id, folder

    def submit(self, job: Job) -> Job:
        with self.cond:
            if len(self.waiting) >= self.max_queued:
                shutil.rmtree(job.folder, ignore_errors=True)
                n = self.max_queued
                raise QueueFull(f"the queue is full ({n} job{'s' if n != 1 else ''} waiting); wait for "
                                f"{'some' if n != 1 else 'one'} to finish")
            job.save_state()
            self.jobs[job.id] = job
            self.waiting.append(job.id)
            self.cond.notify()
        self._publish_queue()
        return job

    def position(self, job_id: str) -> int | None:
        try:
            return self.waiting.index(job_id) + 1
        except ValueError:
            return None

    def summaries(self) -> list[dict]:
        with self.cond:
            return [j.summary(self.position(j.id)) for j in sorted(self.jobs.values(), key=lambda j: j.created)]

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id) if JOB_ID_RE.match(job_id or "") else None

    def cancel(self, job_id: str) -> Job | None:
        """Cancel a waiting job (it leaves the queue) or a running one (it keeps its last image)."""
        ended = None
        with self.cond:
            job = self.get(job_id)
            if job is None:
                return None
            if job.status == "queued":
                self.waiting.remove(job.id)
                job.status, job.message, job.finished = "cancelled", "cancelled before it started", time.time()
                job.save_state()
                # no worker will announce it (a running job's does when it stops): every open page must
                # hear it here, not only the one whose request this is
                ended = {"type": "job", "job": job.summary()}
            elif job.status == "running":
                job.cancel.set()
        if ended is not None:
            self.publish(ended)
        self._publish_queue()
        return job

    def delete(self, job_id: str) -> bool:
        """Forget a job and remove its folder; a running job is cancelled first."""
        with self.cond:
            job = self.get(job_id)
            if job is None:
                return False
            if job.status == "queued":
                self.waiting.remove(job.id)
            job.cancel.set()
            del self.jobs[job.id]
            running = job.status == "running"
            if running:
                # its record goes now, not with the folder when the worker stops: a studio killed
                # meanwhile must not bring back, as interrupted, a job the user deleted. Under the
                # lock, as every write of it (``_save_running``, the worker's last save), which
                # check under it that the job is still there.
                try:
                    (job.folder / "job.json").unlink(missing_ok=True)
                except OSError as e:
                    log.warning("could not remove job %s's record (%s)", job.id, e)
        if not running:  # a running job's worker removes the folder when it stops
            shutil.rmtree(job.folder, ignore_errors=True)
        self.publish({"type": "deleted", "id": job_id})
        self._publish_queue()
        return True

    # -- workers ----------------------------------------------------------------------------------
    def _publish_queue(self) -> None:
        with self.cond:
            events = [{"type": "job", "job": self.jobs[i].summary(n + 1)} for n, i in enumerate(self.waiting)]
        for ev in events:
            self.publish(ev)

    def _work(self, device: str) -> None:
        nets: dict[tuple, Any] = {}
        if self.torch_threads:
            torch.set_num_threads(self.torch_threads)
        while True:
            with self.cond:
                while not self.waiting and not self.stopping:
                    self.cond.wait()
                if self.stopping:
                    return
                job = self.jobs[self.waiting.popleft()]
                job.status, job.started, job.device = "running", time.time(), device
            self._save_running(job)  # a studio killed from now on knows it ran, since when, where
            self._publish_queue()
            self.publish({"type": "job", "job": job.summary()})
            try:
                self._run(job, device, nets)
            except StylegramError as e:
                job.status, job.message = "failed", self._shown(job, str(e))
            except Exception as e:  # a bug must not kill the worker; the page gets one line
                oom = out_of_memory(e)
                if oom is not None:  # what the job asked for did not fit: the user's to change, not a bug
                    job.status, job.message = "failed", self._shown(job, str(oom))
                else:
                    log.error("job %s failed:\n%s", job.id, traceback.format_exc())
                    job.status, job.message = "failed", f"internal error ({type(e).__name__}: {e}); see the server log"
            job.finished = time.time()
            job.preview = None
            with self.cond:  # a delete comes before this check or after the save, not between
                deleted = job.id not in self.jobs
                if not deleted:
                    try:
                        job.save_state()
                    except OSError as e:
                        job.status, job.message = "failed", f"could not write the job's files ({e})"
            if deleted:  # while it ran
                shutil.rmtree(job.folder, ignore_errors=True)
                continue
            self.publish({"type": "job", "job": job.summary()})

    def _save_running(self, job: Job) -> None:
        """Record a running job's state on disk (as it starts and on each pyramid level), so that a
        studio killed meanwhile finds it with its start, device and level; a job deleted while it
        runs is not written again. The check and the write under the lock: a delete between them
        (it removes the record) had the record written again, and a studio killed before the worker
        removed the folder brought the deleted job back as interrupted."""
        with self.cond:
            if job.id not in self.jobs:
                return
            try:
                job.save_state()
            except OSError as e:
                log.warning("could not record job %s's progress (%s)", job.id, e)

    @staticmethod
    def _shown(job: Job, message: str) -> str:
        """A message with the job's file paths replaced by the names the user knows them by."""
        for role, name in job.files.items():
            message = message.replace(str(job.folder / name), job.names.get(role, role))
        return message.replace(str(job.folder), "job folder")

    @staticmethod
    def _named_inputs(job: Job, inputs: dict) -> dict:
        """A run's input records with the studio's copies (content.png, style.jpg) named as the user
        knows them (the upload's file name, the example's title): the result's metadata and report
        are what the user keeps, and the copies' names say nothing. The sha256 stays: same bytes."""
        shown = {job.files[role]: job.names.get(role, role) for role in ("content", "style") if role in job.files}

        def named(rec: Any) -> Any:
            return {**rec, "file": shown[rec["file"]]} if isinstance(rec, dict) and rec.get("file") in shown else rec
        return {k: [named(r) for r in v] if isinstance(v, list) else named(v) for k, v in inputs.items()}

    def _net(self, nets: dict, options: dict, layers: list[str]):
        from ..nets import build_net
        from ..nets.registry import default_registry
        # The seed only changes the weights of nets built from it: every net that loads no weights
        # (random, random-tiny, ...), not only 'random', whose name alone was checked, so a
        # random-tiny job with seed 3 ran on the weights of seed 0 from the job before it.
        seeded = not default_registry().get(options["net"]).takes_weights
        key = (options["net"], options.get("pooling", "max"), tuple(layers),
               options.get("seed", 0) if seeded else None)
        if key not in nets:
            nets.clear()  # one net per worker: the studio runs one job at a time per device
            nets[key] = build_net(options["net"], layers=layers, pooling=options.get("pooling", "max"),
                                  seed=options.get("seed", 0))
        return nets[key]

    def _run(self, job: Job, device: str, nets: dict) -> None:
        from .. import transfer
        from ..report import write_json
        from ..transfer import TransferConfig

        opts = dict(job.options)
        name = opts.pop("preset", None)
        if name is not None:  # the engine's preset fills in what the form did not set
            from ..presets import preset_config
            cfg = preset_config(name, device=device, **opts).validated()
        else:
            cfg = TransferConfig(device=device, **opts).validated()
        layers = list(cfg.content_layers) + [l for l in cfg.style_weights if l not in cfg.content_layers]
        net = self._net(nets, job.options, layers)
        every = max(1, min(10, cfg.iters // 50))
        last = {"t": 0.0}

        def callback(ev) -> bool:
            new_level = job.step == 0 or ev.level != job.level
            job.iter = ev.iter
            job.step += 1
            job.level, job.levels, job.level_iters, job.note = ev.level, ev.levels, ev.iters, ev.note
            job.losses = {k: float(v) for k, v in ev.losses.items()}
            job.history.append({"iter": ev.iter, "step": job.step, "level": ev.level, **job.losses})
            job.history = _thin(job.history)
            now = time.monotonic()
            # every few iterations, at most 20 per second, and always the last one
            preview = ev.image is not None and (
                ev.iter >= ev.iters or (ev.iter % every == 0 and now - last["t"] > 0.05))
            if preview:
                last["t"] = now
                job.preview = png_bytes(ev.image)
                job.preview_version += 1
            if new_level:
                self._save_running(job)
            self.publish({"type": "progress", "id": job.id, "iter": ev.iter, "iters": ev.iters, "step": job.step,
                          "level": ev.level, "levels": ev.levels, "note": ev.note, "losses": job.losses, "preview": job.preview_version})
            return job.cancel.is_set()

        result = transfer(job.folder / job.files["content"], job.folder / job.files["style"], config=cfg,
                          callback=callback, feature_net=net)
        result.inputs = self._named_inputs(job, result.inputs)
        result.save(job.folder / "result.png")
        if job.form.get("preserve_color") and "preserve_color" not in job.options:
            keep_content_colors(job.folder / "result.png", job.folder / job.files["content"],
                                (result.image.shape[-1], result.image.shape[-2]))
        job.files["result"] = "result.png"
        write_json({**result.report(), "studio": {"form": job.form, "inputs": job.names}}, job.folder / "report.json")
        job.files["report"] = "report.json"
        job.preview = None
        job.preview_version += 1
        if result.stopped == "cancelled":
            why = "the studio was stopped" if self.stopping else "cancelled"
            where = f" of level {job.level + 1}/{job.levels}" if job.levels > 1 else ""
            # stopped on a coarse level of the pyramid, the kept image is that level's, not the size
            # on the card: say so, as the CLI does
            h, w = result.image.shape[-2:]
            smaller = f" ({w} x {h} px, smaller than the {cfg.size} px asked for)" if max(h, w) < cfg.size else ""
            job.status = "cancelled"
            job.message = f"{why} at iteration {job.iter}{where}; the last image is kept{smaller}"
        elif result.stopped == "nan":
            job.status, job.message = "done", result.message
        else:
            job.status, job.message = "done", f"{result.evals} evaluations in {result.seconds_optimize:.1f} s on {result.device}"
