"""The timeline as one self-contained HTML page (inline SVG) for a care team to look at.

At the top: how many patients, overdue items and open alerts, with a link to each chart. Per
patient: the overdue items listed in words, then a chart with a line for "today" (`--at`),
month and year ticks, remission episodes and recurrences, treatments, each item's window, due
date, last done and (offline) what would have been sent, and care-team alerts.
"""

from __future__ import annotations

from datetime import date
from html import escape
from pathlib import Path
from typing import Any

WIDTH, LEFT, RIGHT, ROW = 1180, 300, 16, 24
COLOURS = {
    "complete": "#2e7d32",
    "partial": "#9ccc65",
    "treatment": "#8d6e63",
    "recurrence": "#000000",
    "window": "#90caf9",
    "due": "#1565c0",
    "overdue": "#d50000",
    "done": "#424242",
    "sent": "#6a1b9a",
    "cancelled": "#9e9e9e",
    "alert": "#ff8f00",
    "today": "#00897b",
}
LEGEND = {
    "complete": "complete remission",
    "partial": "partial remission",
    "treatment": "treatment",
    "recurrence": "recurrence or progression",
    "window": "window to do an item",
    "due": "due date",
    "overdue": "overdue (past the window, not done)",
    "done": "last done",
    "sent": "reminder that would be sent (offline replay: nothing was sent)",
    "cancelled": "reminder that would be cancelled",
    "alert": "care-team alert",
    "today": "today (--at)",
}
LINES = ("due", "today")  # drawn as lines: stroked, not filled
STYLE = (
    "body{font:14px system-ui,sans-serif;margin:24px;color:#222}"
    "h2{margin:28px 0 2px}p.meta{margin:0 0 6px;color:#555}"
    "svg text{font-size:11px}svg text.year{font-weight:600}svg text.m{fill:#888}"
    + "".join(f"svg .{k}{{fill:{v}}}" for k, v in COLOURS.items() if k not in LINES)
    + f"svg .due{{stroke:{COLOURS['due']};stroke-width:2}}"
    f"svg .today{{stroke:{COLOURS['today']};stroke-width:2;stroke-dasharray:6,3}}"
    f"svg text.now{{fill:{COLOURS['today']}}}"
    "svg .g{stroke:#eee}svg .mt{stroke:#999}svg .yt{stroke:#bbb}"
    ".legend span{display:inline-block;margin:0 14px 4px 0}"
    ".legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}"
    f"ul.overdue{{margin:4px 0 6px;color:{COLOURS['overdue']}}}"
    f"ul.alerts{{margin:4px 0 6px;color:#8a4b00}}"
    ".summary a{margin-right:10px}.summary p{margin:4px 0}"
)


class _Sources:
    """The schedules' sources, numbered once for the page: a chart's hover text cites "[n]"
    rather than repeating a long citation on every item of every patient."""

    def __init__(self) -> None:
        self.numbers: dict[str, int] = {}

    def cite(self, source: str) -> str:
        if not source:
            return ""
        number = self.numbers.setdefault(source, len(self.numbers) + 1)
        return f" Source [{number}]."

    def html(self) -> str:
        if not self.numbers:
            return ""
        items = "".join(f"<li>{escape(source)}</li>" for source in self.numbers)
        return f"<section class='sources'><h2>Sources</h2><ol>{items}</ol></section>"


def write_html(report: dict[str, Any], path: Path) -> None:
    """Write `report` (from `timeline()`, optionally with `sent` per patient) to `path`."""
    at = report["at"][:10]
    sources = _Sources()
    parts = [
        "<!doctype html><html lang='en'><meta charset='utf-8'>",
        f"<title>Remission Watch timeline at {escape(at)}</title>",
        f"<style>{STYLE}</style>",
        f"<h1>Timeline at {escape(at)}</h1>",
        _summary(report, at),
        _legend(any("sent" in p for p in report["patients"]), report.get("sends_since")),
    ]
    parts += [_patient(patient, at, sources) for patient in report["patients"]]
    parts.append(sources.html())
    path.write_text("\n".join(parts) + "\n</html>\n", encoding="utf-8")


def _overdue(p: dict[str, Any], at: str) -> list[dict[str, Any]]:
    return [r for r in p["reminders"] if r["overdue"] <= at]


def _anchor(p: dict[str, Any]) -> str:
    return "p-" + escape(p["patient_id"], quote=True)


def _summary(report: dict[str, Any], at: str) -> str:
    patients = report["patients"]
    overdue = sum(len(_overdue(p, at)) for p in patients)
    alerts = sum(len(p["alerts"]) for p in patients)
    attention = [p for p in patients if _overdue(p, at) or p["alerts"]]

    def link(p: dict[str, Any], note: str = "") -> str:
        return f"<a href='#{_anchor(p)}'>{escape(p['patient_id'])}</a>{note}"

    needing = " ".join(
        link(p, f" ({len(_overdue(p, at))} overdue, {len(p['alerts'])} alerts)") for p in attention
    )
    lines = [
        f"<p><b>{len(patients)}</b> patients · <b>{overdue}</b> overdue items · "
        f"<b>{alerts}</b> open care-team alerts</p>",
        f"<p>Needing attention: {needing or 'none'}</p>" if patients else "",
        "<details><summary>All patients</summary><p>"
        + " ".join(link(p) for p in patients)
        + "</p></details>",
    ]
    if report.get("bad_lines"):
        lines.append(f"<p>{len(report['bad_lines'])} lines of the file were skipped.</p>")
    return "<section class='summary'>" + "".join(lines) + "</section>"


def _legend(offline_sends: bool, since: str | None) -> str:
    keys = [k for k in LEGEND if offline_sends or k not in ("sent", "cancelled")]
    words = dict(LEGEND)
    if since:
        words["sent"] = (
            f"reminder that would be sent (offline replay from {since[:10]}: nothing was sent)"
        )
    items = "".join(
        f"<span><i style='background:{COLOURS[k]}'></i>{escape(words[k])}</span>" for k in keys
    )
    return f"<p class='legend'>{items}</p>"


class _Scale:
    """Day -> x on the chart, and the month and year ticks of the span."""

    def __init__(self, first: date, last: date) -> None:
        self.first, self.last = first.toordinal(), last.toordinal()
        self.span = max(self.last - self.first, 1)

    def x(self, day: str) -> int:
        offset = date.fromisoformat(day[:10]).toordinal() - self.first
        return LEFT + (WIDTH - LEFT - RIGHT) * offset // self.span

    def ticks(self, top: int, bottom: int) -> list[str]:
        """A line at each new year (labelled), a short tick at each month (named when few)."""
        out, months, last_x = [], [], 0
        day = date.fromordinal(self.first).replace(day=1)
        named = (self.last - self.first) / 30.4 <= 30
        while day.toordinal() <= self.last:
            if day.toordinal() >= self.first:
                x = self.x(day.isoformat())
                if day.month == 1:
                    out.append(
                        f"<path class='yt' d='M{x},{top}V{bottom + 4}'/>"
                        f"<text class='year' x='{x + 2}' y='{bottom + 16}'>{day.year}</text>"
                    )
                else:  # each tick a move from the last one: half the characters
                    months.append(f"M{x},{bottom - 3}v6" if not months else f"m{x - last_x},-6v6")
                    last_x = x
                    if named:
                        out.append(f"<text class='m' x='{x + 1}' y='{bottom + 14}'>{day:%b}</text>")
            day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        return [f"<path class='mt' d='{''.join(months)}'/>", *out]


def _patient(p: dict[str, Any], at: str, sources: _Sources) -> str:
    dates = [d[:10] for d in _all_dates(p) if d] + [at]
    scale = _Scale(date.fromisoformat(min(dates)), date.fromisoformat(max(dates)))
    x = scale.x
    labels = p.get("labels") or {r["item"]: r.get("label") or r["item"] for r in p["reminders"]}
    items = sorted(({r["item"] for r in p["reminders"]} | _sent_items(p)) - {"remission"})
    rows = ["Remission", "Treatment", *(labels.get(i, _plain(i)) for i in items), "Alerts"]
    row_of = {item: n + 2 for n, item in enumerate(items)}
    y_of = lambda n: ROW * (n + 1)  # noqa: E731 - a row's centre line
    bottom = y_of(len(rows) - 1) + ROW // 2
    height = bottom + 24
    svg = [
        f"<svg width='{WIDTH}' height='{height}' role='img' "
        f"aria-label='timeline of {escape(p['patient_id'])}'>"
    ]
    guides = "".join(f"M{LEFT},{y_of(n)}h{WIDTH - RIGHT - LEFT}" for n in range(len(rows)))
    svg.append(f"<path class='g' d='{guides}'/>")
    for n, name in enumerate(rows):
        shown = name if len(name) <= 46 else name[:44] + "…"
        svg.append(
            f"<text x='4' y='{y_of(n) + 4}'>{escape(shown)}"
            + (f"<title>{escape(name)}</title>" if shown != name else "")
            + "</text>"
        )
    svg += scale.ticks(ROW // 2, bottom)
    svg += _episodes(p, x, y_of(0), at)
    svg += _treatments(p, x, y_of(1), at)
    for r in p["reminders"]:
        svg += _reminder(r, x, y_of(row_of[r["item"]]), at, sources)
    for s in p.get("sent", []):
        if s["what"] == "alert" or s["item"] not in row_of:
            continue  # a cancellation of a reminder sent before the replay began has no row
        y = y_of(row_of[s["item"]])
        kind = "cancelled" if s["what"] == "cancelled" else "sent"
        what = "would be cancelled" if kind == "cancelled" else "would be sent"
        svg.append(
            f"<path class='{kind}' d='M{x(s['on'])},{y - 1}l-4,-8h8z'>"
            f"<title>{what} {s['on']}: {escape(s['kind'])}</title></path>"
        )
    svg += _alerts(p, x, y_of(len(rows) - 1))
    today = x(at)
    text_x = today + 3 if today < WIDTH - 110 else today - 100
    svg.append(
        f"<line class='today' x1='{today}' x2='{today}' y1='4' y2='{bottom}'>"
        f"<title>today ({at})</title></line>"
        f"<text class='now' x='{text_x}' y='10'>today {at}</text></svg>"
    )
    meta = (
        f"{escape(p['site'] or '?')} · {escape(p['status'])} · "
        f"{escape(p['protocol'] or 'no protocol')} · {escape(p['detail'])}"
    )
    return (
        f"<section id='{_anchor(p)}'><h2>{escape(p['patient_id'])}</h2>"
        f"<p class='meta'>{meta}</p>{_lists(p, at)}{''.join(svg)}</section>"
    )


def _lists(p: dict[str, Any], at: str) -> str:
    out = ""
    overdue = _overdue(p, at)
    if overdue:
        out += "<ul class='overdue'>" + "".join(
            f"<li>Overdue: {escape(r.get('label') or r['item'])}: due {r['due']}, "
            f"overdue since {r['overdue']}</li>"
            for r in overdue
        )
        out += "</ul>"
    if p["alerts"]:
        out += "<ul class='alerts'>" + "".join(
            f"<li>Alert ({escape(a['severity'])}): {escape(_worded(p, a))}; respond by "
            f"{a['respond_by'][:10]}</li>"
            for a in p["alerts"]
        )
        out += "</ul>"
    return out


def _worded(p: dict[str, Any], alert: dict[str, Any]) -> str:
    """The alert's reason with its item's human label in place of the item's id."""
    item, reason = alert.get("item"), str(alert["reason"])
    labels = p.get("labels") or {r["item"]: r.get("label") for r in p["reminders"]}
    label = labels.get(item) if item else None
    return reason.replace(item, label, 1) if item and label else reason


def _episodes(p: dict[str, Any], x: Any, y: int, at: str) -> list[str]:
    out = []
    for e in p["episodes"]:
        x1, x2 = x(e["started"]), x(e["ended"] or at)
        kind = e["kind"] if e["kind"] in ("complete", "partial") else "partial"
        out.append(
            f"<rect class='{kind}' x='{x1}' y='{y - 7}' width='{max(x2 - x1, 2)}' height='14'>"
            f"<title>episode {e['number']}: {escape(e['kind'])} remission "
            f"{e['started']} to {e['ended'] or 'now'} ({escape(e['basis'])})</title></rect>"
        )
        if e["ended"] and e["ended_by"] in ("progression", "recurrence", "relapse"):
            xe = x(e["ended"])
            out.append(
                f"<path class='recurrence' d='M{xe},{y - 9}l6,9l-6,9l-6,-9z'>"
                f"<title>{escape(e['ended_by'])} {e['ended']}: episode {e['number']} ended"
                "</title></path>"
            )
    return out


def _treatments(p: dict[str, Any], x: Any, y: int, at: str) -> list[str]:
    out = []
    for t in p.get("treatments", []):
        x1, x2 = x(t["started"]), x(t["ended"] or at)
        out.append(
            f"<rect class='treatment' x='{x1}' y='{y - 6}' width='{max(x2 - x1, 3)}' "
            f"height='12'><title>{escape(t['what'])} {t['started']} to "
            f"{t['ended'] or 'ongoing'}</title></rect>"
        )
    return out


def _reminder(r: dict[str, Any], x: Any, y: int, at: str, sources: _Sources) -> list[str]:
    x1, xd, xo = x(r["earliest"]), x(r["due"]), x(r["overdue"])
    name = r.get("label") or r["item"]
    label = escape(name)
    reason = str(r["reason"]).removeprefix(f"{name}: ")  # it often starts with the label
    out = [
        f"<rect class='window' x='{x1}' y='{y - 5}' width='{max(xo - x1, 2)}' height='10'>"
        f"<title>{label}: earliest {r['earliest']}, due {r['due']}, overdue {r['overdue']}. "
        f"{escape(reason)}.{sources.cite(r['source'])}</title></rect>"
        f"<path class='due' d='M{xd},{y - 8}v16'/>"
    ]
    if r["overdue"] <= at:
        xt = x(at)
        out.append(
            f"<rect class='overdue' x='{xo}' y='{y - 5}' width='{max(xt - xo, 6)}' "
            f"height='10'><title>{label}: overdue since {r['overdue']}</title></rect>"
        )
    if r.get("last_done"):
        out.append(
            f"<circle class='done' cx='{x(r['last_done'])}' cy='{y}' r='4'>"
            f"<title>{label}: last done {r['last_done']}</title></circle>"
        )
    return out


def _alerts(p: dict[str, Any], x: Any, y: int) -> list[str]:
    """One mark per day, its hover text listing that day's alerts."""
    seen = {(a["raised"][:10], a["reason"]) for a in p["alerts"] if a.get("raised")}
    marks = [(a.get("raised") or a["respond_by"], a["kind"], a["reason"]) for a in p["alerts"]]
    marks += [
        (s["on"], s["kind"], s.get("reason", s["item"]))
        for s in p.get("sent", [])
        if s["what"] == "alert" and (s["on"], s.get("reason")) not in seen
    ]
    by_day: dict[str, list[str]] = {}
    for on, kind, reason in marks:
        by_day.setdefault(on[:10], []).append(f"({escape(kind)}): {escape(reason)}")
    return [
        f"<rect class='alert' x='{x(day) - 5}' y='{y - 7}' width='10' height='14' rx='2'>"
        f"<title>care-team alert{'s' if len(lines) > 1 else ''} {day} "
        + "\n".join(lines)
        + "</title></rect>"
        for day, lines in by_day.items()
    ]


def _sent_items(p: dict[str, Any]) -> set[str]:
    return {s["item"] for s in p.get("sent", []) if s["what"] != "alert" and s["item"] != "?"}


def _plain(item: str) -> str:
    return item.replace("_", " ").capitalize()


def _all_dates(p: dict[str, Any]) -> list[str | None]:
    dates: list[str | None] = []
    for e in p["episodes"]:
        dates += [e["started"], e["ended"]]
    for t in p.get("treatments", []):
        dates += [t["started"], t["ended"]]
    for r in p["reminders"]:
        dates += [r["earliest"], r["overdue"], r.get("last_done")]
    dates += [s["on"] for s in p.get("sent", [])]
    dates += [a.get("raised") for a in p["alerts"]]
    return dates
