"""What a trained checkpoint is for: ``evaluate``, ``predict`` and ``export_model``.

All three rebuild the model from the checkpoint's own record (registry name,
arguments, input shape, classes, normalisation statistics) and run the same
``InferenceModel``: ``[0, 1]`` images (or raw features) in, logits out, with
the training normalisation (and flip test-time augmentation, if the run used
it) inside. Checkpoints are read with ``weights_only=True`` only.
"""

from __future__ import annotations

import inspect
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from deepclass.checks import check_positive_int
from deepclass.data import BatchIterator, load_dataset, load_image, to_tensor
from deepclass.data.datasets import BUILTIN
from deepclass.data.folder import check_image_size
from deepclass.data.store import StreamSplit
from deepclass.data.stream import StreamBatches
from deepclass.errors import CheckpointError, ConfigError
from deepclass.files import atomic_open
from deepclass.lightning.checkpoints import check_compatible, load_checkpoint
from deepclass.lightning.module import ClassifierModule
from deepclass.lightning.runlogs import write_confusion
from deepclass.metrics import confusion_matrix, per_class_accuracy

EXPORT_FORMATS = ("onnx", "torchscript")
EXPORT_TOLERANCE = 1e-4  # max |exported - eager| logit difference accepted


def module_from_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> ClassifierModule:
    """The ``ClassifierModule`` saved in ``path``, weights loaded, in eval mode."""
    from deepclass.lightning.train import build_net

    ckpt = load_checkpoint(path, map_location)
    hp = dict(ckpt["hyper_parameters"])
    try:
        net = build_net(hp["model"], hp, hp.get("model_kwargs") or {}, bool(hp.get("binary")))
    except ConfigError as e:
        raise CheckpointError(f"checkpoint {path}: cannot rebuild its model: {e}") from e
    kwargs = {k: v for k, v in hp.items() if k in _MODULE_ARGS}
    kwargs["compile"] = False  # inference runs eager (and exports need eager modules)
    module = ClassifierModule(net, **kwargs)
    try:
        module.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        detail = " ".join(s.strip() for s in first[:3])
        raise CheckpointError(
            f"checkpoint {path}: its weights do not fit model {hp['model']!r}: {detail}"
        ) from None
    return module.eval()


_MODULE_ARGS = set(inspect.signature(ClassifierModule.__init__).parameters) - {"self", "net"}


# ---------------------------------------------------------------- evaluate


@dataclass
class EvalResult:
    """Accuracy of a checkpoint on one split."""

    checkpoint: Path
    dataset: str
    split: str
    n: int
    accuracy: float
    loss: float
    classes: list[str]
    per_class: np.ndarray  # (K,) recall per class; NaN for a class with no samples
    confusion: np.ndarray  # (K, K) int64: row = true, column = predicted
    plot: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    image_size: tuple[int, int] | None = None  # (H, W) a folder's images were resized to
    skipped: list[tuple[str, str]] = field(default_factory=list)  # unreadable files left out


def inference_size(
    module: ClassifierModule, image_size: Sequence[int] | None, ckpt_path: str | os.PathLike
) -> tuple[int, int] | None:
    """The ``(H, W)`` new images are resized to: the checkpoint's own, or ``image_size``.

    A size other than the one trained at is accepted only if the model runs
    on it (a convolutional net with global pooling does; one whose linear
    layer was sized for the training images does not: ``ConfigError``).
    None for a model of feature vectors.
    """
    shape = [int(v) for v in module.hparams["input_shape"]]
    if len(shape) != 3:
        if image_size is not None:
            raise ConfigError(
                f"--image-size: checkpoint {ckpt_path} holds a model of feature vectors "
                f"{tuple(shape)}, not images"
            )
        return None
    trained = (shape[1], shape[2])
    size = check_image_size(image_size) or trained
    if size != trained:
        try:
            with torch.no_grad():
                module.inference_model()(torch.zeros(1, shape[0], *size))
        except RuntimeError as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ConfigError(
                f"--image-size {size[0]} {size[1]}: the model in {ckpt_path} was trained at "
                f"{trained[0]}x{trained[1]} and cannot take {size[0]}x{size[1]} inputs "
                f"({first}); leave --image-size out to resize to {trained[0]}x{trained[1]}"
            ) from None
    return size


def evaluate(
    ckpt_path: str | os.PathLike,
    dataset: str | None = None,
    *,
    data_dir: str | None = None,
    split: str = "test",
    batch_size: int = 512,
    out: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    image_size: Sequence[int] | None = None,
    skip_bad_images: bool = False,
) -> EvalResult:
    """Accuracy, per-class accuracy and confusion matrix of a checkpoint on ``split``.

    dataset: default the one the checkpoint was trained on. out: directory
    for ``confusion_matrix-<dataset>-<split>.png`` (default: the checkpoint's
    run directory, else beside the checkpoint). A user's folder is resized
    to the size the checkpoint was trained at (or ``image_size``, if the
    model takes it) in its colour mode, and streamed from its on-disk cache
    when its images would not fit in memory; ``skip_bad_images`` leaves
    unreadable files out.
    """
    if split not in ("train", "val", "test"):
        raise ConfigError(f"split must be train, val or test, got {split!r}")
    module = module_from_checkpoint(ckpt_path).to(device)
    hp = module.hparams
    name = dataset or hp.get("dataset")
    if not name:
        raise ConfigError(f"checkpoint {ckpt_path} records no data set; pass --dataset")
    size = None
    if name in BUILTIN:
        for flag, given in (("--image-size", image_size), ("--skip-bad-images", skip_bad_images)):
            if given:
                raise ConfigError(f"{flag} applies to a user's image folder, not to {name}")
        ds = getattr(load_dataset(name, data_dir, progress=False), split)
        skipped: list[tuple[str, str]] = []
    else:
        size = inference_size(module, image_size, ckpt_path)
        ds, skipped = _folder_split(name, split, hp, size, skip_bad_images)
    trained = tuple(int(v) for v in hp["input_shape"][1:])
    check_compatible(
        hp, ckpt_path, num_classes=ds.num_classes, dataset=name,
        input_shape=ds.sample_shape if size is None or size == trained else None,
    )  # fmt: skip
    model = module.inference_model().to(device)
    if isinstance(ds, StreamSplit):
        it = StreamBatches(ds, batch_size, shuffle=False)
    else:
        it = BatchIterator.from_dataset(ds, batch_size, shuffle=False, device=device)
    preds, total_loss = [], 0.0
    with torch.no_grad():
        for xb, yb in it:
            xb, yb = xb.to(device), yb.to(device)
            logits = model(xb)
            total_loss += float(module.loss(logits, yb)) * len(yb)
            preds.append(module.metric_input(logits).cpu())
    p = torch.cat(preds)
    if isinstance(ds, StreamSplit):  # rows found unreadable while streaming are left out
        ds = ds.subset(np.flatnonzero(~ds.store.bad[ds.source][ds.rows]))
        skipped = list(ds.store.skipped)
    y = torch.from_numpy(ds.labels)
    pred_classes = (p >= 0.5).long() if module.binary else p
    cm = confusion_matrix(pred_classes, y, ds.num_classes)
    acc = float(np.trace(cm) / max(1, cm.sum()))
    ckpt_path = Path(ckpt_path)
    if out is None:
        parent = ckpt_path.resolve().parent
        out = parent.parent if parent.name == "checkpoints" else parent
    safe = Path(str(name)).name or "data"
    plot = write_confusion(
        Path(out) / f"confusion_matrix-{safe}-{split}.png",
        cm,
        ds.classes,
        f"{ckpt_path.name}: {safe} {split} (acc {acc:.4f})",
    )
    return EvalResult(
        ckpt_path, str(name), split, len(ds), acc, total_loss / max(1, len(ds)),
        list(ds.classes), per_class_accuracy(cm), cm, plot, image_size=size, skipped=skipped,
    )  # fmt: skip


def _folder_split(
    name: str, split: str, hp: dict[str, Any], size: tuple[int, int], skip_bad: bool
) -> tuple[Any, list[tuple[str, str]]]:
    """One split of a user's folder at ``size`` in the checkpoint's colour mode, and the
    files left out: in memory when its images fit, else streamed from the on-disk cache."""
    from deepclass.budget import HEADROOM, available_memory, process_rss
    from deepclass.data.datasets import open_folder_stream
    from deepclass.data.folder import plan_folder

    mode = "L" if int(hp["input_shape"][0]) == 1 else "RGB"
    plan = plan_folder(name, image_size=size, skip_bad=skip_bad, mode=mode)
    if 2 * plan.decoded_bytes + process_rss() <= HEADROOM * available_memory()[0]:
        splits = load_dataset(name, progress=False, skip_bad_images=skip_bad, plan=plan)
    else:
        splits = open_folder_stream(plan, skip_bad_images=skip_bad)
    return getattr(splits, split), list(splits.skipped)


# ---------------------------------------------------------------- predict


@dataclass
class Prediction:
    """Top-k classes of one image: ``[(class name, probability), ...]``, most likely first."""

    path: Path
    top: list[tuple[str, float]]


def load_inputs(
    paths: Sequence[str | os.PathLike],
    input_shape: Sequence[int],
    size: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Images of any size/colour mode -> ``(N, C, H, W)`` float in [0, 1] for ``input_shape``.

    size: ``(H, W)`` other than ``input_shape``'s (``inference_size``). The
    images are decoded and resized exactly as training decoded its folder.
    """
    if len(input_shape) != 3:
        raise ConfigError(
            f"this checkpoint's model takes feature vectors of shape {tuple(input_shape)}, "
            "not images; predict needs an image model"
        )
    c, h, w = (int(s) for s in input_shape)
    h, w = size or (h, w)
    arrays = [load_image(p, channels=c, size=(h, w)) for p in paths]
    return to_tensor(np.stack(arrays))


def predict(
    ckpt_path: str | os.PathLike,
    images: Sequence[str | os.PathLike],
    *,
    top_k: int = 3,
    device: str | torch.device = "cpu",
    image_size: Sequence[int] | None = None,
) -> list[Prediction]:
    """Top-``top_k`` class probabilities for each image file.

    Each image is resized to the size the checkpoint was trained at (or
    ``image_size``, if the model takes it), the way training resized its folder.
    """
    if not images:
        raise ConfigError("predict needs at least one image file")
    top_k = check_positive_int(top_k, "top_k")
    module = module_from_checkpoint(ckpt_path).to(device)
    size = inference_size(module, image_size, ckpt_path)
    x = load_inputs(images, module.hparams["input_shape"], size).to(device)
    with torch.no_grad():
        probs = module.probabilities(module.inference_model()(x)).cpu()
    classes = module.hparams["classes"]
    k = min(top_k, len(classes))
    values, idx = probs.topk(k, dim=1)
    return [
        Prediction(Path(p), [(classes[j], float(v)) for v, j in zip(vs, ids, strict=True)])
        for p, vs, ids in zip(images, values.tolist(), idx.tolist(), strict=True)
    ]


# ---------------------------------------------------------------- export


@dataclass
class ExportResult:
    path: Path
    format: str
    max_abs_diff: float  # exported vs eager logits on a random batch
    meta_path: Path


def _example(input_shape: Sequence[int], n: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand((n, *(int(s) for s in input_shape)), generator=gen)


def _export_torchscript(model: nn.Module, example: torch.Tensor, out: Path) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit still works in 2.x
        traced = torch.jit.trace(model, example)
        with atomic_open(out, "wb") as f:
            torch.jit.save(traced, f)
        loaded = torch.jit.load(str(out))
    return lambda x: loaded(x).detach().numpy()


def _export_onnx(model: nn.Module, example: torch.Tensor, out: Path) -> Any:
    import onnx
    import onnxruntime as ort

    tmp = out.with_name(f".{out.name}.export.tmp")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript-based exporter
            torch.onnx.export(
                model,
                (example,),
                str(tmp),
                dynamo=False,
                input_names=["input"],
                output_names=["logits"],
                dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                opset_version=17,
            )
        onnx.checker.check_model(onnx.load(str(tmp)))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"input": x.numpy()})[0]


def export_model(ckpt_path: str | os.PathLike, fmt: str, out: str | os.PathLike) -> ExportResult:
    """Export a checkpoint's ``InferenceModel`` to ONNX or TorchScript and verify it.

    The exported model takes ``(N, *input_shape)`` float inputs (images in
    [0, 1], NCHW) and returns logits ``(N, K)`` (``(N, 1)`` binary); any batch
    size. Verification: on a random batch of another size than the one
    traced, the exported model (onnxruntime for ONNX) must match the eager
    PyTorch model within ``EXPORT_TOLERANCE``; else ``CheckpointError``.
    A JSON file beside it records the classes, input shape and format.
    """
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; valid: {', '.join(EXPORT_FORMATS)}")
    module = module_from_checkpoint(ckpt_path)
    model = module.inference_model()
    shape = module.hparams["input_shape"]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    run = (_export_onnx if fmt == "onnx" else _export_torchscript)(
        model, _example(shape, 2, 0), out
    )
    check = _example(shape, 5, 1)
    with torch.no_grad():
        want = model(check).numpy()
    got = np.asarray(run(check))
    diff = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("inf")
    if not diff <= EXPORT_TOLERANCE:
        raise CheckpointError(
            f"export check failed: {fmt} model at {out} differs from PyTorch by {diff:.3g} "
            f"(shapes {got.shape} vs {want.shape}; tolerance {EXPORT_TOLERANCE})"
        )
    meta = {
        "format": fmt,
        "checkpoint": str(ckpt_path),
        "model": module.hparams["model"],
        "input_shape": list(shape),
        "input": "float32 (N, *input_shape); images as RGB/grey in [0, 1], NCHW",
        "output": "logits (N, 1): sigmoid = P(classes[1])" if module.binary else "logits (N, K)",
        "classes": list(module.hparams["classes"]),
        "normalization": "inside the model",
        "tta_flip": bool(module.hparams["tta_flip"]),
        "tta_translate": bool(module.hparams.get("tta_translate", False)),
        "max_abs_diff_vs_pytorch": diff,
    }
    meta_path = out.with_name(out.name + ".json")
    with atomic_open(meta_path, "w") as f:
        json.dump(meta, f, indent=1)
    return ExportResult(out, fmt, diff, meta_path)
