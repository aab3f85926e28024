"""TrainConfig: precedence (defaults < preset < file < flags), YAML files, presets, validation."""

from __future__ import annotations

import pytest
import yaml

from deepclass.errors import ConfigError
from deepclass.lightning.config import (
    FIELD_NAMES,
    TrainConfig,
    build_config,
    config_from_dict,
    load_config,
    merge_layers,
    normalize_keys,
    read_config_file,
)
from deepclass.lightning.presets import (
    DEFAULT_PRESET,
    PRESETS,
    default_preset,
    preset_names,
    preset_options,
)


def write(tmp_path, data, name="c.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return p


def test_no_options_is_the_default_cifar10_preset():
    cfg = build_config()
    assert cfg.preset == DEFAULT_PRESET and cfg.dataset == "cifar10"
    for k, v in PRESETS[DEFAULT_PRESET].items():
        assert getattr(cfg, k) == v, k


def test_precedence_preset_then_file_then_flags(tmp_path):
    f = write(tmp_path, {"preset": "mnist-mlp", "epochs": 3, "lr": 0.01, "batch-size": 32})
    cfg = build_config(config_file=f, overrides={"lr": 0.5, "epochs": None})
    assert cfg.preset == "mnist-mlp"
    assert cfg.dataset == "mnist" and cfg.model == "mlp"  # from the preset
    assert cfg.model_kwargs == {"hidden_units": [32, 16]}
    assert cfg.epochs == 3 and cfg.batch_size == 32  # file beats preset ('-' accepted)
    assert cfg.lr == 0.5  # flag beats file; a None flag is "not given"


def test_flag_preset_beats_file_preset(tmp_path):
    f = write(tmp_path, {"preset": "mnist-mlp"})
    assert build_config(preset="cifar10-convnet", config_file=f).dataset == "cifar10"


def test_each_data_set_gets_its_default_preset(tmp_path):
    assert build_config(overrides={"dataset": "mnist"}).preset == "mnist-mlp"
    assert build_config(overrides={"dataset": "xor"}).model == "modulelist"
    cfg = build_config(overrides={"dataset": str(tmp_path), "model": "mlp"})  # a user's folder
    assert cfg.preset is None
    assert cfg.optimizer == TrainConfig.optimizer and cfg.flip is False
    assert default_preset("cifar10") == DEFAULT_PRESET and default_preset("/x/y") is None


def test_new_model_drops_the_presets_model_kwargs():
    cfg = build_config(preset="mnist-mlp", overrides={"model": "two_layer_fc"})
    assert cfg.model == "two_layer_fc" and cfg.model_kwargs == {}
    cfg = build_config(
        preset="mnist-mlp", overrides={"model": "two_layer_fc", "model_kwargs": {"hidden_size": 8}}
    )
    assert cfg.model_kwargs == {"hidden_size": 8}
    assert merge_layers({"model": "a", "model_kwargs": {"x": 1}}, {"model": "a"})[
        "model_kwargs"
    ] == {"x": 1}


def test_unknown_config_key_names_it_and_lists_valid_keys(tmp_path):
    f = write(tmp_path, {"epochs": 2, "learning_rate": 0.1})
    with pytest.raises(ConfigError) as e:
        read_config_file(f)
    msg = str(e.value)
    assert "'learning_rate'" in msg and str(f) in msg
    assert "lr" in msg and "batch_size" in msg  # lists the valid keys
    with pytest.raises(ConfigError, match="unknown config key 'foo'"):
        normalize_keys({"foo": 1}, "flags")


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"epochs": "ten"}, "option epochs must be int"),
        ({"epochs": 0}, "epochs must be a positive int"),
        ({"lr": -1.0}, "lr must be > 0"),
        ({"flip": 1}, "option flip must be bool"),
        ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'; valid: sgd, adam, adamw"),
        ({"scheduler": "step"}, "unknown scheduler 'step'; valid: none, cosine, linear, onecycle"),
        ({"strategy": "fsdp"}, "unknown strategy 'fsdp'"),
        ({"precision": "8-bit"}, "unknown precision"),
        ({"nesterov": True, "optimizer": "adam"}, "nesterov needs optimizer sgd"),
        ({"label_smoothing": 1.0}, "label_smoothing must be in"),
        ({"ema_decay": 1.0}, "ema_decay must be in"),
        ({"devices": "many"}, "devices must be a positive int or 'auto'"),
        ({"warmup_epochs": 20, "epochs": 10}, "warmup_epochs"),
        ({"betas": [0.9]}, "betas must be two numbers"),
        ({"threads": -1}, "threads must be >= 0"),
    ],
)
def test_invalid_values_name_the_option(values, match):
    with pytest.raises(ConfigError, match=match):
        config_from_dict(values)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        read_config_file(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_config_file(write(tmp_path, "epochs: [1,"))
    with pytest.raises(ConfigError, match="expected a mapping"):
        read_config_file(write(tmp_path, "- 1\n- 2\n"))
    assert read_config_file(write(tmp_path, "")) == {}


def test_saved_config_reproduces_the_run(tmp_path):
    cfg = build_config(preset="mnist-mlp", overrides={"epochs": 4, "betas": (0.8, 0.99)})
    path = cfg.save(tmp_path / "run" / "config.yaml")
    assert path.read_text().startswith("# deepclass train config")
    assert load_config(path) == cfg
    # and as a --config file it gives the same run
    assert build_config(config_file=path) == cfg
    assert set(yaml.safe_load(path.read_text())) == set(FIELD_NAMES)


def test_presets_are_valid_configs():
    for name in preset_names():
        opts = preset_options(name)
        assert set(opts) <= set(FIELD_NAMES), name
        config_from_dict(opts)
    with pytest.raises(ConfigError, match="unknown preset 'nope'; valid: "):
        preset_options("nope")
    # a copy: editing it does not change the table
    preset_options("mnist-mlp")["model_kwargs"]["hidden_units"] = [1]
    assert PRESETS["mnist-mlp"]["model_kwargs"]["hidden_units"] == [32, 16]


def test_a_built_config_shares_no_nested_value_with_the_presets():
    """Changing a list inside a config (or inside preset_options' copy) leaves PRESETS as it was."""
    import copy

    from deepclass.lightning.presets import PRESETS, preset_options

    before = copy.deepcopy(PRESETS)
    cfg = build_config(preset="best")
    cfg.model_kwargs["widths"][1] = 7
    mlp = build_config(preset="mnist-mlp")
    mlp.model_kwargs["hidden_units"].append(5)
    preset_options("fast")["model_kwargs"]["widths"].append(1)
    assert before == PRESETS
    assert (
        build_config(preset="best").model_kwargs["widths"]
        == before["best"]["model_kwargs"]["widths"]
    )
    assert build_config(preset="mnist-mlp").model_kwargs["hidden_units"] == [32, 16]
