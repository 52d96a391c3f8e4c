import csv
import json

from landscape.storage.tables import format_cell, markdown_table, write_rows

ROWS = [{"name": "relu", "loss": 0.123456, "widths": [1, 2], "n": 3}, {"name": "mish", "loss": None, "extra": "x"}]


def test_markdown_leaves_out_nested_values_and_rounds():
    lines = markdown_table(ROWS).splitlines()
    assert lines[0] == "| name | loss | n | extra |" and lines[1] == "|---|---|---|---|"
    assert lines[2] == "| relu | 0.1235 | 3 |  |" and lines[3] == "| mish |  |  | x |"
    assert format_cell(12345.678, 3) == "1.23e+04"


def test_json_and_csv_round_trip(tmp_path):
    write_rows(ROWS, tmp_path / "r.json", tmp_path / "r.csv")
    assert json.loads((tmp_path / "r.json").read_text()) == ROWS
    with open(tmp_path / "r.csv") as f:
        read = list(csv.DictReader(f))
    assert json.loads(read[0]["widths"]) == [1, 2] and read[1]["extra"] == "x" and float(read[0]["loss"]) == 0.123456


def test_estimates_are_rounded_to_what_their_interval_supports():
    from landscape.storage.tables import format_estimate

    assert format_estimate(0.81482, 0.79541, 0.83412) == "0.815 [0.795, 0.834]"  # half-width 0.019: 3 decimals
    assert format_estimate(7.3891, 6.988, 7.789) == "7.39 [6.99, 7.79]"
    assert format_estimate(412.7, 380.2, 445.9) == "413 [380, 446]"
    assert format_estimate(87.99) == "88.0" and format_estimate(1050.3) == "1050"
    assert format_estimate(-0.04, -10.2, 10.1) == "0 [-10, 10]"  # a mean that rounds to zero has no sign
    assert format_estimate(0.11435, float("nan"), float("nan")) == "0.114"
