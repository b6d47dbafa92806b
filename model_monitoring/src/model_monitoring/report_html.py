"""The stored HTML report says what it is: Evidently's page has no <title> (a browser shows
the Plotly logo's "plotly-logomark") and never names the model, version or window, so the
page gets a title and a heading with the model, version, window and row counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

# Evidently's standalone page (evidently.legacy.utils.dashboard.file_html_template): its
# head opens with this tag, and the report renders into the first element with this prefix.
_HEAD_ANCHOR = '<meta charset="UTF-8">'
_BODY_ANCHOR = '<div id="root_'


@dataclass(frozen=True)
class ReportLabel:
    model_name: str
    model_version: str
    window: str  # the judged window, for a person (see describe_window)
    rows: int
    reference_rows: int
    labelled_rows: int = 0
    rows_compared: int | None = None
    reference_rows_compared: int | None = None
    data_version: str | None = None
    status: str | None = None

    @property
    def title(self) -> str:
        return f"{self.model_name} v{self.model_version} drift report, {self.window}"

    def details(self) -> list[str]:
        trained = f" (trained on {self.data_version})" if self.data_version else ""
        lines = [
            f"Model {self.model_name}, version {self.model_version}{trained}",
            f"Window: {self.window}",
            f"{self.rows:,} current rows ({self.labelled_rows:,} labelled) against "
            f"{self.reference_rows:,} reference rows",
        ]
        sampled = (self.rows_compared, self.reference_rows_compared)
        if None not in sampled and sampled != (self.rows, self.reference_rows):
            lines.append(
                f"Evidently compared a uniform sample: {self.rows_compared:,} current and "
                f"{self.reference_rows_compared:,} reference rows"
            )
        if self.status:
            lines.append(f"Verdict: {self.status.replace('_', ' ')}")
        return lines


def _time(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def describe_window(since: datetime | None, until: datetime, last: int | None = None) -> str:
    """The window in words, e.g. '2026-11-29 17:00:00 UTC to 2026-11-30 17:00:00 UTC'."""
    if last:
        return f"last {last:,} predictions up to {_time(until)}"
    if since is None:
        return f"all predictions up to {_time(until)}"
    return f"{_time(since)} to {_time(until)}"


def label_html(html: str, label: ReportLabel) -> str:
    """Evidently's standalone HTML with the label's <title> and heading."""
    if _HEAD_ANCHOR not in html or _BODY_ANCHOR not in html:
        raise ValueError("not Evidently's standalone report page (as_iframe=False)")
    title = f"<title>{escape(label.title)}</title>"
    html = html.replace(_HEAD_ANCHOR, f"{_HEAD_ANCHOR}\n{title}", 1)
    items = "".join(f"<li>{escape(line)}</li>" for line in label.details())
    heading = (
        '<header id="mlops-report-heading" style="font-family: Roboto, Helvetica, Arial, '
        'sans-serif; margin: 16px 24px">'
        f'<h1 style="font-size: 1.6em; margin: 0 0 8px">{escape(label.title)}</h1>'
        f'<ul style="margin: 0; padding-left: 20px">{items}</ul></header>\n'
    )
    return html.replace(_BODY_ANCHOR, heading + _BODY_ANCHOR, 1)
