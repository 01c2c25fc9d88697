import json
import time
from pathlib import Path

from mlcore.bench import cached_embeddings, read_jsonl_split
from mlcore.encoders import TextEncoder
from mlcore.models import FastHead
from mlcore.speed import measure_speed
from mlcore.students import StaticHead

out = {}
for ds in ["bbc", "20ng"]:
    tr, trl = read_jsonl_split(f"/work/data/{ds}.jsonl", "train")
    te, _ = read_jsonl_split(f"/work/data/{ds}.jsonl", "test")
    n = 2000 if ds == "20ng" else len(tr)
    t = time.time()
    m = StaticHead().fit(tr[:n], trl[:n])
    fit = time.time() - t
    s = measure_speed(m.predict_proba, te, threads=2, max_seconds=6)
    out[ds] = {"static_head": s, "fit_seconds": round(fit, 1)}
    if ds == "bbc":
        enc = TextEncoder.load(device="cpu")
        E, _ = cached_embeddings(enc, tr, Path("~/.cache/labelloop/embeddings").expanduser())
        h = FastHead(head="lr").fit(E, trl)
        out[ds]["teacher"] = measure_speed(lambda x: h.predict_proba(enc.embed(x)), te, threads=2, max_seconds=30)
    print(ds, out[ds], flush=True)
Path("/tmp/i21d").mkdir(exist_ok=True)
json.dump(out, open("/tmp/i21d/speed_idle.json", "w"), indent=1)
# Run from the repository root: PYTHONPATH=. HF_HUB_OFFLINE=1 .venv/bin/python docs/bench/distill_speed_quieter.py
# (writes /tmp/i21d/speed_idle.json; copied here as distill_speed_quieter.json). static_head on the labels
# alone: its speed does not depend on the scheme (same features, same layer).
