"""The HTML report opens in headless Chromium, says what it is (title and heading) and shows
the drift table (a screenshot test)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from monitor_helpers import make_frames

from mlops_core.synthetic import Drift
from model_monitoring.analysis import analyse
from model_monitoring.policy import load_policy
from model_monitoring.report_html import ReportLabel, label_html

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--virtual-time-budget=20000",
]


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        print("chromium is not installed (apt-get install chromium; .ci/run installs it)")
        pytest.skip("chromium is not installed: apt-get install -y chromium (.ci/run does it)")
    return exe


@pytest.mark.slow
def test_html_report_renders_the_drift_table_in_chromium(schema, tmp_path):
    exe = _chromium()
    numeric = schema.numeric_features[0]
    reference, current = make_frames(schema, drift=Drift(shift={numeric: 1.4}))
    result = analyse(reference, current, schema, load_policy())
    report = tmp_path / "report.html"
    label = ReportLabel("house-price", "7", "last 2,000 predictions up to 2026-11-30 17:00:00 UTC",
                        rows=result.rows, reference_rows=result.reference_rows)  # fmt: skip
    report.write_text(label_html(result.snapshot.get_html_str(as_iframe=False), label))
    profile = tmp_path / "chromium-profile"
    base = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]

    dom = subprocess.run(
        [*base, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=180
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    # The tab's title is the label's, after Evidently's scripts ran (not "plotly-logomark").
    titles = re.findall(r"<title>(.*?)</title>", dom.stdout.split("</head>")[0])
    assert titles == [label.title], titles
    text = re.sub(r"<script.*?</script>", "", dom.stdout, flags=re.S)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text))
    assert f"{label.title} Model house-price, version 7 Window: last 2,000" in text, text[:600]
    assert "3,000 reference rows" in text
    # The rendered drift table: its heading, header cells and a row per feature column.
    assert "Data Drift Summary" in text
    for header in ("Column", "Type", "Data Drift", "Stat Test", "Drift Score"):
        assert header in text
    assert re.search(rf"\b{numeric}\b num Detected", text), text[:3000]
    assert "Not Detected" in text

    shot = tmp_path / "report.png"
    run = subprocess.run(
        [*base, "--window-size=1400,1800", f"--screenshot={shot}", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1400, 1800)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    # A rendered report (text, histograms in red), not a blank page.
    assert colours is None or len(colours) > 50
