"""`MODULE:CALLABLE` and `file.py:CALLABLE`: the named object, or one line saying what is wrong."""
import pytest

from landscape import LandscapeError
from landscape.sources.user_code import import_callable, is_callable_spec


def test_a_module_or_a_file_names_its_callable(tmp_path):
    assert import_callable("math:sqrt", "--model")(16.0) == 4.0
    assert import_callable("collections:OrderedDict.fromkeys", "--model")("ab") == {"a": None, "b": None}
    (tmp_path / "mine.py").write_text("def double(x):\n    return 2 * x\nCOUNT = 3\n")
    assert import_callable(f"{tmp_path / 'mine.py'}:double", "--loss")(21) == 42
    assert import_callable(f"{tmp_path / 'mine.py'}:double", "--loss") is import_callable(
        f"{tmp_path / 'mine.py'}:double", "--loss")  # the file is imported once


@pytest.mark.parametrize("spec, message", [
    ("no_colon", "must be MODULE:CALLABLE"), ("C:", "must be MODULE:CALLABLE"),
    ("no_such_module_xyz:f", "cannot import no_such_module_xyz"), ("math:nothing", "has no attribute 'nothing'"),
    ("math:pi", "is not callable")])
def test_bad_specs_are_one_line(spec, message):
    with pytest.raises(LandscapeError, match=message) as info:
        import_callable(spec, "--model")
    assert "\n" not in str(info.value) and str(info.value).startswith("--model")


def test_a_file_that_fails_to_import_says_why(tmp_path):
    (tmp_path / "broken.py").write_text("raise RuntimeError('no GPU here')\n")
    with pytest.raises(LandscapeError, match=r"importing .*broken.py failed \(RuntimeError: no GPU here\)"):
        import_callable(f"{tmp_path / 'broken.py'}:f", "--dataset")
    with pytest.raises(LandscapeError, match="does not exist"):
        import_callable(f"{tmp_path / 'absent.py'}:f", "--dataset")


def test_drive_letters_are_not_specs():
    assert is_callable_spec("pkg.mod:f") and is_callable_spec("./a.py:f")
    assert not is_callable_spec("C:") and not is_callable_spec(":f") and not is_callable_spec("plain")
