import h5py
import matplotlib.image
import numpy as np
import pytest

from landscape import LandscapeError
from landscape.cli import main
from landscape.storage.schema import SurfaceHeader
from landscape.storage.surface_file import create_surface_file, read_surface, write_points
from landscape.viz.comparison import comparison_figure
from landscape.viz.options import PlotOptions
from landscape.viz.plots import plot_2d, plot_surface
from tests.helpers import bowl_surface


def line_surface(path, done=True):
    x = np.linspace(-1, 1, 11)
    create_surface_file(path, SurfaceHeader(activation="mish", splits=("train", "test")), x, None, [])
    if done:
        write_points(path, list(range(11)), {"train_loss": (x ** 2).tolist(), "train_acc": np.exp(-x ** 2).tolist(),
                                             "test_loss": (x ** 2 + 0.1).tolist(),
                                             "test_acc": np.exp(-x ** 2).tolist()})
    return path


def test_every_format_is_written_at_the_requested_size(tmp_path):
    surface = bowl_surface(tmp_path / "bowl.h5", "mish", 1.0)
    written = plot_surface(surface, tmp_path / "figs", PlotOptions(formats=("png", "pdf", "svg"), dpi=100, width=3.3))
    assert len(written) == 4 * 3 and all(p.stat().st_size > 1000 for p in written)
    png = matplotlib.image.imread(tmp_path / "figs" / "bowl_train_loss_contour.png")
    assert png.shape[1] == 330
    assert (tmp_path / "figs" / "bowl_train_loss_surface3d.pdf").read_bytes().startswith(b"%PDF")


def test_drawing_the_same_figure_again_gives_the_same_bytes(tmp_path):
    surface = bowl_surface(tmp_path / "bowl.h5", "mish", 1.0)
    options = PlotOptions(formats=("png", "pdf", "svg"), dpi=50)
    first = {p: p.read_bytes() for p in plot_surface(surface, tmp_path / "figs", options)}
    assert all(p.read_bytes() == data for p, data in zip(plot_surface(surface, tmp_path / "figs", options),
                                                         first.values()))


def test_one_dimensional_figure_and_its_errors(tmp_path, capsys):
    line = line_surface(tmp_path / "line.h5")
    assert main(["plot", str(line), "--out-dir", str(tmp_path / "f"), "--format", "svg"]) == 0
    assert (tmp_path / "f" / "line_train_loss.svg").stat().st_size > 1000
    assert main(["plot", str(line), "--kinds", "contour", "--out-dir", str(tmp_path / "g")]) == 2
    assert "1-D surface" in capsys.readouterr().err and not (tmp_path / "g").exists()
    assert main(["plot", str(line), "--metric", "val_loss", "--out-dir", str(tmp_path / "g")]) == 2
    assert "has no 'val_loss'" in capsys.readouterr().err
    empty = line_surface(tmp_path / "empty.h5", done=False)
    assert main(["plot", str(line), str(empty), "--out-dir", str(tmp_path / "g")]) == 2
    assert "no finished points" in capsys.readouterr().err and not (tmp_path / "g").exists()
    not_surface = tmp_path / "x.h5"
    with h5py.File(not_surface, "w") as f:
        f["a"] = 1
    assert main(["plot", str(not_surface), "--out-dir", str(tmp_path / "g")]) == 2
    assert "not a landscape surface file" in capsys.readouterr().err


def test_partial_surface_is_refused_unless_asked_for_and_then_titled_so(tmp_path):
    partial = bowl_surface(tmp_path / "p.h5", "relu", 1.0, done_fraction=0.5)
    with pytest.raises(LandscapeError, match=r"unfinished \(partial: 31 of 63 points\).*--partial"):
        plot_surface(partial, tmp_path / "f", PlotOptions(kinds=("heatmap",)))
    from landscape.viz.plots import load_for_plot, plot_2d
    surface, z = load_for_plot(partial, "train_loss", partial=True)
    fig = plot_2d(surface, z, "heatmap", PlotOptions())
    assert "(partial: 31 of 63 points)" in fig.axes[0].get_title()
    assert len(plot_surface(partial, tmp_path / "f", PlotOptions(kinds=("heatmap",), partial=True))) == 1


def test_trajectory_is_drawn_over_contours_on_labelled_axes(tmp_path):
    path = bowl_surface(tmp_path / "t.h5", "relu", 1.0, trajectory=np.array([[0.9, 0.8], [0.5, 0.4], [0.0, 0.0]]))
    with h5py.File(path, "a") as f:
        f.attrs.update({"direction_source": "pca", "explained_variance": "[0.7, 0.2]"})
    from landscape.viz.plots import load_for_plot, plot_2d
    surface, z = load_for_plot(path, "train_loss")
    fig = plot_2d(surface, z, "filled", PlotOptions(vmax=2.0))
    ax, bar = fig.axes
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [0.9, 0.5, 0.0])
    assert ax.get_xlabel() == "α (training path PC1, 70 % of its variance)" and "PC2, 20 %" in ax.get_ylabel()
    ticks = bar.get_yticks()
    assert len(ticks) >= 3 and ticks.min() >= z.min() and ticks.max() <= 2.0  # none on the extension triangles


def test_importing_the_package_leaves_matplotlib_alone():
    """No pyplot and no backend switch at import: figures are plain Figure objects."""
    import subprocess
    import sys

    code = ("import sys, matplotlib; backend = matplotlib.rcParams._get('backend'); import landscape.cli; "
            "assert 'matplotlib.pyplot' not in sys.modules; assert matplotlib.rcParams._get('backend') == backend")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_titles_name_the_activation_with_its_parameters(tmp_path):
    from landscape.storage.schema import Surface, SurfaceHeader
    from landscape.viz.plots import surface_title

    header = SurfaceHeader(activation="leaky_relu", activation_params={"negative_slope": 0.3},
                           checkpoint_test_acc=0.8681)
    surface = Surface("x.h5", np.zeros(3), None, {}, np.ones(3, bool), header)
    assert surface_title(surface) == "Leaky ReLU (slope 0.3), test acc 86.8%"
    compiled = SurfaceHeader(activation="mish", activation_params={"impl": "compiled"})
    assert surface_title(Surface("m.h5", np.zeros(3), None, {}, np.ones(3, bool), compiled)) == "Mish"
    foreign = SurfaceHeader(model_factory="nets.py:build", checkpoint="runs/$x$ {a}.pt")
    title = surface_title(Surface("f.h5", np.zeros(3), None, {}, np.ones(3, bool), foreign))
    assert title == r"nets.py:build (\$x\$ {a}.pt)"  # a file name is text, never TeX
    swish = SurfaceHeader(activation="swish", activation_params={"beta": 1.5, "impl": "native"})
    assert surface_title(Surface("s.h5", np.zeros(3), None, {}, np.ones(3, bool), swish)) == "Swish (β 1.5)"


def text_boxes(fig):
    """The window boxes of every visible, non-empty text in a drawn figure, with the text."""
    import matplotlib.text

    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    tick_labels, drawn_ticks = set(), set()  # matplotlib keeps labels of ticks outside the view: not drawn
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis, *([ax.zaxis] if ax.name == "3d" else [])):
            lo, hi = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                tick_labels.update((tick.label1, tick.label2))
                if lo - 1e-9 <= tick.get_loc() <= hi + 1e-9:
                    drawn_ticks.update((tick.label1, tick.label2))
    return [(t.get_text(), t.get_window_extent(renderer)) for t in fig.findobj(matplotlib.text.Text)
            if t.get_visible() and t.get_text().strip() and t.get_window_extent(renderer).width > 0
            and (t not in tick_labels or t in drawn_ticks)]


def overlaps(boxes) -> list[tuple[str, str]]:
    found = []
    for i, (a, box_a) in enumerate(boxes):
        for b, box_b in boxes[i + 1:]:
            width = min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0)
            height = min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0)
            same = a == b and np.allclose(box_a.get_points(), box_b.get_points())  # one label drawn twice (3-D)
            if width > 1 and height > 1 and not same:  # more than a pixel of two texts in common
                found.append((a, b))
    return found


@pytest.mark.parametrize("width", [3.3, 6.9])
def test_figures_at_single_and_double_column_width(tmp_path, width):
    """Every kind at each column width: the requested size, human titles, labelled axes, an honest
    clipping arrow, and no text drawn over other text."""
    import matplotlib.backends.backend_agg

    from landscape.viz.plots import load_for_plot, plot_1d, plot_2d

    relu = bowl_surface(tmp_path / "relu.h5", "relu", 3.0, trajectory=np.array([[0.8, 0.6], [0.3, 0.1], [0, 0]]))
    leaky = tmp_path / "leaky.h5"
    x, y = np.linspace(-1, 1, 9), np.linspace(-1, 1, 7)
    create_surface_file(leaky, SurfaceHeader(activation="leaky_relu", activation_params={"negative_slope": 0.3},
                                             checkpoint_test_acc=0.87, splits=("train",)), x, y, [])
    beta, alpha = np.meshgrid(y, x, indexing="ij")
    loss = 0.2 + 40 * (alpha ** 2 + beta ** 2)  # rises far above the clip
    write_points(leaky, list(range(63)), {"train_loss": loss.ravel().tolist(), "train_acc": [0.5] * 63})
    options = PlotOptions(width=width, dpi=100, vmax=5.0)
    surface, z = load_for_plot(relu, "train_loss")
    figures = {kind: plot_2d(surface, z, kind, options) for kind in ("contour", "filled", "heatmap", "surface3d")}
    figures["line"] = plot_1d(load_for_plot(line_surface(tmp_path / "line.h5"), "train_loss")[0], options)
    figures["comparison"] = comparison_figure([relu, leaky, bowl_surface(tmp_path / "mish.h5", "mish", 1.0)], options)
    for kind, fig in figures.items():
        matplotlib.backends.backend_agg.FigureCanvasAgg(fig)
        fig.savefig(tmp_path / f"{kind}.png", dpi=100)
        image = matplotlib.image.imread(tmp_path / f"{kind}.png")
        assert image.shape[1] == round(100 * width), kind
        texts = [t for t, _ in text_boxes(fig)]
        assert all("_" not in t for t in texts), (kind, texts)  # no code names such as leaky_relu
        assert overlaps(text_boxes(fig)) == [], kind
        for ax in fig.axes:  # every axis says what it is, itself or through the axes it shares with
            if ax.get_visible() and ax.get_label() != "<colorbar>" and ax.name != "3d":
                assert any(o.get_xlabel() for o in ax.get_shared_x_axes().get_siblings(ax)), kind
                assert any(o.get_ylabel() for o in ax.get_shared_y_axes().get_siblings(ax)), kind
    comparison = figures["comparison"]
    assert "Leaky ReLU (slope 0.3)\ntest acc 87.0%" in [ax.get_title() for ax in comparison.axes]
    colour_bar = next(ax for ax in comparison.axes if ax.get_label() == "<colorbar>")
    assert "train loss" in (colour_bar.get_ylabel(), colour_bar.get_xlabel())  # vertical or, narrow, below
    assert next(c for c in comparison.axes[0].collections if hasattr(c, "levels")).extend == "max"  # clipped at 5
    assert "clipped at 5" in figures["surface3d"].axes[0].get_title()
    assert "slices through each model's minimum, each along its own axis" in [t for t, _ in text_boxes(comparison)]
    assert "start" in [t for t, _ in text_boxes(figures["filled"])]  # the path's first snapshot is marked


def test_loss_contours_sit_at_round_heights_above_the_minimum_and_label_decades(tmp_path):
    from landscape.viz.plots import contour_label_levels, contour_levels, heights_above_minimum

    assert heights_above_minimum(100, 19).tolist() == [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100]
    assert len(heights_above_minimum(3.0, 19)) == 16 and heights_above_minimum(3.0, 19)[-1] == 3
    assert heights_above_minimum(4.5, 19)[-2:].tolist() == [3, 4.5]  # the top of the range closes the series
    options = PlotOptions(levels=20)
    path = bowl_surface(tmp_path / "b.h5", "relu", 30.0)  # loss 0.5 … 90.5
    levels = contour_levels([np.ma.masked_invalid(read_surface(path).values["train_loss"])], options)
    assert len(levels) <= 20 and levels[0] == pytest.approx(0.5)
    labelled, text = contour_label_levels(levels, options)
    assert [text[float(v)] for v in labelled] == ["min+0.01", "min+0.1", "min+1", "min+10"]
    z = np.ma.masked_invalid(read_surface(path).values["train_loss"])
    fig = plot_2d(read_surface(path), z, "contour", options)
    shown = sorted(t.get_text() for t in fig.axes[0].texts)
    assert shown and set(shown) <= {"min+0.01", "min+0.1", "min+1", "min+10"}


def mapped_bowl(path, pending: int = 0):
    """A bowl surface with a Hessian map on every 2nd point: λmax = 2, λmin = −α (so |λmin/λmax| = |α|/2)."""
    from landscape.storage.surface_file import create_curvature_map, write_curvature_point

    bowl_surface(path, "mish", 1.0)
    create_curvature_map(path, 2, {"lanczos_steps": 5})
    curvature = read_surface(path).curvature
    indices = list(np.ndindex(curvature.done.shape))
    for index in indices[:len(indices) - pending]:
        write_curvature_point(path, index, {"min_eig": -curvature.x[index[1]], "max_eig": 2.0,
                                            "min_residual": 0.0, "max_residual": 0.0})
    return path


def test_a_hessian_map_is_drawn_beside_the_loss(tmp_path):
    path = mapped_bowl(tmp_path / "s.h5", pending=2)
    surface = read_surface(path)
    assert surface.curvature.x.tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0]
    np.testing.assert_allclose(surface.curvature.y, [-2 / 3, 0.0, 2 / 3])  # through the origin
    assert surface.curvature.partial_note == "partial: 13 of 15 points"
    np.testing.assert_allclose(surface.curvature.ratio[0], np.abs(surface.curvature.x) / 2)
    files = plot_surface(path, tmp_path, PlotOptions(kinds=("contour",)))
    assert [f.name for f in files] == ["s_train_loss_contour.png", "s_train_loss_hessian_map.png"]
    height, width = matplotlib.image.imread(files[1]).shape[:2]
    assert height > width  # the loss above the ratio map, each as wide as the figure
