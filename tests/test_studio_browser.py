"""The studio driven in headless Chromium: upload, live preview, gallery, cancel, bad uploads,
the Explore page. Screenshots go to out/screenshots/ (the copies in docs/studio/ come from it).

Needs Debian's chromium and chromium-driver (.ci/install-browser) and selenium. Outside CI the
test skips when they are absent; with CI=true it fails instead.
"""
from __future__ import annotations

import os
import shutil
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from studio_support import StudioServer

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPO / "out" / "screenshots"
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,1300", "--hide-scrollbars"]


def _browser_or_skip() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    try:
        import selenium  # noqa: F401  (only whether it is there)
        missing = [n for n, p in (("chromium", chromium), ("chromedriver", driver)) if not p]
    except ImportError:
        missing = ["selenium (pip install selenium)"]
    if missing:
        reason = f"{' and '.join(missing)} not installed; run .ci/install-browser (as root) to get them"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("browser test cannot run in CI: " + reason)
        pytest.skip(reason)
    return chromium, driver


@pytest.fixture(scope="module")
def explore_dir(tmp_path_factory) -> Path:
    """A stand-in for a finished `explore units` run: an HTML report and a few unit sheets."""
    d = tmp_path_factory.mktemp("explore")
    (d / "sheets").mkdir()
    for i, layer in enumerate(("conv1_1", "conv3_1")):
        im = Image.new("RGB", (384, 256), (40 + 80 * i, 90, 160))
        for k in range(6):
            im.paste((200, 40 * k, 255 - 40 * k), (16 + 60 * k, 16, 64 + 60 * k, 240))
        im.save(d / "sheets" / f"{layer}.png")
    (d / "index.html").write_text("<!doctype html><title>units</title><h1>Unit report</h1>"
                                  "<p>Top patches per unit.</p><img src='sheets/conv1_1.png'>")
    return d


@pytest.fixture(scope="module")
def studio(tmp_path_factory, explore_dir):
    with StudioServer(tmp_path_factory.mktemp("studio"), explore_dir=explore_dir) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium, driver_path = _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    os.environ.setdefault("SE_OFFLINE", "true")  # selenium must never try to download a driver
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in CHROME_FLAGS + [f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        opts.add_argument(flag)
    drv = webdriver.Chrome(service=Service(driver_path), options=opts)
    drv.set_page_load_timeout(30)
    yield drv
    drv.quit()


def wait(drv, cond, timeout: float = 60, what: str = "condition"):
    from selenium.webdriver.support.ui import WebDriverWait
    try:
        return WebDriverWait(drv, timeout, poll_frequency=0.1).until(lambda d: cond(d))
    except Exception as e:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        drv.save_screenshot(str(SCREENSHOTS / "failure.png"))
        raise AssertionError(f"timed out waiting for {what}; screenshot in out/screenshots/failure.png") from e


def fmt(x: float) -> str:
    """A number as the page's fmt() writes it: 3 significant digits, or x.xxe+N outside 0.01..1000."""
    if x != 0 and (abs(x) >= 1000 or abs(x) < 0.01):
        m, e = f"{x:.2e}".split("e")
        return f"{m}e{int(e):+d}"
    return f"{float(f'{x:.3g}'):g}"


def js(drv, script: str, *args):
    return drv.execute_script(script, *args)


def upload(drv, role: str, path: Path) -> dict:
    """Choose ``path`` in the page's file picker for ``role``; returns the page's upload outcome."""
    from selenium.webdriver.common.by import By
    before = js(drv, "return window.studio.uploads")
    drv.find_element(By.ID, f"{role}-file").send_keys(str(path))
    wait(drv, lambda d: js(d, "return window.studio.uploads") > before, 30, f"upload of {path.name}")
    return js(drv, "return window.studio.lastUpload")


def hold_back_replies(drv, url_end: str, counter: str, ms: int = 1500) -> None:
    """Wrap the page's fetch so that replies to URLs ending in ``url_end`` reach the page ``ms``
    late; window[counter] counts those delivered. Replies and events travel on different
    connections: this forces the order in which a reply lands after events it predates."""
    js(drv, "const f = window.fetch, end = arguments[0], counter = arguments[1], ms = arguments[2];"
            " window[counter] = 0; window.fetch = (u, o) => f(u, o).then(r => String(u).endsWith(end) ?"
            " new Promise(ok => setTimeout(() => { window[counter]++; ok(r); }, ms)) : r)", url_end, counter, ms)


def set_field(drv, element_id: str, value) -> None:
    js(drv, "const e = document.getElementById(arguments[0]); e.value = arguments[1];"
            "e.dispatchEvent(new Event('change'))", element_id, str(value))


def card_status(drv, job_id: str) -> str | None:
    return js(drv, "const c = document.querySelector(`.card[data-id='${arguments[0]}']`);"
                   "return c ? c.dataset.status : null", job_id)


def test_transfer_page_flow(studio, browser, tmp_path):
    """Upload (picker and drop), a bad upload, the last of two choices winning, a 20-iteration run
    with a changing preview, the gallery, a queued job's position, cancelling from a card and from
    the form, and replies that arrive after the events they predate."""
    from selenium.webdriver.common.by import By
    drv = browser
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    drv.get(studio.url + "/")
    wait(drv, lambda d: js(d, "return document.body.dataset.ready === '1'"), 30, "the page to load")
    wait(drv, lambda d: "connected" in d.find_element(By.ID, "conn").text, 30, "the event stream")

    # upload the example images through the file pickers
    examples = REPO / "src" / "stylegram" / "web" / "static" / "examples"
    assert upload(drv, "content", examples / "tubingen.jpg")["ok"]
    assert upload(drv, "style", examples / "starry_night.jpg")["ok"]
    assert "tubingen.jpg" in drv.find_element(By.ID, "content-name").text
    assert drv.find_element(By.ID, "content-thumb").is_displayed()

    # drag and drop onto the style box works too (a File built in the page, dropped by script)
    before = js(drv, "return window.studio.uploads")
    drv.execute_async_script("""const done = arguments[arguments.length - 1];
        fetch('/examples/starry_night.jpg').then(r => r.blob()).then(b => {
          const dt = new DataTransfer();
          dt.items.add(new File([b], 'dropped.jpg', {type: 'image/jpeg'}));
          document.getElementById('style-drop').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
          done(true);
        });""")
    wait(drv, lambda d: js(d, "return window.studio.uploads") > before, 30, "the dropped upload")
    assert js(drv, "return window.studio.lastUpload.ok")
    assert drv.find_element(By.ID, "style-name").text.startswith("dropped.jpg (512")

    # a bad upload: a clear message on the page, and the chosen image stays
    bad = tmp_path / "holiday.png"
    bad.write_bytes(b"this is not a picture at all")
    thumb_before = drv.find_element(By.ID, "content-thumb").get_attribute("src")
    outcome = upload(drv, "content", bad)
    assert not outcome["ok"]
    err = drv.find_element(By.ID, "content-error")
    assert err.is_displayed()
    assert err.text.startswith("holiday.png: not an image file"), err.text
    assert drv.find_element(By.ID, "content-thumb").get_attribute("src") == thumb_before
    assert "tubingen.jpg" in drv.find_element(By.ID, "content-name").text

    # the last choice wins: an upload whose reply comes after a later example click is dropped
    js(drv, "window.__fetch0 = window.fetch")
    hold_back_replies(drv, "/api/uploads", "__lateUploads")
    before = js(drv, "return window.studio.uploads")
    drv.find_element(By.ID, "content-file").send_keys(str(examples / "starry_night.jpg"))
    drv.find_element(By.CSS_SELECTOR, "#content-examples button[data-source='example:tubingen']").click()
    assert drv.find_element(By.ID, "content-name").text == "Tübingen (photo)"
    wait(drv, lambda d: js(d, "return window.studio.uploads") > before, 30, "the held-back upload")
    assert js(drv, "return window.__lateUploads") == 1
    assert js(drv, "return window.studio.lastUpload") == {"role": "content", "ok": True, "message": "",
                                                          "superseded": True}
    assert drv.find_element(By.ID, "content-name").text == "Tübingen (photo)"
    assert js(drv, "return window.studio.sources.content.source") == "example:tubingen"
    assert js(drv, "return document.getElementById('content-name').dataset.busy") is None
    js(drv, "window.fetch = window.__fetch0")

    # run 20 iterations at 64 px on the random net; record every preview the page shows
    js(drv, "window.__previews = []; new MutationObserver(() => window.__previews.push("
            "document.getElementById('preview').src)).observe(document.getElementById('preview'),"
            "{attributes: true, attributeFilter: ['src']})")
    set_field(drv, "net", "random")
    set_field(drv, "size", 64)
    set_field(drv, "iters", 20)
    # the Refinement field follows the preset (balanced ends with a 100-iteration pass)
    assert drv.find_element(By.ID, "refine").get_attribute("value") == "100"
    set_field(drv, "refine", 10)
    drv.find_element(By.ID, "start").click()
    wait(drv, lambda d: js(d, "return window.studio.current"), 20, "the job to be accepted")
    job1 = js(drv, "return window.studio.current")
    assert studio.json("GET", f"/api/jobs/{job1}")[1]["form"]["refine"] == 10
    wait(drv, lambda d: card_status(d, job1) == "done", 120, "the first job to finish")
    previews = js(drv, "return window.__previews")
    assert len(set(previews)) >= 3, f"the preview changed only {len(set(previews))} times: {previews}"
    # the result is in the gallery with a download link to a 64 px PNG
    link = drv.find_element(By.CSS_SELECTOR, f".card[data-id='{job1}'] a.download").get_attribute("href")
    with urllib.request.urlopen(link, timeout=10) as r:
        png = r.read()
    out = tmp_path / "result.png"
    out.write_bytes(png)
    with Image.open(out) as im:
        assert im.format == "PNG" and max(im.size) == 64
    assert drv.find_element(By.CSS_SELECTOR, f".card[data-id='{job1}'] img").is_displayed()
    assert "done" in drv.find_element(By.ID, "status").text
    assert js(drv, "return window.studio.jobs.get(arguments[0]).history.length", job1) >= 20
    # the loss plot's points: steps over the whole run, through the level change to the refinement
    # pass (a pyramid's iter restarts at 1 on each level, which drew lines back across the plot)
    steps, levels = js(drv, "const h = window.studio.jobs.get(arguments[0]).history;"
                            "return [h.map(p => p.step), h.map(p => p.level)]", job1)
    assert steps == sorted(set(steps)) and steps[-1] >= 20 and levels == sorted(levels) and set(levels) == {0, 1}
    # the plot's axes: its loss axis named, logarithmic and ticked at the powers of ten its curves
    # span (it gave only the two ends), the iteration axis its first and last step
    import math
    hist = js(drv, "return window.studio.jobs.get(arguments[0]).history", job1)
    logs = [math.log10(p[t]) for p in hist for t in ("total", "content", "style") if p.get(t, 0) > 0]
    plot = js(drv, "return window.studio.plot")
    assert plot["x"] == [steps[0], steps[-1]], plot
    decades = range(math.floor(max(logs) + 1e-9), math.ceil(min(logs) - 1e-9) - 1, -1)
    if len(decades) >= 2:
        assert plot["y"] == [str(10 ** k) if -2 <= k <= 3 else f"1e{k}" for k in decades][::math.ceil(len(decades) / 5)], plot
    else:  # the ends, and the one power of ten between them if any
        ends = [f"{10 ** x:.1e}".replace("e-0", "e-").replace("e+0", "e+") for x in (max(logs), min(logs))]
        lo, hi = min(logs), max(logs)
        inside = [str(10 ** k) if -2 <= k <= 3 else f"1e{k}" for k in decades
                  if k - lo > 0.1 * (hi - lo) and hi - k > 0.1 * (hi - lo)]
        assert plot["y"] == [ends[0], *inside, ends[1]], plot
    assert js(drv, "return logTicks(-1.9, 1.2)") == [[1, "10"], [0, "1"], [-1, "0.1"]]
    assert js(drv, "return logTicks(-7.2, 9.3).map(t => t[1])") == ["1e9", "1e5", "10", "1e-3", "1e-7"]
    assert js(drv, "return logTicks(-0.9, -0.1).map(t => t[1])") == ["7.9e-1", "1.3e-1"]
    assert js(drv, "return logTicks(-1.9, -0.4).map(t => t[1])") == ["4.0e-1", "0.1", "1.3e-2"]
    assert js(drv, "return logTicks(-1.9, -0.95).map(t => t[1])") == ["1.1e-1", "1.3e-2"]  # 0.1: too near the top
    drv.save_screenshot(str(SCREENSHOTS / "transfer_done.png"))
    # while a pyramid runs, the status names the level and counts that level's iterations
    running = {"status": "running", "device": "cpu", "iter": 3, "iters": 20, "losses": {}}
    assert js(drv, "return describe(arguments[0])", {**running, "level": 1, "levels": 2, "level_iters": 10}) == \
        "running on cpu: level 2 of 2, iteration 3 / 10"
    assert js(drv, "return describe(arguments[0])", running) == "running on cpu: iteration 3 / 20"
    assert js(drv, "return describe(arguments[0])", {**running, "level": 1, "levels": 2, "level_iters": 10,
                                                     "note": "refine"}) == \
        "running on cpu: level 2 of 2 (refine), iteration 3 / 10"

    # a second, long run: screenshot mid-run, then cancel it; its last image stays in the gallery
    set_field(drv, "iters", 3000)
    drv.find_element(By.ID, "start").click()
    wait(drv, lambda d: js(d, "return window.studio.current") != job1, 20, "the second job")
    job2 = js(drv, "return window.studio.current")
    wait(drv, lambda d: js(d, "const j = window.studio.jobs.get(arguments[0]); return j && j.iter >= 8 && j.preview >= 3",
                           job2), 120, "the second job to show progress")
    time.sleep(0.5)  # let the preview image load before the screenshot
    drv.save_screenshot(str(SCREENSHOTS / "transfer_midrun.png"))
    assert drv.find_element(By.ID, "preview").is_displayed()
    assert "running" in drv.find_element(By.ID, "status").text
    # a third job waits in the queue with its position shown
    set_field(drv, "iters", 5)
    drv.find_element(By.ID, "start").click()
    wait(drv, lambda d: js(d, "return window.studio.current") != job2, 20, "the third job")
    job3 = js(drv, "return window.studio.current")
    wait(drv, lambda d: "waiting in the queue, position 1" in d.find_element(By.ID, "status").text, 20,
         "the queue position")
    assert card_status(drv, job3) == "queued"
    # cancel the running job from its card: it keeps its last image, and the queued one runs.
    # The reply to the cancel request says "running" (the job stops a moment later) and can reach
    # the page after the event saying it stopped; hold the reply back to make that order certain:
    # the stale reply must not bring the card back to "running" (CI saw this once).
    hold_back_replies(drv, "/cancel", "__lateReplies")
    drv.find_element(By.CSS_SELECTOR, f".card[data-id='{job2}'] button.cancel").click()
    wait(drv, lambda d: card_status(d, job2) == "cancelled", 60, "the second job to stop")
    wait(drv, lambda d: js(d, "return window.__lateReplies") == 1, 20, "the held-back reply")
    time.sleep(0.2)
    assert card_status(drv, job2) == "cancelled"
    assert js(drv, "return window.studio.jobs.get(arguments[0]).status", job2) == "cancelled"
    job = studio.json("GET", f"/api/jobs/{job2}")[1]
    assert 8 <= job["iter"] < 3000 and job["files"]["result"] == "result.png"
    assert drv.find_element(By.CSS_SELECTOR, f".card[data-id='{job2}'] img").is_displayed()
    wait(drv, lambda d: card_status(d, job3) == "done", 60, "the third job to finish")
    # the Cancel button under the form cancels the page's current job: start one and stop it
    set_field(drv, "iters", 3000)
    drv.find_element(By.ID, "start").click()
    wait(drv, lambda d: js(d, "return window.studio.current") != job3, 20, "the fourth job")
    job4 = js(drv, "return window.studio.current")
    wait(drv, lambda d: js(d, "const j = window.studio.jobs.get(arguments[0]); return j && j.iter >= 2", job4), 60,
         "the fourth job to run")
    drv.find_element(By.ID, "cancel").click()
    wait(drv, lambda d: card_status(d, job4) == "cancelled", 60, "the fourth job to stop")
    assert drv.find_element(By.ID, "cancel").get_attribute("disabled") is not None
    assert "cancelled at iteration" in drv.find_element(By.ID, "status").text
    drv.save_screenshot(str(SCREENSHOTS / "transfer_gallery.png"))
    # a job that finishes before the reply to its start request arrives (held back here until its
    # card says done): the late "queued" reply must neither bring it back nor leave the status
    # line on the previous job
    js(drv, "const f2 = window.fetch; window.__lateStarts = 0; window.fetch = (u, o) => f2(u, o).then(r =>"
            " (String(u).endsWith('/api/jobs') && o && o.method === 'POST') ? r.clone().json().then(j =>"
            " new Promise(ok => { const t = setInterval(() => { const c = document.querySelector("
            " `.card[data-id='${j.id}']`); if (c && c.dataset.status === 'done') { clearInterval(t);"
            " window.__lateStarts++; ok(r); } }, 50); })) : r)")
    set_field(drv, "iters", 5)
    drv.find_element(By.ID, "start").click()
    wait(drv, lambda d: js(d, "return window.__lateStarts") == 1, 60, "the held-back start reply")
    job5 = js(drv, "return window.studio.current")
    assert job5 not in (job1, job2, job3, job4)
    time.sleep(0.2)
    assert card_status(drv, job5) == "done"
    assert js(drv, "return window.studio.jobs.get(arguments[0]).status", job5) == "done"
    assert drv.find_element(By.ID, "status").text.startswith("done"), drv.find_element(By.ID, "status").text

    # a finished result again at twice the size, from its card: the same images and settings
    js(drv, "window.fetch = window.__fetch0")
    button = drv.find_element(By.CSS_SELECTOR, f".card[data-id='{job1}'] button.larger")
    assert button.text == "Render at 128 px"
    button.click()
    wait(drv, lambda d: js(d, "return window.studio.current") not in (job1, job2, job3, job4, job5), 20, "the larger job")
    job6 = js(drv, "return window.studio.current")
    forms = [studio.json("GET", f"/api/jobs/{j}")[1]["form"] for j in (job1, job6)]
    assert {k: (forms[0][k], forms[1][k]) for k in forms[0] if forms[0][k] != forms[1][k]} == {"size": (64, 128)}
    wait(drv, lambda d: card_status(d, job6) == "done", 120, "the larger job to finish")
    link = drv.find_element(By.CSS_SELECTOR, f".card[data-id='{job6}'] a.download").get_attribute("href")
    with urllib.request.urlopen(link, timeout=10) as r:
        out.write_bytes(r.read())
    with Image.open(out) as im:
        assert max(im.size) == 128

    # a cancelled job runs again from its card ("Run again": the server's copies of its images and
    # its form), and the page follows the new job as it does a new start
    assert not drv.find_elements(By.CSS_SELECTOR, f".card[data-id='{job6}'] button.rerun")  # done: not offered
    drv.find_element(By.CSS_SELECTOR, f".card[data-id='{job2}'] button.rerun").click()
    wait(drv, lambda d: js(d, "return window.studio.current") not in (job1, job2, job3, job4, job5, job6), 20,
         "the job run again")
    job7 = js(drv, "return window.studio.current")
    again = studio.json("GET", f"/api/jobs/{job7}")[1]
    old = studio.json("GET", f"/api/jobs/{job2}")[1]
    assert again["form"] == old["form"] and again["names"] == old["names"] and old["status"] == "cancelled"
    wait(drv, lambda d: card_status(d, job7) == "running", 60, "the job run again to start")
    drv.find_element(By.ID, "cancel").click()
    wait(drv, lambda d: card_status(d, job7) == "cancelled", 60, "the job run again to stop")


def test_explore_page(studio, browser):
    from selenium.webdriver.common.by import By
    drv = browser
    drv.get(studio.url + "/")
    wait(drv, lambda d: js(d, "return document.body.dataset.ready === '1'"), 30, "the page to load")
    drv.find_element(By.ID, "tab-explore").click()
    wait(drv, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#explore-sheets img")) == 2, 20, "the unit sheets")
    wait(drv, lambda d: d.find_elements(By.CSS_SELECTOR, "#explore-reports iframe"), 20, "the report")
    # the report's own picture loads inside its sandboxed frame
    drv.switch_to.frame(drv.find_element(By.CSS_SELECTOR, "#explore-reports iframe"))
    wait(drv, lambda d: js(d, "const i = document.querySelector('img'); return i && i.complete && i.naturalWidth > 0"),
         20, "the report's picture")
    drv.switch_to.default_content()
    # every sheet image loaded (naturalWidth > 0), shown at its own size: squeezed into a 200 px
    # cell, a real sheet's labels and values could not be read
    wait(drv, lambda d: js(d, "return [...document.querySelectorAll('#explore-sheets img')].every(i => i.naturalWidth > 0)"),
         20, "the sheet images")
    assert js(drv, "return [...document.querySelectorAll('#explore-sheets img')].map(i => [i.naturalWidth, "
                   "i.getBoundingClientRect().width, i.getBoundingClientRect().height])") == [[384, 384, 256]] * 2
    # Gram view of an uploaded style image, on the random net
    examples = REPO / "src" / "stylegram" / "web" / "static" / "examples"
    assert upload(drv, "gram", examples / "starry_night.jpg")["ok"]
    set_field(drv, "gram-net", "vgg16-hed")
    drv.find_element(By.ID, "gram-go").click()
    wait(drv, lambda d: js(d, "const i = [...document.querySelectorAll('#gram-out img')];"
                              "return i.length === 5 && i.every(x => x.naturalWidth > 0)"), 90, "the Gram heatmaps")
    captions = [e.text for e in drv.find_elements(By.CSS_SELECTOR, "#gram-out figcaption")]
    assert captions[0].startswith("relu1_1: 64 × 64") and captions[-1].startswith("relu5_1: 512 × 512"), captions
    # Each map comes framed (colour bar, channel ids, layer name) and is shown at its own size:
    # shrunk into a 200 px cell, the bar's and the axes' numbers could not be read. The caption
    # gives the value range and the colour scale's top, as the JSON says them.
    layers = js(drv, "return window.studio.gram.layers")
    shown = js(drv, "return [...document.querySelectorAll('#gram-out img')].map(i => [i.naturalWidth, i.naturalHeight,"
                    " i.getBoundingClientRect().width, i.getBoundingClientRect().height])")
    for l, (nw, nh, w, h), cap in zip(layers, shown, captions):
        assert (nw, nh) == (l["width"], l["height"]) and nw >= l["map"]["x"] + 256 + 40, (l["layer"], nw, nh)
        assert (w, h) == (nw, nh), (l["layer"], w, h)
        assert f"G/N from {fmt(l['min'])} to {fmt(l['max'])}" in cap and f"≥ {fmt(l['top'])} (its 99.5th percentile)" in cap
    # pointing at the map names the row's and the column's channel (the axes name only a few)
    from selenium.webdriver.common.action_chains import ActionChains
    first = drv.find_element(By.CSS_SELECTOR, "#gram-out figure img")
    js(drv, "arguments[0].scrollIntoView({block: 'center'})", first)  # the pointer's origin: the visible part's centre
    l = layers[0]
    i, j = 102, 10  # map pixels, inside the cells of seriated positions 25 and 2 (4 px each)
    rect = js(drv, "const r = arguments[0].getBoundingClientRect(); return [r.width, r.height]", first)
    ActionChains(drv).move_to_element_with_offset(first, round(l["map"]["x"] + j - rect[0] / 2),
                                                  round(l["map"]["y"] + i - rect[1] / 2)).perform()
    where = drv.find_element(By.CSS_SELECTOR, "#gram-out figure .where")
    assert where.text == f"row: channel {l['order'][25]}, column: channel {l['order'][2]}", where.text
    ActionChains(drv).move_to_element_with_offset(first, round(5 - rect[0] / 2), round(5 - rect[1] / 2)).perform()
    assert where.text == "point at the map: the row's and the column's channel"
    js(drv, "window.scrollTo(0, 0)")
    size = drv.get_window_size()
    drv.set_window_size(1280, 2150)  # the whole Explore page: the sheets, the framed Gram maps (two rows)
    time.sleep(0.3)
    drv.save_screenshot(str(SCREENSHOTS / "explore.png"))
    drv.set_window_size(size["width"], size["height"])


def test_bad_files_get_a_message_on_the_page(studio, browser, shared, tmp_path):
    """Every file of ../shared/data/bad chosen in the page: accepted, or one clear line on the page."""
    import json
    from selenium.webdriver.common.by import By
    drv = browser
    drv.get(studio.url + "/")
    wait(drv, lambda d: js(d, "return document.body.dataset.ready === '1'"), 30, "the page to load")
    marker = Path("/tmp/stylegram_pickle_executed")
    marker.unlink(missing_ok=True)
    rows = []
    for f in sorted((shared / "data" / "bad").iterdir()):
        outcome = upload(drv, "content", f)
        if outcome["ok"]:
            rows.append({"file": f.name, "outcome": "accepted", "message": drv.find_element(By.ID, "content-name").text})
            continue
        shown = drv.find_element(By.ID, "content-error").text
        assert shown == outcome["message"] and shown.startswith(f.name + ":"), (f.name, shown)
        assert "\n" not in shown and "Traceback" not in shown and len(shown) < 300, (f.name, shown)
        rows.append({"file": f.name, "outcome": "refused", "message": shown})
    assert not marker.exists(), "the pickle file was executed"
    expected_refused = {"not_an_image.png", "zero_bytes.jpg", "truncated.jpg", "decompression_bomb.png",
                        "evil_weights.pth", "random_bytes.safetensors", "tiny_1x1.png", "extreme_aspect_4000x2.png"}
    refused = {r["file"] for r in rows if r["outcome"] == "refused"}
    assert expected_refused <= refused, expected_refused - refused
    assert {"cmyk.jpg", "exif_rotated.jpg", "gray16.png", "palette_alpha.png"} <= {r["file"] for r in rows if r["outcome"] == "accepted"}
    out = REPO / "out"
    out.mkdir(exist_ok=True)
    (out / "studio_bad_uploads.json").write_text(json.dumps(rows, indent=1))
    table = ["| file | studio (upload in the page) | message shown |", "| --- | --- | --- |"]
    table += [f"| {r['file']} | {r['outcome']} | {r['message'].replace('|', '/')} |" for r in rows]
    (out / "studio_bad_uploads.md").write_text("\n".join(table) + "\n")
