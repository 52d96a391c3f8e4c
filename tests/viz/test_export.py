import numpy as np

from landscape.viz.export import export_vtk
from tests.helpers import bowl_surface


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
