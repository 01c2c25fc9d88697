"""Run an exported model on a JSONL file of texts, with no Django:

    python -m mlcore.predict --model MODEL_DIR_OR_ZIP --input texts.jsonl [--output out.jsonl]
        [--runtime torch|onnx] [--batch-size 256] [--device cpu|cuda] [--encoder BACKBONE]

Each input line is a JSON string or an object with a string "text" (blank lines are skipped). Each output
line is {"label", "probabilities": {name: p}} (plus "labels" for a multi-label model), with the input's
"id" when it had one, in input order. `--input -` reads stdin; without `--output` the lines go to stdout.
The whole input is checked before any prediction, and `--output` is written to a temp file renamed at the
end, so a bad line leaves no partial output. Errors go to stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from mlcore.pipeline import TextPredictor

DEFAULT_BATCH_SIZE = 256
# mlcore.pipeline.RUNTIMES; spelled out so that a bad command fails before torch is imported.
RUNTIMES = ("torch", "onnx")
EXIT_USAGE = 2


class InputError(ValueError):
    """A problem with the command's input, reported as one line on stderr."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mlcore.predict", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a saved model's directory or an archive (.zip)")
    parser.add_argument("--input", required=True, help="JSONL: one JSON string or {'text': ...} per line; - = stdin")
    parser.add_argument("--output", help="where to write the JSONL predictions (default: stdout)")
    parser.add_argument("--runtime", choices=RUNTIMES, default="torch", help="torch, or onnx (model.onnx)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="texts per model call")
    parser.add_argument("--device", help="torch device for the model and encoder: cpu or cuda (default: cuda if any)")
    parser.add_argument("--encoder", help="the encoder of a model on embeddings, if not the one its card names")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f"--batch-size must be >= 1; got {args.batch_size}")
    return args


def read_inputs(lines: Iterable[str]) -> list[tuple[str, dict]]:
    """(text, extra output fields) per non-blank line; InputError names the first bad line."""
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"line {number}: not valid JSON ({error.msg})") from None
        if isinstance(value, dict):
            if "text" not in value:
                raise InputError(f'line {number}: an object needs a "text" field')
            text, extra = value["text"], ({"id": value["id"]} if "id" in value else {})
        else:
            text, extra = value, {}
        if not isinstance(text, str):
            raise InputError(f"line {number}: the text is {type(text).__name__}, expected a string")
        rows.append((text, extra))
    return rows


def _read_lines(source: str) -> list[str]:
    if source == "-":
        return sys.stdin.read().splitlines()
    path = Path(source)
    if not path.is_file():
        raise InputError(f"--input {source}: no such file")
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise InputError(f"--input {source}: not UTF-8 text ({error.reason})") from None


def predictions(predictor: TextPredictor, rows: list[tuple[str, dict]], batch_size: int) -> Iterator[dict]:
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        answers = predictor.predict([text for text, _ in batch])
        for (_, extra), answer in zip(batch, answers, strict=True):
            yield {**extra, **answer}


def _write(lines: Iterable[dict], stream: IO[str]) -> None:
    for line in lines:
        stream.write(json.dumps(line, ensure_ascii=False) + "\n")


def run(args: argparse.Namespace) -> None:
    rows = read_inputs(_read_lines(args.input))
    model = Path(args.model)
    if not model.exists():
        raise InputError(f"--model {args.model}: no such model directory or archive")
    from mlcore.pipeline import TextPredictor  # torch and transformers: only once the input is known good

    try:
        predictor = TextPredictor.load(model, runtime=args.runtime, encoder=args.encoder, device=args.device)
    except ValueError as error:
        raise InputError(f"--model {args.model}: {error}") from None
    results = predictions(predictor, rows, args.batch_size)
    if args.output is None:
        _write(results, sys.stdout)
        return
    output = Path(args.output)
    temporary = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as stream:
            _write(results, stream)
        os.replace(temporary, output)
    finally:
        temporary.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:  # e.g. --output in a folder that does not exist
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
