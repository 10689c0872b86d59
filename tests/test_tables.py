"""The one markdown and one fixed-width table formatter every report uses."""

import pytest

from ldrrld_core.tables import difference, interval, markdown_table, mean_std, text_table


def test_markdown_table_has_a_rule_and_one_line_per_row():
    text = markdown_table(["a", "b"], [[1, "x"], [2.5, ""]])
    assert text.splitlines() == ["| a | b |", "|---|---|", "| 1 | x |", "| 2.5 |  |"]


def test_markdown_table_refuses_a_row_of_the_wrong_length():
    with pytest.raises(ValueError, match="2 cells but the header has 3"):
        markdown_table(["a", "b", "c"], [[1, 2]])


def test_text_table_pads_to_the_widest_cell_and_aligns_names_left():
    lines = text_table(["name", "top-1"], [["ce", "71.20"], ["ldrrld", "5.00"]], right=[False, True]).splitlines()
    assert lines == ["name    top-1", "ce      71.20", "ldrrld   5.00"]


def test_text_table_draws_a_rule_under_the_header_when_asked():
    assert text_table(["ab", "c"], [["x", "1"]], rule=True).splitlines() == ["ab  c", "--  -", " x  1"]


def test_text_table_right_aligns_every_column_by_default():
    assert text_table(["x"], [["1"], ["100"]]).splitlines() == ["  x", "  1", "100"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [((71.234,), "71.23"), ((71.234, 0.5), "71.23 ± 0.50"), ((None,), ""), ((1.0, None, 1), "1.0")],
)
def test_mean_std(args, expected):
    assert mean_std(*args) == expected


def test_interval_and_difference_show_signs_only_for_differences():
    assert interval([76.14, 79.18]) == "[76.14, 79.18]"
    assert interval([-1.02, 0.18], signed=True) == "[-1.02, +0.18]"
    assert difference(-0.42, [-1.02, 0.18]) == "-0.42 [-1.02, +0.18]"
    assert difference(10.3241, [7.9, 12.74], digits=1) == "+10.3 [+7.9, +12.7]"
