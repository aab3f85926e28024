"""Figures for a user's own photo folders (issue 19), written to benchmarks/photo_folders.md.

    python benchmarks/photo_folders.py make --root DIR     # the folders (minutes, not timed)
    python benchmarks/photo_folders.py run --root DIR      # the runs (under /work/bin/measure)
    python benchmarks/photo_folders.py sizes --root DIR    # 32 / 64 / 96: the default size

Folders (generated under DIR, never in the repository):
- phone30: 30 photo-like JPEGs of 2000x1500, two classes (the issue's folder);
- stream500 / stream2000: 500 and 2,000 photo-like JPEGs of 1024x768;
- small600: 600 JPEGs of 64x48;
- cifar-phone: 1,200 real CIFAR-10 photos (airplane, automobile, ship, truck; 300 each)
  enlarged to 1024x768 JPEGs (quality 90): real photo content at a phone's file size,
  but only 32x32 pixels of detail in each.

Every command runs in a child of a wrapper that reads its peak resident memory with
``getrusage(RUSAGE_CHILDREN)``; each streaming run starts from an empty cache.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "photo_folders.md"
WRAPPER = (
    "import resource, subprocess, sys, json, time\n"
    "t = time.perf_counter()\n"
    "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024\n"
    "print(json.dumps({'rc': p.returncode, 'out': p.stdout, 'err': p.stderr, 'rss': rss,"
    " 'wall': time.perf_counter() - t}))\n"
)


def make(root: Path) -> None:
    from deepclass.data.photos import make_photo_folder

    specs = {
        "phone30": (15, (1500, 2000), 0),
        "stream500": (250, (768, 1024), 1),
        "stream2000": (1000, (768, 1024), 2),
        "small600": (300, (48, 64), 3),
    }
    for name, (n, size, seed) in specs.items():
        if not (root / name).is_dir():
            t = time.perf_counter()
            make_photo_folder(root / name, n, size=size, seed=seed)
            print(f"made {root / name} in {time.perf_counter() - t:.0f} s", flush=True)
    if not (root / "cifar-phone").is_dir():
        from PIL import Image

        from deepclass.data import load_dataset

        train = load_dataset("cifar10", progress=False).train
        for c in ("airplane", "automobile", "ship", "truck"):
            k = train.classes.index(c)
            d = root / "cifar-phone" / c
            d.mkdir(parents=True)
            for i, j in enumerate([j for j in range(len(train)) if train.labels[j] == k][:300]):
                img = Image.fromarray(train.images[j]).resize((1024, 768), Image.BICUBIC)
                img.save(d / f"{i:04d}.jpg", quality=90)
        print(f"made {root / 'cifar-phone'}", flush=True)


def measured(args: list[str], cache: Path, fresh: bool = True) -> dict:
    """``deepclass ARGS`` with its own cache dir: exit status, output, peak RSS, wall time."""
    if fresh and cache.exists():
        shutil.rmtree(cache)
    env = dict(os.environ, DEEPCLASS_CACHE=str(cache))
    cmd = [sys.executable, "-c", WRAPPER, sys.executable, "-m", "deepclass", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    r = json.loads(p.stdout)
    r["epochs"] = [float(m) for m in re.findall(r"^epoch \d+/\d+ .*?([\d.]+) s$", r["out"], re.M)]
    r["cmd"] = "deepclass " + " ".join(args)
    return r


def gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB"


def run(root: Path) -> None:
    runs = root / "runs"
    cache = root / "cache"
    res: dict[str, dict] = {}
    base = ["--out", str(runs), "--no-progress"]
    res["phone30"] = measured(
        ["train", "--dataset", str(root / "phone30"), "--model", "three_layer_convnet",
         "--epochs", "1", *base], cache,
    )  # fmt: skip
    # the default model; the same with evaluation batches no larger than the smaller folder's
    # splits (so both folders run full batches); a model cheap next to decoding
    for tag, extra in (
        ("convnet", ["--model", "three_layer_convnet"]),
        ("convnet-eval64", ["--model", "three_layer_convnet", "--eval-batch-size", "64"]),
        ("mlp", ["--model", "mlp"]),
    ):
        for n in (500, 2000):
            res[f"stream{n}-{tag}"] = measured(
                ["train", "--dataset", str(root / f"stream{n}"), "--image-size", "128",
                 "--loader", "stream", *extra, "--epochs", "2", *base], cache,
            )  # fmt: skip
    res["refuse4000"] = measured(
        ["train", "--dataset", str(root / "small600"), "--image-size", "4000", *base], cache
    )
    (root / "photo_folders.json").write_text(json.dumps(res, indent=1))
    write_report(res)


def write_report(res: dict) -> None:
    lines = [
        "# User photo folders: memory and streaming (issue 19)",
        "",
        "Written by `python benchmarks/photo_folders.py run --root DIR` (folders from its",
        "`make` step); each figure is one run. Peak RSS: `getrusage(RUSAGE_CHILDREN)` of a",
        "wrapper around the command (the largest of the command and its DataLoader workers).",
        "",
        f"Machine: {_machine()}",
        "",
        "| run | command | exit | peak RSS | epoch 1 / epoch 2 | first line |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in res.items():
        e = r["epochs"]
        ratio = f"{e[0]:.1f} s / {e[1]:.1f} s = {e[0] / e[1]:.1f}x" if len(e) >= 2 else ""
        first = (r["out"].splitlines() or [""])[0]
        lines.append(f"| {name} | `{r['cmd']}` | {r['rc']} | {gb(r['rss'])} | {ratio} | {first} |")
    lines += ["", "## Output", ""]
    for name, r in res.items():
        lines += [f"### {name}", "", "```", r["out"].rstrip(), r["err"].strip()[-600:], "```", ""]
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT}")


def sizes(root: Path) -> None:
    """Test accuracy and time at the longer side 32, 64 and 96 (the default size's choice)."""
    rows = []
    folder = root / "cifar-phone"
    for side in (32, 64, 96):
        h, w = round(768 * side / 1024), side
        r = measured(
            ["train", "--dataset", str(folder), "--image-size", str(h), str(w), "--epochs", "15",
             "--model", "three_layer_convnet", "--flip", "--out", str(root / "runs"),
             "--no-progress"], root / f"cache-{side}",
        )  # fmt: skip
        acc = re.search(r"^test acc: ([\d.]+)", r["out"], re.M)
        fit = re.search(r"training ([\dm .]+s)\)", r["out"])
        rows.append((side, f"{h}x{w}", acc.group(1) if acc else "?", fit.group(1) if fit else "?",
                     sum(r["epochs"][1:]) / max(1, len(r["epochs"]) - 1), gb(r["rss"])))  # fmt: skip
    text = OUT.read_text() if OUT.exists() else ""
    text = re.sub(r"\n## Default size.*", "", text, flags=re.S)
    text += (
        "\n## Default size: longer side 32, 64 or 96\n\n"
        "`cifar-phone` (1,200 real CIFAR-10 photos of 4 classes enlarged to 1024x768 JPEGs), "
        "three_layer_convnet, 15 epochs, flip; one run each:\n\n"
        "| longer side | size | test acc | training time | s / epoch (2-15) | peak RSS |\n"
        "| --- | --- | --- | --- | --- | --- |\n"
    )
    text += "".join(f"| {a} | {b} | {c} | {d} | {e:.2f} | {f} |\n" for a, b, c, d, e, f in rows)
    OUT.write_text(text)
    print(text)


def _machine() -> str:
    sys.path.insert(0, str(REPO / "src"))
    from deepclass.bench import machine_description

    return machine_description()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("step", choices=("make", "run", "sizes"))
    p.add_argument("--root", type=Path, required=True, help="where the folders are made")
    a = p.parse_args()
    a.root.mkdir(parents=True, exist_ok=True)
    {"make": make, "run": run, "sizes": sizes}[a.step](a.root)


if __name__ == "__main__":
    main()
