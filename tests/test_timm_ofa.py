"""timm's architectures in the zoo (the seed's Table 4 models) and the OFA loss (Hao et al., NeurIPS 2023).

Everything on the CPU at tiny sizes: class counts of 3, batches of 2, 224 x 224 only where the
architectures need it.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("timm")

from ldrrld_core.losses import create_loss  # noqa: E402
from ldrrld_core.losses.ofa import OFALoss, ofa_term  # noqa: E402
from ldrrld_core.losses.sdd import PyramidLogits  # noqa: E402
from ldrrld_core.models import create_model, list_models, model_info  # noqa: E402
from ldrrld_core.models.timm_models import SEED_NAMES, HeadDroppedWarning, TimmClassifier, timm_name  # noqa: E402
from ldrrld_core.train.loop import train_step  # noqa: E402

TOKEN_MODELS = {"ViT-S", "DeiT-T", "Mixer-B/16", "ResMLP-S12"}


# ------------------------------------------------------------------------------------ OFA's term


def naive_ofa(student: torch.Tensor, teacher: torch.Tensor, target: torch.Tensor, eps: float) -> torch.Tensor:
    """The paper's term as loops: mean over samples of sum over classes of -((p_t + 1[y])^eps - 1[y]) log p_s."""
    batch, classes = student.shape
    total = torch.zeros((), dtype=torch.float64)
    for i in range(batch):
        p_s = torch.exp(student[i]) / torch.exp(student[i]).sum()
        p_t = torch.exp(teacher[i]) / torch.exp(teacher[i]).sum()
        for c in range(classes):
            indicator = 1.0 if c == int(target[i]) else 0.0
            total = total - ((p_t[c] + indicator) ** eps - indicator) * torch.log(p_s[c])
    return total / batch


@pytest.mark.parametrize("eps", [1.0, 1.5, 2.0])
def test_ofa_term_matches_the_papers_loop(eps):
    torch.manual_seed(0)
    student, teacher = torch.randn(5, 7, dtype=torch.float64) * 3, torch.randn(5, 7, dtype=torch.float64) * 3
    target = torch.randint(0, 7, (5,))
    torch.testing.assert_close(ofa_term(student, teacher, target, eps), naive_ofa(student, teacher, target, eps))


def test_ofa_term_at_eps_1_is_cross_entropy_to_the_teacher():
    torch.manual_seed(1)
    student, teacher, target = (
        torch.randn(4, 6, dtype=torch.float64),
        torch.randn(4, 6, dtype=torch.float64),
        torch.arange(4),
    )
    expected = -(F.softmax(teacher, 1) * F.log_softmax(student, 1)).sum(1).mean()
    torch.testing.assert_close(ofa_term(student, teacher, target, 1.0), expected)


def test_ofa_term_gradcheck():
    torch.manual_seed(2)
    student = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    teacher, target = torch.randn(3, 5, dtype=torch.float64), torch.tensor([0, 4, 2])
    assert torch.autograd.gradcheck(lambda s: ofa_term(s, teacher, target, 1.5), (student,))
    assert torch.autograd.gradgradcheck(lambda s: ofa_term(s, teacher, target, 1.0), (student,))


def test_ofa_loss_weighs_ce_and_every_term():
    torch.manual_seed(3)
    logits, teacher = torch.randn(4, 6, dtype=torch.float64), torch.randn(4, 6, dtype=torch.float64)
    stages = [torch.randn(4, 6, dtype=torch.float64) for _ in range(3)]
    target = torch.tensor([1, 0, 5, 3])
    loss = OFALoss(ce_weight=0.5, kd_weight=0.1, stage_weight=0.3, eps=1.2)
    value = loss(torch.stack([logits, *stages], 1), teacher, target)
    heads = sum(naive_ofa(z, teacher, target, 1.2) for z in stages)
    expected = 0.5 * F.cross_entropy(logits, target) + 0.1 * naive_ofa(logits, teacher, target, 1.2) + 0.3 * heads
    torch.testing.assert_close(value, expected)
    assert set(loss.last_terms) == {"ce", "ofa_final", "ofa_stages", "ofa_stage1", "ofa_stage2", "ofa_stage3", "loss"}
    torch.testing.assert_close(
        loss(logits, teacher, target),
        0.5 * F.cross_entropy(logits, target) + 0.1 * naive_ofa(logits, teacher, target, 1.2),
    )
    with pytest.raises(ValueError, match="both student= .* and num_classes="):
        OFALoss(student="timm:ResNet18")


def test_ofa_heads_are_the_losss_state_and_only_the_student_gets_them():
    loss = create_loss("ofa", student="resnet8x4", num_classes=3)
    # The paper's design: K - k separable down-sampling blocks for stage k of K (a 1x1 convolution for
    # the last), pooling, a linear layer from the feature width.
    separable = [sum(isinstance(m, torch.nn.Sequential) for m in head) for head in loss.heads]
    assert separable == [3, 2, 1, 0] and isinstance(loss.heads[3][0], torch.nn.Conv2d)
    assert all(head[-1].in_features == 256 and head[-1].out_features == 3 for head in loss.heads)
    student, teacher = create_model("resnet8x4", num_classes=3), create_model("resnet8", num_classes=3)
    view = loss.model_outputs(student)
    assert loss.model_outputs(teacher) is teacher, "the teacher is read as plain logits"
    assert not any(p is q for p in view.parameters() for q in loss.heads.parameters()), "heads stay the loss's"
    outputs = view(torch.randn(2, 3, 32, 32))
    assert outputs.shape == (2, 5, 3) and loss.logits_of(outputs).shape == (2, 3)
    state = loss.state_dict()
    assert any(key.startswith("heads.") for key in state)
    again = create_loss("ofa", student="resnet8x4", num_classes=3)
    again.load_state_dict(state)  # resumes exactly
    for key, value in again.state_dict().items():
        torch.testing.assert_close(value, state[key])


def test_ofa_token_heads_for_transformer_students():
    from ldrrld_core.losses.ofa import _TokenHead

    loss = create_loss("ofa", student="Swin-P", teacher="ConvNeXt-T", num_classes=3)
    assert all(isinstance(head, _TokenHead) for head in loss.heads)
    assert [len(head.blocks) for head in loss.heads] == [3, 2, 1, 1]
    assert [len(head.merge) for head in loss.heads] == [3, 2, 1, 0]  # grids 56, 28, 14, 7 merged down to 7
    with torch.no_grad():
        assert loss.heads[0](torch.randn(1, 48, 56, 56)).shape == (1, 3)
    deit = create_loss("ofa", student="DeiT-T", num_classes=3)
    assert [len(head.merge) for head in deit.heads] == [1] * 4 and deit.hparams()["teacher"] is None


# --------------------------------------------------------------------------------- timm's models


def test_every_table4_architecture_is_registered_under_both_names():
    names = set(list_models("timm"))
    for seed, arch in SEED_NAMES.items():
        assert f"timm:{seed}" in names and timm_name(f"timm:{seed}") == arch
        if arch != "swin_pico":
            assert f"timm:{arch}" in names and timm_name(f"timm:{arch}") == arch
            assert model_info(f"timm:{arch}").builder.args == model_info(f"timm:{seed}").builder.args == (arch,)
    # The colliding names keep their zoo meaning; the timm networks need the prefix.
    assert model_info("MobileNetV2").family == "cifar" and "ResNet18" not in names
    assert model_info("resnet18").family == "imagenet" and model_info("timm:resnet18").family == "timm"
    assert model_info("Swin-T").input_shape == (3, 224, 224)


@pytest.mark.parametrize("seed", list(SEED_NAMES))
def test_every_table4_architecture_builds(seed):
    torch.manual_seed(0)
    model = create_model(f"timm:{seed}", num_classes=3)
    assert isinstance(model, TimmClassifier) and model.num_classes == 3 and model.arch == f"timm:{seed}"
    assert model.has_feature_map is (seed not in TOKEN_MODELS)
    assert len(model.stage_indices) == 4
    head = model.get_classifier()
    assert [m for m in head.modules() if isinstance(m, torch.nn.Linear)][-1].out_features == 3
    assert model.state_dict().keys() == model._network.state_dict().keys(), "timm's own parameter names"


def test_swin_p_has_the_published_size():
    model = create_model("Swin-P", num_classes=100)
    assert 5.1e6 < sum(p.numel() for p in model.parameters()) < 5.3e6  # about 5.2 M at 100 classes


def test_feature_interface_agrees_with_timms_forward():
    torch.manual_seed(4)
    images = torch.randn(1, 3, 224, 224)
    for name in ("Swin-P", "DeiT-T"):
        model = create_model(name, num_classes=3).eval()
        with torch.no_grad():
            stages = model.forward_stages(images)
            torch.testing.assert_close(model(images), model._network(images))
            torch.testing.assert_close(model.get_classifier()(stages[-1]), model._network(images))
            assert len(stages) == 5 and all(stage.dim() == 4 for stage in stages[:-1])
            if model.has_feature_map:
                torch.testing.assert_close(model.forward_features(images).mean((2, 3)), stages[-1])
    with pytest.raises(ValueError, match="SDD needs a spatial feature map"):
        PyramidLogits(model)  # SDD refuses DeiT


def test_moving_a_model_keeps_timms_own_tensors_in_step():
    model = create_model("DeiT-T", num_classes=3).double()
    assert model._network.cls_token is model.cls_token and model.cls_token.dtype == torch.float64
    model.eval()
    assert not model._network.training
    twin = copy.deepcopy(model)  # an EMA copy or a spawned process: the hidden network follows its own tensors
    assert twin._network.cls_token is twin.cls_token and twin.cls_token is not model.cls_token


def test_heterogeneous_kd_step_vit_teacher_to_resnet18():
    torch.manual_seed(5)
    teacher = create_model("ViT-S", num_classes=3).eval()
    student = create_model("timm:ResNet18", num_classes=3)
    loss = create_loss("ofa", student="timm:ResNet18", num_classes=3)
    view, teacher_view = loss.model_outputs(student), loss.model_outputs(teacher)
    assert teacher_view is teacher
    optimizer = torch.optim.SGD([*student.parameters(), *loss.parameters()], lr=0.1)
    before = [p.detach().clone() for p in loss.heads.parameters()]
    images, labels = torch.randn(2, 3, 224, 224), torch.tensor([0, 2])
    logits = train_step(view, teacher_view, loss, optimizer, images, labels)
    assert logits.shape == (2, 3) and torch.isfinite(loss.last_terms["loss"])
    assert {"ofa_stage1", "ofa_stage4", "ofa_final"} <= set(loss.last_terms)
    assert any(not torch.equal(b, p) for b, p in zip(before, loss.heads.parameters())), "the heads learn"


# ------------------------------------------------------------------------------------ checkpoints


def test_imagenet_checkpoint_fine_tunes_with_its_head_dropped(tmp_path):
    import timm

    torch.manual_seed(6)
    imagenet = timm.create_model("mobilenetv2_100", pretrained=False, num_classes=10)  # a 10-class "ImageNet" file
    path = tmp_path / "mobilenetv2_imagenet.pth"
    torch.save(imagenet.state_dict(), path)
    with pytest.warns(HeadDroppedWarning, match=r"classifier.weight, classifier.bias, 10 classes\) was dropped"):
        model = create_model("timm:MobileNetV2", num_classes=3, imagenet_checkpoint=path)
    own = model.state_dict()
    for key, value in imagenet.state_dict().items():
        if key.startswith("classifier."):
            assert own[key].shape[0] == 3
        else:
            torch.testing.assert_close(own[key], value)


def test_fine_tuned_checkpoint_loads_strictly_raw_or_ema_chosen(tmp_path):
    import timm

    torch.manual_seed(7)
    raw, ema = (timm.create_model("mobilenetv2_100", pretrained=False, num_classes=3) for _ in range(2))
    path = tmp_path / "checkpoint-299.pth.tar"  # timm's train.py layout
    torch.save(
        {"epoch": 299, "arch": "mobilenetv2_100", "state_dict": raw.state_dict(), "state_dict_ema": ema.state_dict()},
        path,
    )
    with pytest.raises(ValueError, match="weights='raw' or weights='ema'"):
        create_model("timm:MobileNetV2", num_classes=3, checkpoint=path)
    images = torch.randn(1, 3, 64, 64)
    for weights, source in (("raw", raw), ("ema", ema)):
        model = create_model("timm:mobilenetv2_100", num_classes=3, finetuned_checkpoint=path, weights=weights).eval()
        with torch.no_grad():
            torch.testing.assert_close(model(images), source.eval()(images))
    plain = tmp_path / "finetuned.pth"
    torch.save(raw.state_dict(), plain)
    model = create_model("timm:MobileNetV2", num_classes=3, checkpoint=plain).eval()
    with torch.no_grad():
        torch.testing.assert_close(model(images), raw(images))
    with pytest.raises(Exception, match="classes"):
        create_model("timm:MobileNetV2", num_classes=5, checkpoint=plain)  # strict: another head is refused


# ------------------------------------------------------------------------- the seed's tables, recipes


def test_seed_tables_keep_every_number_and_give_every_cell_a_command():
    from pathlib import Path

    from ldrrld_core.losses import LOSSES
    from ldrrld_core.reproduce.seed_tables import TABLE3, TABLE4, seed_commands, seed_markdown

    assert TABLE3.rows[0].numbers[-2:] == ("71.35*", "71.88") and TABLE3.rows[0].top5[10] == "-"
    assert TABLE3.columns_of[1][6].title == "IPWD" and TABLE3.columns_of[1][6].quoted_only
    assert len(TABLE4.rows) == 12 and TABLE4.rows[-1].numbers[6] == "11.05"  # DIST, Swin-T -> ResMLP-S12
    assert [row.teacher_number for row in TABLE4.rows[:3]] == ["89.26", "92.04", "87.29"]
    for table in (TABLE3, TABLE4):
        for row, columns in zip(table.rows, table.columns_of):
            assert all(column.loss in LOSSES for column in columns if not column.quoted_only)
            assert model_info(row.teacher) and model_info(row.student)
        listing = seed_commands(table)
        cells = sum(len(columns) for columns in table.columns_of)
        assert len(listing) == cells + len({row.student for row in table.rows})
        for _, column, command in listing:
            assert command.startswith("ldrrld ") or command.startswith("# quoted only: ")
    ofa = [command for pair, column, command in seed_commands(TABLE4) if column == "OFA"][0]
    assert "--loss-option student=timm:ResNet18" in ofa and "--loss-option kd_weight=0.1" in ofa
    assert "--recipe cifar100-224-cnn" in ofa
    document = Path(__file__).resolve().parents[1] / "docs" / "reproduce.md"
    assert seed_markdown() in document.read_text(), "docs/reproduce.md keeps the generated tables"


def test_the_seed_listing_command(capsys):
    from ldrrld_core.reproduce.command import main

    assert main(["seed", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "ldrrld distill --teacher timm:ViT-S --model timm:ResNet18 --loss ofa" in out and "seed2" in out


def test_ofa_kd_recipes_are_defined_and_runnable():
    from ldrrld_core.train.ofa_recipes import ofa_recipe, require_runnable

    cnn, vit = ofa_recipe("cifar100-224-cnn"), ofa_recipe("cifar100-224-vit")
    assert (cnn.optimizer, cnn.lr, cnn.min_lr, cnn.weight_decay, cnn.warmup_epochs) == ("SGD", 0.05, 1e-3, 2e-3, 3)
    assert (vit.optimizer, vit.lr, vit.mixup, vit.cutmix, vit.random_erasing, vit.clip_grad) == (
        "AdamW",
        5e-4,
        0.8,
        1.0,
        0.25,
        5.0,
    )
    require_runnable("cifar100-224-vit")  # the trainer has every piece now (tests/test_ofa_training.py)
    require_runnable("cifar100-224-cnn")


def test_every_imagenet_cell_command_builds_its_recipe():
    from seed_recipes import seed_recipes

    from ldrrld_core.reproduce.seed_tables import TABLE3

    for pair, column, _, recipe in seed_recipes(TABLE3):
        assert recipe.data == "imagenet" and recipe.model in ("resnet18", "mobilenet_v1"), (pair, column)
        if column == "LSKD" and "mobilenet_v1" in pair:
            assert recipe.loss_hparams["ce_weight"] == 0.5


def test_the_trainer_trains_saves_and_resumes_ofas_heads(tmp_path):
    import warnings

    from ldrrld_core.train import fit, get_recipe

    options = {"ofa": {"student": "digits_cnn_small", "num_classes": 10}}
    recipe = get_recipe(
        "digits",
        model="digits_cnn_small",
        teacher="digits_cnn",
        loss="ofa",
        loss_options=options,
        out_dir=str(tmp_path),
    )
    teacher = create_model("digits_cnn", num_classes=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a one-epoch schedule and an untrained teacher, on purpose
        fit(recipe.replace(epochs=1), teacher=teacher, device="cpu", progress=False)
        first = torch.load(tmp_path / "latest.pth", weights_only=False)["loss"]
        assert any(key.startswith("heads.") for key in first)
        fit(recipe.replace(epochs=2), teacher=teacher, device="cpu", progress=False, resume=True)
    second = torch.load(tmp_path / "latest.pth", weights_only=False)
    assert second["epoch"] == 2 and second["loss"].keys() == first.keys()
    moved = [
        key for key in first if first[key].is_floating_point() and not torch.equal(first[key], second["loss"][key])
    ]
    assert any(key.startswith("heads.") for key in moved), "the resumed run kept training the heads"


def test_ofa_kd_data_pieces_are_timms():
    import numpy as np
    from PIL import Image

    from ldrrld_core.train.ofa_recipes import ofa_mixup, ofa_transforms

    image = Image.fromarray((np.random.default_rng(0).random((32, 32, 3)) * 255).astype("uint8"))  # a CIFAR image
    train, evaluation = ofa_transforms("cifar100-224-cnn", "timm:ResNet18")
    assert train(image).shape == evaluation(image).shape == (3, 224, 224)
    assert "size=256, interpolation=bilinear" in repr(evaluation), "timm 0.6.5's resnet18: bilinear, crop 0.875"
    train, evaluation = ofa_transforms("cifar100-224-vit", "DeiT-T")
    assert "RandAugment" in repr(train) and "RandomErasing(p=0.25" in repr(train) and "size=248" in repr(evaluation)
    assert ofa_mixup("cifar100-224-cnn") is None
    images, targets = ofa_mixup("cifar100-224-vit")(torch.randn(2, 3, 224, 224), torch.tensor([0, 1]))
    assert images.shape == (2, 3, 224, 224) and targets.shape == (2, 100)
    torch.testing.assert_close(targets.sum(1), torch.ones(2))
