"""The engine's token sampler: exact categorical draws from one uniform number per row."""

from __future__ import annotations

import torch

from rollout.engines.sampling import inverse_cdf, sample_rows


def test_inverse_cdf_intervals_and_edges() -> None:
    probs = torch.tensor([[0.0, 0.25, 0.0, 0.75, 0.0], [0.5, 0.5, 0.0, 0.0, 0.0]])
    below_one = 1.0 - 2.0**-24  # the largest float32 below 1
    for u, want in [(0.0, [1, 0]), (0.2499, [1, 0]), (0.25, [3, 0]), (0.5, [3, 1]), (below_one, [3, 1])]:
        assert inverse_cdf(probs, torch.tensor([u, u])).tolist() == want, u
    # a uniform of 1 (not drawn by torch.rand, but reached by rounding) still lands on a token of mass > 0
    assert inverse_cdf(probs, torch.tensor([1.0, 1.0])).tolist() == [3, 1]
    # unnormalised rows: the row's sum is the scale
    assert inverse_cdf(probs * 4, torch.tensor([0.3, 0.6])).tolist() == [3, 1]


def test_sample_rows_matches_the_distribution() -> None:
    g = torch.Generator().manual_seed(0)
    p = torch.softmax(torch.randn(5, generator=g) * 2, dim=-1)
    p[2] = 0.0  # masked (e.g. outside top-p)
    p = p / p.sum()
    n = 40_000
    draws = sample_rows(p.expand(n, -1).contiguous(), g)
    freq = torch.bincount(draws, minlength=5).float() / n
    assert freq[2] == 0.0
    assert torch.allclose(freq, p, atol=4 * (0.25 / n) ** 0.5), (freq, p)  # 4 standard errors at most
    # the same generator state gives the same tokens
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    many = torch.softmax(torch.randn(16, 2048, generator=g1), dim=-1)
    assert torch.equal(sample_rows(many, g1.manual_seed(7)), sample_rows(many, g2))
