"""The numbers behind the pictures, each against an independent, obviously-correct form."""

import math

import numpy as np
import pytest
import torch
from naive import masked_kl, naive_ldrrld, pair_weight
from scipy import stats
from torch import nn

from ldrrld_core import analysis
from ldrrld_core.losses import ldrrld_loss

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def logits(*shape, seed=0, spread=3.0, device="cpu"):
    return (torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * spread).to(device)


# ------------------------------------------------------------------------------------- weights


@pytest.mark.parametrize("depth,decay", [(2, 0.05), (7, 0.05), (10, 0.3), (5, 0.0)])
def test_weight_maps_follow_the_formulas(depth, decay):
    maps = analysis.weight_maps(depth, decay, irw_scale=2.5, irw_offset=1.0)
    for i in range(depth):
        for j in range(depth):
            if i == j:
                assert maps.irw[i, j] == maps.erd[i, j] == maps.adw[i, j] == 0
                continue
            for name in ("irw", "erd", "adw"):
                expected = pair_weight(i + 1, j + 1, name, decay, 2.5, 1.0)
                assert getattr(maps, name)[i, j].item() == pytest.approx(expected, rel=1e-12)
    for name in ("irw", "erd", "adw"):
        assert torch.equal(getattr(maps, name), getattr(maps, name).T)


def test_weight_share_is_each_pairs_part_of_the_local_term():
    maps = analysis.weight_maps(7, 0.05)
    assert maps.share.sum().item() + maps.topd_share == pytest.approx(1.0, abs=1e-12)
    # With every pair KL and the top-d KL equal to k, the local term of a sample is
    # T^2 k (sum w + 1) / (P + 1), and a pair carries w_p / (sum w + 1) of it.
    weights = [pair_weight(i, j, "adw", 0.05, 2.0, 1.5) for i in range(1, 8) for j in range(i + 1, 8)]
    assert maps.share.tolist() == pytest.approx([w / (sum(weights) + 1) for w in weights], rel=1e-12)


def test_weight_summary():
    maps = analysis.weight_maps(4, 0.0, irw_scale=1.0, irw_offset=0.0)  # IRW = 1 / |i - j|, ERD = 1
    weights = {(1, 2): 1.0, (1, 3): 0.5, (1, 4): 1 / 3, (2, 3): 1.0, (2, 4): 0.5, (3, 4): 1.0}
    total = sum(weights.values()) + 1
    assert maps.summary() == pytest.approx(
        {
            "d": 4,
            "decay": 0.0,
            "pairs": 6,
            "pair (1,2)": 1 / total,
            "pairs with rank 1": (1 + 0.5 + 1 / 3) / total,
            "top-d set": 1 / total,
        }
    )


def test_weight_curves_over_rank_distance():
    maps = analysis.weight_maps(6, 0.1)
    curves = maps.by_distance()
    assert curves.shape == (5, 5)
    for i in range(1, 6):
        for k in range(1, 6):
            value = curves[i - 1, k - 1].item()
            if i + k > 6:
                assert math.isnan(value)
            else:
                assert value == pytest.approx(pair_weight(i, i + k, "adw", 0.1, 2.0, 1.5), rel=1e-12)
    assert maps.irw_by_distance().tolist() == pytest.approx([2.0 / (1.5 + k) for k in range(1, 6)])


def test_weight_maps_reject_bad_settings():
    with pytest.raises(ValueError, match="depth must be an integer >= 2"):
        analysis.weight_maps(1)
    with pytest.raises(ValueError, match="decay must be >= 0"):
        analysis.weight_maps(5, -0.1)
    with pytest.raises(ValueError, match="scale must be > 0"):
        analysis.weight_maps(5, irw_scale=0.0)


def test_pair_matrix_round_trip():
    values = torch.arange(1.0, 11.0)
    grid = analysis.pair_matrix(values, 5, diagonal=math.nan)
    first, second = torch.triu_indices(5, 5, offset=1)
    assert torch.equal(grid[first, second], values) and torch.equal(grid[second, first], values)
    assert grid.diagonal().isnan().all()
    batched = analysis.pair_matrix(torch.stack([values, -values]), 5)
    assert batched.shape == (2, 5, 5) and torch.equal(batched[1], -analysis.pair_matrix(values, 5))
    with pytest.raises(ValueError, match="expected 10 pair values for depth 5"):
        analysis.pair_matrix(torch.ones(9), 5)


# ------------------------------------------------------------------------------------- one sample


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("rank_by", ["student", "teacher"])
def test_sample_relations_against_the_loss_and_a_naive_form(device, rank_by):
    student, teacher = logits(12, seed=1, device=device), logits(12, seed=2, device=device)
    rel = analysis.sample_relations(
        student_logits=student, teacher_logits=teacher, depth=5, temperature=3.0, decay=0.1, rank_by=rank_by
    )
    source = student if rank_by == "student" else teacher
    top = torch.argsort(source, descending=True)[:5]
    assert rel.top_classes.tolist() == top.tolist()
    # The per-pair KL as the naive two-class masked softmax; contributions add up to the loss.
    first, second = torch.triu_indices(5, 5, offset=1).tolist()
    for p, (i, j) in enumerate(zip(first, second)):
        naive = masked_kl(teacher.cpu(), student.cpu(), [top[i].item(), top[j].item()], 3.0)
        assert rel.pair_kl[p].item() == pytest.approx(naive.item(), rel=1e-9, abs=1e-15)
    loss = ldrrld_loss(student[None], teacher[None], depth=5, temperature=3.0, decay=0.1, rank_by=rank_by)
    assert rel.local == pytest.approx(loss.local.item(), rel=1e-12)
    assert rel.local == pytest.approx(rel.contribution.sum().item() + rel.topd_contribution, rel=1e-12)
    assert rel.rntk == pytest.approx(loss.rntk.item(), rel=1e-12)
    if rank_by == "student":
        ref_local, ref_rntk = naive_ldrrld(student.cpu()[None], teacher.cpu()[None], 5, 3.0, 0.1)
        assert rel.local == pytest.approx(float(ref_local), rel=1e-9)


def test_sample_distributions():
    student, teacher = logits(10, seed=3), logits(10, seed=4)
    rel = analysis.sample_relations(student_logits=student, teacher_logits=teacher, depth=4, temperature=2.0)
    top = rel.top_classes
    assert torch.allclose(rel.teacher_global, torch.softmax(teacher / 2, 0)[top])
    assert torch.allclose(rel.student_local, torch.softmax(student[top] / 2, 0))
    assert rel.student_local.sum().item() == pytest.approx(1.0)
    assert (rel.student_global <= rel.student_local).all()  # the same classes, a larger denominator
    for pair in (rel.teacher_pair, rel.student_pair):
        assert torch.allclose(pair + pair.T, torch.ones(4, 4, dtype=torch.float64))
        assert torch.allclose(pair.diagonal(), torch.full((4,), 0.5, dtype=torch.float64))
    i, j = 1, 3
    two = torch.softmax(torch.stack([teacher[top[i]], teacher[top[j]]]) / 2, 0)
    assert rel.teacher_pair[i, j].item() == pytest.approx(two[0].item())


def test_sample_relations_reject_a_batch():
    with pytest.raises(ValueError, match="1-D logits"):
        analysis.sample_relations(student_logits=logits(2, 10), teacher_logits=logits(2, 10))


@pytest.mark.parametrize("device", DEVICES)
def test_logit_gradients(device):
    student, teacher = logits(10, seed=5, device=device), logits(10, seed=6, device=device)
    grads = analysis.logit_gradients(student_logits=student, teacher_logits=teacher, target=2, temperature=4.0, depth=4)
    assert list(grads) == ["KD", "DKD", "LDRRLD"]
    for grad in grads.values():
        assert grad.shape == (10,) and grad.sum().abs().item() < 1e-10  # shift invariance
    # KD's gradient in closed form: d(T^2 KL)/dz_s = T (p_s - p_t).
    expected = 4.0 * (torch.softmax(student / 4, 0) - torch.softmax(teacher / 4, 0))
    assert torch.allclose(grads["KD"], expected, atol=1e-12)
    # Without the remaining-class term, LDRRLD leaves every class outside the top-d alone.
    local_only = analysis.logit_gradients(student_logits=student, teacher_logits=teacher, target=2, depth=4, beta=0.0)[
        "LDRRLD"
    ]
    outside = torch.ones(10, dtype=torch.bool, device=device)
    outside[torch.argsort(student, descending=True)[:4]] = False
    assert (local_only[outside] == 0).all() and (local_only[~outside] != 0).any()


def test_dkd_gradient_against_finite_differences():
    from ldrrld_core.losses import dkd_loss

    student, teacher = logits(6, seed=7), logits(6, seed=8)
    grad = analysis.logit_gradients(student_logits=student, teacher_logits=teacher, target=1, depth=4)["DKD"]
    step = 1e-6
    for c in range(6):
        shift = torch.zeros(6, dtype=torch.float64)
        shift[c] = step
        label = torch.tensor([1])
        up = dkd_loss((student + shift)[None], teacher[None], label)
        down = dkd_loss((student - shift)[None], teacher[None], label)
        assert grad[c].item() == pytest.approx(((up - down) / (2 * step)).item(), abs=1e-6)


# ------------------------------------------------------------------------------------- classes


@pytest.mark.parametrize("device", DEVICES)
def test_class_mean_logits(device):
    values, labels = logits(40, 5, seed=9, device=device), torch.arange(40, device=device) % 5
    means = analysis.class_mean_logits(values, labels)
    assert means.shape == (5, 5) and means.device.type == device
    for k in range(5):
        assert torch.allclose(means[k], values[labels == k].mean(0))
    with pytest.raises(ValueError, match=r"class\(es\) \[4\] have no samples"):
        analysis.class_mean_logits(values, labels.clamp(max=3), num_classes=5)
    with pytest.raises(ValueError, match="num_classes is 3 but the logits have 5 classes"):
        analysis.class_mean_logits(values, labels, num_classes=3)


def test_logit_correlation_matches_numpy():
    values = logits(50, 6, seed=10)
    corr = analysis.logit_correlation(values)
    assert np.allclose(corr.numpy(), np.corrcoef(values.numpy(), rowvar=False))
    assert torch.equal(corr, corr.T) and torch.allclose(corr.diagonal(), torch.ones(6, dtype=torch.float64))
    values[:, 2] = 1.0
    dead = analysis.logit_correlation(values)
    assert dead[2].isnan().all() and dead[:, 2].isnan().all() and not dead[0, 1].isnan()


def test_matrix_gap():
    a, b = logits(4, 4, seed=11), logits(4, 4, seed=12)
    gap = analysis.matrix_gap(student=b, teacher=a)
    assert np.allclose(gap.gap.numpy(), np.abs(a.numpy() - b.numpy()))
    assert gap.max == pytest.approx(np.abs(a.numpy() - b.numpy()).max())
    assert gap.mean == pytest.approx(np.abs(a.numpy() - b.numpy()).mean())
    with pytest.raises(ValueError, match="differ in shape"):
        analysis.matrix_gap(student=b[:3], teacher=a)


def test_matrix_gap_mdistiller_definition():
    """mdistiller's view (tools/visualizations/correlation.ipynb): |t - s| / 3, diagonal 0, over all cells."""
    a, b = logits(5, 5, seed=21), logits(5, 5, seed=22)
    expected = np.abs(a.numpy() - b.numpy()) / 3.0
    for k in range(5):
        expected[k, k] = 0.0
    gap = analysis.matrix_gap(student=b, teacher=a, definition="mdistiller")
    assert np.allclose(gap.gap.numpy(), expected) and gap.definition == "mdistiller"
    assert gap.max == pytest.approx(expected.max()) and gap.mean == pytest.approx(expected.mean())
    assert "mdistiller" in gap.label and "diagonal" in gap.label
    full = analysis.matrix_gap(student=b, teacher=a)
    assert full.definition == "all_cells" and full.gap.diagonal().abs().sum() > 0
    with pytest.raises(ValueError, match="unknown gap definition 'mdistiler'"):
        analysis.matrix_gap(student=b, teacher=a, definition="mdistiler")
    with pytest.raises(ValueError, match="square"):
        analysis.matrix_gap(student=b[:, :4], teacher=a[:, :4], definition="mdistiller")


def test_relation_gaps_with_the_mdistiller_definition():
    teacher, labels = logits(30, 3, seed=19), torch.arange(30) % 3
    students = {"a": logits(30, 3, seed=20)}
    gaps = analysis.relation_gaps(students, teacher, labels=labels, definition="mdistiller")
    means_t = analysis.class_mean_logits(teacher, labels)
    means_s = analysis.class_mean_logits(students["a"], labels)
    expected = ((means_t - means_s).abs() / 3).fill_diagonal_(0.0)
    assert torch.allclose(gaps["a"].gap, expected)
    with pytest.raises(ValueError, match="kind='class_mean' only"):
        analysis.relation_gaps(students, teacher, kind="correlation", definition="mdistiller")


def test_student_and_teacher_cannot_be_swapped_silently():
    teacher, student = logits(20, 8, seed=23), logits(20, 8, seed=24)
    with pytest.raises(TypeError):  # same-shape tensors go by keyword only
        analysis.relation_fidelity(teacher, student)
    with pytest.raises(TypeError):
        analysis.sample_relations(student[0], teacher[0])
    with pytest.raises(TypeError):
        analysis.matrix_gap(teacher[:8], student[:8])
    with pytest.raises(ValueError, match="arguments are swapped"):  # the old (teacher, students) order
        analysis.compare_fidelity(teacher, {"s": student})
    with pytest.raises(ValueError, match="arguments are swapped"):
        analysis.relation_gaps(teacher, {"s": student}, kind="correlation")
    fid = analysis.relation_fidelity(student_logits=student, teacher_logits=teacher, depth=3)
    log_t, log_s = torch.log_softmax(teacher / 4, 1), torch.log_softmax(student / 4, 1)
    assert torch.allclose(fid.kl_all, (log_t.exp() * (log_t - log_s)).sum(1))


def test_inconsistent_class_relation_arguments_are_refused():
    teacher, labels = logits(30, 3, seed=19), torch.arange(30) % 3
    with pytest.raises(ValueError, match=r"lie in \[0, 3\), found values from -1"):
        analysis.class_mean_logits(teacher, labels - 1)  # -1 must not become the last class
    with pytest.raises(ValueError, match=r"lie in \[0, 3\), found values from 0 to 3"):
        analysis.class_mean_logits(teacher, labels.clamp(max=2) + (labels == 2).long())
    with pytest.raises(ValueError, match="integer class indices"):
        analysis.class_mean_logits(teacher, labels.float() + 0.5)
    with pytest.raises(ValueError, match="1-D tensor of 30 class indices"):
        analysis.class_mean_logits(teacher, labels[:29])
    with pytest.raises(ValueError, match="non-finite"):
        analysis.logit_correlation(teacher.where(teacher > 0, torch.nan))
    with pytest.raises(ValueError, match="student 'few' has logits of 29 samples but the teacher of 30"):
        analysis.relation_gaps({"few": teacher[:29]}, teacher, kind="correlation")
    with pytest.raises(ValueError, match="student 'wide' has 4 classes but the teacher has 3"):
        analysis.relation_gaps({"wide": logits(30, 4)}, teacher, labels=labels)
    with pytest.raises(ValueError, match="student 'wide' has 4 classes but the teacher has 3"):
        analysis.compare_fidelity({"wide": logits(30, 4)}, teacher, depth=2)
    with pytest.raises(ValueError, match="at least one student"):
        analysis.compare_fidelity({}, teacher, depth=2)
    with pytest.raises(ValueError, match="no students to tabulate"):
        analysis.fidelity_table({})


def test_inconsistent_sample_arguments_are_refused():
    student, teacher = logits(10, seed=5), logits(10, seed=6)
    for target in (-1, 10, 2.0, True, "2"):
        with pytest.raises(ValueError, match=r"target must be a class index in \[0, 10\)"):
            analysis.logit_gradients(student_logits=student, teacher_logits=teacher, target=target, depth=4)
    grads = analysis.logit_gradients(student_logits=student, teacher_logits=teacher, target=np.int64(3), depth=4)
    assert grads["KD"].shape == (10,)
    with pytest.raises(ValueError, match="class counts differ"):
        analysis.sample_relations(student_logits=student, teacher_logits=teacher[:9])
    with pytest.raises(ValueError, match="depth must be an integer >= 2"):
        analysis.pair_matrix(torch.ones(0), 1)


def test_collect_outputs_refuses_labels_that_do_not_match_the_inputs():
    x, y = torch.randn(6, 3), torch.arange(6) % 2
    with pytest.raises(ValueError, match=r"a batch holds 6 inputs but labels of shape \(5,\)"):
        analysis.collect_outputs(TinyZooModel(), [(x, y[:5])])
    with pytest.raises(ValueError, match="max_samples must be an integer >= 1"):
        analysis.collect_outputs(TinyZooModel(), [(x, y)], max_samples=0)


def test_relation_gaps_by_kind():
    teacher, labels = logits(30, 3, seed=19), torch.arange(30) % 3
    students = {"a": logits(30, 3, seed=20), "b": teacher.clone()}
    means = analysis.relation_gaps(students, teacher, labels=labels)
    assert list(means) == ["a", "b"] and means["b"].max == 0.0
    assert torch.equal(means["a"].student, analysis.class_mean_logits(students["a"], labels))
    corr = analysis.relation_gaps(students, teacher, kind="correlation")
    assert torch.equal(corr["a"].teacher, analysis.logit_correlation(teacher))
    with pytest.raises(ValueError, match="needs the labels"):
        analysis.relation_gaps(students, teacher)
    with pytest.raises(ValueError, match="unknown kind 'cosine'"):
        analysis.relation_gaps(students, teacher, kind="cosine")
    with pytest.raises(ValueError, match="at least one student"):
        analysis.relation_gaps({}, teacher, kind="correlation")


def test_superclass_order_groups_and_keeps_class_order():
    superclass_of = torch.tensor([2, 0, 1, 0, 2, 1, 0])
    order = analysis.superclass_order(superclass_of)
    assert order.tolist() == [1, 3, 6, 2, 5, 0, 4]
    assert analysis.group_boundaries(superclass_of[order]) == [3, 5]
    with pytest.raises(ValueError, match="1-D integer tensor"):
        analysis.superclass_order(superclass_of.float() + 0.5)  # not truncated into groups silently
    with pytest.raises(ValueError, match="negative superclass -1"):
        analysis.superclass_order(superclass_of - 1)


# ------------------------------------------------------------------------------------- features


class TinyZooModel(nn.Module):
    """Shaped like the zoo's models: penultimate features, then a classifier."""

    def __init__(self):
        super().__init__()
        self.body, self.head = nn.Linear(3, 4), nn.Linear(4, 2)

    def penultimate(self, x):
        return torch.relu(self.body(x))

    def get_classifier(self):
        return self.head

    def forward(self, x):
        return self.head(self.penultimate(x))


def test_collect_outputs_with_and_without_features():
    torch.manual_seed(0)
    x, y = torch.randn(10, 3), torch.arange(10) % 2
    batches = [(x[:4], y[:4]), (x[4:8], y[4:8]), (x[8:], y[8:])]
    model = TinyZooModel().train()
    out = analysis.collect_outputs(model, batches)
    assert model.training, "the model's mode must be restored"
    assert torch.allclose(out.logits, model(x)) and torch.equal(out.labels, y)
    assert torch.allclose(out.features, model.penultimate(x))
    cut = analysis.collect_outputs(model, batches, max_samples=5)
    assert cut.logits.shape == (5, 2) and cut.features.shape == (5, 4)
    plain = analysis.collect_outputs(nn.Linear(3, 2), batches)
    assert plain.features is None and plain.logits.shape == (10, 2)
    with pytest.raises(ValueError, match="batches are empty"):
        analysis.collect_outputs(model, [])


def test_tsne_is_repeatable_and_copes_with_few_samples():
    features = logits(30, 8, seed=13)
    first = analysis.tsne_embedding(features, seed=0)
    assert first.shape == (30, 2) and torch.equal(first, analysis.tsne_embedding(features, seed=0))
    assert analysis.tsne_embedding(features[:6]).shape == (6, 2)  # perplexity lowered
    with pytest.raises(ValueError, match="at least 4 samples"):
        analysis.tsne_embedding(features[:3])


# ------------------------------------------------------------------------------------- fidelity


@pytest.mark.parametrize("device", DEVICES)
def test_fidelity_against_scipy_and_sets(device):
    teacher = logits(60, 12, seed=14, device=device)
    student = teacher + logits(60, 12, seed=15, spread=2.0, device=device)
    fid = analysis.relation_fidelity(student_logits=student, teacher_logits=teacher, depth=6)
    assert fid.pair_kl.shape == fid.pair_agreement.shape == (15,)
    for n in range(0, 60, 7):
        top = torch.argsort(teacher[n], descending=True)[:6]
        tau = stats.kendalltau(teacher[n, top].cpu(), student[n, top].cpu()).statistic
        rho = stats.spearmanr(teacher[n, top].cpu(), student[n, top].cpu()).statistic
        assert fid.kendall[n].item() == pytest.approx(tau)
        assert fid.spearman[n].item() == pytest.approx(rho)
        student_top = set(torch.argsort(student[n], descending=True)[:6].tolist())
        assert fid.topd_overlap[n].item() == pytest.approx(len(student_top & set(top.tolist())) / 6)
        assert fid.top1_agreement[n].item() == float(student[n].argmax() == teacher[n].argmax())
    summary = fid.summary()
    assert summary["kendall_tau"] == pytest.approx(2 * summary["pair_agreement"] - 1)
    loss = ldrrld_loss(student, teacher, depth=6, rank_by="teacher")
    assert torch.allclose(fid.pair_kl, loss.pair_kl.mean(0))


def naive_kendall_tau_b(x, y):
    """Kendall's tau-b by its definition: a Python loop over every class pair, ties counted per ranking."""
    count, score, tied_x, tied_y = len(x), 0.0, 0, 0
    for i in range(count):
        for j in range(i + 1, count):
            score += np.sign(x[i] - x[j]) * np.sign(y[i] - y[j])
            tied_x += x[i] == x[j]
            tied_y += y[i] == y[j]
    pairs = count * (count - 1) / 2
    return score / math.sqrt((pairs - tied_x) * (pairs - tied_y))


def tied_logits(*shape, seed):
    """Logits with many ties: rounded to one decimal, and through bfloat16 (8 bits of mantissa)."""
    rounded = torch.round(logits(*shape, seed=seed, spread=0.6) * 10) / 10
    coarse = logits(*shape, seed=seed + 1, spread=40.0).to(torch.bfloat16).double()
    return torch.cat([rounded, coarse])


@pytest.mark.parametrize("device", DEVICES)
def test_kendall_tau_b_against_a_loop_and_scipy(device):
    first, second = logits(9, 13, seed=25), logits(9, 13, seed=26)
    second[0] = first[0] + 0.1 * second[0]  # nearly the same order
    second[1, :6] = 0.0  # ties in the student
    first[2, ::2] = 1.0  # ties in the teacher
    first[3, :4], second[3, 2:7] = 2.0, -1.0  # ties in both, overlapping
    many_first, many_second = tied_logits(20, 30, seed=40), tied_logits(20, 30, seed=50)
    for a, b, many_ties in ((first, second, False), (many_first, many_second, True)):
        tau = analysis.kendall_tau(a.to(device), b.to(device))
        assert tau.shape == (len(a),) and tau.dtype == torch.float64 and tau.device.type == device
        tied_pairs = 0
        for n in range(len(a)):
            expected = stats.kendalltau(a[n], b[n]).statistic  # SciPy's default: tau-b
            assert tau[n].item() == pytest.approx(expected, abs=1e-12)
            assert tau[n].item() == pytest.approx(naive_kendall_tau_b(a[n].tolist(), b[n].tolist()), abs=1e-12)
            counts = torch.unique(a[n], return_counts=True)[1]
            tied_pairs += int((counts * (counts - 1) // 2).sum())
        if many_ties:  # the second set really is full of ties (else this test would not tell tau-b from tau-a)
            assert tied_pairs > 5 * len(a)
    tau_a = (torch.sign(first[1, :, None] - first[1]) * torch.sign(second[1, :, None] - second[1])).sum() / (13 * 12)
    assert abs(analysis.kendall_tau(first, second)[1]) > abs(tau_a)  # tau-a counts tied pairs as 0: nearer 0
    whole = analysis.kendall_tau(many_first, many_second)
    chunked = analysis.fidelity._KENDALL_CHUNK
    try:  # many chunks of one row each give the same numbers
        analysis.fidelity._KENDALL_CHUNK = 1
        assert torch.equal(analysis.kendall_tau(many_first, many_second), whole)
    finally:
        analysis.fidelity._KENDALL_CHUNK = chunked
    constant = torch.zeros(1, 13, dtype=torch.float64)
    assert analysis.kendall_tau(first[:1], constant).item() == 0.0  # SciPy: NaN; here 0, so means stay defined
    with pytest.raises(ValueError, match="one shape"):
        analysis.kendall_tau(first, second[:, :5])


def test_fidelity_kendall_measures_are_tau_b_with_ties():
    teacher, student = tied_logits(10, 16, seed=60), tied_logits(10, 16, seed=70)
    fid = analysis.relation_fidelity(student_logits=student, teacher_logits=teacher, depth=8)
    for n in range(20):
        top = torch.argsort(teacher[n], descending=True, stable=True)[:8]
        assert fid.kendall[n].item() == pytest.approx(stats.kendalltau(teacher[n, top], student[n, top]).statistic)
        assert fid.kendall_all[n].item() == pytest.approx(stats.kendalltau(teacher[n], student[n]).statistic)


@pytest.mark.parametrize("device", DEVICES)
def test_fidelity_over_all_classes(device):
    teacher = logits(12, 9, seed=27, device=device)
    student = teacher + logits(12, 9, seed=28, device=device)
    fid = analysis.relation_fidelity(student_logits=student, teacher_logits=teacher, depth=4, temperature=2.0)
    assert fid.kl_all.shape == fid.kendall_all.shape == (12,) and fid.kl_all.device.type == device
    for n in range(12):
        naive = masked_kl(teacher[n].cpu(), student[n].cpu(), range(9), 2.0)
        assert fid.kl_all[n].item() == pytest.approx(naive.item(), rel=1e-9)
        tau = stats.kendalltau(teacher[n].cpu(), student[n].cpu()).statistic
        assert fid.kendall_all[n].item() == pytest.approx(tau, abs=1e-12)
    summary = fid.summary()
    assert list(summary)[:2] == ["kl_all", "kendall_tau_all"]
    assert summary["kendall_tau_all"] == pytest.approx(fid.kendall_all.mean().item())


def test_fidelity_extremes():
    teacher = logits(20, 8, seed=16)
    same = analysis.relation_fidelity(student_logits=teacher.clone(), teacher_logits=teacher, depth=5).summary()
    assert same == {
        "kl_all": 0.0,
        "kendall_tau_all": 1.0,
        "pair_kl": 0.0,
        "pair_agreement": 1.0,
        "kendall_tau": 1.0,
        "spearman_rho": 1.0,
        "topd_overlap": 1.0,
        "top1_agreement": 1.0,
    }
    reversed_ = analysis.relation_fidelity(student_logits=-teacher, teacher_logits=teacher, depth=5).summary()
    assert reversed_["pair_agreement"] == 0.0 and reversed_["kendall_tau"] == -1.0
    assert reversed_["spearman_rho"] == -1.0 and reversed_["kendall_tau_all"] == -1.0
    tied = analysis.relation_fidelity(
        student_logits=torch.zeros_like(teacher), teacher_logits=teacher, depth=5
    ).summary()
    assert tied["pair_agreement"] == 0.5 and tied["kendall_tau"] == 0.0 and tied["kendall_tau_all"] == 0.0
    with pytest.raises(ValueError, match="depth must lie in"):
        analysis.relation_fidelity(student_logits=teacher, teacher_logits=teacher, depth=9)


def test_fidelity_table_rows():
    teacher = logits(20, 8, seed=17)
    fids = analysis.compare_fidelity({"ce": logits(20, 8, seed=18), "kd": teacher * 0.5}, teacher, depth=4)
    rows = analysis.fidelity_table(fids)
    assert [row["student"] for row in rows] == ["ce", "kd"]
    assert rows[1]["pair_agreement"] == 1.0 and rows[0]["pair_agreement"] < 1.0
    assert set(rows[0]) == {"student", *fids["ce"].summary()}


# ------------------------------------------------------------------- cost at 10,000 classes
# Every analysis function either costs about linearly in the class count or refuses a class count
# past its limit before any work and takes a subset (``classes=``) instead. Each test below runs at
# C = 10,000 and finishes in well under a second or two; the bounds are generous for busy machines.

WIDE = 10_000


def wide_logits(samples, seed):
    return logits(samples, WIDE, seed=seed)


def test_kendall_tau_at_10000_classes_is_exact_and_quick():
    """Counting every pair took 6.8 s per sample at C = 10,000; the merge count takes milliseconds."""
    import time

    teacher = wide_logits(8, seed=80)
    student = teacher + wide_logits(8, seed=81)
    student[:, ::3] = torch.round(student[:, ::3])  # ties in one ranking
    teacher[:4, :2000] = torch.round(teacher[:4, :2000])  # ties in the other
    start = time.perf_counter()
    fid = analysis.relation_fidelity(student_logits=student, teacher_logits=teacher)
    assert time.perf_counter() - start < 15.0
    for n in (0, 5):
        assert fid.kendall_all[n].item() == pytest.approx(stats.kendalltau(teacher[n], student[n]).statistic, abs=1e-12)


def test_kendall_tau_merge_count_matches_every_pair():
    """The merge count against listing all pairs, on widths that are and are not powers of two."""
    for count in (2, 3, 64, 257):
        a, b = tied_logits(4, count, seed=count), tied_logits(4, count, seed=count + 7)
        i, j = torch.triu_indices(count, count, 1)
        sa, sb = torch.sign(a[:, i] - a[:, j]), torch.sign(b[:, i] - b[:, j])
        expected = ((sa * sb).sum(1) / (sa.abs().sum(1) * sb.abs().sum(1)).sqrt()).nan_to_num(0.0)
        assert torch.allclose(analysis.kendall_tau(a, b), expected, atol=1e-12)
    with pytest.raises(ValueError, match="NaN or inf"):
        analysis.kendall_tau(torch.tensor([[1.0, math.nan]]), torch.tensor([[1.0, 2.0]]))


def test_relation_matrices_refuse_10000_classes_and_take_a_subset():
    teacher, student = wide_logits(40, seed=82), wide_logits(40, seed=83)
    labels = torch.arange(40) % 20
    for call in (
        lambda: analysis.class_mean_logits(teacher, labels),
        lambda: analysis.logit_correlation(teacher),
        lambda: analysis.relation_gaps({"s": student}, teacher, labels=labels),
        lambda: analysis.relation_gaps({"s": student}, teacher, kind="correlation"),
    ):
        with pytest.raises(ValueError, match=r"10000 x 10000 matrices .* at most 2048 classes .* pass classes="):
            call()
    chosen = [3, 19, 0, 7]
    means = analysis.class_mean_logits(teacher, labels, classes=chosen)
    assert means.shape == (4, 4)
    assert torch.allclose(means[1], teacher[labels == 19][:, chosen].mean(0))
    correlation = analysis.logit_correlation(teacher, classes=chosen)
    assert torch.allclose(correlation, analysis.logit_correlation(teacher[:, chosen]))
    gaps = analysis.relation_gaps({"s": student}, teacher, labels=labels, classes=chosen)
    assert gaps["s"].gap.shape == (4, 4)
    with pytest.raises(ValueError, match=r"class\(es\) \[20\] have no samples"):
        analysis.class_mean_logits(teacher, labels, classes=[20, 3])
    with pytest.raises(ValueError, match="distinct"):
        analysis.logit_correlation(teacher, classes=[1, 1])
    with pytest.raises(ValueError, match=r"lie in \[0, 10000\)"):
        analysis.logit_correlation(teacher, classes=[10000])
    with pytest.raises(ValueError, match="at most 2048 classes"):
        analysis.logit_correlation(teacher, classes=range(3000))


def test_subset_cells_are_the_full_matrix_cells():
    teacher, labels = logits(90, 12, seed=84), torch.arange(90) % 12
    chosen = torch.tensor([5, 2, 11])
    full = analysis.class_mean_logits(teacher, labels)
    assert torch.allclose(analysis.class_mean_logits(teacher, labels, classes=chosen), full[chosen][:, chosen])
    full = analysis.logit_correlation(teacher)
    assert torch.allclose(analysis.logit_correlation(teacher, classes=chosen), full[chosen][:, chosen])


def test_one_sample_at_10000_classes():
    teacher, student = wide_logits(1, seed=85)[0], wide_logits(1, seed=86)[0]
    rel = analysis.sample_relations(student_logits=student, teacher_logits=teacher)
    assert rel.num_classes == WIDE and rel.pair_kl.shape == (21,)
    gradients = analysis.logit_gradients(student_logits=student, teacher_logits=teacher, target=9999)
    assert all(g.shape == (WIDE,) for g in gradients.values())


def test_rank_grids_refuse_a_depth_of_10000_before_any_work():
    import time

    teacher, student = wide_logits(1, seed=89)[0], wide_logits(1, seed=90)[0]
    start = time.perf_counter()
    for what, call in (
        ("weight_maps", lambda: analysis.weight_maps(WIDE)),
        ("pair_matrix", lambda: analysis.pair_matrix(torch.zeros(1), WIDE)),
        (
            "sample_relations",
            lambda: analysis.sample_relations(student_logits=student, teacher_logits=teacher, depth=WIDE),
        ),
    ):
        with pytest.raises(ValueError, match=rf"{what} builds a 10000 x 10000 rank grid .* at most 2048"):
            call()
    assert time.perf_counter() - start < 1.0
    limit = analysis.MAX_GRID_DEPTH
    assert analysis.weight_maps(64).adw.shape == (64, 64) and limit == 2048


def test_class_orders_gaps_and_tables_at_10000_classes():
    superclass_of = torch.arange(WIDE) % 100
    order = analysis.superclass_order(superclass_of)
    assert order.shape == (WIDE,) and len(analysis.group_boundaries(superclass_of[order])) == 99
    teacher, student = wide_logits(8, seed=87), wide_logits(8, seed=88)
    gap = analysis.matrix_gap(student=student, teacher=teacher)  # any matrices given: cost of their size
    assert gap.gap.shape == (8, WIDE)
    rows = analysis.fidelity_table(analysis.compare_fidelity({"s": student}, teacher))
    assert rows[0]["student"] == "s" and -1.0 <= rows[0]["kendall_tau_all"] <= 1.0
