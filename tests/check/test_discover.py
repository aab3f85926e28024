"""Discovery: course names found by reading the file (ast), never by importing it."""

from __future__ import annotations

import sys

from deepclass.check.discover import discover
from deepclass.check.registry import course_names


def _found(tmp_path, text):
    p = tmp_path / "sub.py"
    p.write_text(text)
    return discover(p, course_names())


def test_functions_layers_and_models_are_found_others_skipped(tmp_path):
    d = _found(
        tmp_path,
        "import os\n"
        "os.system('touch SHOULD_NOT_EXIST')\n"  # never run: discovery only reads
        "def svm_loss_naive(W, X, y, reg):\n    pass\n"
        "class Linear:\n    @staticmethod\n    def forward(x, w, b): pass\n"
        "    @staticmethod\n    def backward(dout, cache): pass\n"
        "class ReLU:\n    def forward(x): pass\n"  # no backward
        "class TwoLayerNet:\n    def __init__(self): pass\n    def loss(self, X, y=None): pass\n"
        "def helper(): pass\n"
        "def _private(): pass\n"
        "def Dropout(x): pass\n",  # a function where the course has a class
    )
    assert d.names == ["svm_loss_naive", "Linear", "TwoLayerNet"]
    assert dict(d.skipped) == {
        "ReLU": "a class without backward",
        "helper": "not a course name",
        "Dropout": "a function; the course's Dropout is a class",
    }
    assert not (tmp_path / "SHOULD_NOT_EXIST").exists() and "sub" not in sys.modules


def test_methods_bound_by_assignment_count(tmp_path):
    d = _found(
        tmp_path, "class ReLU:\n    forward = staticmethod(f)\n    backward = staticmethod(g)\n"
    )
    assert d.names == ["ReLU"]


def test_a_file_that_does_not_parse_still_names_its_functions(tmp_path):
    d = _found(
        tmp_path, "def flatten(x):\n    return x.view(x.shape[0], -1\ndef zero_weight(s): pass\n"
    )
    assert d.syntax_error.startswith("syntax error at line 2")
    assert d.names == ["flatten", "zero_weight"]


def test_a_later_definition_replaces_an_earlier_one(tmp_path):
    d = _found(
        tmp_path,
        "def sgd(w, dw, config=None): pass\ndef adam(w, dw, config=None): pass\ndef sgd(w, dw, config=None): pass\n",
    )
    assert d.names == ["adam", "sgd"]


def test_every_course_name_the_issue_lists_is_known():
    names = set(course_names())
    listed = {
        "svm_loss_naive", "svm_loss_vectorized", "softmax_loss_naive", "softmax_loss_vectorized",
        "sample_batch", "train_linear_classifier", "predict_linear_classifier",
        "svm_get_search_params", "softmax_get_search_params", "Linear", "ReLU", "Linear_ReLU",
        "Dropout", "BatchNorm", "SpatialBatchNorm", "Conv", "MaxPool", "Conv_ReLU",
        "Conv_ReLU_Pool", "Linear_BatchNorm_ReLU", "Conv_BatchNorm_ReLU",
        "Conv_BatchNorm_ReLU_Pool", "softmax_loss", "svm_loss", "sgd", "sgd_momentum", "rmsprop",
        "adam", "TwoLayerNet", "FullyConnectedNet", "flatten", "two_layer_fc",
        "three_layer_convnet", "random_weight", "zero_weight",
    }  # fmt: skip
    assert listed <= names
    assert all(course_names()[n].checks for n in names)
