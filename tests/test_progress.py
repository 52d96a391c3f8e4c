from landscape.progress import LogLines, progress


def test_log_lines_every_five_percent(capsys):
    bar = LogLines(total=40, desc="surface", unit="pt")
    for _ in range(40):
        bar.update()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 20 and lines[0].startswith("surface: 2/40 pt (5 %)") and "min left" in lines[0]
    assert lines[-1].startswith("surface: 40/40 pt (100 %)")


def test_quiet_prints_nothing_and_a_log_gets_lines(capsys):
    quiet = progress(10, "x", "pt", quiet=True)
    quiet.update(10)
    quiet.close()
    assert capsys.readouterr().err == ""
    assert isinstance(progress(10, "x", "pt"), LogLines)  # pytest's stderr is not a terminal
