"""The two-sided two-proportion z-test (pooled), in closed form.

For x₁ of n₁ and x₂ of n₂: p̂ = (x₁ + x₂) / (n₁ + n₂), z = (x₁/n₁ − x₂/n₂) / √(p̂(1 − p̂)(1/n₁ +
1/n₂)), p = 2 · (1 − Φ(|z|)) = erfc(|z| / √2). The same test as statsmodels'
`proportions_ztest(count, nobs)` (its default pooled variance, two-sided) and R's `prop.test(…,
correct=FALSE)`; tests/campaigns/test_ab_significance.py compares it with their figures on fixed
counts. `math.erfc` keeps it exact far into the tail, where 1 − Φ would round to 0.
"""

import math
from dataclasses import dataclass

ALPHA = 0.05


@dataclass(frozen=True)
class Result:
    z: float | None
    p_value: float | None  # None when the test cannot be made (no data, or no variance)

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < ALPHA

    @property
    def confidence(self) -> float:
        """(1 − p) as a percentage, 2 places: how sure the difference is not chance."""
        return 0.0 if self.p_value is None else round(100 * (1 - self.p_value), 2)


def two_proportion_z_test(x1: int, n1: int, x2: int, n2: int) -> Result:
    if n1 <= 0 or n2 <= 0:
        return Result(None, None)
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        return Result(None, None)  # both all-or-nothing alike: nothing tells them apart
    z = (x1 / n1 - x2 / n2) / math.sqrt(variance)
    return Result(z, math.erfc(abs(z) / math.sqrt(2)))
