import json

import pytest

from landscape.cli import main
from landscape.metrics.options import spectrum_path


def test_spectrum_command_writes_every_run_resumes_and_draws(tmp_path, tiny_checkpoint, image_folder, capsys,
                                                             monkeypatch):
    out = tmp_path / "spectra"
    args = ["spectrum", str(tiny_checkpoint), "--data", str(image_folder), "--samples", "20", "--runs", "2",
            "--steps", "4", "--out-dir", str(out), "--quiet", "--json", str(tmp_path / "rows.json")]
    assert main(args) == 0
    record = json.loads(spectrum_path(out, tiny_checkpoint).read_text())
    assert record["complete"] and sorted(record["runs"]) == ["0", "1"] and len(record["density_runs"]) == 2
    (row,) = json.loads((tmp_path / "rows.json").read_text())
    assert row["density_integral"] == pytest.approx(1, abs=1e-3) and row["lambda_max"] == record["lambda_max"]
    assert (out / "spectrum.png").stat().st_size > 1000 and "| lambda_min |" in capsys.readouterr().out
    import landscape.metrics.spectrum as spectrum
    computed = []
    real = spectrum.lanczos_runs
    monkeypatch.setattr(spectrum, "lanczos_runs", lambda *a, **k: computed.append(a[3]) or real(*a, **k))
    assert main([*args[:7], "3", *args[8:]]) == 0  # one more run: only run 2 is computed
    assert computed == [[2]]
    again = json.loads(spectrum_path(out, tiny_checkpoint).read_text())
    assert again["runs"]["0"] == record["runs"]["0"] and len(again["runs"]) == 3
    assert main([*args, "--seed", "1"]) == 0 and computed[-1] == [0, 1]  # other settings: nothing reused
