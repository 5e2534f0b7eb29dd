import pytest

from fliptech.ids import MAX_PK, parse_pk


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", 1),
        ("42", 42),
        (7, 7),
        (str(MAX_PK), MAX_PK),
        (MAX_PK, MAX_PK),
    ],
)
def test_it_accepts_positive_ids_up_to_bigint(value, expected):
    assert parse_pk(value) == expected


@pytest.mark.parametrize(
    "value",
    ["²", "١٢", "0", "-1", "1.0", "1e3", "", " 1", "1\x00", str(MAX_PK + 1), "9" * 5000, None, True, 1.0, 0, -3, [1]],
)
def test_it_refuses_what_is_not_a_database_id(value):
    assert parse_pk(value) is None
