"""What the augmentation page draws from the selectors' dicts: the bars of counts per class before and
after, and sample rows whose copy is split into changed and unchanged pieces. Presentation only: the
numbers come from `annotator.selectors.augment`."""

from __future__ import annotations

from dataclasses import dataclass

from annotator.models import AugmentStatus


@dataclass(frozen=True)
class ClassBar:
    """One class's counts and the widths (percent of the widest class) of its three bar segments."""

    label_id: int
    name: str
    human: int
    accepted: int
    pending: int
    rejected: int
    below_median: bool
    human_width: float
    accepted_width: float
    pending_width: float

    @property
    def after(self) -> int:
        """What a training with augmentation learns from: the human labels and the accepted copies."""
        return self.human + self.accepted


def _width(count: int, widest: int) -> float:
    return round(100 * count / widest, 2) if widest else 0.0


def class_bars(overview: dict) -> list[ClassBar]:
    """A bar per class of `augment_overview`, scaled so that the class with the most (human + accepted +
    pending) fills the track."""
    rows = overview["classes"]
    widest = max((row["labeled"] + row["accepted"] + row["pending"] for row in rows), default=0)
    return [
        ClassBar(
            label_id=row["label_id"],
            name=row["name"],
            human=row["labeled"],
            accepted=row["accepted"],
            pending=row["pending"],
            rejected=row["rejected"],
            below_median=row["below_median"],
            human_width=_width(row["labeled"], widest),
            accepted_width=_width(row["accepted"], widest),
            pending_width=_width(row["pending"], widest),
        )
        for row in rows
    ]


def sample_rows(samples: list[dict]) -> list[dict]:
    """The samples as the template shows them, each with its status in words (translated when shown)."""
    names = dict(AugmentStatus.choices)
    return [{**sample, "status_display": names.get(sample["status"], sample["status"])} for sample in samples]


@dataclass(frozen=True)
class AugmentationUse:
    """How a model version used augmented copies, from `version.params["augmentation"]`."""

    used: bool
    copies: int
    by_op: list[tuple[str, int]]
    by_class: list[tuple[str, int]]


def _class_name(key: object, names: dict[int, str]) -> str:
    # JSON keys are strings: a label id comes back as "12"; a name stays as it was written.
    text = str(key)
    return names.get(int(text), f"#{text}") if text.isdigit() else text


def augmentation_use(params: dict, names: dict[int, str]) -> AugmentationUse | None:
    """The version's record of augmented data (None: trained before augmentation was recorded), largest
    counts first; `names` maps label ids to the names shown."""
    record = (params or {}).get("augmentation")
    if not isinstance(record, dict):
        return None
    by_op = sorted(((str(op), int(n)) for op, n in (record.get("by_op") or {}).items()), key=lambda pair: -pair[1])
    by_class = sorted(
        ((_class_name(key, names), int(n)) for key, n in (record.get("by_class") or {}).items()),
        key=lambda pair: -pair[1],
    )
    return AugmentationUse(bool(record.get("used")), int(record.get("copies") or 0), by_op, by_class)
