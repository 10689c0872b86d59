"""The vocabulary of the method: pairs, weights, rankings and restricted distributions."""

import math

import pytest
import torch

from ldrrld_core.relations import (
    adw_weights,
    binary_kl_from_gaps,
    class_mask,
    erd,
    irw,
    kl_excluding,
    kl_from_logits,
    num_pairs,
    pair_gap_matrix,
    pair_logits,
    pair_weights,
    rank_pairs,
    top_classes,
    upcast,
)


@pytest.mark.parametrize("depth", [2, 3, 7, 12])
def test_rank_pairs_are_all_ordered_pairs_once(depth):
    first, second = rank_pairs(depth)
    pairs = list(zip(first.tolist(), second.tolist()))
    assert pairs == [(i, j) for i in range(depth) for j in range(i + 1, depth)]
    assert len(pairs) == num_pairs(depth) == depth * (depth - 1) // 2


@pytest.mark.parametrize("depth,decay", [(2, 0.05), (7, 0.05), (9, 0.0), (5, 0.5)])
def test_adw_matrix_follows_the_formula(depth, decay):
    w = adw_weights(depth, decay, dtype=torch.float64)
    assert w.shape == (depth, depth)
    assert torch.equal(w, w.T) and torch.all(w.diagonal() == 0)
    for p in range(depth):
        for q in range(depth):
            if p != q:
                i, j = p + 1, q + 1
                expected = 2.0 / (1.5 + abs(i - j)) * math.exp(-decay * (i + j))
                assert w[p, q].item() == pytest.approx(expected, rel=1e-12)


def test_adw_is_the_product_of_irw_and_erd_and_ablations_are_its_factors():
    full = adw_weights(6, 0.1, dtype=torch.float64)
    only_irw = adw_weights(6, 0.1, weighting="irw", dtype=torch.float64)
    only_erd = adw_weights(6, 0.1, weighting="erd", dtype=torch.float64)
    torch.testing.assert_close(full, only_irw * only_erd)
    assert torch.equal(adw_weights(6, weighting="uniform"), 1 - torch.eye(6))


def test_weights_behave_as_the_paper_says():
    ranks = torch.arange(1.0, 8.0)
    # IRW: closer ranks weigh more; ERD: higher ranks (smaller numbers) weigh more.
    assert torch.all(irw(torch.ones(6), ranks[1:]).diff() < 0)
    assert torch.all(erd(ranks[:-1], ranks[1:], 0.05).diff() < 0)
    assert torch.equal(erd(ranks, ranks, 0.0), torch.ones(7))


def test_pair_weights_align_with_rank_pairs_and_matrix():
    first, second, weights = pair_weights(5, 0.2, irw_scale=3.0, irw_offset=0.5)
    matrix = adw_weights(5, 0.2, irw_scale=3.0, irw_offset=0.5)
    assert torch.equal(weights, matrix[first, second])
    weights.mul_(0)  # a caller editing its copy in place changes nothing for later callers
    again = pair_weights(5, 0.2, irw_scale=3.0, irw_offset=0.5)
    assert again[2] is not weights and torch.equal(again[2], matrix[first, second])


def test_top_classes_is_sorted_and_gradient_free():
    z = torch.randn(6, 20, requires_grad=True)
    top = top_classes(z, 5)
    assert not top.requires_grad
    values = z.detach().gather(1, top)
    assert torch.all(values[:, :-1] >= values[:, 1:])
    assert torch.equal(values[:, -1], z.detach().sort(1, descending=True).values[:, 4])


def test_pair_logits_and_kl_match_two_class_softmax_by_hand():
    t_top = torch.tensor([[3.0, 1.0, -2.0]], dtype=torch.float64)
    s_top = torch.tensor([[0.5, 2.0, 0.0]], dtype=torch.float64)
    first, second = rank_pairs(3)
    t_pairs, s_pairs = pair_logits(t_top, first, second), pair_logits(s_top, first, second)
    assert t_pairs.shape == (1, 3, 2)
    assert t_pairs[0, 2].tolist() == [1.0, -2.0]
    kl = kl_from_logits(s_pairs, t_pairs)
    for p, (i, j) in enumerate(zip(first.tolist(), second.tolist())):
        pt = torch.sigmoid(t_top[0, i] - t_top[0, j])
        ps = torch.sigmoid(s_top[0, i] - s_top[0, j])
        by_hand = pt * torch.log(pt / ps) + (1 - pt) * torch.log((1 - pt) / (1 - ps))
        assert kl[0, p].item() == pytest.approx(by_hand.item(), rel=1e-12)


def test_kl_treats_zero_teacher_probability_as_zero_contribution():
    teacher = torch.tensor([[0.0, -1e4]], dtype=torch.float64)  # p_t[1] underflows to 0
    student = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    assert kl_from_logits(student, teacher).item() == pytest.approx(math.log(2), rel=1e-12)


def test_upcast_widens_half_and_keeps_double():
    assert upcast(torch.zeros(1, dtype=torch.bfloat16)).dtype == torch.float32
    assert upcast(torch.zeros(1, dtype=torch.float16)).dtype == torch.float32
    assert upcast(torch.zeros(1, dtype=torch.float64)).dtype == torch.float64


def test_binary_kl_from_gaps_equals_two_class_kl():
    g = torch.Generator().manual_seed(0)
    t = 5 * torch.randn(50, 2, generator=g, dtype=torch.float64)
    s = 5 * torch.randn(50, 2, generator=g, dtype=torch.float64)
    by_gap = binary_kl_from_gaps(s[:, 0] - s[:, 1], t[:, 0] - t[:, 1])
    torch.testing.assert_close(by_gap, kl_from_logits(s, t), rtol=1e-12, atol=1e-14)
    # stable for huge gaps in float32
    huge = binary_kl_from_gaps(torch.tensor([-80.0, 80.0]), torch.tensor([80.0, -80.0]))
    assert torch.isfinite(huge).all() and huge[0].item() == pytest.approx(80.0, rel=1e-5)  # -log sigmoid(-80)


def test_kl_excluding_equals_kl_of_the_kept_columns():
    g = torch.Generator().manual_seed(1)
    t = torch.randn(4, 9, generator=g, dtype=torch.float64, requires_grad=True)
    s = torch.randn(4, 9, generator=g, dtype=torch.float64, requires_grad=True)
    top = torch.tensor([[0, 3], [8, 1], [2, 4], [5, 6]])
    rest = torch.tensor([[k for k in range(9) if k not in row] for row in top.tolist()])
    masked = kl_excluding(s, t, top)
    gathered = kl_from_logits(s.gather(1, rest), t.gather(1, rest))
    torch.testing.assert_close(masked, gathered, rtol=1e-12, atol=1e-14)
    grads_masked = torch.autograd.grad(masked.sum(), (t, s))
    grads_gathered = torch.autograd.grad(gathered.sum(), (t, s))
    for a, b in zip(grads_masked, grads_gathered):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_class_mask_marks_exactly_the_given_classes():
    mask = class_mask(torch.tensor([[2, 0], [1, 1]]), 4)
    assert mask.tolist() == [[True, False, True, False], [False, True, False, False]]


def test_kl_excluding_survives_extreme_logits():
    t = torch.tensor([[1e4, 0.0, -1e4, 5.0]], requires_grad=True)
    s = torch.tensor([[-1e4, 1e4, 0.0, 0.0]], requires_grad=True)
    kl = kl_excluding(s, t, torch.tensor([[1]]))
    grads = torch.autograd.grad(kl.sum(), (t, s))
    assert torch.isfinite(kl).all() and all(torch.isfinite(g).all() for g in grads)
    assert grads[1][0, 1] == 0  # an excluded class gets no gradient


@pytest.mark.parametrize("depth", [2, 5, 9])
def test_pair_gap_matrix_gives_the_gap_of_every_rank_pair(depth):
    logits = torch.randn(4, depth, dtype=torch.float64)
    first, second = rank_pairs(depth)
    gaps = logits @ pair_gap_matrix(depth, dtype=torch.float64)
    assert torch.equal(gaps, logits[:, first] - logits[:, second])
