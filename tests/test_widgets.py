"""The live panel: set slider values, check the recomputed numbers and the redrawn figure."""

import base64

import numpy as np
import pytest
import torch

from ldrrld_core import analysis
from ldrrld_core.losses import ldrrld_loss
from ldrrld_viz import weight_panel


def heatmaps(fig):
    return [np.asarray(trace.z, dtype=float) for trace in fig.data if trace.type == "heatmap"]


def decode(array):
    """A plotly JSON array: a list, or a typed array ``{"dtype", "bdata", "shape"}``."""
    if not isinstance(array, dict):
        return np.asarray(array, dtype=float)
    flat = np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"])
    return flat.reshape([int(n) for n in str(array["shape"]).split(",")]).astype(float)


@pytest.fixture
def sample():
    g = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(10, generator=g) * 3, torch.randn(10, generator=g) * 3
    return {"student_logits": student, "teacher_logits": teacher}


def test_panel_starts_from_its_arguments(sample):
    panel = weight_panel(**sample, depth=6, decay=0.1, temperature=2.0)
    state = panel.state
    assert (state.depth, state.decay, state.temperature, state.redraws) == (6, 0.1, 2.0, 1)
    assert panel.controls.depth.max == 10  # the sample has 10 classes
    assert torch.equal(state.weights.adw, analysis.weight_maps(6, 0.1).adw)
    student, teacher = sample["student_logits"][None].double(), sample["teacher_logits"][None].double()
    loss = ldrrld_loss(student, teacher, depth=6, decay=0.1, temperature=2.0)
    assert state.sample.local == pytest.approx(loss.local.item())
    assert state.summary in panel.widget.children[2].value
    assert repr(panel) == "WeightPanel(depth=6, decay=0.10, temperature=2)"


def test_moving_the_depth_slider_recomputes_and_redraws(sample):
    panel = weight_panel(**sample)
    before = panel.state
    panel.controls.depth.value = 4
    after = panel.state
    assert after.redraws == before.redraws + 1 and after.depth == 4
    assert after.weights.adw.shape == (4, 4) and after.sample.pair_kl.shape == (6,)
    assert torch.equal(after.weights.adw, analysis.weight_maps(4, 0.05).adw)
    top = torch.argsort(sample["student_logits"], descending=True)[:4]
    assert after.sample.top_classes.tolist() == top.tolist()
    drawn = heatmaps(after.figure)
    assert [z.shape for z in drawn] == [(4, 4)] * 6  # IRW, ERD, ADW, share, pair KL, contribution
    assert np.allclose(drawn[2][np.triu_indices(4, 1)], after.weights.adw[np.triu_indices(4, 1)])
    assert after.summary != before.summary and "d = 4: 6 pairs" in after.summary
    panel.controls.depth.value = 2
    assert "d = 2: 1 pair;" in panel.state.summary, "one pair, in the singular"
    panel.controls.depth.value = 4
    shown = panel.widget.children[3].outputs[0]["data"]["application/vnd.plotly.v1+json"]
    assert np.allclose(decode(shown["data"][2]["z"]), drawn[2], equal_nan=True)  # the output widget redrew


def test_decay_and_temperature_sliders(sample):
    panel = weight_panel(**sample)
    panel.controls.decay.value = 0.3
    assert panel.state.decay == 0.3
    assert torch.allclose(panel.state.weights.erd, analysis.weight_maps(7, 0.3).erd)
    local_at_4 = panel.state.sample.local
    panel.controls.temperature.value = 1.0
    assert panel.state.sample.temperature == 1.0 and panel.state.sample.local != local_at_4
    expected = analysis.sample_relations(**sample, depth=7, decay=0.3, temperature=1.0)
    assert panel.state.sample.local == pytest.approx(expected.local)
    assert panel.state.redraws == 3


def test_panel_without_a_sample_and_matplotlib():
    panel = weight_panel(backend="matplotlib")
    assert panel.state.sample is None and panel.controls.temperature.disabled
    panel.controls.depth.value = 9
    assert panel.state.weights.depth == 9
    image = panel.state.figure.axes[0].images[0].get_array()
    assert image.shape == (9, 9)
    assert "image/png" in panel.widget.children[3].outputs[0]["data"]


def test_panel_displays_with_a_stable_text(sample):
    bundle = weight_panel(**sample)._repr_mimebundle_()
    assert bundle["text/plain"] == "WeightPanel(depth=7, decay=0.05, temperature=4)"
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_panel_rejects_bad_settings(sample):
    with pytest.raises(ValueError, match="both student_logits and teacher_logits"):
        weight_panel(student_logits=sample["student_logits"])
    with pytest.raises(TypeError):  # by keyword only: a student and a teacher cannot be swapped unnoticed
        weight_panel(sample["student_logits"], sample["teacher_logits"])
    with pytest.raises(ValueError, match="class counts differ"):
        weight_panel(student_logits=sample["student_logits"], teacher_logits=sample["teacher_logits"][:9])
    with pytest.raises(ValueError, match="class_names has 3 names but there are 10 classes"):
        weight_panel(**sample, class_names=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"depth must lie in \[2, 10\]"):
        weight_panel(**sample, depth=11)
    with pytest.raises(ValueError, match="exceeds the sample's 10 classes"):
        weight_panel(**sample, max_depth=12)
    with pytest.raises(ValueError, match=r"decay must lie in \[0, 0.5\]"):
        weight_panel(**sample, decay=0.8)
    with pytest.raises(ValueError, match=r"temperature must lie in \[0.5, 10\]"):
        weight_panel(temperature=20.0)


def test_cells_above_a_fixed_colour_range_are_marked_and_counted(sample):
    """The ranges hold still while the sliders move; a cell pushed above its range is counted in the
    caption under the figure, and the static picture's colour bar carries an arrow at its top."""
    from ldrrld_viz.widgets import clipped_caption

    panel = weight_panel(**sample, backend="matplotlib")
    assert panel.state.caption == "" and not any(panel.state.clipped.values()), "nothing clipped at the start"
    extends = [ax._colorbar.extend for ax in panel.state.figure.axes if hasattr(ax, "_colorbar")]
    assert extends and set(extends) == {"neither"}, "no arrow while every cell lies in its range"
    panel.controls.depth.value = 3
    panel.controls.temperature.value = 1.0
    images = [ax.images[0] for ax in panel.state.figure.axes if ax.images and not hasattr(ax, "_colorbar")]
    above = {}
    for part, image in zip(("irw", "erd", "adw", "share", "pair_kl", "contribution"), images):
        values = np.ma.filled(image.get_array().astype(float), np.nan)
        above[part] = int((values[np.isfinite(values)] > image.get_clim()[1] * (1 + 1e-9)).sum())
    assert above == panel.state.clipped and sum(above.values()) > 0
    caption = panel.widget.children[4].value
    assert panel.state.caption == clipped_caption(above) and panel.state.caption in caption
    assert f"{sum(above.values())} cells lie above their fixed colour range" in caption
    extends = [ax._colorbar.extend for ax in panel.state.figure.axes if hasattr(ax, "_colorbar")]
    assert extends.count("max") == sum(1 for n in above.values() if n), "an arrow on each clipped bar"


def test_a_disabled_temperature_slider_says_why():
    from ldrrld_viz.widgets import NO_SAMPLE_TEMPERATURE

    panel = weight_panel()
    slider, note = panel.widget.children[1].children
    assert slider is panel.controls.temperature and slider.disabled
    assert note.value == NO_SAMPLE_TEMPERATURE == slider.tooltip
    assert "student_logits and teacher_logits" in note.value
    live = weight_panel(student_logits=torch.randn(10), teacher_logits=torch.randn(10))
    assert not live.controls.temperature.disabled and live.temperature_note.value == ""
