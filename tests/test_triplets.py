"""Tests of fossilct.triplets: the text codec of (plane, row, col) triplets."""

import pytest

from fossilct.triplets import format_triplet, parse_triplet


@pytest.mark.parametrize("values, text", [((128, 96, 96), "128x96x96"),
                                          ((2.5, 2.5, 2.5), "2.5x2.5x2.5"),
                                          ((2999.958, 1796.875, 0.1), "2999.958x1796.875x0.1"),
                                          ((5.0, 3.3, 1e-05), "5x3.3x0.00001")])
def test_triplets_round_trip(values, text):
    assert format_triplet(values) == text
    assert parse_triplet(text) == values
    assert parse_triplet(text.upper()) == values


def test_parse_triplet_types():
    assert all(isinstance(v, int) for v in parse_triplet("1x2x3"))
    assert all(isinstance(v, float) for v in parse_triplet("1x2.0x3"))


@pytest.mark.parametrize("text", ["128x96", "axbxc", "1x2xinf", "", "1x2x3x4", "1,2,3"])
def test_parse_triplet_refuses_malformed_text(text):
    with pytest.raises(ValueError, match=rf"expected three numbers joined by 'x'.*got {text!r}"):
        parse_triplet(text)
