"""The stored report names itself: a <title> and a heading with model, version, window and
row counts, on Evidently's real page."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from monitor_helpers import make_frames

from model_monitoring.analysis import analyse
from model_monitoring.policy import load_policy
from model_monitoring.report_html import ReportLabel, describe_window, label_html


@pytest.fixture(scope="module")
def evidently_page(schema) -> str:
    reference, current = make_frames(schema, rows_ref=600, rows_cur=400)
    return analyse(reference, current, schema, load_policy()).snapshot.get_html_str(as_iframe=False)


def test_evidently_alone_gives_the_page_no_title(evidently_page):
    # Why the label exists: a browser would title the page after the Plotly logo's <title>.
    assert "<title>" not in evidently_page.split("<body>")[0]


def test_the_page_is_titled_and_headed_with_model_version_window_and_rows(evidently_page):
    window = describe_window(
        datetime(2026, 11, 29, 17, tzinfo=UTC), datetime(2026, 11, 30, 17, 30, tzinfo=UTC)
    )
    label = ReportLabel("house-price", "3", window, rows=1200, reference_rows=1400,
                        labelled_rows=900, rows_compared=1000, reference_rows_compared=1000,
                        data_version="data-v2", status="no_drift")  # fmt: skip
    html = label_html(evidently_page, label)
    expected = "house-price v3 drift report, 2026-11-29 17:00:00 UTC to 2026-11-30 17:30:00 UTC"
    head = html.split("</head>")[0]
    assert re.findall(r"<title>(.*?)</title>", head) == [expected]
    heading = re.search(r'<header id="mlops-report-heading".*?</header>', html, re.S).group(0)
    assert "<h1" in heading and expected in heading
    for text in ("Model house-price, version 3 (trained on data-v2)", "1,200 current rows",
                 "900 labelled", "1,400 reference rows", "1,000 current and 1,000 reference",
                 "Verdict: no drift"):  # fmt: skip
        assert text in heading, text
    # The heading comes before the report's own root element, which still renders.
    assert html.index("mlops-report-heading") < html.index('<div id="root_')
    assert len(html) - len(evidently_page) < 2000


def test_names_are_escaped_and_windows_read_as_words():
    until = datetime(2026, 11, 30, 17, tzinfo=UTC)
    assert describe_window(None, until) == "all predictions up to 2026-11-30 17:00:00 UTC"
    assert describe_window(None, until, last=1000) == (
        "last 1,000 predictions up to 2026-11-30 17:00:00 UTC"
    )
    page = '<html><head><meta charset="UTF-8"></head><body><div id="root_x"></div></body>'
    html = label_html(page, ReportLabel("<b>m</b>", "1", "w", rows=1, reference_rows=1))
    assert "<b>m</b>" not in html and "&lt;b&gt;m&lt;/b&gt; v1 drift report, w" in html


def test_a_page_that_is_not_evidently_standalone_is_refused():
    with pytest.raises(ValueError, match="as_iframe=False"):
        label_html("<html><body></body></html>", ReportLabel("m", "1", "w", 1, 1))
