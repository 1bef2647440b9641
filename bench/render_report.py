"""Render report.html in headless Chromium and check that its figures loaded.

    python bench/render_report.py REPORT_DIR [--png docs/report.png]

Exits non-zero when Chromium is missing, the page fails to load, or any <img> on the page did
not load (naturalWidth 0). Chromium comes from Debian (`apt-get install chromium`).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--allow-file-access-from-files",
]
# Replaces the page body by a verdict once every image has settled.
CHECK = """<script>window.addEventListener('load', () => {
  const imgs = [...document.images];
  const bad = imgs.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src);
  document.title = 'IMAGES ' + imgs.length + ' BROKEN ' + bad.length;
});</script>"""


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("report", type=Path)
    p.add_argument("--png", type=Path)
    args = p.parse_args()
    browser = (
        shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )
    if browser is None:
        sys.exit("chromium not found (apt-get install chromium)")
    page = args.report / "report.html"
    with tempfile.TemporaryDirectory() as profile:
        probe = args.report / ".render_check.html"
        probe.write_text(page.read_text().replace("</body>", CHECK + "</body>"))
        try:
            dom = subprocess.run(
                [
                    browser,
                    *FLAGS,
                    f"--user-data-dir={profile}",
                    "--virtual-time-budget=5000",
                    "--dump-dom",
                    probe.resolve().as_uri(),
                ],
                capture_output=True,
                text=True,
                timeout=120,
            ).stdout
        finally:
            probe.unlink(missing_ok=True)
        if args.png:
            args.png.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [
                    browser,
                    *FLAGS,
                    f"--user-data-dir={profile}",
                    "--window-size=1200,2400",
                    "--hide-scrollbars",
                    f"--screenshot={args.png.resolve()}",
                    page.resolve().as_uri(),
                ],
                capture_output=True,
                timeout=120,
                check=True,
            )
    verdict = dom.split("<title>")[-1].split("</title>")[0] if "<title>" in dom else "no page"
    print(verdict)
    words = verdict.split()
    if len(words) != 4 or words[0] != "IMAGES" or int(words[1]) == 0 or int(words[3]) != 0:
        sys.exit(f"report did not render cleanly: {verdict}")


if __name__ == "__main__":
    main()
