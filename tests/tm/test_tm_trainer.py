"""TMReplayTrainer.compute_loss on a tiny synthetic model and cache (no checkpoint needed)."""

import pytest
import torch

transformers = pytest.importorskip("transformers")
from transformers.modeling_outputs import MaskedLMOutput  # noqa: E402

from mfa_engine.tm import ReplayCache, TMReplayTrainer, build_replay_cache, tm_loss  # noqa: E402


class CharTokenizer:
    """Minimal tokenizer: one id per character (1..), pad id 0."""

    pad_token_id = 0
    name_or_path = "char"
    vocab_size = 128

    def __call__(self, text, truncation=False, max_length=None, add_special_tokens=True):
        ids = [1 + (ord(ch) % 127) for ch in text]
        return {"input_ids": ids[:max_length] if truncation else ids}


class Tiny(torch.nn.Module):
    def __init__(self, H=6):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.emb = torch.nn.Embedding(128, H)
        self.lin = torch.nn.Linear(H, H)
        self.head = torch.nn.Linear(H, 128)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)

    def forward(self, input_ids, attention_mask=None, labels=None, output_hidden_states=False):
        e = self.emb(input_ids)
        h = torch.tanh(self.lin(e))
        logits = self.head(h)
        loss = None
        if labels is not None:
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 128), labels.reshape(-1), ignore_index=-100)
        return MaskedLMOutput(loss=loss, logits=logits, hidden_states=(e, h))


TEXTS = ["abc", "hello world", "x", "tm loss", "replay!"]


@pytest.fixture
def setup(tmp_path):
    model = Tiny()
    cache = ReplayCache(build_replay_cache(model, TEXTS, tmp_path / "c", tokenizer=CharTokenizer(), batch_size=2,
                                           max_length=8, progress=False))
    return model, cache


def _trainer(model, cache, tmp_path, **kw):
    args = transformers.TrainingArguments(output_dir=str(tmp_path / "o"), report_to=[], use_cpu=True)
    t = TMReplayTrainer(model=model, args=args, replay_cache=cache, replay_batch_size=2, **kw)
    t.next_replay_indices = lambda: [1, 3]
    return t


def _task_inputs():
    ids = torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0]])
    return {"input_ids": ids, "attention_mask": (ids != 0).long(), "labels": ids.masked_fill(ids == 0, -100)}


def _manual_tm(model, cache, reduction="nonzero_mean"):
    b = cache.batch([1, 3])
    h = model(b["input_ids"], b["attention_mask"], output_hidden_states=True).hidden_states[-1]
    pos, neg = cache.thresholds()
    return tm_loss(h, b["states"], pos, neg, b["attention_mask"], reduction)


def test_unchanged_model_has_zero_tm(setup, tmp_path):
    model, cache = setup
    assert cache.meta["layer"] == -1 and cache.hidden_size == 6
    assert _manual_tm(model, cache).item() == 0.0


@pytest.mark.parametrize("weight", [0.5, "dynamic"])
def test_compute_loss_adds_weighted_tm(setup, tmp_path, weight):
    model, cache = setup
    with torch.no_grad():
        model.lin.bias.add_(0.7)  # move the activations away from the reference
    trainer = _trainer(model, cache, tmp_path, tm_weight=weight, tm_weight_clamp=(0.0, 3.0))
    model.train()
    inputs = _task_inputs()
    loss = trainer.compute_loss(model, inputs)
    task = model(**inputs).loss
    tm = _manual_tm(model, cache)
    assert tm.item() > 0
    w = 0.5 if weight == 0.5 else min(max(task.item() / (tm.item() + 1e-8), 0.0), 3.0)
    assert loss.item() == pytest.approx(task.item() + w * tm.item(), rel=1e-6)
    rec = trainer.tm_history[-1]
    assert rec["tm_weight"] == pytest.approx(w, rel=1e-6) and rec["tm_loss"] == pytest.approx(tm.item(), rel=1e-6)
    # gradient of the TM term reaches the model (detached weight): compare with the manual sum
    model.zero_grad()
    loss.backward()
    g_trainer = model.lin.weight.grad.clone()
    model.zero_grad()
    (model(**inputs).loss + w * _manual_tm(model, cache)).backward()
    torch.testing.assert_close(g_trainer, model.lin.weight.grad, rtol=1e-5, atol=1e-7)


def test_eval_mode_has_no_replay(setup, tmp_path):
    model, cache = setup
    trainer = _trainer(model, cache, tmp_path, tm_weight=1.0)
    model.eval()
    loss = trainer.compute_loss(model, _task_inputs())
    assert loss.item() == pytest.approx(model(**_task_inputs()).loss.item()) and trainer.tm_history == []


def test_replay_sampler_cycles_through_shuffled_epochs(setup, tmp_path):
    model, cache = setup
    args = transformers.TrainingArguments(output_dir=str(tmp_path / "o"), report_to=[], use_cpu=True)
    t = TMReplayTrainer(model=model, args=args, replay_cache=cache, replay_batch_size=5, replay_seed=3)
    first, second = t.next_replay_indices(), t.next_replay_indices()
    assert sorted(first) == sorted(second) == list(range(len(TEXTS)))
