"""The studio's HTTP API on a real server on 127.0.0.1: jobs and previews, load (20 concurrent
uploads, 3 queued jobs), refused requests (size, malformed, path traversal, cross-site), bad files,
restarts. Bounded: small images, the random net at 32-64 px, every wait has a timeout."""
from __future__ import annotations

import io
import json
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio_support import StudioProcess, StudioServer, free_port, page_token

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "stylegram" / "web" / "static" / "examples"


def png(seed: int, size: tuple[int, int] = (48, 40)) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def explore_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("explore-root")
    d = root / "run"
    d.mkdir()
    Image.new("RGB", (20, 20), (1, 2, 3)).save(d / "sheet.png")
    (d / "index.html").write_text("<h1>report</h1>")
    (root / "secret.png").write_bytes(png(1))  # beside, not inside, the explore folder
    (d / "escape.png").symlink_to(root / "secret.png")
    return d


@pytest.fixture(scope="module")
def studio(tmp_path_factory, explore_dir):
    with StudioServer(tmp_path_factory.mktemp("studio"), explore_dir=explore_dir, max_upload_bytes=300_000,
                      max_queued=10) as srv:
        yield srv


def job_body(**kw) -> dict:
    # refine 0: the tests count the iterations of the pyramid's levels (the presets add a --refine pass)
    return {"content": "example:tubingen", "style": "example:starry_night", "net": "random", "size": 64, "iters": 4,
            "refine": 0, **kw}


def test_page_carries_a_token_and_security_headers(studio):
    status, headers, body = studio.request("GET", "/")
    assert status == 200
    assert page_token(body.decode()) == studio.token
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    # nothing on the page comes from another host
    assert "http://" not in body.decode() and "https://" not in body.decode()
    for name in ("studio.js", "studio.css"):
        status, _, text = studio.request("GET", f"/static/{name}")
        assert status == 200 and b"https://" not in text and b"http://" not in text


def test_head_of_the_page_is_its_get_without_a_body(studio):
    # HEAD / (health checks, some browsers) answered 405 "method not allowed"
    s, got, page = studio.request("GET", "/")
    s_head, head, body = studio.request("HEAD", "/")
    assert (s, s_head, body) == (200, 200, b"")
    assert head["content-type"] == got["content-type"] and head["content-length"] == str(len(page))
    assert head["content-security-policy"] == got["content-security-policy"]


def test_an_internal_error_is_one_traceback_in_the_log_and_one_line_for_the_user(tmp_path):
    # Each 500 wrote two tracebacks: the studio's "internal error on /api/jobs" and uvicorn's
    # "Exception in ASGI application" (Starlette re-raises the exception after the 500 handler).
    import logging

    class Keep(logging.Handler):
        def __init__(self):
            super().__init__()
            self.records = []

        def emit(self, record):
            self.records.append(record)
    with StudioServer(tmp_path) as srv:
        keep = Keep()
        loggers = [logging.getLogger(n) for n in ("stylegram", "uvicorn", "uvicorn.error", "uvicorn.asgi")]
        for lg in loggers:
            lg.addHandler(keep)
        try:
            def broken():
                raise RuntimeError("a bug")
            srv.app.state.queue.summaries = broken
            status, body = srv.json("GET", "/api/jobs")
            time.sleep(0.3)  # the server logs after the response is sent
        finally:
            for lg in loggers:
                lg.removeHandler(keep)
    assert (status, body) == (500, {"error": "internal error (RuntimeError); see the server log"})
    tracebacks = {id(r): r for r in keep.records if r.exc_info}  # a record seen by two loggers once
    assert len(tracebacks) == 1, [(r.name, r.getMessage()) for r in tracebacks.values()]
    (record,) = tracebacks.values()
    assert record.getMessage() == "internal error on GET /api/jobs" and "a bug" in str(record.exc_info[1])


def test_job_runs_streams_previews_and_keeps_result(studio):
    status, up = studio.upload((EXAMPLES / "tubingen.jpg").read_bytes(), "t.jpg")
    assert status == 200 and up["width"] == 512 and up["format"] == "JPEG"
    status, job = studio.json("POST", "/api/jobs", job_body(content=up["source"], iters=30, size=64))
    assert status == 201 and job["status"] in ("queued", "running")
    previews = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        s, _, data = studio.request("GET", f"/api/jobs/{job['id']}/preview.png")
        if s == 200:
            previews.add(data)
        if studio.json("GET", f"/api/jobs/{job['id']}")[1]["status"] == "done":
            break
        time.sleep(0.05)
    done = studio.wait_job(job["id"])
    assert done["status"] == "done" and done["iter"] == 30
    assert len(previews) >= 2, "the preview did not change while the job ran"
    assert done["history"][-1]["total"] < done["history"][0]["total"]
    s, _, data = studio.request("GET", f"/api/jobs/{job['id']}/files/result.png")
    im = Image.open(io.BytesIO(data))
    assert s == 200 and im.size == (64, 48)
    s, headers, data = studio.request("GET", f"/api/jobs/{job['id']}/files/report.json?download=1")
    report = json.loads(data)
    assert "attachment" in headers["content-disposition"]
    assert report["params"]["iters"] == 30 and report["studio"]["inputs"]["content"] == "t.jpg"


def test_load_20_uploads_and_3_queued_jobs(studio):
    t0 = time.monotonic()
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda i: studio.upload(png(i), f"img{i}.png"), range(20)))
    assert [s for s, _ in results] == [200] * 20
    ids = {r["id"] for _, r in results}
    assert len(ids) == 20
    assert all((r["width"], r["height"]) == (48, 40) for _, r in results)
    # the stored bytes are exactly what was sent
    store = studio.app.state.queue.root.parent / "uploads"
    for i, (_, r) in enumerate(results):
        assert (store / r["id"] / r["file"]).read_bytes() == png(i)
    # three jobs at once: one runs, two wait with their positions shown
    with ThreadPoolExecutor(3) as pool:
        jobs = list(pool.map(lambda r: studio.json("POST", "/api/jobs", job_body(content=r[1]["source"], seed=1)),
                             results[:3]))
    assert [s for s, _ in jobs] == [201] * 3
    listed = {j["id"]: j for j in studio.json("GET", "/api/jobs")[1]["jobs"]}
    positions = sorted(listed[j["id"]]["position"] or 0 for _, j in jobs)
    assert positions in ([0, 1, 2], [0, 0, 1], [0, 0, 0], [1, 2, 3]), positions
    finished = [studio.wait_job(j["id"], timeout=120) for _, j in jobs]
    assert [f["status"] for f in finished] == ["done"] * 3, [f["message"] for f in finished]
    for f in finished:
        s, _, data = studio.request("GET", f"/api/jobs/{f['id']}/files/result.png")
        assert s == 200 and Image.open(io.BytesIO(data)).size == (64, 53)
    # one device, one job at a time: the runs did not overlap
    spans = sorted((f["started"], f["finished"]) for f in finished)
    assert all(a[1] <= b[0] + 1e-3 for a, b in zip(spans, spans[1:])), spans
    assert time.monotonic() - t0 < 120


def test_oversized_and_malformed_requests_are_refused(studio):
    big = png(0, (400, 400))
    assert len(big) > 300_000
    s, body = studio.upload(big, "big.png")
    assert s == 413 and "above the limit" in body["error"]
    # a lying Content-Length is refused before any body is read
    s, _, _ = studio.request("POST", "/api/uploads", b"", headers={"Content-Length": str(10**12)})
    assert s == 413
    # no body bytes after a header the server rejects: bytes it never reads would make its close a
    # TCP reset, which can reach the client before the 400 does (CI saw exactly that once)
    s, _, _ = studio.request("POST", "/api/uploads", b"", headers={"Content-Length": "-5"})
    assert s == 400
    s, _, _ = studio.request("POST", "/api/uploads", b"", headers={"Transfer-Encoding": "chunked"})
    assert s == 411
    s, body = studio.json("POST", "/api/jobs", b'{"content": ', headers={"Content-Type": "application/json"})
    assert s == 400 and body["error"] == "the request body is not valid JSON"
    s, body = studio.json("POST", "/api/jobs", b"[1, 2]", headers={"Content-Type": "application/json"})
    assert s == 400 and "JSON object" in body["error"]
    for const in (b"NaN", b"Infinity", b"-Infinity"):  # Python's reader takes them, JSON does not
        s, body = studio.json("POST", "/api/jobs", b'{"iters": ' + const + b"}", headers={"Content-Type": "application/json"})
        assert s == 400 and body["error"] == f"the request body is not valid JSON ({const.decode()} is not JSON)"
    # nested 30,000 deep (a RecursionError in json), a 400-digit seed (an OverflowError in isfinite):
    # both were a 500; and a multipart upload was "not an image file" though it held one
    deep = b"[" * 30000 + b"]" * 30000
    for path in ("/api/jobs", "/api/gram"):
        s, body = studio.json("POST", path, deep, headers={"Content-Type": "application/json"})
        assert s == 400 and body["error"] == "the request body is not valid JSON", (path, body)
    s, body = studio.json("POST", "/api/jobs", json.dumps(job_body(seed=int("9" * 400))).encode(),
                          headers={"Content-Type": "application/json"})
    assert s == 400 and body["error"].startswith("seed 999") and "\n" not in body["error"]
    s, _, _ = studio.request("POST", "/api/uploads", png(1, (8, 8)),
                             headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert s == 415
    # nets that take no 2D image with the transfer's layers are not offered, and refused
    s, config = studio.json("GET", "/api/config")
    assert config["form"]["nets"] == ["vgg16-hed", "random", "random-tiny"]
    for net in ("bank2d", "vgg16-hed-3d"):
        s, body = studio.json("POST", "/api/jobs", json.dumps(job_body(net=net)).encode(),
                              headers={"Content-Type": "application/json"})
        assert s == 400 and "net" in body["error"], (net, body)
        s, body = studio.json("POST", "/api/gram", json.dumps({"image": "example:tubingen", "net": net}).encode(),
                              headers={"Content-Type": "application/json"})
        assert s == 400, (net, body)
    s, body = studio.json("POST", "/api/jobs", job_body(), headers={"Content-Type": "text/plain"})
    assert s == 415
    for bad, words in [({"size": 10**6}, "size"), ({"iters": -1}, "iters"), ({"size": "64"}, "size"),
                       ({"net": "vgg19"}, "net"), ({"content": "../../etc/passwd"}, "content"),
                       ({"content": "upload:" + "0" * 32}, "content: that uploaded image is no longer"), ({"preset": "x"}, "preset"),
                       ({"evil": 1}, "field"), ({"preserve_color": "yes"}, "preserve_color"),
                       ({"style_strength": 1e9}, "style_strength"), ({"iters": 2.5}, "iters")]:
        s, body = studio.json("POST", "/api/jobs", json.dumps(job_body(**bad)).encode(),
                              headers={"Content-Type": "application/json"})
        assert s == 400 and words in body["error"] and "\n" not in body["error"], (bad, body)
    s, body = studio.json("POST", "/api/jobs", b"{" + b'"a":' * 10 + b"1", headers={"Content-Type": "application/json"})
    assert s == 400
    s, _ = studio.json("PUT", "/api/jobs", job_body())
    assert s == 405
    s, body = studio.json("GET", "/api/jobs/not-a-job")
    assert s == 404 and body == {"error": "no such job"}
    # nothing was created by any of these
    assert all(j["status"] != "queued" for j in studio.json("GET", "/api/jobs")[1]["jobs"])


def test_a_gone_upload_names_the_input_and_what_to_do(studio):
    # A job naming an upload that is no longer there was refused with the id, "upload:<32 hex>:
    # unknown image; upload it again", which says neither which of the two images it is nor why.
    s, up = studio.upload(png(6), "painting.png")
    import shutil
    shutil.rmtree(studio.settings.data_dir / "uploads" / up["id"])
    for role, other in (("style", "content"), ("content", "style")):
        s, body = studio.json("POST", "/api/jobs", job_body(**{role: up["source"]}))
        assert (s, body) == (400, {"error": f"{role}: that uploaded image is no longer in the studio (it keeps the "
                                            f"latest 500 uploads); upload the {role} image again"})
    s, body = studio.json("POST", "/api/jobs", job_body(style="example:monalisa"))
    assert (s, body) == (400, {"error": "style: there is no example 'monalisa'; choose one of example:tubingen, "
                                        "example:starry_night"})
    s, body = studio.json("POST", "/api/gram", {"image": up["source"], "net": "random", "size": 64})
    assert (s, body) == (400, {"error": "image: that uploaded image is no longer in the studio (it keeps the latest "
                                        "500 uploads); upload the image again"})


def test_gram_view_serves_framed_maps_and_says_their_scale(studio):
    # The Gram view served bare 256 x 256 heatmaps and only "max" in its JSON: no colour bar, no
    # channel ids, no layer name, and no way for the page to say what the colours mean. Now each
    # PNG is the explorer's framed map under the layer's name, and the JSON gives the value range,
    # the colour scale's top and map, the channel order and where the map lies in the PNG.
    from stylegram.explore.activations import colorize
    from stylegram.explore.gram import gram_view, heat_top, heatmap
    from stylegram.io import load_image
    from stylegram.nets import build_net
    from stylegram.web.gramview import GRAM_LAYERS
    s, up = studio.upload(png(7, (64, 48)), "texture.png")
    assert s == 200
    s, body = studio.json("POST", "/api/gram", {"image": up["source"], "net": "random-tiny", "size": 64})
    assert s == 200 and [l["layer"] for l in body["layers"]] == list(GRAM_LAYERS)
    img = load_image(studio.settings.data_dir / "uploads" / up["id"] / up["file"], 64)
    views = gram_view(img, build_net("random-tiny", layers=list(GRAM_LAYERS)), list(GRAM_LAYERS), n_pairs=0)
    for l in body["layers"]:
        v = views[l["layer"]]
        top = heat_top(v.gram)
        assert (l["min"], l["max"], l["top"]) == pytest.approx((float(v.gram.min()), float(v.gram.max()), top))
        assert (l["clip"], l["signed"], l["colormap"], l["order"]) == (99.5, False, "magma", v.order.tolist())
        status, headers, data = studio.request("GET", l["url"])
        assert status == 200 and headers["content-type"] == "image/png"
        fig = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        x, y, px = l["map"]["x"], l["map"]["y"], l["map"]["px"]
        # the map at its old size, grown by the frame: the name and ids above, ids left, the bar right
        assert px == 256 and fig.shape == (l["height"], l["width"], 3)
        assert x >= 20 and y >= 40 and l["width"] >= x + px + 40 and l["height"] >= y + px
        assert np.array_equal(fig[y:y + px, x:x + px], heatmap(v.gram, v.order, px))
        bar = fig[y + 6:y + px - 6, x + px + 12]  # with_colorbar: 6 px right of the map, 6 px in
        assert np.array_equal(bar, colorize(np.linspace(1, 0, px - 12)[:, None], "magma")[:, 0])
        assert tuple(bar[0]) == (251, 252, 191) and tuple(bar[-1]) == (0, 0, 3)  # magma's ends: >= top, 0


@pytest.mark.parametrize("path", [
    "/explore/files/../../secret.png", "/explore/files/%2e%2e/secret.png", "/explore/files/..%2fsecret.png",
    "/explore/files/escape.png", "/explore/files//etc/passwd", "/explore/files/%2fetc%2fpasswd",
    "/explore/files/....//secret.png", "/api/jobs/..%2f..%2fuploads/files/x", "/static/..%2fapp.py",
    "/static/../app.py", "/examples/..%2f..%2fapp.py", "/api/uploads/..%2f..%2fjobs/thumb.png",
    "/api/gram/upload/..%2f..%2f/gram_x_1_relu1_1.png", "/explore/files/sheet.png%00.html",
])
def test_path_traversal_fails(studio, path):
    status, _, body = studio.request("GET", path)
    assert status in (400, 404), (path, status)
    assert b"secret" not in body and b"root:" not in body and b"import" not in body


def test_explore_files_inside_the_folder_are_served(studio):
    status, headers, body = studio.request("GET", "/explore/files/sheet.png")
    assert status == 200 and body[:4] == b"\x89PNG"
    status, headers, _ = studio.request("GET", "/explore/files/index.html")
    assert status == 200 and "sandbox" in headers["content-security-policy"]
    status, listing = studio.json("GET", "/api/explore")
    assert sorted(f["path"] for f in listing["files"]) == ["index.html", "sheet.png"]  # not the escaping link


def test_job_failure_is_one_line_with_user_names(studio):
    s, job = studio.json("POST", "/api/jobs", job_body(size=32))
    failed = studio.wait_job(job["id"])
    assert failed["status"] == "failed"
    msg = failed["message"]
    assert msg.startswith("Tübingen (photo): at --size 32 the content image is 32 x 24 px"), msg
    assert str(studio.settings.data_dir) not in msg and "\n" not in msg


def test_job_files_only_by_generated_name(studio):
    s, job = studio.json("POST", "/api/jobs", job_body(iters=1))
    studio.wait_job(job["id"])
    for name in ("job.json", "..%2fjob.json", "../job.json", "result.png%2f..", "RESULT.PNG"):
        s, _, _ = studio.request("GET", f"/api/jobs/{job['id']}/files/{name}")
        assert s == 404, name


def test_cross_site_requests_are_refused(studio):
    body = json.dumps(job_body()).encode()
    ct = {"Content-Type": "application/json"}
    s, resp = studio.json("POST", "/api/jobs", body, headers=ct, token=False)
    assert s == 403 and "X-Stylegram-Token" in resp["error"]
    s, _ = studio.json("POST", "/api/jobs", body, headers={**ct, "X-Stylegram-Token": "guess"}, token=False)
    assert s == 403
    s, _ = studio.json("POST", "/api/jobs", body, headers={**ct, "Origin": "http://evil.example"})
    assert s == 403
    s, _ = studio.json("POST", "/api/jobs", body, headers={**ct, "Origin": "null"})
    assert s == 403
    s, _ = studio.json("POST", "/api/jobs", body, headers={**ct, "Sec-Fetch-Site": "cross-site"})
    assert s == 403
    s, _ = studio.json("DELETE", "/api/jobs/0123456789abcdef", token=False)
    assert s == 403
    # a classic form post (no custom header possible) is refused
    s, _ = studio.json("POST", "/api/uploads", b"a=b", headers={"Content-Type": "application/x-www-form-urlencoded",
                                                                "Origin": "http://evil.example"}, token=False)
    assert s == 403
    # DNS rebinding: another host name is refused even for reads
    s, _, _ = studio.request("GET", "/api/jobs", headers={"Host": "evil.example:80"})
    assert s == 421
    # no CORS: a preflight gets no permission
    s, headers, _ = studio.request("OPTIONS", "/api/jobs", headers={"Origin": "http://evil.example",
                                                                    "Access-Control-Request-Method": "POST"}, token=False)
    assert "access-control-allow-origin" not in headers and s >= 400
    # same origin with the token works
    s, job = studio.json("POST", "/api/jobs", body, headers={**ct, "Origin": studio.url, "Sec-Fetch-Site": "same-origin"})
    assert s == 201
    studio.wait_job(job["id"])


def test_cancel_delete_and_queue_limit(studio):
    s, long_job = studio.json("POST", "/api/jobs", job_body(iters=3000))
    s, waiting = studio.json("POST", "/api/jobs", job_body(iters=2))
    assert studio.json("GET", f"/api/jobs/{waiting['id']}")[1]["position"] == 1
    s, c = studio.json("POST", f"/api/jobs/{waiting['id']}/cancel")
    assert c["status"] == "cancelled" and c["position"] is None
    studio.wait_job(long_job["id"], ("running",), 60)
    deadline = time.monotonic() + 60
    while studio.json("GET", f"/api/jobs/{long_job['id']}")[1]["iter"] < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    studio.json("POST", f"/api/jobs/{long_job['id']}/cancel")
    stopped = studio.wait_job(long_job["id"], timeout=60)
    assert stopped["status"] == "cancelled" and 2 <= stopped["iter"] < 3000 and "result" in stopped["files"]
    folder = studio.app.state.queue.root / long_job["id"]
    assert (folder / "result.png").exists()
    s, _ = studio.json("DELETE", f"/api/jobs/{long_job['id']}")
    assert s == 200 and not folder.exists()
    assert studio.json("GET", f"/api/jobs/{long_job['id']}")[0] == 404


def test_bad_files_get_one_line_messages(studio, shared):
    marker = Path("/tmp/stylegram_pickle_executed")
    marker.unlink(missing_ok=True)
    accepted = []
    for f in sorted((shared / "data" / "bad").iterdir()):
        data = f.read_bytes()
        if len(data) > studio.settings.max_upload_bytes:
            continue
        s, body = studio.upload(data, f.name)
        assert s in (200, 400), (f.name, s, body)
        if s == 400:
            assert body["error"].startswith(f.name + ":") and "\n" not in body["error"], body
            assert "Traceback" not in body["error"] and str(studio.settings.data_dir) not in body["error"]
        else:  # accepted: it must also give a correct result as a content image
            accepted.append((f.name, body))
    assert not marker.exists()
    assert len(accepted) >= 4
    jobs = [studio.json("POST", "/api/jobs", job_body(content=meta["source"], iters=1))[1] for _, meta in accepted]
    for (name, meta), job in zip(accepted, jobs):
        done = studio.wait_job(job["id"], timeout=60)
        assert done["status"] == "done", (name, done["message"])
        s, _, data = studio.request("GET", f"/api/jobs/{job['id']}/files/result.png")
        im = Image.open(io.BytesIO(data))
        assert max(im.size) == 64 and im.mode == "RGB"
        # orientation and aspect ratio follow the upload (EXIF applied)
        assert (im.size[0] >= im.size[1]) == (meta["width"] >= meta["height"]), name


def test_finished_jobs_survive_a_restart(tmp_path):
    with StudioServer(tmp_path) as srv:
        s, job = srv.json("POST", "/api/jobs", job_body(iters=2, preserve_color=True))
        done = srv.wait_job(job["id"])
    with StudioServer(tmp_path) as srv:
        again = srv.json("GET", f"/api/jobs/{job['id']}")[1]
        assert again["status"] == "done" and again["files"] == done["files"]
        s, _, data = srv.request("GET", f"/api/jobs/{job['id']}/files/result.png")
        assert s == 200
    # preserve_color kept the content's chroma: result Cb/Cr equal the content's, resized
    res = Image.open(io.BytesIO(data)).convert("YCbCr")
    content = Image.open(EXAMPLES / "tubingen.jpg").convert("RGB").resize(res.size, Image.BICUBIC).convert("YCbCr")
    for k in (1, 2):
        a = np.asarray(res.split()[k], dtype=float)
        b = np.asarray(content.split()[k], dtype=float)
        assert np.abs(a - b).mean() < 3.0


def test_interrupted_and_cancelled_jobs_run_again(tmp_path):
    # a job the studio's stop interrupted (or one cancelled) could only be deleted: its form named
    # an upload that may be gone, and the page had no way to queue it again
    import shutil
    with StudioServer(tmp_path) as srv:
        s, up = srv.upload(png(3), "mine.png")
        s, long_job = srv.json("POST", "/api/jobs", job_body(iters=3000))
        s, waiting = srv.json("POST", "/api/jobs", job_body(content=up["source"], iters=2, seed=4))
        srv.wait_job(long_job["id"], ("running",), 60)
        s, body = srv.json("POST", f"/api/jobs/{long_job['id']}/rerun")
        assert (s, body) == (409, {"error": "the job is running; it can run again once it has ended"})
    shutil.rmtree(tmp_path / "uploads")  # the job's own copies of the images are what runs again
    with StudioServer(tmp_path) as srv:
        old = srv.json("GET", f"/api/jobs/{waiting['id']}")[1]
        assert old["status"] == "interrupted"
        assert srv.json("GET", f"/api/jobs/{long_job['id']}")[1]["status"] in ("cancelled", "interrupted")
        s, again = srv.json("POST", f"/api/jobs/{waiting['id']}/rerun")
        assert s == 201 and again["id"] != waiting["id"] and again["status"] in ("queued", "running")
        assert again["form"] == waiting["form"] and again["names"] == {"content": "mine.png", "style": waiting["names"]["style"]}
        done = srv.wait_job(again["id"])
        assert done["status"] == "done" and done["iter"] == 2, done["message"]
        s, _, data = srv.request("GET", f"/api/jobs/{again['id']}/files/result.png")
        assert s == 200 and Image.open(io.BytesIO(data)).size == (64, 53)
        assert srv.json("GET", f"/api/jobs/{waiting['id']}")[1]["status"] == "interrupted"  # kept as it was
        assert srv.json("POST", "/api/jobs/0123456789abcdef/rerun")[0] == 404


def test_an_interrupted_job_has_a_record_as_complete_as_a_cancelled_ones(tmp_path):
    # An interrupted job kept "finished": null (and a running one "started": null: the start was
    # never written), and after a restart every job was on level 0 of 1 whatever its pyramid.
    import shutil
    with StudioServer(tmp_path / "a") as srv:
        s, coarse = srv.json("POST", "/api/jobs", job_body(net="random-tiny", size=400, iters=3000))
        s, waiting = srv.json("POST", "/api/jobs", job_body(iters=2))
        deadline = time.monotonic() + 60
        while srv.json("GET", f"/api/jobs/{coarse['id']}")[1]["iter"] < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        shutil.copytree(tmp_path / "a", tmp_path / "killed")  # what a studio killed now leaves
        stopped = time.time()
    # stopped: the running job is cancelled, the waiting one interrupted
    with StudioServer(tmp_path / "a") as srv:
        cancelled = srv.json("GET", f"/api/jobs/{coarse['id']}")[1]
        assert cancelled["status"] == "cancelled" and (cancelled["level"], cancelled["levels"]) == (0, 2), cancelled
        assert cancelled["level_iters"] > 0 and "of level 1/2" in cancelled["message"]
        old = srv.json("GET", f"/api/jobs/{waiting['id']}")[1]
        assert old["status"] == "interrupted" and old["message"] == "the studio stopped while this job was waiting"
        assert old["started"] is None and old["created"] <= old["finished"] <= stopped + 5
    # killed: both interrupted, the running one with its start, device and level
    restarted = time.time()
    with StudioServer(tmp_path / "killed") as srv:
        ran = srv.json("GET", f"/api/jobs/{coarse['id']}")[1]
        assert ran["status"] == "interrupted", ran
        assert ran["message"] == "the studio stopped while this job was running (level 1/2)"
        assert (ran["device"], ran["level"], ran["levels"]) == ("cpu", 0, 2) and ran["level_iters"] > 0
        assert ran["created"] <= ran["started"] <= restarted <= ran["finished"]
        old = srv.json("GET", f"/api/jobs/{waiting['id']}")[1]
        assert old["status"] == "interrupted" and old["started"] is None and restarted <= old["finished"]
    # and the record is final: a second start changes nothing
    with StudioServer(tmp_path / "killed") as srv:
        assert srv.json("GET", f"/api/jobs/{coarse['id']}")[1] == ran


def test_a_job_folder_without_its_record_is_removed_or_listed_never_left(tmp_path):
    # A studio killed between making a job's folder and writing its job.json left a folder that
    # every later start skipped ("skipping unreadable job folder") and the page could not delete.
    jobs = tmp_path / "jobs"
    copies_only, empty, half_written = jobs / ("a" * 16), jobs / ("b" * 16), jobs / ("c" * 16)
    with_result, unreadable = jobs / ("d" * 16), jobs / ("e" * 16)
    for folder in (copies_only, empty, half_written, with_result, unreadable):
        folder.mkdir(parents=True)
    for folder in (copies_only, with_result):
        (folder / "content.jpg").write_bytes((EXAMPLES / "tubingen.jpg").read_bytes())
        (folder / "style.jpg").write_bytes((EXAMPLES / "starry_night.jpg").read_bytes())
    (half_written / "content.png").write_bytes(png(1))
    (half_written / ".job.json.0123456789ab.part.json").write_text('{"id": "cccc')
    (with_result / "result.png").write_bytes(png(2))
    (unreadable / "job.json").write_text('{"form": ')
    (unreadable / "result.png").write_bytes(png(3))
    long_ago = time.time() - 3600  # a submission in flight is left alone (see the next test)
    for folder in (copies_only, empty, half_written, with_result, unreadable):
        for p in (*folder.iterdir(), folder):
            os.utime(p, (long_ago, long_ago))
    with StudioServer(tmp_path) as srv:
        # only copies of a job's inputs (or nothing): a submission never answered; removed
        assert sorted(p.name for p in jobs.iterdir()) == [with_result.name, unreadable.name]
        listed = {j["id"]: j for j in srv.json("GET", "/api/jobs")[1]["jobs"]}
        assert sorted(listed) == [with_result.name, unreadable.name]
        broken = listed[with_result.name]
        assert broken["status"] == "failed" and broken["finished"] is not None
        assert broken["message"] == ("its record (job.json) is missing, so its settings are lost; its files stay "
                                     "until it is deleted")
        assert broken["files"] == {"content": "content.jpg", "style": "style.jpg", "result": "result.png"}
        assert listed[unreadable.name]["message"].startswith("its record (job.json) is unreadable")
        s, _, data = srv.request("GET", f"/api/jobs/{with_result.name}/files/result.png")
        assert (s, data) == (200, png(2))
        assert srv.json("POST", f"/api/jobs/{with_result.name}/rerun") == (409, {
            "error": "the job's settings are lost (its job.json is missing or unreadable); choose the images and "
                     "settings again"})
        assert srv.json("DELETE", f"/api/jobs/{with_result.name}") == (200, {"deleted": with_result.name})
    assert sorted(p.name for p in jobs.iterdir()) == [unreadable.name]
    assert (unreadable / "job.json").read_text() == '{"form": '  # left as it was, for a person to mend
    with StudioServer(tmp_path) as srv:
        assert [j["id"] for j in srv.json("GET", "/api/jobs")[1]["jobs"]] == [unreadable.name]
        assert srv.json("DELETE", f"/api/jobs/{unreadable.name}")[0] == 200
    assert list(jobs.iterdir()) == []


def test_start_leaves_a_job_being_submitted_by_another_studio_on_the_same_data_dir(tmp_path):
    # A studio started on the --data-dir of one that was submitting a job (its folder made, the
    # images being copied, job.json not yet written) removed that folder as a submission stopped
    # before its record, and the other studio's job failed on its job.json. A folder of copies
    # changed in the last UNRECORDED_GRACE_S is left for a later start. (JobQueue's default: a
    # studio that holds its data folder's lock, which a second studio cannot, passes 0.)
    from stylegram.web.jobs import JobQueue
    running = JobQueue(tmp_path / "jobs", ["cpu"], lambda ev: None)
    _, folder = running.new_folder()
    (folder / "content.jpg").write_bytes((EXAMPLES / "tubingen.jpg").read_bytes())
    second = JobQueue(tmp_path / "jobs", ["cpu"], lambda ev: None)
    assert sorted(p.name for p in folder.iterdir()) == ["content.jpg"] and second.jobs == {}
    long_ago = time.time() - 3600  # the same folder left by a studio killed an hour ago: removed
    for p in (folder / "content.jpg", folder):
        os.utime(p, (long_ago, long_ago))
    assert JobQueue(tmp_path / "jobs", ["cpu"], lambda ev: None).jobs == {} and not folder.exists()


def test_a_second_studio_on_a_data_dir_in_use_refuses_and_a_killed_ones_lock_goes_with_it(tmp_path, capsys,
                                                                                            monkeypatch):
    # A second studio on a --data-dir in use (on another port) started: its job queue marked the
    # first studio's waiting and running jobs interrupted and rewrote their job.json, and its
    # clean-up could remove a job folder the first was submitting. Now it refuses in one line
    # before it reads the folder; the lock is the OS's, so a studio killed with SIGKILL leaves none.
    from stylegram.cli import main
    from stylegram.errors import ConfigError
    from stylegram.web import command
    data = tmp_path / "data"
    first = StudioProcess(data)
    try:
        s, running = first.json("POST", "/api/jobs", job_body(iters=3000))
        s, waiting = first.json("POST", "/api/jobs", job_body(iters=2))
        assert s == 201
        deadline = time.monotonic() + 60  # past its first iteration, its job.json is written
        while first.json("GET", f"/api/jobs/{running['id']}")[1]["iter"] < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        records = {p.parent.name: p.read_bytes() for p in (data / "jobs").glob("*/job.json")}
        assert json.loads(records[running["id"]])["status"] == "running"
        assert json.loads(records[waiting["id"]])["status"] == "queued"
        monkeypatch.setattr(command, "run_server", lambda app, host, port: pytest.fail("the server started"))
        with pytest.raises(SystemExit) as e:
            main(["serve", "--data-dir", str(data), "--port", str(free_port()), "--device", "cpu"])
        line = (f"--data-dir {data}: in use by another studio (pid {first.proc.pid}, "
                f"http://127.0.0.1:{first.port}/); stop that studio or give another --data-dir")
        assert e.value.code == 2 and capsys.readouterr().err == f"stylegram: error: {line}\n"
        with pytest.raises(ConfigError) as e:  # the app's own check (the tests' servers, a program's)
            StudioServer(data)
        assert str(e.value) == line
        assert {p.parent.name: p.read_bytes() for p in (data / "jobs").glob("*/job.json")} == records
        assert first.json("GET", f"/api/jobs/{waiting['id']}")[1]["status"] == "queued"
        assert first.json("GET", f"/api/jobs/{running['id']}")[1]["status"] == "running"
        first.kill()
    finally:
        first.stop()
    # killed mid-submission too: a folder of the job's copies without its job.json, just made
    stray = data / "jobs" / "0123456789abcdef"
    stray.mkdir()
    (stray / "content.jpg").write_bytes((EXAMPLES / "tubingen.jpg").read_bytes())
    with StudioServer(data) as srv:  # the killed studio's lock went with it
        for job in (running, waiting):
            assert srv.json("GET", f"/api/jobs/{job['id']}")[1]["status"] == "interrupted"
        # the folder is ours alone: that submission can only be the dead studio's, removed at once
        assert not stray.exists()
        with pytest.raises(ConfigError, match="in use by another studio"):  # one process, two studios
            StudioServer(data)
    with StudioServer(data) as srv:  # a stopped studio frees it
        assert srv.json("GET", f"/api/jobs/{waiting['id']}")[1]["status"] == "interrupted"


def test_a_running_job_deleted_as_its_worker_records_it_does_not_come_back(tmp_path, monkeypatch):
    # _save_running checked that the job was still there outside the queue's lock and wrote its
    # job.json after: a delete in between (and the record a delete leaves until the worker stops)
    # had a studio killed before the worker removed the folder list the deleted job again, as
    # interrupted. Interleaved by hand: the delete runs (in another thread, as the page's DELETE)
    # at the moment the worker is about to write the record.
    import threading

    from stylegram.web.jobs import Job, JobQueue
    q = JobQueue(tmp_path / "jobs", ["cpu"], lambda ev: None, unrecorded_grace_s=0)
    job_id, folder = q.new_folder()
    (folder / "content.jpg").write_bytes((EXAMPLES / "tubingen.jpg").read_bytes())
    job = q.submit(Job(id=job_id, folder=folder, form=job_body(), options={}, names={},
                       files={"content": "content.jpg"}))
    with q.cond:  # what a worker does as it takes the job
        assert q.waiting.popleft() == job_id
        job.status, job.started, job.device = "running", time.time(), "cpu"
    deleter = threading.Thread(target=q.delete, args=(job_id,))
    save = Job.save_state

    def deleted_meanwhile(self):
        deleter.start()
        deleter.join(1.0)  # done at once unless the worker holds the lock
        save(self)
    monkeypatch.setattr(Job, "save_state", deleted_meanwhile)
    q._save_running(job)
    deleter.join(10)
    monkeypatch.undo()
    assert not deleter.is_alive() and q.get(job_id) is None and job.cancel.is_set()
    # the studio killed now, before its worker stopped and removed the folder
    assert sorted(p.name for p in folder.iterdir()) == ["content.jpg"]
    assert JobQueue(tmp_path / "jobs", ["cpu"], lambda ev: None, unrecorded_grace_s=0).jobs == {}
    assert not folder.exists()


def test_host_other_than_loopback_warns(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from stylegram.web import command
    from stylegram.web.command import is_loopback, serve_cmd
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")
    ran = []
    monkeypatch.setattr(command, "run_server", lambda app, host, port: ran.append((host, port)))
    monkeypatch.setattr(command, "listen_socket", lambda host, port: socket.socket())  # no real port taken
    r = CliRunner().invoke(serve_cmd, ["--data-dir", str(tmp_path), "--port", "9999"])
    assert r.exit_code == 0 and ran[-1] == ("127.0.0.1", 9999) and "warning" not in r.output
    r = CliRunner().invoke(serve_cmd, ["--data-dir", str(tmp_path), "--host", "0.0.0.0"])
    assert r.exit_code == 0 and ran[-1] == ("0.0.0.0", 8765)
    assert "warning: serving on 0.0.0.0" in r.output


def test_data_dir_default_as_help_and_docs_say(tmp_path, monkeypatch):
    """--help and docs/studio gave ~/.cache/stylegram/studio, but $XDG_CACHE_HOME, where set, is
    the folder used (as for the weight cache)."""
    from click.testing import CliRunner

    from stylegram.web.command import default_data_dir, serve_cmd
    monkeypatch.delenv("STYLEGRAM_STUDIO_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_data_dir() == tmp_path / "stylegram" / "studio"
    text = " ".join(CliRunner().invoke(serve_cmd, ["--help"]).output.split())
    assert ("[default: $STYLEGRAM_STUDIO_DIR, else $XDG_CACHE_HOME/stylegram/studio, else "
            "~/.cache/stylegram/studio]") in text


def test_any_interface_still_refuses_cross_site(tmp_path):
    """With --host 0.0.0.0 the Host names are unknown, but Origin must still match the Host."""
    with StudioServer(tmp_path, host="0.0.0.0") as srv:
        body, ct = json.dumps(job_body(iters=1)).encode(), {"Content-Type": "application/json"}
        s, _ = srv.json("POST", "/api/jobs", body, headers={**ct, "Origin": "http://evil.example"})
        assert s == 403
        s, _ = srv.json("POST", "/api/jobs", body, headers={**ct, "Host": "evil.example", "Origin": srv.url})
        assert s == 403
        s, job = srv.json("POST", "/api/jobs", body, headers={**ct, "Origin": srv.url})
        assert s == 201
        srv.wait_job(job["id"])


def test_display_names_and_job_options_by_hand():
    from stylegram.errors import ConfigError
    from stylegram.transfer import TransferConfig
    from stylegram.web.options import Limits, parse_job_request
    from stylegram.web.uploads import display_name
    assert display_name("../../etc/passwd") == "passwd"
    assert display_name("C:\\Users\\me\\cat.png") == "cat.png"
    assert display_name("a\x00b\x1b[31mc\n.png") == "ab[31mc.png"
    assert display_name("") == "upload" and display_name(None) == "upload"
    assert len(display_name("x" * 500)) == 80
    from stylegram.presets import preset_options
    form, opts = parse_job_request(job_body(style_strength=2.5, preset="strong", size=100, iters=7), Limits())
    assert opts["beta"] == preset_options("strong")["beta"] * 2.5 and opts["preset"] == "strong"
    assert (opts["size"], opts["iters"], opts["net"], opts["seed"]) == (100, 7, "random", 0)
    assert form["preset"] == "strong" and form["preserve_color"] is False
    # every produced option is a TransferConfig field
    TransferConfig(**opts).validated()
    for bad in ({"size": True}, {"iters": 1.5}, {"seed": -1}, {"size": 31}, {"size": 2049}):
        with pytest.raises(ConfigError):
            parse_job_request(job_body(**bad), Limits())


def test_event_stream_reports_queue_progress_and_result(studio):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", studio.port, timeout=60)
    conn.request("GET", "/api/events")
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("content-type").startswith("text/event-stream")
    assert resp.readline() == b"event: snapshot\n"
    s, job = studio.json("POST", "/api/jobs", job_body(iters=6))
    events, deadline = [], time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            line = resp.readline()
            if line.startswith(b"data: "):
                ev = json.loads(line[6:])
                if "type" not in ev:  # a snapshot
                    continue
                if ev.get("id") == job["id"] or ev.get("job", {}).get("id") == job["id"]:
                    events.append(ev)
                if ev["type"] == "job" and ev["job"]["id"] == job["id"] and ev["job"]["status"] == "done":
                    break
    finally:
        conn.close()
    kinds = [e["type"] if e["type"] == "progress" else e["job"]["status"] for e in events]
    assert kinds[0] in ("queued", "running") and kinds[-1] == "done"
    iters = [e["iter"] for e in events if e["type"] == "progress"]
    assert iters == list(range(1, 7))
    # the plot's x: steps over the whole run (a pyramid's iter restarts per level), and the level
    assert [e["step"] for e in events if e["type"] == "progress"] == iters
    assert {(e["level"], e["levels"]) for e in events if e["type"] == "progress"} == {(0, 1)}
    assert {k: events[-1]["job"][k] for k in ("level", "levels", "level_iters", "note")} == \
        {"level": 0, "levels": 1, "level_iters": 6, "note": ""}
    previews = [e["preview"] for e in events if e["type"] == "progress"]
    assert previews == sorted(previews) and previews[-1] >= 2
    assert events[-1]["job"]["files"]["result"] == "result.png" and "history" not in events[-1]["job"]


def test_engine_presets_and_colour_option_are_used_when_the_engine_has_them(monkeypatch):
    """When TransferConfig grows `preset` / `preserve_color` fields, the studio passes them on."""
    import dataclasses
    import importlib

    from stylegram.web.options import Limits, engine_preserves_color, form_schema, parse_job_request
    module = importlib.import_module("stylegram.transfer")  # the package attribute is the function
    base = module.TransferConfig
    grown = dataclasses.make_dataclass("Grown", [
        ("preset", str, dataclasses.field(default="balanced", metadata={"choices": ("subtle", "balanced", "strong")})),
        ("preserve_color", str, dataclasses.field(default="none", metadata={"choices": ("none", "luminance")}))],
        bases=(base,), frozen=True)
    monkeypatch.setattr(module, "TransferConfig", grown)
    assert list(form_schema(Limits())["presets"]) == ["subtle", "balanced", "strong"]
    assert form_schema(Limits())["preset"] == "balanced" and engine_preserves_color()
    form, opts = parse_job_request(job_body(preset="strong", preserve_color=True), Limits())
    assert opts["preset"] == "strong" and opts["preserve_color"] == "luminance"
    with pytest.raises(Exception, match="preset"):
        parse_job_request(job_body(preset="draft"), Limits())


def test_form_offers_the_presets_refinement_pass():
    """The page's Refinement field starts at the preset's --refine count and is sent with the job."""
    from stylegram.presets import preset_options
    from stylegram.web.options import Limits, form_schema, parse_job_request
    schema = form_schema(Limits(max_iters=900))
    assert schema["refine"] == {"min": 0, "max": 900, "default": preset_options("balanced")["refine"]}
    assert schema["presets"]["balanced"]["refine"] == 100 and schema["presets"]["subtle"]["refine"] == 0
    form, opts = parse_job_request(job_body(refine=25), Limits())
    assert form["refine"] == opts["refine"] == 25
    with pytest.raises(Exception, match=r"refine -1: must be between 0 and 5000"):
        parse_job_request(job_body(refine=-1), Limits())


def test_job_numbers_must_be_finite():
    # reached through the Python API of the studio's options (the HTTP layer already refuses NaN)
    from stylegram.errors import ConfigError
    from stylegram.web.options import _num
    for v in (float("nan"), float("inf")):
        for kind in (int, float):
            with pytest.raises(ConfigError, match="must be an integer between 1 and 10|must be a number between 1 and 10"):
                _num({"k": v}, "k", kind, 1, 10, 1)


@pytest.mark.parametrize("args, message", [
    (["--max-upload-mb", "nan"], "--max-upload-mb nan: give a size in MB, e.g. 20"),
    (["--data-dir", "FILE/sub"], "--data-dir FILE/sub: cannot create it (Not a directory); give a folder you can write to"),
    (["--explore-dir", "MISSING"], "--explore-dir MISSING: no such folder; give the output folder of `stylegram explore units`"),
])
def test_serve_refuses_what_cannot_work_in_one_line(tmp_path, capsys, monkeypatch, args, message):
    # Each was a traceback (NaN, an unwritable data folder) or a studio that served nothing (a
    # mistyped explore folder); the server must not start.
    from stylegram.cli import main
    from stylegram.web import command
    monkeypatch.setattr(command, "run_server", lambda app, host, port: pytest.fail("the server started"))
    monkeypatch.setattr(command, "listen_socket", lambda host, port: socket.socket())  # 8765 may be busy here
    (tmp_path / "file").write_text("x")
    subs = {"FILE/sub": str(tmp_path / "file" / "sub"), "MISSING": str(tmp_path / "missing")}
    argv = ["serve", "--data-dir", str(tmp_path / "data")] + [subs.get(a, a) for a in args]
    with pytest.raises(SystemExit) as e:
        main(argv)
    shown = message.replace("FILE/sub", subs["FILE/sub"]).replace("MISSING", subs["MISSING"])
    assert e.value.code == 2 and capsys.readouterr().err == f"stylegram: error: {shown}\n"


def test_seed_limits_are_written_as_whole_numbers():
    # {hi:g} wrote the seed's limit as 4.29497e+09: a number nobody can type back
    from stylegram.errors import ConfigError
    from stylegram.web.options import Limits, parse_job_request
    for bad, message in (({"seed": 2**32}, "seed 4294967296: must be between 0 and 4294967295"),
                         ({"seed": 1.5}, "seed 1.5: must be an integer between 0 and 4294967295"),
                         ({"style_strength": 1000}, "style_strength 1000: must be between 0.01 and 100")):
        with pytest.raises(ConfigError) as e:
            parse_job_request(job_body(**bad), Limits())
        assert str(e.value) == message


def test_worker_builds_every_seeded_net_from_the_jobs_seed(tmp_path):
    # The cached net was keyed by the seed only for net 'random': a random-tiny job with seed 3
    # after one with seed 0 ran on seed 0's weights (its result up to 35/255 off the CLI's).
    import torch

    from stylegram.nets import build_net
    from stylegram.web.jobs import JobQueue
    q = JobQueue(tmp_path / "jobs", ["cpu"], lambda ev: None)
    layers = ["relu1_1", "relu2_1", "relu4_2"]
    for name in ("random-tiny", "random"):
        nets: dict = {}
        for seed in (0, 3, 0):
            got = q._net(nets, {"net": name, "seed": seed}, layers)
            want = build_net(name, layers=layers, seed=seed)
            assert len(nets) == 1 and len(want.state_dict()) > 0
            assert [torch.equal(a, b) for a, b in zip(got.state_dict().values(), want.state_dict().values())] == \
                [True] * len(want.state_dict())
    # a net with loaded weights is the same whatever the seed: kept, not rebuilt
    nets = {}
    assert q._net(nets, {"net": "vgg16-hed", "seed": 0}, ["relu1_1"]) is q._net(nets, {"net": "vgg16-hed", "seed": 3}, ["relu1_1"])


def test_result_metadata_names_the_inputs_as_the_user_gave_them(studio):
    # result.png and report.json named the studio's copies ("content.png", "style.jpg")
    import hashlib
    data = png(7, (64, 48))
    status, up = studio.upload(data, "my photo.png")
    assert status == 200
    s, job = studio.json("POST", "/api/jobs", job_body(content=up["source"], iters=2))
    assert s == 201
    assert studio.wait_job(job["id"])["status"] == "done"
    want = {"content": {"file": "my photo.png", "sha256": hashlib.sha256(data).hexdigest()},
            "styles": [{"file": "The Starry Night (painting)",
                        "sha256": hashlib.sha256((EXAMPLES / "starry_night.jpg").read_bytes()).hexdigest()}]}
    s, _, body = studio.request("GET", f"/api/jobs/{job['id']}/files/result.png")
    assert s == 200 and json.loads(Image.open(io.BytesIO(body)).info["stylegram"])["inputs"] == want
    s, _, body = studio.request("GET", f"/api/jobs/{job['id']}/files/report.json")
    assert s == 200 and json.loads(body)["inputs"] == want


def test_a_job_deleted_while_it_is_run_again_is_a_one_line_refusal(tmp_path, monkeypatch):
    # Delete runs in a worker thread while the rerun copies the job's images on the event loop:
    # a delete landing between the rerun's check that the images are there and its copy gave a 500
    # ("internal error (FileNotFoundError)") and a traceback in the log.
    import shutil
    with StudioServer(tmp_path) as srv:
        s, job = srv.json("POST", "/api/jobs", job_body(iters=1))
        srv.wait_job(job["id"])
        copy = shutil.copyfile

        def deleted_meanwhile(src, dst, *a, **k):
            srv.app.state.queue.delete(job["id"])  # what a DELETE from another tab does at this moment
            return copy(src, dst, *a, **k)
        monkeypatch.setattr(shutil, "copyfile", deleted_meanwhile)
        s, body = srv.json("POST", f"/api/jobs/{job['id']}/rerun")
        monkeypatch.undo()
        assert (s, body) == (404, {"error": "no such job"})
        assert sorted(p.name for p in (tmp_path / "jobs").iterdir()) == []  # nor a half-made job folder


def test_serve_on_a_busy_port_is_one_line_and_leaves_the_running_studio_alone(tmp_path, capsys, monkeypatch):
    # It printed "stylegram studio: http://127.0.0.1:PORT/" as if it served, then uvicorn's
    # "ERROR: [Errno 98] ... address already in use" and exit code 3; and its job queue, made
    # first, had marked the running studio's unfinished jobs in the same --data-dir interrupted.
    from stylegram.cli import main
    from stylegram.web import command
    monkeypatch.setattr(command, "run_server", lambda app, host, port: pytest.fail("the server started"))
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    job = tmp_path / "data" / "jobs" / "0123456789abcdef"
    job.mkdir(parents=True)
    state = '{"form": {}, "names": {}, "status": "running"}'
    (job / "job.json").write_text(state)
    try:
        with pytest.raises(SystemExit) as e:  # a mistyped folder is what to fix first, busy port or not
            main(["serve", "--data-dir", str(tmp_path / "data"), "--port", str(port), "--explore-dir",
                  str(tmp_path / "missing")])
        assert e.value.code == 2 and capsys.readouterr().err.startswith(f"stylegram: error: --explore-dir {tmp_path}")
        with pytest.raises(SystemExit) as e:
            main(["serve", "--data-dir", str(tmp_path / "data"), "--port", str(port)])
    finally:
        busy.close()
    assert e.value.code == 2 and capsys.readouterr().err == (
        f"stylegram: error: --port {port}: already in use on 127.0.0.1 (another studio?); stop that program or "
        "give another --port\n")
    assert (job / "job.json").read_text() == state
    with pytest.raises(SystemExit) as e:
        main(["serve", "--data-dir", str(tmp_path / "data"), "--host", "192.0.2.1"])  # TEST-NET-1: not this machine
    assert e.value.code == 2 and capsys.readouterr().err.splitlines()[-1] == (
        "stylegram: error: --host 192.0.2.1: cannot listen there (Cannot assign requested address); give an "
        "address of this machine, e.g. 127.0.0.1")


def test_the_claimed_port_refuses_a_second_studio_started_before_the_first_serves(tmp_path):
    # The socket was only bound until uvicorn ran: with SO_REUSEADDR, Linux lets a second socket bind
    # a port nobody listens on yet, so a studio started during the first one's create_app got past
    # the check (and its job queue marked the first one's jobs interrupted) and failed in uvicorn.
    from stylegram.errors import ConfigError
    from stylegram.web.command import listen_socket
    first = listen_socket("127.0.0.1", 0)
    try:
        port = first.getsockname()[1]
        with pytest.raises(ConfigError, match=f"--port {port}: already in use on 127.0.0.1"):
            listen_socket("127.0.0.1", port).close()
    finally:
        first.close()


def test_run_again_refuses_an_image_above_todays_upload_limit(tmp_path):
    # "Run again" checked the job's form against today's limits but not its images: a studio
    # restarted with a smaller --max-upload-mb ran a job on an upload it would refuse today.
    data = png(5, (160, 120))
    with StudioServer(tmp_path) as srv:
        s, up = srv.upload(data, "big.png")
        assert s == 200
        s, job = srv.json("POST", "/api/jobs", job_body(content=up["source"], iters=1))
        s, plain = srv.json("POST", "/api/jobs", job_body(iters=1))  # the studio's examples only
        assert srv.wait_job(job["id"])["status"] == srv.wait_job(plain["id"])["status"] == "done"
    limit = len(data) - 1
    assert (EXAMPLES / "starry_night.jpg").stat().st_size > limit
    with StudioServer(tmp_path, max_upload_bytes=limit) as srv:
        refusal = srv.upload(data, "big.png")
        assert refusal == (413, {"error": f"big.png: {len(data)} bytes is above the limit of {limit} bytes "
                                          f"({limit / 2**20:.3g} MB); upload a smaller image"})
        assert srv.json("POST", f"/api/jobs/{job['id']}/rerun") == refusal
        assert sorted(p.name for p in (tmp_path / "jobs").iterdir()) == sorted([job["id"], plain["id"]])
        # the examples are the studio's own files, not uploads: no upload limit applies to them
        s, again = srv.json("POST", f"/api/jobs/{plain['id']}/rerun")
        assert s == 201 and srv.wait_job(again["id"])["status"] == "done"


def test_a_cancelled_waiting_job_is_announced_to_every_page(tmp_path):
    # Cancel of a waiting job published only the positions of the jobs still waiting: every other
    # open page (the event stream) kept showing it queued, position 1, with its Cancel button.
    import http.client
    import threading
    with StudioServer(tmp_path) as srv:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
        conn.request("GET", "/api/events")
        resp = conn.getresponse()
        events: list[dict] = []

        def listen():
            for line in resp:
                if line.startswith(b"data: "):
                    events.append(json.loads(line[6:]))
        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        s, long_job = srv.json("POST", "/api/jobs", job_body(iters=3000))
        s, waiting = srv.json("POST", "/api/jobs", job_body(iters=2))
        srv.wait_job(long_job["id"], ("running",), 60)
        s, body = srv.json("POST", f"/api/jobs/{waiting['id']}/cancel")
        assert (s, body["status"], body["position"]) == (200, "cancelled", None)
        srv.json("POST", f"/api/jobs/{long_job['id']}/cancel")
        assert srv.wait_job(long_job["id"])["status"] == "cancelled"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(
                e.get("type") == "job" and e["job"]["id"] == long_job["id"] and e["job"]["status"] == "cancelled"
                for e in events):
            time.sleep(0.05)
    listener.join(10)  # the stream ends with the server
    conn.close()
    shown = [(e["job"]["status"], e["job"]["position"]) for e in events
             if e.get("type") == "job" and e["job"]["id"] == waiting["id"]]
    assert shown[-1] == ("cancelled", None), shown


def test_an_upload_beside_a_failing_one_is_not_a_500(tmp_path, monkeypatch):
    # After storing an upload the store prunes old ones: it listed the folders, then read each one's
    # time; a failed upload in another request removes its own folder, and one removed between the
    # two made the good upload a 500 "internal error (FileNotFoundError)" (5 of 300 mixed uploads
    # from 16 threads), with the image stored all the same.
    import shutil
    with StudioServer(tmp_path) as srv:
        ghost = tmp_path / "uploads" / ("f" * 32)  # the failing upload's folder
        ghost.mkdir()
        is_dir = Path.is_dir

        def seen_then_removed(self):
            answer = is_dir(self)
            if answer and self == ghost:
                shutil.rmtree(self)  # its request cleans up at this moment
            return answer
        monkeypatch.setattr(Path, "is_dir", seen_then_removed)
        s, up = srv.upload(png(2), "good.png")
        monkeypatch.undo()
        assert s == 200, up
        assert srv.request("GET", up["url"])[0] == 200
        assert sorted(p.name for p in (tmp_path / "uploads").iterdir()) == [up["id"]]
    # and pruning still keeps the newest
    from stylegram.web.uploads import UploadStore
    store = UploadStore(tmp_path / "few", max_pixels=10**6, min_side=32, keep=2)
    ids = []
    for i in range(3):
        ids.append(store.add(png(i), f"{i}.png")["id"])
        time.sleep(0.02)  # folder times are a few ms coarse on Linux: the order must not be a tie
    assert [store.get(i) is not None for i in ids] == [False, True, True]


def test_render_larger_uses_the_jobs_own_images(tmp_path):
    # "Render at 2N px" sent the job's form to POST /api/jobs, which names the upload: once the
    # upload was gone (the store keeps the latest 500) it was a 400 "upload:<32 hex>: unknown image;
    # upload it again" for a job whose own copies were there. It is a rerun at another size now.
    import shutil
    with StudioServer(tmp_path) as srv:
        s, up = srv.upload(png(4, (64, 48)), "mine.png")
        s, job = srv.json("POST", "/api/jobs", job_body(content=up["source"], iters=2, seed=5))
        assert srv.wait_job(job["id"])["status"] == "done"
        shutil.rmtree(tmp_path / "uploads" / up["id"])
        s, larger = srv.json("POST", f"/api/jobs/{job['id']}/rerun", {"size": 128})
        assert s == 201, larger
        assert larger["form"] == {**job["form"], "size": 128} and larger["names"]["content"] == "mine.png"
        done = srv.wait_job(larger["id"])
        assert done["status"] == "done", done["message"]
        s, _, data = srv.request("GET", f"/api/jobs/{larger['id']}/files/result.png")
        assert s == 200 and Image.open(io.BytesIO(data)).size == (128, 96)
        for change, message in (({"size": 4096}, "size 4096: must be between 32 and 2048"),
                                ({"iters": 9}, 'send no body, or {"size": N} to run the job at another size'),
                                ([128], 'send no body, or {"size": N} to run the job at another size')):
            assert srv.json("POST", f"/api/jobs/{job['id']}/rerun", json.dumps(change).encode(),
                            headers={"Content-Type": "application/json"}) == (400, {"error": message})


def test_a_job_cancelled_on_a_coarse_level_says_its_image_is_smaller(tmp_path):
    # A job cancelled on an early level of its pyramid said "cancelled at iteration 4; the last
    # image is kept" and kept a 300 x 225 px result.png on a card that says 600 px (a run stopped
    # on its first level); the CLI says which level and that the image is smaller than the final one.
    with StudioServer(tmp_path) as srv:
        for size, coarse in ((400, True), (64, False)):
            s, job = srv.json("POST", "/api/jobs", job_body(net="random-tiny", size=size, iters=3000))
            deadline = time.monotonic() + 60
            while srv.json("GET", f"/api/jobs/{job['id']}")[1]["iter"] < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            srv.json("POST", f"/api/jobs/{job['id']}/cancel")
            done = srv.wait_job(job["id"])
            s, _, data = srv.request("GET", f"/api/jobs/{job['id']}/files/result.png")
            w, h = Image.open(io.BytesIO(data)).size
            assert done["status"] == "cancelled" and done["level"] == 0
            if coarse:
                assert done["levels"] > 1 and max(w, h) < size
                assert done["message"] == (f"cancelled at iteration {done['iter']} of level 1/{done['levels']}; the last "
                                           f"image is kept ({w} x {h} px, smaller than the {size} px asked for)")
            else:
                assert (done["levels"], max(w, h)) == (1, size)
                assert done["message"] == f"cancelled at iteration {done['iter']}; the last image is kept"


def test_a_full_queue_is_a_503_not_a_bad_request(tmp_path):
    # A full queue answered 400, the code for a request that is wrong and will stay wrong; the same
    # job is fine once some have run, which is what 503 says. Nothing is left of a refused job.
    with StudioServer(tmp_path, max_queued=1) as srv:
        s, ended = srv.json("POST", "/api/jobs", job_body(iters=1))
        srv.wait_job(ended["id"])
        s, running = srv.json("POST", "/api/jobs", job_body(iters=3000))
        srv.wait_job(running["id"], ("running",), 60)
        s, waiting = srv.json("POST", "/api/jobs", job_body(iters=1))
        assert s == 201
        full = (503, {"error": "the queue is full (1 job waiting); wait for one to finish"})
        assert srv.json("POST", "/api/jobs", job_body(iters=1)) == full
        assert srv.json("POST", f"/api/jobs/{ended['id']}/rerun") == full
        assert sorted(p.name for p in (tmp_path / "jobs").iterdir()) == sorted(
            [ended["id"], running["id"], waiting["id"]])
        srv.json("POST", f"/api/jobs/{running['id']}/cancel")
        assert srv.wait_job(waiting["id"])["status"] == "done"


def test_form_offers_a_dpi_that_tags_the_result(tmp_path):
    """The page's DPI field (empty: none) becomes the run's dpi, checked as the CLI checks it; the
    result PNG carries it, also through the studio's own colour-keeping rewrite."""
    import torch
    from PIL import Image
    from stylegram.errors import ConfigError
    from stylegram.io.image import save_image
    from stylegram.web.jobs import keep_content_colors
    from stylegram.web.options import Limits, form_schema, parse_job_request
    assert form_schema(Limits())["dpi"] == {"min": 10, "max": 2400, "default": None}
    form, opts = parse_job_request(job_body(dpi=240), Limits())
    assert form["dpi"] == opts["dpi"] == 240
    assert "dpi" not in parse_job_request(job_body(), Limits())[1]
    assert "dpi" not in parse_job_request(job_body(dpi=None), Limits())[1]
    with pytest.raises(ConfigError, match=r"^dpi 5000: above 2400 dots per inch"):
        parse_job_request(job_body(dpi=5000), Limits())
    with pytest.raises(ConfigError, match=r"^dpi 'x': must be a whole number"):
        parse_job_request(job_body(dpi="x"), Limits())
    png, content = tmp_path / "r.png", tmp_path / "c.png"
    save_image(torch.rand(1, 3, 8, 10), png, metadata={"a": 1}, dpi=240)
    save_image(torch.rand(1, 3, 8, 10), content)
    keep_content_colors(png, content, (10, 8))
    with Image.open(png) as im:
        assert im.info["dpi"] == pytest.approx((240, 240), abs=0.02) and "stylegram" in im.info


def test_job_with_dpi_writes_it_into_the_result(studio):
    s, job = studio.json("POST", "/api/jobs", job_body(iters=2, dpi=150))
    assert s == 201
    assert studio.wait_job(job["id"])["status"] == "done"
    s, _, data = studio.request("GET", f"/api/jobs/{job['id']}/files/result.png")
    with Image.open(io.BytesIO(data)) as im:
        assert s == 200 and im.info["dpi"] == pytest.approx((150, 150), abs=0.02)
        assert json.loads(im.info["stylegram"])["print"]["dpi"] == 150
