"""The significance test against a reference: statsmodels 0.15.0's
`statsmodels.stats.proportion.proportions_ztest([x1, x2], [n1, n2])` (pooled, two-sided),
run once on these fixed counts; its (z, p) are copied below."""

import pytest

from campaigns.abtest.significance import two_proportion_z_test

REFERENCE = [
    # (x1, n1, x2, n2, z, p)
    (120, 1000, 100, 1000, 1.4293008498232314, 0.1529177818639462),
    (45, 500, 30, 480, 1.6188120601811211, 0.10548770645875266),
    (10, 50, 3, 60, 2.4265580522558055, 0.01524281146359143),
    (2000, 10000, 1900, 10000, 1.7847186267098043, 0.07430696806301354),
    (300, 1000, 120, 1000, 9.881760281284969, 4.99476857325108e-23),
]


@pytest.mark.parametrize("x1, n1, x2, n2, z, p", REFERENCE)
def test_matches_statsmodels_on_fixed_counts(x1, n1, x2, n2, z, p):
    result = two_proportion_z_test(x1, n1, x2, n2)
    assert result.z == pytest.approx(z, rel=1e-9)
    assert result.p_value == pytest.approx(p, rel=1e-9)
    assert result.significant is (p < 0.05)


def test_confidence_is_one_minus_p_in_percent():
    assert two_proportion_z_test(10, 50, 3, 60).confidence == 98.48


def test_no_data_or_no_variance_is_no_test():
    for args in [(0, 0, 0, 0), (0, 10, 0, 0), (0, 100, 0, 100), (50, 50, 40, 40)]:
        result = two_proportion_z_test(*args)
        assert result.p_value is None and not result.significant and result.confidence == 0.0
