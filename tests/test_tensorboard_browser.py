"""TensorBoard as a person uses it: a short run, TensorBoard on 127.0.0.1, its HTTP
data endpoints, and screenshots of the Time Series, Images, Text and Projector tabs
in headless Chromium.

Slow (``-m slow``, about a minute); needs Debian's ``chromium`` package (``apt-get
install -y chromium``) and ``aiohttp`` (in the ``dev`` extra) to drive
it, and skips with a message where either is missing. Screenshots go to
``$AIM_SCREENSHOTS`` when set (to look at them), else to the test's temporary
folder::

    AIM_SCREENSHOTS=/tmp/shots pytest -m slow tests/test_tensorboard_browser.py
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from experiments import aim

pytestmark = pytest.mark.slow

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
STEPS, ITERATION = 20480, 2048  # 10 iterations
VIEWS = [ITERATION * k for k in (2, 5, 8, 10)]  # --views 4
TABS = ("timeseries", "images", "text", "projector")
RUN = [
    "--steps",
    str(STEPS),
    "--num-envs",
    "256",
    "--num-steps",
    "8",
    "--hidden",
    "32",
    "--views",
    "4",
    "--eval-points",
    "5",
    "--eval-batch",
    "512",
    "--eval-episodes",
    "512",
    "--no-progress",
]
SCALARS = {
    "train/success",
    "train/return",
    "train/symbol_perplexity",
    "train/live_symbols",
    "eval/success",
    "eval/return",
    "losses/total",
    "perf/iteration_s",
    "perf/steps_per_s",
    *(
        f"losses/{agent}/{part}"
        for agent in ("speaker", "listener")
        for part in (
            "total",
            "policy_loss",
            "value_loss",
            "entropy",
            "approx_kl",
            "clipfrac",
        )
    ),
    *(
        f"losses/speaker/aux_{part}"
        for part in ("total", "reconstruction", "commitment")
    ),
    *(
        f"symbols/{name}"
        for name in (
            "distinct_messages",
            "symbol_perplexity",
            "message_perplexity",
            "message_meaning_mi_bits",
            "mi_null_p95_bits",
            "mi_p_value",
            "topsim",
            "topsim_chance",
            "posdis",
            "posdis_chance",
            "bosdis",
            "bosdis_chance",
            "context_independence",
            "context_independence_chance",
            *(f"attribute_mi_bits/{a}" for a in range(4)),
        )
    ),
}
IMAGES = {
    "symbols/rank_frequency_symbols",
    "symbols/rank_frequency_messages",
    "symbols/attribute_given_symbol/position_0",
    "symbols/attribute_given_symbol/position_1",
    "symbols/position_information",
}
TEXTS = {"symbols/messages", "symbols/symbol_meanings", "config"}


def _browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(
        "no headless browser: install Debian's chromium "
        "(apt-get update && apt-get install -y chromium) to take the screenshots"
    )


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """A short run and a TensorBoard serving it: yields (base URL, run folder)."""
    pytest.importorskip("tensorboard")
    root = tmp_path_factory.mktemp("tb_browser")
    aim.main([*RUN, "--logdir", str(root), "--name", "run"])
    log = root / "tensorboard.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tensorboard.main", "--logdir", str(root / "run")]
            + ["--host", "127.0.0.1", "--port", "0", "--reload_interval", "0"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        base = None
        deadline = time.monotonic() + 120
        while base is None and time.monotonic() < deadline:
            found = re.search(r"http://127\.0\.0\.1:(\d+)/", log.read_text())
            if found:
                base = f"http://127.0.0.1:{found.group(1)}"
            elif proc.poll() is not None:
                pytest.fail(f"TensorBoard exited: {log.read_text()}")
            else:
                time.sleep(0.5)
        assert base, f"TensorBoard did not start: {log.read_text()}"
        while time.monotonic() < deadline:  # wait until it has read the run
            if "seed_0" in _get(base, "/data/plugin/scalars/tags"):
                break
            time.sleep(0.5)
        yield base, root / "run"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _get(base: str, path: str, **query):
    url = base + path + ("?" + urllib.parse.urlencode(query) if query else "")
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def test_http_endpoints_show_every_tag_over_several_steps(board):
    base, _ = board
    scalars = _get(base, "/data/plugin/scalars/tags")["seed_0"]
    assert set(scalars) == SCALARS
    for tag, info in scalars.items():
        assert info["description"], f"{tag} has no description"
        points = _get(base, "/data/plugin/scalars/scalars", run="seed_0", tag=tag)
        steps = [p[1] for p in points]
        assert len(steps) > 1 and len(steps) == len(set(steps)), tag
    images = _get(base, "/data/plugin/images/tags")["seed_0"]
    assert set(images) == IMAGES
    for tag in IMAGES:
        assert images[tag]["description"], tag
        shown = _get(
            base, "/data/plugin/images/images", run="seed_0", tag=tag, sample=0
        )
        assert [e["step"] for e in shown] == VIEWS, tag
    assert set(_get(base, "/data/plugin/text/tags")["seed_0"]) == TEXTS
    for tag in ("symbols/messages", "symbols/symbol_meanings"):
        entries = _get(base, "/data/plugin/text/text", run="seed_0", tag=tag)
        assert [e["step"] for e in entries] == VIEWS, tag
        assert "<table>" in entries[-1]["text"], "Markdown tables are rendered"
    histograms = _get(
        base, "/data/plugin/histograms/histograms", run="seed_0", tag="symbols/usage"
    )
    assert len(histograms) == len(VIEWS)
    projector = _get(base, "/data/plugin/projector/info", run="seed_0")
    names = [e["tensorName"] for e in projector["embeddings"]]
    assert names == [f"symbols/codebook:{step:05d}" for step in VIEWS]
    listing = _get(base, "/data/plugins_listing")
    for plugin in ("timeseries", "scalars", "images", "text", "hparams"):
        assert listing[plugin]["enabled"], plugin
    assert listing["custom_scalars"]["enabled"]


async def _capture(browser: str, url: str, shot: Path, profile: Path) -> None:
    """Open ``url`` in headless Chromium and save a PNG once the page has settled.

    Drives the browser over the DevTools protocol (``aiohttp`` websocket): the
    page gets real time to fetch data and paint (TensorBoard draws its charts in a
    worker, which ``--screenshot`` with virtual time may capture half-drawn).
    """
    import asyncio
    import base64

    import aiohttp

    proc = subprocess.Popen(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            "--hide-scrollbars",
            "--window-size=1400,1000",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        for _ in range(300):
            if port_file.is_file() and port_file.read_text().strip():
                break
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as r:
            targets = json.loads(r.read())
        ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(ws_url, max_msg_size=0) as ws,
        ):
            counter = iter(range(1, 1 << 30))

            async def call(method: str, **params):
                key = next(counter)
                await ws.send_json({"id": key, "method": method, "params": params})
                async for message in ws:
                    data = json.loads(message.data)
                    if data.get("id") == key:
                        return data.get("result", {})
                raise RuntimeError(f"browser closed during {method}")

            await call("Page.enable")
            await call("Page.navigate", url=url)
            await asyncio.sleep(4.0)
            size = -1
            for _ in range(20):  # then until the page stops changing (<= 20 s)
                await asyncio.sleep(1.0)
                result = await call(
                    "Runtime.evaluate",
                    expression="document.body.innerHTML.length",
                )
                now = result.get("result", {}).get("value", 0)
                if now == size:
                    break
                size = now
            data = await call("Page.captureScreenshot", format="png")
            shot.write_bytes(base64.b64decode(data["data"]))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize("tab", TABS)
def test_screenshots_of_the_tabs(board, tab, tmp_path):
    import asyncio

    pytest.importorskip("aiohttp", reason="aiohttp drives the browser (DevTools)")
    from PIL import Image

    base, _ = board
    browser = _browser()
    folder = Path(os.environ.get("AIM_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    shot = folder / f"tensorboard_{tab}.png"
    shot.unlink(missing_ok=True)
    profile = tmp_path / "profile"
    profile.mkdir()
    asyncio.run(_capture(browser, f"{base}/#{tab}", shot, profile))
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int64)
    assert pixels.shape[1] == 1400 and pixels.shape[0] > 600
    # TensorBoard's orange header bar rendered, and the page below it is not empty
    header = pixels[10:50, :].reshape(-1, 3)
    assert np.mean(np.all(np.abs(header - [245, 124, 0]) < 40, axis=1)) > 0.5
    body = pixels[120:, 300:].reshape(-1, 3)
    assert len(np.unique(body // 16, axis=0)) > 20, f"{tab}: blank page"
