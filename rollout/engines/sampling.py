"""Draw one token per row from next-token probabilities, with one uniform number per row (inverse CDF).

`torch.multinomial` on CPU, and the exponential race vLLM samples with (`probs / Exponential(1)`, then argmax),
both draw a random number for every vocabulary entry. The CPU generator makes those draws the cost of a decode
step's sampling: for 20 rows x 2048 tokens on one thread, 1.27 ms for `multinomial` and 1.12 ms for the
exponentials against 0.07 ms here (cumulative sum, one uniform per row, binary search), next to a decode forward
of about 12 ms. The draw is exact: token i is chosen when the row's uniform falls in
[cdf[i-1], cdf[i]), which has probability p[i] up to float rounding of the cumulative sum; a token of
probability 0 (e.g. outside top-p) is never chosen.
"""

from __future__ import annotations

import torch


def inverse_cdf(probs: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
    """The token index of each row ([rows]) whose cumulative-probability interval holds that row's uniform in
    [0, 1) ([rows]). Rows need not be normalised; their sum is the scale."""
    cdf = probs.cumsum(-1)
    total = cdf[:, -1:]
    # strictly below the row's total, so the search never runs past the last token of non-zero probability
    x = torch.minimum(uniform[:, None] * total, torch.nextafter(total, torch.zeros_like(total)))
    return torch.searchsorted(cdf, x, right=True)[:, 0]


def sample_rows(probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token index per row of `probs` ([rows, vocab], non-negative), drawn from that row's distribution."""
    uniform = torch.rand(probs.shape[0], generator=generator, dtype=probs.dtype, device=probs.device)
    return inverse_cdf(probs, uniform)
