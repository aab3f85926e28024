"""LinearClassifier / LinearSVM / Softmax: course and scikit-learn interfaces, registry, save/load,
and real CIFAR-10 accuracy."""

from __future__ import annotations

import pytest
import torch

from deepclass.data import preprocess_cifar10
from deepclass.errors import CheckpointError, ConfigError
from deepclass.linear import LinearClassifier, LinearSVM, Softmax
from deepclass.linear.losses import softmax_loss_vectorized, svm_loss_vectorized
from deepclass.linear.search import BEST_PARAMS
from deepclass.registry import build_model, get_model, model_names
from deepclass.seed import seed_everything


def blobs(n_per_class=60, D=10, C=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = 3 * torch.randn(C, D, generator=g)
    y = torch.arange(C).repeat_interleave(n_per_class)
    X = torch.cat([centers[y] + torch.randn(len(y), D, generator=g), torch.ones(len(y), 1)], 1)
    return X, y


def test_registry_builds_both_models():
    assert model_names("linear")[:2] == ["svm", "softmax"]
    assert isinstance(build_model("linear", "svm"), LinearSVM)
    assert isinstance(build_model("linear", "softmax", reg=0.5), Softmax)
    assert build_model("linear", "softmax", reg=0.5).reg == 0.5
    assert "hinge" in get_model("linear", "svm").description
    with pytest.raises(ConfigError, match="valid: svm, softmax"):
        get_model("linear", "knn")


@pytest.mark.parametrize(
    ("cls", "fn"), [(LinearSVM, svm_loss_vectorized), (Softmax, softmax_loss_vectorized)]
)
def test_loss_method_is_the_vectorized_loss(cls, fn):
    X, y = blobs()
    W = 0.01 * torch.randn(X.shape[1], 3)
    (l1, d1), (l2, d2) = cls().loss(W, X, y, 0.1), fn(W, X, y, 0.1)
    assert torch.equal(l1, l2) and torch.equal(d1, d2)


def test_base_class_has_no_loss():
    X, y = blobs()
    with pytest.raises(NotImplementedError):
        LinearClassifier().train(X, y)


@pytest.mark.parametrize("cls", [LinearSVM, Softmax])
def test_course_train_continues_from_current_w(cls):
    X, y = blobs()
    model = cls()
    seed_everything(0)
    first = model.train(X, y, learning_rate=1e-2, reg=1e-4, num_iters=100, batch_size=32)
    W_after_first = model.W.clone()
    second = model.train(X, y, learning_rate=1e-2, reg=1e-4, num_iters=10, batch_size=32)
    assert len(first) == 100 and len(second) == 10 and model.loss_history == second
    assert second[0] < 0.5 * first[0], "the second call must start from the trained W"
    assert not torch.equal(model.W, W_after_first)
    assert model.predict(X).dtype == torch.int64


@pytest.mark.parametrize("cls", [LinearSVM, Softmax])
def test_sklearn_fit_predict_score(cls):
    X, y = blobs()
    model = cls(learning_rate=1e-2, reg=1e-4, num_iters=150, batch_size=32)
    seed_everything(0)
    assert model.fit(X, y) is model
    W1 = model.W.clone()
    assert model.score(X, y) > 0.97
    assert model.score(X, y) == (model.predict(X) == y).double().mean().item()
    seed_everything(0)
    model.fit(X, y)  # fit starts from a fresh W: same seed, same result
    assert torch.equal(model.W, W1)
    assert "num_iters=150" in repr(model)


def test_untrained_model_errors():
    X, y = blobs()
    with pytest.raises(ConfigError, match=r"not trained.*predict"):
        Softmax().predict(X)
    with pytest.raises(ConfigError, match=r"not trained.*save"):
        LinearSVM().save("unused.pt")
    with pytest.raises(ConfigError, match=r"y must have shape \(180,\)"):
        Softmax(num_iters=5).fit(X, y).score(X, y[:10])


@pytest.mark.parametrize("cls", [LinearSVM, Softmax])
def test_save_load_round_trip(cls, tmp_path):
    X, y = blobs()
    seed_everything(0)
    model = cls(learning_rate=3e-3, reg=2e-3, num_iters=40, batch_size=16).fit(X, y)
    path = model.save(tmp_path / "sub" / "model.pt")
    loaded = cls().load(path)
    assert torch.equal(loaded.W, model.W)
    assert torch.equal(loaded.predict(X), model.predict(X))
    assert (loaded.learning_rate, loaded.reg, loaded.num_iters, loaded.batch_size) == (
        3e-3,
        2e-3,
        40,
        16,
    )


def test_load_rejects_other_model_and_garbage(tmp_path):
    X, y = blobs()
    path = LinearSVM(num_iters=5).fit(X, y).save(tmp_path / "svm.pt")
    with pytest.raises(CheckpointError, match=r"holds a 'svm' model.*Softmax"):
        Softmax().load(path)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable"):
        LinearSVM().load(junk)
    other = tmp_path / "other.pt"
    torch.save({"W": torch.zeros(3, 3)}, other)
    with pytest.raises(CheckpointError, match="not a deepclass linear-classifier checkpoint"):
        LinearSVM().load(other)
    with pytest.raises(FileNotFoundError):
        LinearSVM().load(tmp_path / "missing.pt")


@pytest.fixture(scope="module")
def cifar_small(data_dir):
    """Real CIFAR-10 with the course preprocessing: 4,000 train / 1,000 val / 1,000 test."""
    return preprocess_cifar10(bias_trick=True, data_dir=data_dir, num_train=5000, num_test=1000)


@pytest.mark.slow
@pytest.mark.parametrize("cls", [LinearSVM, Softmax])
def test_real_cifar10_subset_beats_30_percent(cls, cifar_small):
    d = cifar_small
    assert d["X_train"].shape == (4000, 3073) and d["X_val"].shape == (1000, 3073)
    lr, reg = BEST_PARAMS[cls.name]
    seed_everything(0)
    model = cls(learning_rate=lr, reg=reg, num_iters=300, batch_size=200).fit(
        d["X_train"], d["y_train"]
    )
    assert model.score(d["X_val"], d["y_val"]) > 0.30
