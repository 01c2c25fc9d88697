"""`python -m mlcore.bench distill`: simulate a project, distil its teacher into students, compare.

    python -m mlcore.bench distill --dataset FILE.jsonl --labels N|all --teacher head|teacher
        --student static_head,text_cnn --out RESULT.json [--seeds 3] [--schemes labels,model,data,both]
        [--finetune both|yes|no] [--temperature 2] [--alpha 0.5] [--confidence 0]
        [--params KIND=JSON ...] [--speed-seconds 4] [--threads N] [--cache-dir DIR] [--backbone NAME]

Per seed: N stratified human labels from the train split (`--labels all`: every one), the rest of
train is the unlabeled pool. The teacher is trained as the app trains it (`head`: the fast head on the
cached encoder embeddings, self-training on the pool; `teacher`: the fine-tuned transformer) and labels
the labeled items and the pool. Every student kind is then trained under every scheme
(`mlcore.distill`; "labels" is the student on the human labels alone), with and/or without the final
fine-tuning on the human labels (names "static_head/both" and "static_head/both+ft"). Everyone is scored
on the test split (macro-F1) and timed by `mlcore.speed.measure_speed` on the test texts (ms/text at
batch 1, texts/s at batch 256, the same thread count; the head's time includes the encoder).

JSON: `teacher` and `students` (by name), each with the mean `macro_f1`, `ms_per_text`,
`texts_per_second` over seeds (speed: over the first `--speed-seeds` seeds), their `per_seed` lists
and `std`; students also their ratios to the
teacher. `best_student`: the highest macro-F1 among the students >= 20x the teacher's texts/s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

SPEEDUP_TARGET = 20.0
F1_SHARE_TARGET = 0.98
OVER_LABELS_TARGET = 0.03
TEACHERS = ("head", "teacher")
FINETUNE_CHOICES = ("both", "yes", "no")


def add_distill_arguments(parser: argparse.ArgumentParser) -> None:
    from mlcore.bench import DEFAULT_CACHE_DIR
    from mlcore.encoders import DEFAULT_BACKBONE

    parser.add_argument("--dataset", type=Path, required=True, help="JSONL with text, label, split")
    parser.add_argument("--labels", required=True, help="human labels: a number (stratified from train) or 'all'")
    parser.add_argument("--teacher", choices=TEACHERS, default="head")
    parser.add_argument("--student", action="append", required=True, help="student kind(s): repeat or comma-separate")
    parser.add_argument("--out", type=Path, required=True, help="where to write the result JSON")
    parser.add_argument("--seeds", type=int, default=3, help="seeds random-state, +1, ...")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--schemes", default="labels,model,data,both", help="comma-separated schemes")
    parser.add_argument("--finetune", choices=FINETUNE_CHOICES, default="both", help="fine-tune after distilling")
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--confidence", type=float, default=0.0)
    parser.add_argument(
        "--params", action="append", default=[], help='KIND=JSON student parameters, e.g. text_cnn={"epochs": 3}'
    )
    parser.add_argument("--speed-seconds", type=float, default=4.0, help="time budget of each speed measurement")
    parser.add_argument(
        "--speed-seeds", type=int, default=1, help="time the models of the first N seeds only (speed hardly varies)"
    )
    parser.add_argument("--threads", type=int, default=None, help="threads for the speed measurements")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR, help="embedding cache (teacher head)")
    parser.add_argument("--backbone", default=DEFAULT_BACKBONE, help="the encoder (and the students' tokenizer)")
    parser.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress on stderr")


def _names(values: list[str]) -> list[str]:
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def _student_params(args: argparse.Namespace, kinds: list[str]) -> dict[str, dict]:
    params: dict[str, dict] = {kind: {} for kind in kinds}
    for item in args.params:
        kind, _, text = item.partition("=")
        if kind not in params:
            raise ValueError(f"--params {item!r}: {kind!r} is not one of the --student kinds")
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"--params {item!r}: not JSON ({error})") from None
        if not isinstance(value, dict):
            raise ValueError(f"--params {item!r}: the JSON must be an object")
        params[kind].update(value)
    from mlcore.models import model_class

    for kind in kinds:  # the students tokenize (and static_head distils) with the project's encoder
        if "backbone" in model_class(kind)().get_params():
            params[kind].setdefault("backbone", args.backbone)
    return params


def _macro_f1(gold: list[str], predicted: list[str]) -> float:
    labels = sorted(set(gold) | set(predicted))
    return float(f1_score(gold, predicted, labels=labels, average="macro", zero_division=0))


def _summary(per_seed: list[dict]) -> dict:
    out: dict = {}
    for key in ("macro_f1", "ms_per_text", "texts_per_second"):
        values = [run[key] for run in per_seed if key in run]
        if not values:  # speed not measured (--speed-seeds 0)
            continue
        out[key] = float(np.mean(values))
        out[f"{key}_std"] = float(np.std(values))
        out[f"{key}_per_seed"] = values
    return out


class _Teacher:
    """The simulated project's teacher for one seed: its probabilities and its predict function."""

    def __init__(self, args: argparse.Namespace, data: dict, seed: int, labeled: np.ndarray, pool: np.ndarray):
        from mlcore.models import FastHead, model_class

        train_texts, train_gold = data["train_texts"], data["train_gold"]
        labels = [train_gold[i] for i in labeled]
        if args.teacher == "head":
            embedded = data["train_embeddings"]
            self.model = FastHead(head="lr", random_state=seed).fit(
                embedded[labeled], labels, unlabeled=embedded[pool] if len(pool) else None
            )
            self.labeled_probabilities = self.model.predict_proba(embedded[labeled])
            self.pool_probabilities = self.model.predict_proba(embedded[pool]) if len(pool) else None
            self.test_probabilities = self.model.predict_proba(data["test_embeddings"])
            encoder = data["encoder"]
            self.predict_proba: Callable = lambda texts: self.model.predict_proba(encoder.embed(texts))
        else:
            self.model = model_class("teacher")(backbone=args.backbone, random_state=seed)
            self.model.fit([train_texts[i] for i in labeled], labels)
            self.labeled_probabilities = self.model.predict_proba([train_texts[i] for i in labeled])
            pool_texts = [train_texts[i] for i in pool]
            self.pool_probabilities = self.model.predict_proba(pool_texts) if pool_texts else None
            self.test_probabilities = self.model.predict_proba(data["test_texts"])
            self.predict_proba = self.model.predict_proba
        self.classes = [str(label) for label in self.model.classes_]


def _load_data(args: argparse.Namespace) -> dict:
    from mlcore.bench import cached_embeddings, read_jsonl_split
    from mlcore.encoders import TextEncoder

    train_texts, train_gold = read_jsonl_split(args.dataset, "train")
    test_texts, test_gold = read_jsonl_split(args.dataset, "test")
    data = {"train_texts": train_texts, "train_gold": train_gold, "test_texts": test_texts, "test_gold": test_gold}
    if args.teacher == "head":
        encoder = TextEncoder.load(args.backbone, device="cpu")
        cache_dir = args.cache_dir.expanduser()
        data["encoder"] = encoder
        data["train_embeddings"], _ = cached_embeddings(encoder, train_texts, cache_dir)
        data["test_embeddings"], _ = cached_embeddings(encoder, test_texts, cache_dir)
    return data


def _runs(args: argparse.Namespace) -> list[tuple[str, str, bool]]:
    """(name, scheme, finetune) of every student run per kind."""
    from mlcore.distill import SCHEMES

    schemes = _names([args.schemes])
    unknown = sorted(set(schemes) - set(SCHEMES))
    if unknown or not schemes:
        raise ValueError(f"--schemes takes a list of {', '.join(SCHEMES)}; got {args.schemes!r}")
    runs = []
    for scheme in schemes:
        if scheme == "labels":
            runs.append(("labels", scheme, False))
            continue
        if args.finetune in ("no", "both"):
            runs.append((scheme, scheme, False))
        if args.finetune in ("yes", "both"):
            runs.append((f"{scheme}+ft", scheme, True))
    return runs


def distill_benchmark(args: argparse.Namespace) -> dict:
    from mlcore.bench import _machine, stratified_subset
    from mlcore.distill import DistillConfig, distill_student
    from mlcore.speed import measure_speed

    kinds = _names(args.student)
    for kind in kinds:  # bad kinds and knobs fail before anything trains
        DistillConfig(
            student_kind=kind, temperature=args.temperature, alpha=args.alpha, confidence=args.confidence
        ).check()
    params = _student_params(args, kinds)
    runs = _runs(args)
    if args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1; got {args.seeds}")
    machine = _machine()
    quiet = getattr(args, "quiet", False)
    data = _load_data(args)
    train_gold, test_texts, test_gold = data["train_gold"], data["test_texts"], data["test_gold"]
    n_labels = len(train_gold) if args.labels == "all" else _positive_int(args.labels)
    speed = {"threads": args.threads, "max_seconds": args.speed_seconds}
    teacher_runs: list[dict] = []
    student_runs: dict[str, list[dict]] = {}
    reports: dict[str, list[dict]] = {}
    for seed in range(args.random_state, args.random_state + args.seeds):
        labeled = stratified_subset(train_gold, n_labels, random_state=seed)
        pool = np.setdiff1d(np.arange(len(train_gold)), labeled)
        started = time.perf_counter()
        teacher = _Teacher(args, data, seed, labeled, pool)
        predicted = [teacher.classes[i] for i in teacher.test_probabilities.argmax(axis=1)]
        timed = seed < args.random_state + args.speed_seeds
        teacher_runs.append(
            {
                "macro_f1": _macro_f1(test_gold, predicted),
                "train_seconds": round(time.perf_counter() - started, 2),
                **(_speed(measure_speed(teacher.predict_proba, test_texts, **speed)) if timed else {}),
            }
        )
        _log(quiet, f"seed {seed} teacher: {teacher_runs[-1]}")
        texts = [data["train_texts"][i] for i in labeled]
        labels = [train_gold[i] for i in labeled]
        pool_texts = [data["train_texts"][i] for i in pool]
        pool_probabilities = [teacher.pool_probabilities] if len(pool) else [np.zeros((0, len(teacher.classes)))]
        for kind in kinds:
            for name, scheme, finetune in runs:
                config = DistillConfig(
                    student_kind=kind,
                    student_params=params[kind],
                    scheme=scheme,
                    temperature=args.temperature,
                    alpha=args.alpha,
                    confidence=args.confidence,
                    finetune=finetune,
                    random_state=seed,
                )
                started = time.perf_counter()
                student, report = distill_student(
                    config,
                    texts=texts,
                    labels=labels,
                    pool_texts=pool_texts,
                    teacher_probabilities=[teacher.labeled_probabilities],
                    pool_teacher_probabilities=pool_probabilities,
                    classes=teacher.classes,
                )
                train_seconds = time.perf_counter() - started
                run = {
                    "macro_f1": _macro_f1(test_gold, [str(label) for label in student.predict(test_texts)]),
                    "train_seconds": round(train_seconds, 2),
                    **(_speed(measure_speed(student.predict_proba, test_texts, **speed)) if timed else {}),
                }
                student_runs.setdefault(f"{kind}/{name}", []).append(run)
                reports.setdefault(f"{kind}/{name}", []).append({k: report[k] for k in ("n_labeled", "n_pool_used")})
                _log(quiet, f"seed {seed} {kind}/{name}: {run}")
    return _result(args, machine, n_labels, teacher_runs, student_runs, reports, kinds, params)


def _result(args, machine, n_labels, teacher_runs, student_runs, reports, kinds, params) -> dict:
    teacher = {
        **_summary(teacher_runs),
        "kind": "fast_head (lr, self-training)" if args.teacher == "head" else "teacher",
    }
    teacher["train_seconds_per_seed"] = [run["train_seconds"] for run in teacher_runs]
    students = {}
    for name, runs in student_runs.items():
        summary = _summary(runs)
        summary["train_seconds_per_seed"] = [run["train_seconds"] for run in runs]
        summary["f1_share_of_teacher"] = summary["macro_f1"] / teacher["macro_f1"]
        timed = "texts_per_second" in summary and "texts_per_second" in teacher
        summary["speedup_over_teacher"] = summary["texts_per_second"] / teacher["texts_per_second"] if timed else None
        summary["n_pool_used_per_seed"] = [report["n_pool_used"] for report in reports[name]]
        students[name] = summary
    fast = {name: s for name, s in students.items() if (s["speedup_over_teacher"] or 0) >= SPEEDUP_TARGET}
    best = max(fast, key=lambda name: fast[name]["macro_f1"]) if fast else None
    checks = None
    if best is not None:
        kind = best.split("/")[0]
        labels_only = students.get(f"{kind}/labels")
        checks = {
            "f1_share_of_teacher": students[best]["f1_share_of_teacher"],
            "f1_share_target": F1_SHARE_TARGET,
            "over_labels_only": None if labels_only is None else students[best]["macro_f1"] - labels_only["macro_f1"],
            "over_labels_only_target": OVER_LABELS_TARGET,
            "speedup_over_teacher": students[best]["speedup_over_teacher"],
            "texts_per_second": students[best].get("texts_per_second"),
        }
    return {
        "dataset": str(args.dataset),
        "n_labels": n_labels,
        "labels": args.labels,
        "teacher_kind": args.teacher,
        "seeds": list(range(args.random_state, args.random_state + args.seeds)),
        "temperature": args.temperature,
        "alpha": args.alpha,
        "confidence": args.confidence,
        "student_params": params,
        "teacher": teacher,
        "students": students,
        "best_student": best,
        "checks": checks,
        "speed_timed": "mlcore.speed.measure_speed on the test texts: ms/text at batch 1 (median), texts/s at "
        "batch 256; the head's function embeds with the encoder first",
        **machine,
    }


def _speed(measured: dict) -> dict:
    return {
        "ms_per_text": round(measured["ms_per_text"], 4),
        "texts_per_second": round(measured["texts_per_second"], 2),
        "speed_threads": measured["threads"],
    }


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"--labels must be a positive number or 'all'; got {text!r}") from None
    if value < 1:
        raise ValueError(f"--labels must be a positive number or 'all'; got {text!r}")
    return value


def _log(quiet: bool, message: str) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def run_distill(args: argparse.Namespace) -> int:
    result = distill_benchmark(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    temporary = args.out.with_name(f".{args.out.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    temporary.replace(args.out)
    teacher = result["teacher"]
    print(
        f"distill {args.dataset.name} labels={result['n_labels']}: teacher f1={teacher['macro_f1']:.4f} "
        f"{teacher.get('texts_per_second', float('nan')):.0f} texts/s; best student {result['best_student']}"
    )
    for name, student in result["students"].items():
        print(
            f"  {name}: f1={student['macro_f1']:.4f} (±{student['macro_f1_std']:.4f}, "
            f"{student['f1_share_of_teacher']:.1%} of teacher) {student.get('texts_per_second', float('nan')):.0f} "
            f"texts/s ({student['speedup_over_teacher'] or float('nan'):.0f}x) "
            f"{student.get('ms_per_text', float('nan')):.2f} ms/text"
        )
    return 0
