"""Make docs/explore.png: the explore page on the default model, window units removed by a brush
stroke from the pinned sample with the most window and inserted into the one with the least.

Needs Chromium (/usr/bin/chromium) and playwright (the test extra). Run from the repository root:

    python docs/explore_shot.py [--out docs/explore.png] [--ckpt CKPT]
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).exists()), None)


def _serve(args: list[str], timeout: float = 120) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "gan_viz", "explore", "--port", "0", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.search(r"open (http://\S+) \(Ctrl-C stops\)", line)
        if m:
            return proc, m.group(1)
    proc.kill()
    sys.exit("explore_shot: the server printed no URL")


def _stroke(page, index: int, rows: list[float]) -> None:
    """A zig-zag brush stroke over pinned sample ``index``, across its width at each row (0-1)."""
    old = page.eval_on_selector_all("#pins img.after", "els => els.map(e => e.src)")
    box = page.locator("#pins canvas.overlay").nth(index).bounding_box()
    page.mouse.move(box["x"] + 0.1 * box["width"], box["y"] + rows[0] * box["height"])
    page.mouse.down()
    for k, y in enumerate(rows):
        xs = (0.1, 0.9) if k % 2 == 0 else (0.9, 0.1)
        page.mouse.move(box["x"] + xs[0] * box["width"], box["y"] + y * box["height"], steps=3)
        page.mouse.move(box["x"] + xs[1] * box["width"], box["y"] + y * box["height"], steps=6)
    page.mouse.up()
    page.wait_for_function("old => [...document.querySelectorAll('#pins img.after')].some((e, i) => e.src !== old[i])",
                           arg=old, timeout=120000)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "explore.png"))
    ap.add_argument("--ckpt", default=None)
    a = ap.parse_args()
    if CHROMIUM is None:
        sys.exit("explore_shot: Chromium is not installed (/usr/bin/chromium)")
    from playwright.sync_api import sync_playwright

    proc, url = _serve(["--ckpt", a.ckpt] if a.ckpt else [])
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(url)
            page.wait_for_selector("body[data-ready='1']", timeout=120000)
            page.select_option("#concept", "window")
            page.click("#pick-concept")  # the window units by IoU (GANPaint's ranking) as the brush's units
            page.wait_for_function("() => document.querySelector('#brush-units').textContent !== 'none'")
            page.select_option("#sort", "concept")  # the unit table by IoU with the concept
            shares = page.eval_on_selector_all("#pins .pin-measure", "els => els.map(e => +e.dataset.before)")
            most, least = max(range(len(shares)), key=shares.__getitem__), min(range(len(shares)), key=shares.__getitem__)
            _stroke(page, most, [0.08 + 0.1 * k for k in range(9)])  # remove over the whole sample
            page.check("input[name=brush][value=insert]")
            _stroke(page, least, [0.15, 0.22, 0.29, 0.36])  # insert into the upper part of another
            page.wait_for_function("() => document.querySelector('#measure').dataset.inMaskBefore !== ''",
                                   timeout=60000)
            page.screenshot(path=a.out)
            browser.close()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
