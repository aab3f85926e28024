"""End to end: a short real MNIST run, evaluate/predict/export round trips, resume, NaN, errors."""

from __future__ import annotations

import contextlib
import csv
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from PIL import Image
from torch import nn

from deepclass.cli import main
from deepclass.data import load_dataset, to_tensor
from deepclass.lightning import TrainConfig, safe_load, train
from deepclass.lightning.callbacks import NonFiniteLossError, RNGState
from deepclass.lightning.inference import module_from_checkpoint

pytestmark = pytest.mark.slow


def run_main(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory, data_dir):
    """``deepclass train --preset mnist-mlp`` on 5,000 real MNIST images, 2 epochs."""
    out = tmp_path_factory.mktemp("runs")
    threads = torch.get_num_threads()
    code, stdout, stderr = run_main(
        "train", "--preset", "mnist-mlp", "--epochs", 2, "--train-samples", 5000,
        "--val-samples", 1000, "--test-samples", 2000, "--out", out, "--data-dir", data_dir,
    )  # fmt: skip
    assert code == 0, stderr
    assert torch.get_num_threads() == threads  # the preset's `threads: 1` was for the run only
    return out / "version_0", stdout


def test_short_mnist_run_writes_everything(mnist_run):
    run_dir, stdout = mnist_run
    lines = stdout.strip().splitlines()
    assert lines[-1].startswith("test acc: ") and lines[-2].startswith("val acc: ")
    test_acc = float(lines[-1].split(": ")[1])
    assert test_acc > 0.75  # 5,000 images, 2 epochs of seed 003's small MLP (chance: 0.1)
    assert any(line.startswith("epoch 2/2  train_loss") for line in lines)
    for key in ("best valid acc: ", "checkpoint: ", "wall time: ", "logs: "):
        assert any(line.startswith(key) for line in lines), key
    ckpts = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert len(ckpts) == 2 and ckpts[1] == "last.ckpt" and ckpts[0].startswith("best-epoch")
    for name in (
        "config.yaml",
        "hparams.yaml",
        "metrics.csv",
        "curves.png",
        "confusion_matrix.png",
    ):
        assert (run_dir / name).stat().st_size > 0, name
    assert (run_dir / "curves.png").read_bytes()[:4] == b"\x89PNG"
    # metrics.csv: one train and one valid row per epoch, then the test row
    with open(run_dir / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    epochs = {int(r["epoch"]) for r in rows if r["valid_acc"]}
    assert epochs == {0, 1}
    assert [float(r["test_acc"]) for r in rows if r["test_acc"]] == [
        pytest.approx(test_acc, abs=1e-4)
    ]
    # TensorBoard events hold the same scalars
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = [EventAccumulator(str(p)).Reload() for p in run_dir.glob("events.out.tfevents.*")]
    tags = set().union(*(set(e.Tags()["scalars"]) for e in events))
    assert {"train_loss", "train_acc", "valid_loss", "valid_acc", "test_acc"} <= tags


def test_checkpoint_reproduces_the_reported_test_accuracy(mnist_run, data_dir):
    """The inference path (normalisation + net from the checkpoint) agrees with Lightning's test."""
    run_dir, stdout = mnist_run
    best = next((run_dir / "checkpoints").glob("best-*.ckpt"))
    test_acc = float(stdout.strip().splitlines()[-1].split(": ")[1])
    module = module_from_checkpoint(best)
    test = load_dataset("mnist", data_dir, progress=False).test
    x, y = to_tensor(test.images[:2000]), torch.from_numpy(test.labels[:2000])
    with torch.no_grad():
        acc = (module.inference_model()(x).argmax(1) == y).double().mean().item()
    assert acc == pytest.approx(test_acc, abs=1e-6)


def test_evaluate_reports_per_class_accuracy(mnist_run, data_dir):
    run_dir, _ = mnist_run
    best = next((run_dir / "checkpoints").glob("best-*.ckpt"))
    code, out, err = run_main("evaluate", best, "--data-dir", data_dir)
    assert code == 0, err
    lines = out.strip().splitlines()
    per_class = [ln for ln in lines if ln.startswith("  ")]
    assert len(per_class) == 10
    counts = [int(ln.split("(")[1].split()[0]) for ln in per_class]
    accs = [float(ln.split()[1]) for ln in per_class]
    acc = float(lines[-1].split(": ")[1])
    assert lines[-1].startswith("test acc: ") and sum(counts) == 10_000
    assert acc == pytest.approx(np.dot(accs, counts) / 10_000, abs=2e-4)
    assert (run_dir / "confusion_matrix-mnist-test.png").is_file()


def test_predict_and_export_round_trip(mnist_run, data_dir, tmp_path):
    run_dir, _ = mnist_run
    best = next((run_dir / "checkpoints").glob("best-*.ckpt"))
    test = load_dataset("mnist", data_dir, progress=False).test
    # a user's files: one grey 28x28 PNG, one RGB JPEG at another size
    Image.fromarray(test.images[0, :, :, 0]).save(tmp_path / "digit.png")
    Image.fromarray(test.images[1, :, :, 0]).convert("RGB").resize((56, 56)).save(
        tmp_path / "big.png"
    )
    code, out, err = run_main(
        "predict", best, tmp_path / "digit.png", tmp_path / "big.png", "--top-k", 3
    )
    assert code == 0, err
    lines = out.strip().splitlines()
    assert [ln.split()[0] for ln in lines] == ["digit.png", "big.png"]
    module = module_from_checkpoint(best)
    with torch.no_grad():
        ref = module.inference_model()(to_tensor(test.images[:1]))
    first = lines[0].split()
    probs = [float(p) for p in first[2::2]]
    assert first[1] == module.hparams["classes"][int(ref.argmax())]
    assert probs == sorted(probs, reverse=True) and len(probs) == 3 and sum(probs) <= 1.0001
    assert probs[0] == pytest.approx(torch.softmax(ref, 1).max().item(), abs=1e-4)

    x = to_tensor(test.images[:16])
    with torch.no_grad():
        want = module.inference_model()(x).numpy()
    code, out, err = run_main("export", best, "--format", "onnx", "--out", tmp_path / "m.onnx")
    assert code == 0, err
    assert "verified" in out
    import onnxruntime as ort

    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert np.allclose(sess.run(None, {"input": x.numpy()})[0], want, atol=1e-4)
    code, out, err = run_main("export", best, "--format", "torchscript", "--out", tmp_path / "m.pt")
    assert code == 0, err
    with torch.no_grad():
        got = torch.jit.load(str(tmp_path / "m.pt"))(x).numpy()
    assert np.allclose(got, want, atol=1e-5)
    assert (tmp_path / "m.pt.json").is_file()


# ----------------------------------------------------------------- resume


class Crash(Callback):
    """Simulate a crash at the start of epoch ``at`` (after epoch at-1's checkpoint)."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.at:
            raise RuntimeError("simulated crash")


def xor_cfg(out: Path, **kw) -> TrainConfig:
    # `noisy` draws input noise from torch's global RNG, so RNG restoring matters;
    # SGD momentum, a warm-up + cosine schedule and EMA exercise the other restored states.
    base = dict(
        dataset="xor", model="noisy", model_kwargs={"hidden_units": [16, 16], "noise_stddev": 0.2},
        epochs=4, batch_size=10, optimizer="sgd", lr=0.1, scheduler="cosine", warmup_epochs=1.0,
        ema_decay=0.9, out=str(out), progress=False,
    )  # fmt: skip
    base.update(kw)
    return TrainConfig(**base)


def quiet(s: str) -> None:
    pass


def rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv") as f:
        return [r for r in csv.DictReader(f) if r["valid_acc"] or r["train_acc"] or r["test_acc"]]


def test_resume_equals_an_uninterrupted_run(tmp_path, monkeypatch):
    full = train(xor_cfg(tmp_path / "full"), printer=quiet)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(xor_cfg(tmp_path / "cut"), callbacks=[Crash(2)], printer=quiet)
    resumed = train(xor_cfg(tmp_path / "cut", resume="last"), printer=quiet)
    assert resumed.run_dir == tmp_path / "cut" / "version_0"  # continued in place
    # the same metrics to the last digit, and the same weights
    assert rows(resumed.run_dir) == rows(full.run_dir)
    assert resumed.test_acc == full.test_acc and resumed.history == full.history
    a = safe_load(full.last_checkpoint)["state_dict"]
    b = safe_load(resumed.last_checkpoint)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    # without restoring the random streams the runs differ: the test can fail
    shutil.rmtree(tmp_path / "cut")
    with pytest.raises(RuntimeError):
        train(xor_cfg(tmp_path / "cut"), callbacks=[Crash(2)], printer=quiet)
    monkeypatch.setattr(RNGState, "load_state_dict", lambda self, state: None)
    broken = train(xor_cfg(tmp_path / "cut", resume="last"), printer=quiet)
    c = safe_load(broken.last_checkpoint)["state_dict"]
    assert not all(torch.equal(a[k], c[k]) for k in a)


class NaNAfter(nn.Module):
    """An MLP whose output turns NaN from its ``after``-th training forward pass on."""

    def __init__(self, after: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
        self.after, self.calls = after, 0

    def forward(self, x):
        out = self.net(x)
        if self.training:
            self.calls += 1
            if self.calls >= self.after:
                out = out * float("nan")
        return out


def test_nan_loss_stops_naming_the_step_and_keeps_the_best_checkpoint(tmp_path):
    cfg = TrainConfig(dataset="xor", epochs=5, batch_size=10, out=str(tmp_path), progress=False)
    with pytest.raises(NonFiniteLossError) as e:
        train(cfg, net=NaNAfter(after=15), printer=quiet)  # 10 steps per epoch: epoch 2, batch 5
    msg = str(e.value)
    assert "loss became nan at step 15 (epoch 2, batch 5)" in msg
    best = sorted((tmp_path / "version_0" / "checkpoints").glob("best-*.ckpt"))
    assert len(best) == 1 and str(best[0]) in msg
    sd = safe_load(best[0])["state_dict"]
    assert all(torch.isfinite(v).all() for v in sd.values())
    assert (tmp_path / "version_0" / "curves.png").is_file()


# ----------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--dataset", "imagenet"], "unknown dataset 'imagenet'; valid: cifar10, mnist, xor"),
        (
            ["--dataset", "mnist", "--model", "resnet999"],
            "unknown model 'resnet999' for rung 'nn'; valid: ",
        ),
        (["--optimizer", "rmsprop"], "unknown optimizer 'rmsprop'; valid: sgd, adam, adamw"),
        (
            ["--scheduler", "step"],
            "unknown scheduler 'step'; valid: none, cosine, linear, onecycle",
        ),
        (["--preset", "best-ever"], "unknown preset 'best-ever'; valid: "),
        (["--devices", "64", "--accelerator", "cpu"], "--devices 64: only"),
        (["--accelerator", "gpu"], "--accelerator gpu: no CUDA GPU"),
        (
            ["--dataset", "mnist", "--model", "mlp", "--model-kwargs", "{depth: 3}"],
            "model 'mlp' of rung 'nn' does not take depth",
        ),
        (["--dataset", "xor", "--flip"], "flip (--flip) applies to images; the xor data set is"),
        (
            ["--dataset", "xor", "--crop-padding", "2", "--tta-flip"],
            "crop_padding, tta_flip (--crop-padding) apply to images",
        ),
    ],
)
def test_train_errors_are_one_line_exit_2(run_cli, args, match, tmp_path):
    if "gpu" in args and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code, _, err = run_cli("train", *args, "--epochs", 1, "--out", tmp_path)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("deepclass: error: ")
    assert match in err, err
    if "--devices" not in args and "--accelerator" not in args:
        return
    assert not (tmp_path / "version_0").exists()  # refused before any work


def test_model_arguments_that_do_not_apply_fail_before_the_data_loads(run_cli, tmp_path):
    empty = tmp_path / "no-data"
    empty.mkdir()
    for args, message in (
        (["--dataset", "mnist", "--model", "mlp", "--model-kwargs", "{depth: 3}"],
         "model 'mlp' of rung 'nn' does not take depth; it takes: "),
        # no --model: the data set's preset names it (xor: modulelist)
        (["--dataset", "xor", "--model-kwargs", "{channels: 3}"],
         "model 'modulelist' of rung 'nn' does not take channels"),
        (["--dataset", "cifar10", "--model", "mlp", "--model-kwargs", "{widths: [8, 8, 8]}"],
         "model 'mlp' of rung 'nn' does not take widths"),
    ):  # fmt: skip
        code, out, err = run_cli("train", *args, "--data-dir", empty, "--out", tmp_path / "runs")
        assert code == 2 and out == "" and err.startswith(f"deepclass: error: {message}"), err
        assert not (tmp_path / "runs").exists()
    code, _, err = run_cli("train", "--dataset", "mnist", "--data-dir", empty, "--out", tmp_path)
    assert code == 2 and "mnist not found under" in err  # good options: it gets to the data


def test_unknown_config_key(run_cli, tmp_path):
    (tmp_path / "c.yaml").write_text("epochs: 1\nlearning-rate: 0.1\n")
    code, _, err = run_cli("train", "--config", tmp_path / "c.yaml")
    assert code == 2 and "unknown config key 'learning-rate'" in err and "valid keys: " in err


def test_checkpoint_errors(run_cli, mnist_run, tmp_path, data_dir):
    run_dir, _ = mnist_run
    best = next((run_dir / "checkpoints").glob("best-*.ckpt"))
    code, _, err = run_cli("evaluate", best, "--dataset", "xor")
    assert code == 2 and "trained for 10 classes (mnist), but the data (xor) has 2" in err
    code, _, err = run_cli(
        "train",
        "--resume",
        best,
        "--model",
        "two_layer_fc",
        "--out",
        tmp_path,
        "--data-dir",
        data_dir,
    )
    assert code == 2 and "holds model 'mlp', not 'two_layer_fc'" in err
    (tmp_path / "bad.png").write_bytes(b"not an image")
    code, _, err = run_cli("predict", best, tmp_path / "bad.png")
    assert code == 2 and "cannot read image" in err and "bad.png" in err
    code, _, err = run_cli("predict", best, tmp_path / "missing.png")
    assert code == 2 and "not found" in err
    code, _, err = run_cli("export", best, "--format", "tflite")
    assert code == 2 and "invalid choice" in err
