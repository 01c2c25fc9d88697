"""Speed of static_head and of the teacher (MiniLM + fast head), re-timed when the machine was quieter.

Run from the repository root: PYTHONPATH=. HF_HUB_OFFLINE=1 .venv/bin/python docs/bench/distill_speed_quieter.py
Writes docs/bench/distill_speed_quieter.json. static_head is fit on labels: its speed does not depend on the
scheme (same features, same layer).
"""

import json
import time
from pathlib import Path

from mlcore.bench import cached_embeddings, read_jsonl_split
from mlcore.encoders import TextEncoder
from mlcore.models import FastHead
from mlcore.speed import measure_speed
from mlcore.students import StaticHead


def main() -> None:
    out = {}
    for name in ("bbc", "20ng"):
        path = Path(f"/work/data/{name}.jsonl")
        train, train_labels = read_jsonl_split(path, "train")
        test, _ = read_jsonl_split(path, "test")
        n = 2000 if name == "20ng" else len(train)
        started = time.time()
        student = StaticHead().fit(train[:n], train_labels[:n])
        out[name] = {"fit_seconds": round(time.time() - started, 1)}
        out[name]["static_head"] = measure_speed(student.predict_proba, test, threads=2, max_seconds=6)
        if name == "bbc":
            encoder = TextEncoder.load(device="cpu")
            embedded, _ = cached_embeddings(encoder, train, Path("~/.cache/labelloop/embeddings").expanduser())
            head = FastHead(head="lr").fit(embedded, train_labels)
            out[name]["teacher"] = measure_speed(
                lambda texts, head=head, encoder=encoder: head.predict_proba(encoder.embed(texts)),
                test,
                threads=2,
                max_seconds=30,
            )
        print(name, out[name], flush=True)
    Path("docs/bench/distill_speed_quieter.json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
