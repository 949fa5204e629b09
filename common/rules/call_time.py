"""How long a simulated terminal takes to answer one call (SIM_CALL_MS): a fixed time, or a log-normal draw.

"50" is 50 ms every call; "p50=40,p99=120" draws from the log-normal whose median is 40 ms and whose 99th
percentile is 120 ms, as a real terminal's answer times spread. "0" (the default) costs nothing.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

Z99 = 2.3263478740408408  # the standard normal's 99th percentile
_QUANTILES = re.compile(r"^\s*p50\s*=\s*([0-9.]+)\s*,\s*p99\s*=\s*([0-9.]+)\s*$")
HELP = 'write a number of ms ("50") or "p50=40,p99=120" (p99 >= p50 > 0)'


@dataclass(frozen=True)
class CallTime:
    """A call's time in ms: `p50` alone when `p99` equals it (fixed), else log-normal through both quantiles."""

    p50: float
    p99: float

    @classmethod
    def parse(cls, text: str | float | int) -> CallTime:
        """From SIM_CALL_MS; ValueError (the message says what to write) when it is neither form."""
        raw = str(text).strip()
        match = _QUANTILES.match(raw)
        try:
            p50, p99 = (float(match.group(1)), float(match.group(2))) if match else (float(raw or "0"),) * 2
        except ValueError:
            raise ValueError(f"{HELP}, got {raw!r}") from None
        if not (math.isfinite(p50) and math.isfinite(p99)) or p50 < 0 or p99 < p50 or (match and p50 == 0):
            raise ValueError(f"{HELP}, got {raw!r}")
        return cls(p50, p99)

    @property
    def free(self) -> bool:
        """No time at all: the call sleeps not even zero seconds."""
        return self.p99 == 0

    def draw(self, rng: random.Random) -> float:
        """One call's time in ms."""
        if self.p99 == self.p50:
            return self.p50
        sigma = math.log(self.p99 / self.p50) / Z99
        return rng.lognormvariate(math.log(self.p50), sigma)

    def __str__(self) -> str:
        return f"{self.p50:g}" if self.p50 == self.p99 else f"p50={self.p50:g},p99={self.p99:g}"
