"""What the settings page and API offer: the allowed backbones, the strategies with their measured areas,
and whether the task type may still change."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext

from annotator.models import Annotation, ModelVersion, Project
from mlcore.active_learning import DEFAULT_STRATEGY
from mlcore.encoders import packaged_backbones
from mlcore.strategy_catalog import BENCHMARK_SOURCE, StrategyInfo, strategy_catalog


@dataclass(frozen=True)
class StrategyChoice:
    """One line of the strategy chooser: `name` is what `Project.al_strategy` stores."""

    name: str
    description: str
    is_default: bool  # what "default" stands for now
    area_20ng: float | None
    area_20ng_lt: float | None  # the long-tail variants (issue 23)
    area_bbc: float | None
    area_bbc_lt: float | None


DEFAULT_CHOICE_DESCRIPTION = "Whatever the app's default is ({name} now), also after an update changes it."


def strategy_choices() -> list[StrategyChoice]:
    """ "default" first, then every registered strategy, best measured area first."""
    catalog = strategy_catalog()
    default = next(info for info in catalog if info.name == DEFAULT_STRATEGY)
    return [_default_choice(default)] + [_choice(info) for info in catalog]


def _choice(info: StrategyInfo) -> StrategyChoice:
    return _with_areas(info, info.name, info.description, info.name == DEFAULT_STRATEGY)


def _default_choice(default: StrategyInfo) -> StrategyChoice:
    description = gettext(DEFAULT_CHOICE_DESCRIPTION).format(name=default.name)
    return _with_areas(default, "default", description, False)


def _with_areas(info: StrategyInfo, name: str, description: str, is_default: bool) -> StrategyChoice:
    """A chooser line named `name` that shows `info`'s measured areas."""
    areas = (info.area_20ng, info.area_20ng_lt, info.area_bbc, info.area_bbc_lt)
    return StrategyChoice(name, description, is_default, *areas)


def benchmark_source() -> str:
    return BENCHMARK_SOURCE


def backbone_choices() -> list[str]:
    """The backbones a project may use: the packaged models, then each model folder (one with a
    config.json) directly inside the server's LABELLOOP_MODEL_DIRS, by folder name."""
    names = list(packaged_backbones())
    for root in settings.LABELLOOP_MODEL_DIRS:
        folder = Path(root).expanduser()
        if not folder.is_dir():
            continue
        for child in sorted(folder.iterdir()):
            if child.name not in names and (child / "config.json").is_file():
                names.append(child.name)
    return names


def task_type_lock(*, project: Project) -> tuple[int, int]:
    """(annotations, model versions) of the project: the task type may change only while both are 0."""
    annotations = Annotation.objects.filter(item__project=project).count()
    return annotations, ModelVersion.objects.filter(project=project).count()
