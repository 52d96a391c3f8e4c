import subprocess
import sys

from landscape import load_checkpoint
from landscape.cli import build_parser, main


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "landscape", *args], capture_output=True, text=True, cwd=cwd)


def test_every_train_flag_has_help():
    sub = build_parser()._subparsers._group_actions[0].choices
    for name, parser in sub.items():
        for action in parser._actions:
            assert action.help, f"landscape {name} {action.option_strings} has no help"


def test_train_end_to_end_from_image_folder(tmp_path, image_folder):
    out = tmp_path / "m.pt"
    result = run_cli("train", "--data", str(image_folder), "--depth", "8", "--epochs", "1", "--batch-size", "8",
                     "--activation", "swish", "--beta", "1.5", "--impl", "compiled", "--out", str(out), "--quiet")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    model, meta = load_checkpoint(out)
    assert meta["activation_params"] == {"beta": 1.5, "impl": "compiled"}
    assert meta["data_source"] == str(image_folder.resolve())


def test_user_errors_are_one_line_with_exit_2(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "m.pt"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("landscape train: error: data path") and err.count("\n") == 1
    assert main(["train", "--activation", "relu", "--beta", "2", "--quiet"]) == 2
    assert "--beta does not apply to activation 'relu'" in capsys.readouterr().err
    assert main(["train", "--activation", "leaky_relu", "--impl", "compiled", "--quiet"]) == 2
    assert "--impl does not apply to activation 'leaky_relu'" in capsys.readouterr().err


def test_pipeline_end_to_end_through_the_installed_command(tmp_path, image_folder):
    """checkpoint → surface → metrics → figures → report, each step through the `landscape` entry point."""
    import json
    import shutil

    exe = shutil.which("landscape")
    command = [exe] if exe else [sys.executable, "-m", "landscape"]

    def run(*args):
        result = subprocess.run([*command, *args, "--quiet"], capture_output=True, text=True, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        return result.stdout

    data = str(image_folder)
    run("train", "--data", data, "--depth", "8", "--epochs", "2", "--batch-size", "10", "--activation", "mish",
        "--save-every", "1", "--out", "m.pt")
    run("surface", "m.pt", "--data", data, "--x=-1:1:3", "--y=-1:1:3", "--samples", "10", "--out", "s.h5")
    run("surface", "m.pt", "--data", data, "--x=auto:3", "--y=auto:3", "--samples", "10",
        "--trajectory", "m.snapshots", "--out", "path.h5")
    table = run("metrics", "s.h5", "path.h5", "--json", "rows.json")
    assert table.startswith("| source | activation |")
    rows = json.loads((tmp_path / "rows.json").read_text())
    assert [r["activation"] for r in rows] == ["mish", "mish"]
    written = run("plot", "s.h5", "path.h5", "--out-dir", "figs", "--kinds", "filled").split()
    assert "figs/comparison_train_loss.png" in written and (tmp_path / "figs" / "s_train_loss_filled.png").exists()
    assert run("report", "s.h5", "--out", "r.html").strip() == "r.html"
    assert "m.pt" in run("info", "m.pt")
