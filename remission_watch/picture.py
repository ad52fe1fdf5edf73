"""The timeline as one self-contained HTML page (inline SVG): episodes, clocks, windows, sends."""

from __future__ import annotations

from datetime import date
from html import escape
from pathlib import Path
from typing import Any

WIDTH, LEFT, ROW = 1100, 210, 26
COLOURS = {
    "complete": "#2e7d32",
    "partial": "#9ccc65",
    "window": "#90caf9",
    "due": "#1565c0",
    "overdue": "#c62828",
    "done": "#424242",
    "sent": "#6a1b9a",
    "cancelled": "#9e9e9e",
    "alert": "#ef6c00",
}


def write_html(report: dict[str, Any], path: Path) -> None:
    """Write `report` (from `timeline()`, optionally with `sent` per patient) to `path`."""
    parts = [
        "<!doctype html><html lang='en'><meta charset='utf-8'>",
        "<title>Remission Watch timeline</title>",
        "<style>body{font:14px system-ui,sans-serif;margin:24px;color:#222}"
        "h2{margin:28px 0 4px}p.meta{margin:0 0 8px;color:#555}"
        "svg text{font-size:11px}.legend span{display:inline-block;margin-right:14px}"
        ".legend i{display:inline-block;width:12px;height:12px;margin-right:4px;"
        "vertical-align:-1px}</style>",
        f"<h1>Timeline at {escape(report['at'][:10])}</h1>",
        _legend(),
    ]
    for patient in report["patients"]:
        parts.append(_patient(patient, report["at"][:10]))
    path.write_text("\n".join(parts) + "\n</html>\n", encoding="utf-8")


def _legend() -> str:
    names = {
        "complete": "complete remission",
        "partial": "partial remission",
        "window": "due window",
        "due": "due date",
        "done": "done",
        "sent": "reminder sent",
        "cancelled": "reminder cancelled",
        "alert": "alert",
    }
    items = "".join(
        f"<span><i style='background:{COLOURS[k]}'></i>{escape(v)}</span>" for k, v in names.items()
    )
    return f"<p class='legend'>{items}</p>"


def _patient(p: dict[str, Any], at: str) -> str:
    dates = [d for d in _all_dates(p) if d] + [at]
    start, end = date.fromisoformat(min(dates)), date.fromisoformat(max(dates))
    span = max((end - start).days, 1)

    def x(day: str) -> float:
        return LEFT + (WIDTH - LEFT - 20) * (date.fromisoformat(day) - start).days / span

    rows = [
        "remission",
        *sorted(
            ({r["item"] for r in p["reminders"]} | {s["item"] for s in p.get("sent", [])})
            - {"remission"}
        ),
    ]
    height = ROW * (len(rows) + 2)
    svg = [
        f"<svg width='{WIDTH}' height='{height}' role='img' "
        f"aria-label='timeline of {escape(p['patient_id'])}'>"
    ]
    for n, name in enumerate(rows):
        y = ROW * (n + 1)
        svg.append(
            f"<text x='4' y='{y + 4}'>{escape(name)}</text>"
            f"<line x1='{LEFT}' x2='{WIDTH - 20}' y1='{y}' y2='{y}' stroke='#eee'/>"
        )
    for e in p["episodes"]:
        x1, x2 = x(e["started"]), x(e["ended"] or at)
        svg.append(
            f"<rect x='{x1:.1f}' y='{ROW - 7}' width='{max(x2 - x1, 2):.1f}' height='14' "
            f"fill='{COLOURS[e['kind']]}'><title>episode {e['number']}: {escape(e['kind'])}"
            f" {e['started']} to {e['ended'] or 'now'} ({escape(e['basis'])})</title></rect>"
        )
    for r in p["reminders"]:
        y = ROW * (rows.index(r["item"]) + 1)
        x1, x2, xd = x(r["earliest"]), x(r["overdue"]), x(r["due"])
        svg.append(
            f"<rect x='{x1:.1f}' y='{y - 5}' width='{max(x2 - x1, 2):.1f}' height='10' "
            f"fill='{COLOURS['window']}'><title>{escape(r['item'])}: earliest "
            f"{r['earliest']}, due {r['due']}, overdue {r['overdue']}. "
            f"{escape(r['reason'])}. {escape(r['source'])}</title></rect>"
            f"<line x1='{xd:.1f}' x2='{xd:.1f}' y1='{y - 8}' y2='{y + 8}' "
            f"stroke='{COLOURS['due']}' stroke-width='2'/>"
        )
    for r in p["reminders"]:
        if r.get("last_done"):
            y = ROW * (rows.index(r["item"]) + 1)
            svg.append(
                f"<circle cx='{x(r['last_done']):.1f}' cy='{y}' r='4' fill='{COLOURS['done']}'>"
                f"<title>last done {r['last_done']}</title></circle>"
            )
    for s in p.get("sent", []):
        y = ROW * (rows.index(s["item"]) + 1)
        colour = COLOURS["cancelled" if s["what"] == "cancelled" else "sent"]
        cx = x(s["on"])
        svg.append(
            f"<path d='M{cx:.1f},{y - 1} l-4,-8 h8 z' fill='{colour}'>"
            f"<title>{escape(s['what'])} {s['on']}: {escape(s['kind'])}</title></path>"
        )
    for a in p["alerts"]:
        svg.append(
            f"<text x='{x(a['respond_by'][:10]) - 4:.1f}' y='{height - 6}' "
            f"fill='{COLOURS['alert']}'>!<title>{escape(a['reason'])}</title></text>"
        )
    svg.append(
        f"<text x='{LEFT}' y='{height - 6}'>{start}</text>"
        f"<text x='{WIDTH - 90}' y='{height - 6}'>{end}</text></svg>"
    )
    meta = (
        f"{escape(p['site'] or '?')} · {escape(p['status'])} · "
        f"{escape(p['protocol'] or 'no protocol')} · {escape(p['detail'])}"
    )
    return f"<h2>{escape(p['patient_id'])}</h2><p class='meta'>{meta}</p>" + "".join(svg)


def _all_dates(p: dict[str, Any]) -> list[str | None]:
    dates: list[str | None] = []
    for e in p["episodes"]:
        dates += [e["started"], e["ended"]]
    for r in p["reminders"]:
        dates += [r["earliest"], r["overdue"]]
    dates += [r.get("last_done") for r in p["reminders"]]
    dates += [s["on"] for s in p.get("sent", [])]
    return dates
