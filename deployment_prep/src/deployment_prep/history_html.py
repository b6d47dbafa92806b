"""The HTML page of `mlops history`: one self-contained table (inline CSS, no script, no
font or stylesheet fetched), so it opens offline and from any report store. It lives in
the model's folder of the report store, beside the monitoring reports it links to by
their file names."""

from __future__ import annotations

from html import escape

from mlops_core.contracts.deploy import HistoryEntry, HistoryResult

_CSS = """
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px;
       color: #1f2328; }
h1 { font-size: 20px; margin: 0 0 4px; }
p.meta { color: #59636e; margin: 0 0 16px; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #d1d9e0; padding: 6px 8px; text-align: left;
         vertical-align: top; }
th { background: #f6f8fa; position: sticky; top: 0; }
tr.rollback td { background: #fff8c5; }
tr.manual td { background: #ffebe9; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; }
.ok { color: #1a7f37; } .bad { color: #d1242f; } .note { color: #9a6700; }
ul { margin: 0; padding-left: 16px; }
a { color: #0969da; }
"""


def _a(href: str | None, text: str) -> str:
    if not href:
        return escape(text)
    return f'<a href="{escape(href, quote=True)}">{escape(text)}</a>'


def _local(uri: str | None) -> str | None:
    """A report beside the page: its file name (a relative link works wherever the
    folder is opened or served)."""
    return uri.rsplit("/", 1)[-1] if uri else None


def _list(items: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>" if items else ""


def _version(e: HistoryEntry) -> str:
    if not e.model_version:
        return "-"
    reg = e.registry
    cell = _a(reg.version_url if reg else None, f"v{e.model_version}")
    if reg and reg.aliases:  # what it holds now, not at the time of the commit
        cell += f"<br><small>now: {escape(', '.join(reg.aliases))}</small>"
    if reg and reg.created:
        cell += f"<br><small>registered {escape(reg.created)}</small>"
    return cell


def _data(e: HistoryEntry) -> str:
    if not e.data_version:
        return "-"
    d = e.data
    cell = f"<code>{escape(e.data_version)}</code>"
    if d and d.rows:
        cell += "<br><small>" + escape(", ".join(f"{k} {v}" for k, v in d.rows.items()))
        cell += "</small>"
    if d and d.git_tag:
        title = f"tag {d.git_tag} in {d.registry}"
        cell += f'<br><small title="{escape(title, quote=True)}">{escape(d.git_tag)}</small>'
    if d and d.exists is False:
        cell += '<br><small class="note">not in the data registry</small>'
    return cell


def _why(e: HistoryEntry) -> str:
    parts = []
    if e.reason:
        parts.append(f"<b>{escape(e.reason)}</b>")
    checks = [
        f'<span class="{"ok" if c.ok else "bad"}">{escape(c.name)}</span>'
        + (f": {escape(c.detail)}" if c.detail else "")
        for c in e.checks
    ]
    parts.append(_list(checks))
    if e.metrics:
        parts.append(escape(", ".join(f"{k}={v:g}" for k, v in e.metrics.items())))
    parts += [f'<span class="note">{escape(n)}</span>' for n in e.notes]
    return "<br>".join(p for p in parts if p)


def _links(e: HistoryEntry) -> str:
    items = []
    reg = e.registry
    if reg and reg.run_url:
        items.append(_a(reg.run_url, "training run"))
    elif e.run_id:
        items.append(f"run <code>{escape(e.run_id[:12])}</code>")
    for r in e.reports:
        label = f"{(r.created or '')[:19]} {r.status or ''}".strip()
        if r.drift_share is not None:
            label += f" ({r.drift_share:.0%} drifted)"
        items.append(_a(_local(r.html) or _local(r.json_uri), label))
    if e.reports_total > len(e.reports):
        items.append(f"{e.reports_total - len(e.reports)} older report(s)")
    return _list(items)


def _row(e: HistoryEntry) -> str:
    who = escape(e.author) + (f" &lt;{escape(e.author_email)}&gt;" if e.author_email else "")
    cells = [
        escape(e.time.replace("T", " ")),
        escape(e.action)
        + (escape(f" {e.weight:g}%") if e.weight is not None else "")
        + (escape(f" (candidate v{e.candidate_version})") if e.candidate_version else "")
        + (" <small>(before trailers)</small>" if e.legacy else ""),
        escape(", ".join(e.envs)) or "-",
        _version(e),
        escape(f"v{e.previous_version}") if e.previous_version else "-",
        _data(e),
        _why(e),
        _links(e),
        f"<code>{escape(e.commit[:12])}</code><br><small>{escape(e.title)}</small>"
        f"<br><small>{who}</small>",
    ]
    return f'<tr class="{escape(e.action)}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def render(result: HistoryResult) -> str:
    headers = (
        "time",
        "action",
        "environments",
        "version",
        "previous",
        "data version",
        "why: reason, checks, metrics",
        "training run, monitoring reports",
        "commit",
    )
    filters = []
    if result.envs:
        filters.append(f"environments {', '.join(result.envs)}")
    if result.limit:
        filters.append(f"the newest {result.limit}")
    meta = (
        f"{result.total} change(s) from {result.gitops_repo or 'no GitOps repository yet'}"
        f" ({result.ref or '-'}), joined with MLflow {result.tracking_uri}"
        + (f"; showing {', '.join(filters)}" if filters else "")
    )
    monitoring = (
        f" &middot; {_a(result.monitoring_experiment_url, 'monitoring runs in MLflow')}"
        if result.monitoring_experiment_url
        else ""
    )
    rows = "".join(_row(e) for e in result.entries) or (
        f'<tr><td colspan="{len(headers)}">no promotion or rollback of this model yet</td></tr>'
    )
    warnings = "".join(f'<p class="note">{escape(w)}</p>' for w in result.warnings)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f"<title>History of {escape(result.model_name)}</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<h1>History of {escape(result.model_name)}</h1>"
        f'<p class="meta">{escape(meta)}{monitoring}</p>{warnings}'
        "<table><thead><tr>"
        + "".join(f"<th>{escape(h)}</th>" for h in headers)
        + f"</tr></thead><tbody>{rows}</tbody></table>"
        "</body></html>\n"
    )
