import h5py
import matplotlib.image
import numpy as np
import pytest

from landscape.cli import main
from landscape.plots import PlotOptions, comparison_figure, export_vtk, plot_surface
from landscape.storage import SurfaceHeader, create_surface_file, write_points

from .test_report import bowl_surface


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


def test_comparison_panels_share_levels_and_colours(tmp_path):
    paths = [bowl_surface(tmp_path / f"{a}.h5", a, s) for a, s in (("relu", 3.0), ("swish", 2.0), ("mish", 1.0))]
    fig = comparison_figure(paths, PlotOptions(levels=12))
    panels = fig.axes[:3]
    contour_sets = [next(c for c in ax.collections if hasattr(c, "levels")) for ax in panels]
    for cs in contour_sets[1:]:
        np.testing.assert_array_equal(cs.levels, contour_sets[0].levels)
        assert (cs.norm.vmin, cs.norm.vmax) == (contour_sets[0].norm.vmin, contour_sets[0].norm.vmax)
    assert contour_sets[0].levels[0] == pytest.approx(0.5) and contour_sets[0].levels[-1] == pytest.approx(9.5)
    assert [ax.get_title() for ax in panels] == ["relu\n(test acc 90.0%)", "swish\n(test acc 90.0%)",
                                                 "mish\n(test acc 90.0%)"]
    along_x = fig.axes[-2].get_lines()[2].get_ydata()  # mish: slice through the minimum at β = 0
    np.testing.assert_allclose(along_x, 0.5 + np.linspace(-1, 1, 9) ** 2)


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


def test_partial_surface_is_masked_with_a_warning(tmp_path):
    partial = bowl_surface(tmp_path / "p.h5", "relu", 1.0, done_fraction=0.5)
    with pytest.warns(UserWarning, match="31 of 63 points computed"):
        written = plot_surface(partial, tmp_path / "f", PlotOptions(kinds=("heatmap",)))
    assert len(written) == 1


def test_trajectory_is_drawn_over_contours_on_labelled_axes(tmp_path):
    path = bowl_surface(tmp_path / "t.h5", "relu", 1.0, trajectory=np.array([[0.9, 0.8], [0.5, 0.4], [0.0, 0.0]]))
    with h5py.File(path, "a") as f:
        f.attrs.update({"direction_source": "pca", "explained_variance": "[0.7, 0.2]"})
    from landscape.plots import load_for_plot, plot_2d
    surface, z = load_for_plot(path, "train_loss")
    fig = plot_2d(surface, z, "filled", PlotOptions(vmax=2.0))
    ax, bar = fig.axes
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [0.9, 0.5, 0.0])
    assert ax.get_xlabel() == "α (training path PC1, 70% of its variance)" and "PC2, 20%" in ax.get_ylabel()
    ticks = bar.get_yticks()
    assert len(ticks) >= 3 and ticks.min() >= z.min() and ticks.max() <= 2.0  # none on the extension triangles


def read_vts(path):
    """An independent reader for the raw appended VTK XML that pyevtk writes: header + arrays."""
    import re

    raw = path.read_bytes()
    header, data = raw.split(b'<AppendedData encoding="raw">')
    arrays = re.findall(rb'<DataArray Name="(\w+)" NumberOfComponents="(\d)" type="Float64" format="appended" '
                        rb'offset="(\d+)"', header)
    start = data.index(b"_") + 1
    out = {}
    for name, components, offset in arrays:
        at = start + int(offset)
        size = int(np.frombuffer(data[at:at + 8], dtype="<u8")[0])
        values = np.frombuffer(data[at + 8:at + 8 + size], dtype="<f8")
        out[name.decode()] = values.reshape(-1, int(components))
    extent = re.search(rb'WholeExtent="([\d ]+)"', header).group(1).split()
    return out, [int(e) for e in extent]


def test_vtk_export_round_trips(tmp_path):
    path = bowl_surface(tmp_path / "b.h5", "relu", 1.0)  # 9 × 7 grid, loss = 0.5 + α² + 2β²
    arrays, extent = read_vts(export_vtk(path, tmp_path / "b"))
    assert extent == [0, 8, 0, 6, 0, 0]
    points = arrays["points"]
    assert points.shape == (63, 3)
    np.testing.assert_allclose(points[:, 2], 0.5 + points[:, 0] ** 2 + 2 * points[:, 1] ** 2)
    np.testing.assert_allclose(points[:9, 0], np.linspace(-1, 1, 9))  # x varies fastest, as VTK expects
    np.testing.assert_allclose(arrays["train_loss"][:, 0], points[:, 2])
    assert set(arrays) == {"points", "train_loss", "train_acc"}


def test_importing_the_package_leaves_matplotlib_alone():
    """No pyplot and no backend switch at import: figures are plain Figure objects."""
    import subprocess
    import sys

    code = ("import sys, matplotlib; backend = matplotlib.rcParams._get('backend'); import landscape.cli; "
            "assert 'matplotlib.pyplot' not in sys.modules; assert matplotlib.rcParams._get('backend') == backend")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_titles_name_the_activation_with_its_parameters(tmp_path):
    from landscape.plots import surface_title
    from landscape.storage import Surface, SurfaceHeader

    header = SurfaceHeader(activation="leaky_relu", activation_params={"negative_slope": 0.3},
                           checkpoint_test_acc=0.8681)
    surface = Surface("x.h5", np.zeros(3), None, {}, np.ones(3, bool), header)
    assert surface_title(surface) == "leaky_relu (negative_slope=0.3) (test acc 86.8%)"
    compiled = SurfaceHeader(activation="mish", activation_params={"impl": "compiled"})
    assert surface_title(Surface("m.h5", np.zeros(3), None, {}, np.ones(3, bool), compiled)) == "mish"
