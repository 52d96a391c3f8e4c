"""Interactive HTML report (plotly): one self-contained, offline file for one or more surfaces.

Stage: HDF5 → report. plotly.js is embedded inline, the surfaces travel as JSON inside the
page, and the page's own script draws a 3-D view and a contour view (with the training path, where the
file holds one) per surface, a
side-by-side comparison on one colour scale, 1-D slices, and metadata and metrics tables.
Every string from a file is escaped: it is shown as text, never run.
"""
from __future__ import annotations

import base64
import dataclasses
import html
import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from plotly.offline import get_plotlyjs

from landscape.errors import LandscapeError
from landscape.files import atomic_write, require_safe_outputs
from landscape.metrics.surface import finite_values, surface_metrics
from landscape.storage.schema import Surface
from landscape.storage.surface_file import read_surface
from landscape.storage.tables import estimate_decimals, format_estimate, format_number
from landscape.viz.labels import axis_label, plane_note

CLIP_ABOVE_MINIMUM = 5.0  # nats: the opening view of a loss runs from the lowest minimum to this above it
HIDDEN_FIELDS = ("versions", "fingerprint")  # recorded for reproducibility, not for reading
SUMMARY_DELTAS = (0.1, 0.5, 1.0)


@dataclass(frozen=True)
class EstimateTable:
    """Means with 95 % intervals, one row per model, shown under the surfaces' summary (a study's
    estimates over seeds and directions, for example)."""

    columns: dict[str, str]  # measure → column heading, in order
    rows: list[tuple[str, dict[str, float]]]  # (model label, {measure, measure_low, measure_high})
    over: str = ""  # what the intervals are taken over


def provenance_rows(surface: Surface) -> list[tuple[str, object]]:
    """The header and progress fields that hold a value, in their declared order."""
    fields = {**dataclasses.asdict(surface.header), **dataclasses.asdict(surface.progress)}
    return [(k, v) for k, v in fields.items() if k not in HIDDEN_FIELDS and v not in (None, (), [], {}, "")]


def surface_payload(surface: Surface) -> dict:
    """The JSON the page needs for one surface (pending and non-finite points become null)."""
    return {"name": Path(surface.path).name + (f" ({surface.partial_note})" if surface.partial_note else ""),
            "activation": surface.header.title,
            "xlabel": axis_label("x", surface), "ylabel": axis_label("y", surface) if surface.ndim == 2 else None,
            "x": surface.x.tolist(), "y": None if surface.y is None else surface.y.tolist(),
            "values": {k: finite_values(surface, k).tolist() for k in sorted(surface.values)},
            "trajectory": None if surface.trajectory is None else surface.trajectory.tolist(),
            "curvature": curvature_payload(surface)}


def curvature_payload(surface: Surface) -> dict | None:
    """|λmin/λmax| of the surface's Hessian map on its sub-grid (pending points null), if it has one."""
    curvature = surface.curvature
    if curvature is None or not curvature.done.any():
        return None
    return {"x": curvature.x.tolist(), "y": None if curvature.y is None else curvature.y.tolist(),
            "ratio": np.where(curvature.done, curvature.ratio, np.nan).tolist(),
            "note": f" ({curvature.partial_note})" if curvature.partial_note else "", "every": curvature.every}


def safe_json(obj) -> str:
    """JSON that cannot close the surrounding <script> element."""
    text = json.dumps(obj, allow_nan=True).replace("NaN", "null")
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def table(rows: list[tuple[str, object]]) -> str:
    cells = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{format_value(v)}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def format_value(value) -> str:
    """A provenance value as readable, escaped HTML: 4 significant digits, lists as text, hashes
    shortened (the full value on hover)."""
    if isinstance(value, bool) or value is None:
        return html.escape(str(value))
    if isinstance(value, float):
        return format_number(value, 4)
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{html.escape(str(k))}={format_value(v)}" for k, v in value.items())
    text = str(value)
    if len(text) == 64 and all(c in "0123456789abcdef" for c in text):
        return f'<span title="{text}">{text[:12]}…</span>'
    return html.escape(text)


def summary_table(surfaces: list[Surface], estimates: EstimateTable | None = None) -> str:
    """The comparison at a glance: one row per surface from its own grid (minimum, widths, curvature),
    then, when the study passes them, the means and 95 % intervals over directions and seeds."""
    head = ["model", "test acc %", "minimum train loss", *(f"basin radius Δ={d:g}" for d in SUMMARY_DELTAS),
            "curvature (largest)", "local minima"]
    rows = []
    for surface in surfaces:
        metric = "train_loss" if "train_loss" in surface.values else sorted(surface.values)[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # masked points were already announced when the page was built
            result = surface_metrics(surface, metric, SUMMARY_DELTAS)
        acc = surface.header.checkpoint_test_acc
        rows.append([surface.header.title + (f" ({surface.partial_note})" if surface.partial_note else ""),
                     "" if acc is None else f"{100 * acc:.1f}", format_number(result.minimum),
                     *(f"{w.radius:.2f}" + ("≥" if w.grid_fraction >= 1 else "") for w in result.widths),
                     format_number(max(result.hessian_eigenvalues, default=float("nan"))), str(result.local_minima)])
    out = (f"<table><tr>{''.join(f'<th>{html.escape(h)}</th>' for h in head)}</tr>"
           + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
           + "</table><p class=note>Basin radius Δ: the radius of the disc whose area is that of the region "
             "around the minimum where the loss stays below minimum + Δ, in direction units (≥: the region "
             "reaches the grid's edge, so the radius is a lower bound). Curvature: the largest eigenvalue of "
             f"a quadratic fit at the minimum. Each plane is {html.escape(planes_note(surfaces))}.</p>")
    if estimates is not None:
        decimals = {m: max(estimate_decimals(r[m], r.get(f"{m}_low"), r.get(f"{m}_high")) for _, r in estimates.rows)
                    for m in estimates.columns}  # one format per column
        out += ("<h3>Over many directions and seeds (mean [95 % interval])</h3><table><tr><th>model</th>"
                + "".join(f"<th>{html.escape(heading)}</th>" for heading in estimates.columns.values()) + "</tr>"
                + "".join(f"<tr><td>{html.escape(name)}</td>" + "".join(
                    f"<td>{html.escape(format_estimate(r[m], r.get(f'{m}_low'), r.get(f'{m}_high'), decimals[m]))}</td>"
                    for m in estimates.columns) + "</tr>" for name, r in estimates.rows) + "</table>"
                + "<p class=note>Basin width Δ: the length of the interval along a 1-D slice where the loss stays "
                  "below the slice's minimum + Δ (a diameter, where the radius above is half a width).</p>"
                + (f"<p class=note>Intervals over: {html.escape(estimates.over)}.</p>" if estimates.over else ""))
    return out


def surface_section(index: int, surface: Surface) -> str:
    meta = table(provenance_rows(surface))
    current = surface.current_metrics
    metrics = (table(sorted(current.items())) if current else
               "<p class=note>No current metrics stored (none yet, or measured before the values last changed): "
               "run <code>landscape metrics</code> on this file.</p>")
    views = (f'<div class="plot" id="s{index}-3d"></div><div class="plot" id="s{index}-contour"></div>'
             if surface.ndim == 2 else f'<div class="plot wide" id="s{index}-line"></div>')
    if surface.curvature is not None and surface.curvature.done.any():
        views += f'<div class="plot" id="s{index}-hessian"></div>'  # beside the loss
    partial = f' <span class="partial">({html.escape(surface.partial_note)})</span>' if surface.partial_note else ""
    return (f'<section><h2>{html.escape(Path(surface.path).name)}{partial}</h2><div class="row">{views}</div>'
            f'<details><summary>Provenance</summary>{meta}</details>'
            f'<details><summary>Stored metrics of width and smoothness</summary>{metrics}</details></section>')


def planes_note(surfaces: list[Surface]) -> str:
    notes = list(dict.fromkeys(plane_note(s) for s in surfaces))
    return notes[0] if len(notes) == 1 else "; ".join(f"{Path(s.path).name}: {plane_note(s)}" for s in surfaces)


def figure_section(figures: dict[Path, str]) -> str:
    """PNG figures (e.g. the findings' uncertainty figure) embedded as data, each with its caption."""
    if not figures:
        return ""
    items = "".join(f'<figure><img alt="{html.escape(caption)}" style="max-width:100%" '
                    f'src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}">'
                    f"<figcaption>{html.escape(caption)} <span class=note>({html.escape(p.name)})</span>"
                    f"</figcaption></figure>" for p, caption in figures.items())
    return f"<section><h2>Study figures</h2>{items}</section>"


def partial_banner(surfaces: list[Surface]) -> str:
    """A warning at the top of a page made from unfinished surfaces, naming each."""
    partial = [s for s in surfaces if s.partial_note]
    if not partial:
        return ""
    names = "; ".join(f"{Path(s.path).name}: {s.partial_note}" for s in partial)
    return (f'<p class="partial"><strong>Partial results.</strong> Not every grid point is computed '
            f'({html.escape(names)}); minima, widths and views cover only the computed points.</p>')


def render_report(surfaces: list[Surface], title: str, figures: dict[Path, str] | None = None,
                  estimates: EstimateTable | None = None) -> str:
    """The whole page as a string."""
    metrics = sorted(set.intersection(*(set(s.values) for s in surfaces)),  # opens on the training loss
                     key=lambda m: (m.endswith("_acc"), not m.startswith("train"), m))
    options = "".join(f'<option value="{html.escape(m)}">{html.escape(m.replace("_", " "))}</option>'
                      for m in metrics)
    sections = "".join(surface_section(i, s) for i, s in enumerate(surfaces))
    script = (Path(__file__).with_name("report.js")).read_text()
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }}
.row {{ display: flex; flex-wrap: wrap; gap: 1em; }}
.plot {{ width: 560px; height: 460px; }} .plot.wide {{ width: 100%; }}
table {{ border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }}
th, td {{ border: 1px solid #ccc; padding: 2px 6px; text-align: left; vertical-align: top; }}
th {{ background: #f4f4f4; font-weight: 600; }}
td {{ font-family: monospace; overflow-wrap: break-word; }} /* wraps at spaces, never inside a number */
.controls {{ margin: 0.5em 0 1em; }} .note {{ color: #666; }} .partial {{ color: #b00; }}
</style>
<script>{get_plotlyjs()}</script></head>
<body><h1>{html.escape(title)}</h1>
{partial_banner(surfaces)}
<div class="controls"><label>Quantity <select id="metric">{options}</select></label>
<label>Scale <select id="scale"><option value="clipped">clipped above the minimum</option>
<option value="linear">full range</option><option value="log">log</option></select></label>
<label>Clip losses at minimum + <input id="clip" type="number" min="0.01" step="any" value="{CLIP_ABOVE_MINIMUM:g}"
size="5"> nats</label></div>
<section><h2>Summary</h2>{summary_table(surfaces, estimates)}</section>
<section><h2>{"Comparison on one colour scale" if len(surfaces) > 1 else "The surface"}</h2>
<div class="row"><div class="plot wide" id="comparison"></div></div>
<div class="row"><div class="plot" id="slice-x"></div><div class="plot" id="slice-y"></div></div></section>
{figure_section(figures or {})}
{sections}
<script id="surface-data" type="application/json">{safe_json([surface_payload(s) for s in surfaces])}</script>
<script>{script}</script>
</body></html>"""


def write_report(paths: list[str | Path], out: str | Path, title: str = "Loss landscapes",
                 figures: Mapping[str | Path, str] | None = None, estimates: EstimateTable | None = None,
                 partial: bool = False) -> Path:
    """Write the report for these surface files (PNG `figures` embedded with their captions,
    `estimates` tabled under the summary) to `out` atomically; unfinished surfaces only with
    `partial`, and then the page says so for each."""
    figures = {Path(f): caption for f, caption in (figures or {}).items()}
    for figure in figures:
        if figure.suffix != ".png" or not figure.is_file():
            raise LandscapeError(f"{figure} is not a PNG figure to embed")
    require_safe_outputs({"the report": out}, [*paths, *figures])
    surfaces = [read_surface(p).require_complete(partial) for p in paths]
    if len({s.ndim for s in surfaces}) != 1:
        raise LandscapeError("cannot put 1-D and 2-D surfaces in one report; make one report for each")
    out = Path(out)
    with atomic_write(out) as tmp:
        tmp.write_text(render_report(surfaces, title, figures, estimates), encoding="utf-8")
    return out
