import contextlib
import re
import shutil

import numpy as np
import pytest
from plotly.offline import get_plotlyjs

from landscape import LandscapeError
from landscape.storage.schema import SurfaceHeader
from landscape.storage.surface_file import create_surface_file, write_points
from landscape.viz.report import EstimateTable, write_report
from tests.helpers import EVIL, bowl_surface

PATH = [[0.8, 0.6], [0.3, 0.1], [0.0, 0.0]]


@pytest.fixture
def two_surfaces(tmp_path):
    return [bowl_surface(tmp_path / "relu.h5", "relu", 2.0, trajectory=np.array(PATH)),
            bowl_surface(tmp_path / "mish.h5", "mish", 1.0)]


def test_report_is_self_contained_and_escaped(tmp_path, two_surfaces):
    html = write_report(two_surfaces, tmp_path / "r.html").read_text()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;.pt" in html
    assert 'src="http' not in html and "<link" not in html  # nothing loaded from elsewhere
    assert get_plotlyjs() in html  # plotly.js itself is inline


def test_png_figures_are_embedded_and_other_files_refused(tmp_path, two_surfaces):
    import base64

    png = tmp_path / "uncertainty.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n<fake>")
    page = write_report(two_surfaces, tmp_path / "r.html", figures={png: "A test figure."}).read_text()
    assert base64.b64encode(png.read_bytes()).decode() in page and (
        "<figcaption>A test figure. <span class=note>(uncertainty.png)" in page)
    with pytest.raises(LandscapeError, match="not a PNG figure"):
        write_report(two_surfaces, tmp_path / "r2.html", figures={tmp_path / "missing.png": "Missing."})


def test_report_refuses_surfaces_with_no_points(tmp_path):
    empty = tmp_path / "empty.h5"
    create_surface_file(empty, SurfaceHeader(), np.linspace(-1, 1, 3), None, [])
    with pytest.raises(LandscapeError, match="no finished points"):
        write_report([empty], tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


@pytest.mark.browser
def significant_digits(number: str) -> int:
    mantissa = number.split("e")[0].replace(".", "").lstrip("0")
    return len(mantissa.rstrip("0")) if "." not in number.split("e")[0] else len(mantissa)


@contextlib.contextmanager
def opened_in_chromium(report, width: int, height: int, seen: dict[str, list]):
    """The report open in headless Chromium (skipped where Chromium is not installed), on its
    training-loss view; console errors, page errors, outside requests and dialogs go to `seen`."""
    chromium = shutil.which("chromium")
    if not chromium:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu",
                                                                    "--disable-background-networking"])
        page = browser.new_page(viewport={"width": width, "height": height})
        page.on("console", lambda m: m.type == "error" and seen["errors"].append(m.text))
        page.on("pageerror", lambda e: seen["errors"].append(str(e)))
        page.on("request", lambda r: not r.url.startswith("file://") and seen["requests"].append(r.url))
        page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
        page.goto(report.as_uri())
        page.wait_for_function("document.body.dataset.metric === 'train_loss'")
        yield page
        browser.close()


def test_report_in_headless_chromium(tmp_path, two_surfaces):
    bowl_surface(tmp_path / "partial.h5", "swish", 1.5, done_fraction=0.6)
    report = write_report([*two_surfaces, tmp_path / "partial.h5"], tmp_path / "report.html", partial=True)
    seen = {"errors": [], "requests": [], "dialogs": []}
    with opened_in_chromium(report, 1400, 1000, seen) as page:
        # the opening view: training loss on one colour range clipped at the lowest minimum + 5
        assert page.evaluate("document.body.dataset.scale") == "clipped"
        assert page.evaluate("document.getElementById('comparison').layout.coloraxis.cmax") == pytest.approx(5.5)
        assert page.evaluate("document.getElementById('comparison').layout.coloraxis.cmin") == pytest.approx(0.5)
        # colours spread over round heights above the minimum: most of them in the basin, not on the walls
        coloraxis = page.evaluate("document.getElementById('comparison').layout.coloraxis")
        stops = [stop[0] for stop in coloraxis["colorscale"]]
        assert stops[0] == 0 and stops[-1] == 1 and stops[1] == pytest.approx(0.01 / 5)
        assert sum(stop <= 0.2 for stop in stops) > len(stops) / 2  # the lowest fifth (1 nat) gets most colours
        assert coloraxis["colorbar"]["ticktext"] == ["min+0.01", "min+0.1", "min+1"]
        text = page.inner_text("body")
        assert text.index("Summary") < text.index("Comparison on one colour scale")
        assert "ReLU" in text and "Mish" in text
        assert "Each plane is one random draw of filter-normalised directions." in text
        # the 3-D view shows the basin: z runs to the clip, values above it are drawn at it
        zaxis = page.evaluate("document.getElementById('s0-3d').layout.scene.zaxis.range")
        assert zaxis[1] == pytest.approx(5.5) and zaxis[0] < 0.5
        assert page.evaluate("Math.max(...document.getElementById('s0-3d').data[0].z.flat())") == pytest.approx(5.5)
        layout = page.evaluate("document.getElementById('comparison').layout")
        assert layout["yaxis"]["scaleanchor"] == "x" and layout["xaxis2"]["title"]["text"].startswith("α (")
        assert "direction 1" in layout["xaxis"]["title"]["text"]
        page.fill("#clip", "2")
        page.dispatch_event("#clip", "change")
        assert page.evaluate("JSON.parse(document.body.dataset.zrange)[1]") == pytest.approx(2.5)
        page.fill("#clip", "5")
        page.dispatch_event("#clip", "change")
        assert "Partial results." in text and "partial.h5: partial: " in text  # the unfinished one says so
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scroll
        assert page.evaluate("[...document.querySelectorAll('table')].every(t => t.scrollWidth <= t.clientWidth)")
        assert page.evaluate("[...document.querySelectorAll('details')].every(d => !d.open)")  # provenance folded
        assert max(significant_digits(n) for n in re.findall(r"\d[\d.]*(?:e[-+]?\d+)?", text)) <= 5
        containers = page.eval_on_selector_all(".plot", "els => els.map(e => [e.id, !!e._fullLayout, "
                                               "e.querySelectorAll('svg, canvas').length])")
        assert len(containers) == 3 + 2 * 3
        assert all(ok and n > 0 for _, ok, n in containers), containers
        traces = page.evaluate("[0, 1].map(i => document.getElementById(`s${i}-contour`).data.map(t => t.type))")
        assert traces == [["contour", "scatter"], ["contour"]]  # the training path, where the file has one
        path_x = page.evaluate("document.getElementById('s0-contour').data[1].x")
        assert path_x == [p[0] for p in PATH]
        loss_z = page.evaluate("document.getElementById('comparison').data[1].z[3][4]")
        page.select_option("#metric", "train_acc")
        page.wait_for_function("document.body.dataset.metric === 'train_acc'")
        acc_z = page.evaluate("document.getElementById('comparison').data[1].z[3][4]")
        assert loss_z == pytest.approx(0.5) and acc_z == pytest.approx(np.exp(-0.5))
        page.select_option("#scale", "log")
        page.wait_for_function("document.body.dataset.scale === 'log'")
        log_z = page.evaluate("document.getElementById('comparison').data[1].z[3][4]")
        assert log_z == pytest.approx(np.log10(np.exp(-0.5)))
        assert EVIL in page.text_content("body")  # shown as text (in the folded provenance), never run
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert seen == {"errors": [], "requests": [], "dialogs": []}, seen
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_summary_table_with_the_studys_intervals(tmp_path, two_surfaces):
    table = EstimateTable({"width_1": "basin width at Δ = 1 (wider)", "hessian_max": "Hessian λmax (flatter)"},
                          [("Leaky ReLU (slope 0.3)", {"width_1": 0.8836, "width_1_low": 0.857, "width_1_high": 0.91,
                                                       "hessian_max": 31.234, "hessian_max_low": 29.0,
                                                       "hessian_max_high": 33.5})], "3 seeds × 40 directions")
    page = write_report(two_surfaces, tmp_path / "r.html", estimates=table).read_text()
    assert "<td>Leaky ReLU (slope 0.3)</td><td>0.884 [0.857, 0.910]</td><td>31.2 [29.0, 33.5]</td>" in page
    assert "Intervals over: 3 seeds × 40 directions" in page and "<th>Hessian λmax (flatter)</th>" in page
    summary = page[page.index("<h2>Summary</h2>"):page.index("<h2>Comparison on one colour scale</h2>")]
    assert "<td>ReLU</td><td>90.0</td><td>0.500</td>" in summary  # the bowl's minimum, from its own grid


def line_or_plane(path, source: str):
    """A small surface of each kind a report shows: a random plane, a training-path plane, a 1-D line."""
    x = np.linspace(-1, 1, 9)
    y = None if source == "line" else np.linspace(-1, 1, 7)
    header = SurfaceHeader(activation="mish", checkpoint="m.pt", splits=("train",),
                           direction_source="pca" if source == "path" else "random",
                           explained_variance=(0.6, 0.2) if source == "path" else ())
    trajectory = np.array(PATH) if source == "path" else None
    create_surface_file(path, header, x, y, [], trajectory)
    grid = np.meshgrid(y, x, indexing="ij") if y is not None else (np.zeros(1), x)
    loss = (0.5 + grid[1] ** 2 + 2 * grid[0] ** 2).ravel()
    write_points(path, list(range(loss.size)), {"train_loss": loss.tolist(), "train_acc": np.exp(-loss).tolist()})
    return path


@pytest.mark.parametrize("source", ["plane", "path", "line"])
def test_every_report_kind_renders_in_chromium(tmp_path, source):
    """Each kind of report opens without console errors, without sideways scrolling, on the training
    loss, with axes named after where its directions came from."""
    report = write_report([line_or_plane(tmp_path / "s.h5", source)], tmp_path / "r.html")
    seen = {"errors": [], "requests": [], "dialogs": []}
    with opened_in_chromium(report, 1200, 900, seen) as page:
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        layout = page.evaluate("document.getElementById('comparison').layout")
        expected = {"plane": "α (filter-normalised direction 1)", "path": "α (training path PC1, 60 % of its variance)",
                    "line": "α (filter-normalised direction 1)"}[source]
        assert layout["xaxis"]["title"]["text"] == expected
        top = 1.5 if source == "line" else 3.5  # the loss's full range: below the clip at minimum + 5
        assert page.evaluate("JSON.parse(document.body.dataset.zrange)") == pytest.approx([0.5, top])
        text = page.inner_text("body")
        assert "The surface" in text
        assert ("training path's first two principal components" in text) == (source == "path")
    assert not seen["errors"], seen


def test_a_hessian_map_shows_beside_the_loss_in_the_report(tmp_path):
    from tests.viz.test_plots import mapped_bowl

    report = write_report([mapped_bowl(tmp_path / "s.h5", pending=1)], tmp_path / "r.html")
    seen = {"errors": [], "requests": [], "dialogs": []}
    with opened_in_chromium(report, 1400, 1000, seen) as page:
        trace = page.evaluate("document.getElementById('s0-hessian').data[0]")
        assert trace["type"] == "heatmap" and trace["x"] == [-1.0, -0.5, 0.0, 0.5, 1.0]
        assert trace["z"][0] == pytest.approx([0.5, 0.25, 0.0, 0.25, 0.5])
        assert trace["z"][-1][-1] is None  # the pending point is blank, not a number
        title = page.evaluate("document.getElementById('s0-hessian').layout.title.text")
        assert "partial: 14 of 15 points" in title
    assert not seen["errors"], seen
