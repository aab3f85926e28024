"""Accuracy, confusion matrices, seeding and the model registry."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from deepclass import registry
from deepclass.errors import ConfigError
from deepclass.metrics import accuracy, confusion_matrix, per_class_accuracy
from deepclass.seed import get_rng_state, make_generator, seed_everything, set_rng_state


def test_accuracy_from_scores_predictions_and_probabilities():
    scores = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    y = torch.tensor([1, 1, 1])
    assert accuracy(scores, y) == pytest.approx(2 / 3)
    assert accuracy(torch.tensor([1, 0, 1]), y) == pytest.approx(2 / 3)
    assert accuracy(torch.tensor([0.9, 0.4, 0.5]), y) == pytest.approx(2 / 3)  # P(class 1)
    assert accuracy(np.array([0, 1]), np.array([0, 1])) == 1.0
    with pytest.raises(ConfigError, match="one label per prediction"):
        accuracy(scores, torch.tensor([1, 0]))


def test_confusion_matrix_matches_scikit_learn():
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    cm = confusion_matrix(torch.from_numpy(p), y, 4)
    assert np.array_equal(cm, sk_confusion_matrix(y, p, labels=range(4)))
    np.testing.assert_allclose(per_class_accuracy(cm), [np.mean(p[y == c] == c) for c in range(4)])
    with pytest.raises(ConfigError, match=r"must be in \[0, 3\)"):
        confusion_matrix(p, y, 3)


def test_seed_everything_and_rng_state_round_trip():
    seed_everything(123)
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    seed_everything(123)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a
    state = get_rng_state()
    b = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == b
    for bad in (-1, 2**32, 1.5, "1"):
        with pytest.raises(ConfigError, match="seed"):
            seed_everything(bad)


def test_registry_registers_builds_and_lists_valid_names(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", {})

    @registry.register_model("nn", "tiny", "a tiny test model")
    def tiny(width=2):
        return torch.nn.Linear(width, 1)

    assert registry.model_names("nn")[-1] == "tiny"
    assert registry.build_model("nn", "tiny", width=3).in_features == 3
    assert registry.get_model("nn", "tiny").description == "a tiny test model"
    with pytest.raises(ConfigError, match=r"unknown model 'nope' for rung 'nn'; valid: .*tiny"):
        registry.get_model("nn", "nope")
    with pytest.raises(ConfigError, match="unknown rung 'rung9'; valid: linear, scratch"):
        registry.model_names("rung9")

    with pytest.raises(ConfigError, match="already registered"):

        @registry.register_model("nn", "tiny")
        def other():
            return None


def test_make_generator_is_seeded_or_drawn_from_the_global_stream():
    a, b = make_generator(7), make_generator(7)
    assert torch.equal(torch.rand(5, generator=a), torch.rand(5, generator=b))
    assert torch.equal(
        torch.rand(5, generator=make_generator(7)),
        torch.rand(5, generator=torch.Generator().manual_seed(7)),
    )
    assert not torch.equal(
        torch.rand(5, generator=make_generator(8)), torch.rand(5, generator=make_generator(7))
    )
    # None: a seed drawn from torch's global stream, so seed_everything makes it repeatable
    seed_everything(3)
    first = torch.rand(5, generator=make_generator(None))
    seed_everything(3)
    assert torch.equal(torch.rand(5, generator=make_generator(None)), first)
    assert not torch.equal(torch.rand(5, generator=make_generator(None)), first)
    assert make_generator(1, device="cpu").device == torch.device("cpu")


def test_all_models_lists_every_rung_and_every_name():
    everything = registry.all_models()
    assert list(everything) == list(registry.RUNG_MODULES)
    for rung, entries in everything.items():
        assert [e.name for e in entries] == registry.model_names(rung) and entries, rung
        for e in entries:
            assert e.rung == rung and e is registry.get_model(rung, e.name) and e.description
    names = {rung: {e.name for e in entries} for rung, entries in everything.items()}
    assert {"two_layer", "fc", "conv", "deep_conv"} <= names["scratch"]
    assert {"two_layer_fc", "three_layer_convnet"} <= names["barebones"]
    assert {"mlp", "speednet", "noisy"} <= names["nn"]
