"""The typed training-option spec: it matches each model's constructor, and refuses what the constructor
would fail on later (issue 20, item 1)."""

from __future__ import annotations

import inspect

import pytest

from mlcore.losses import LOSSES
from mlcore.models import model_class
from mlcore.training_options import (
    LOSS_PARAM_SPECS,
    OPTION_SPECS,
    SERVER_OPTIONS,
    OptionError,
    accepted_options,
    check_options,
)


@pytest.mark.parametrize("kind", sorted(OPTION_SPECS))
def test_each_spec_names_exactly_the_constructor_options_with_its_defaults(kind):
    """Issue 20, item 1: one spec per model kind, held to the constructor's signature."""
    parameters = dict(inspect.signature(model_class(kind).__init__).parameters)
    parameters.pop("self")
    assert set(accepted_options(kind)) == set(parameters) - SERVER_OPTIONS
    for option in OPTION_SPECS[kind]:
        default = parameters[option.name].default
        assert option.default == default, (kind, option.name)
        if default is not None:
            assert option.check(default) is not None or option.nullable, (kind, option.name)


def test_each_loss_spec_names_exactly_the_loss_parameters():
    """Issue 20, item 1: loss_params are checked against the chosen loss."""
    assert set(LOSS_PARAM_SPECS) == set(LOSSES)
    for name, factory in LOSSES.items():
        taken = set(inspect.signature(factory).parameters) - {"multi_label", "class_counts"}
        assert {option.name for option in LOSS_PARAM_SPECS[name]} == taken, name


@pytest.mark.parametrize(
    ("kind", "options", "key", "words"),
    [
        ("teacher", {"epoch": 2}, "epoch", "Unknown training option 'epoch'"),
        ("teacher", {"epochs": "three"}, "epochs", "an integer from 1 to 1000"),
        ("teacher", {"epochs": 0}, "epochs", "an integer from 1 to 1000"),
        ("teacher", {"epochs": True}, "epochs", "an integer"),
        ("teacher", {"pooling": "median"}, "pooling", "one of cls, mean, max, attention"),
        ("teacher", {"layer_decay": 1.5}, "layer_decay", "in (0, 1]"),
        ("teacher", {"ema_decay": 1.0}, "ema_decay", "in [0, 1)"),
        ("teacher", {"device": "cuda"}, "device", "Unknown"),
        ("teacher", {"loss": "focal", "loss_params": {"tau": 1}}, "loss_params.tau", "it takes: gamma, alpha"),
        ("teacher", {"loss": "focal", "loss_params": {"gamma": -1}}, "loss_params.gamma", "from 0 to 100"),
        ("teacher", {"loss_params": [1]}, "loss_params", "an object"),
        ("fast_head", {"head": "svm"}, "head", "one of lr, mlp"),
        ("fast_head", {"backbone": "x"}, "backbone", "Unknown"),
        ("fast_head", {"dropout": float("nan")}, "dropout", "in [0, 1)"),
        ("text_cnn", {"filter_sizes": []}, "filter_sizes", "non-empty list"),
        ("text_cnn", {"filter_sizes": [2, "3"]}, "filter_sizes", "non-empty list"),
        ("text_cnn", {"multi_label": True}, "multi_label", "Unknown"),
        ("text_cnn", {"loss": "focal", "loss_params": {"tau": 1}}, "loss_params.tau", "it takes: gamma, alpha"),
        ("text_cnn", {"loss": "hinge"}, "loss", "one of cross_entropy"),
        ("fast_head", {"sampling_q": -1}, "sampling_q", "a number from 0 to 10"),
        ("fast_head", {"ema_decay": 1.0}, "ema_decay", "in [0, 1)"),
    ],
)
def test_a_bad_option_names_its_key_and_the_accepted_ones(kind, options, key, words):
    """Issue 20, item 1: a bad key, type or range is refused naming the key and the accepted keys."""
    with pytest.raises(OptionError) as raised:
        check_options(kind, options)
    assert raised.value.key == key
    assert words in str(raised.value)
    assert raised.value.accepted  # listed in the message too
    assert ", ".join(raised.value.accepted) in str(raised.value)


def test_good_options_come_back_normalised():
    """Issue 20, item 1."""
    checked = check_options(
        "teacher",
        {
            "epochs": 2,
            "learning_rate": 1,
            "ema_decay": None,
            "loss": "focal",
            "loss_params": {"gamma": 1, "alpha": [1, 2]},
        },
    )
    assert checked == {
        "epochs": 2,
        "learning_rate": 1.0,
        "ema_decay": None,
        "loss": "focal",
        "loss_params": {"gamma": 1.0, "alpha": [1.0, 2.0]},
    }
    assert check_options("text_cnn", {"filter_sizes": [3, 5]}) == {"filter_sizes": (3, 5)}
    # Issue 21: every torch kind takes the loss registry and its parameters.
    assert check_options("text_cnn", {"loss": "focal", "loss_params": {"gamma": 1}, "ema_decay": 0.9}) == {
        "loss": "focal",
        "loss_params": {"gamma": 1.0},
        "ema_decay": 0.9,
    }
    assert check_options("fast_head", {"loss": "dice", "sampling_q": 0}) == {"loss": "dice", "sampling_q": 0.0}


def test_every_checked_default_builds_the_model():
    """Issue 20, item 1: what the spec lets through, the constructor takes."""
    for kind, spec in OPTION_SPECS.items():
        defaults = {o.name: o.default for o in spec if o.default is not None}
        model = model_class(kind)(**check_options(kind, defaults))
        model._check_params()
