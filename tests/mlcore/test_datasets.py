"""Long-tail variants of a labelled JSONL set (`python -m mlcore.datasets longtail`)."""

import json

import pytest

from mlcore import datasets


def _rows(train_per_class=100, test_per_class=40, classes=("a", "b", "c", "d", "e"), dev_per_class=0):
    rows = []
    for split, size in (("train", train_per_class), ("test", test_per_class), ("dev", dev_per_class)):
        for name in classes:
            rows += [{"text": f"{split} {name} {number}", "label": name, "split": split} for number in range(size)]
    return rows


def _counts(rows, split):
    return datasets.class_counts(rows).get(split, {})


def test_train_sizes_decay_geometrically_to_the_ratio():
    kept = datasets.long_tail_rows(_rows(), ratio=16, seed=0)
    sizes = sorted(_counts(kept, "train").values(), reverse=True)
    assert sizes == [100, 50, 25, 12, 6]  # 100 * 16 ** (-i / 4), rounded; the first class kept whole


def test_the_seed_fixes_class_order_and_items():
    first = datasets.long_tail_rows(_rows(), ratio=10, seed=0)
    assert first == datasets.long_tail_rows(_rows(), ratio=10, seed=0)
    orders = {tuple(_counts(datasets.long_tail_rows(_rows(), ratio=10, seed=seed), "train")) for seed in range(6)}
    assert len(orders) > 1


def test_test_and_dev_follow_the_shares_but_keep_twenty_per_class():
    kept = datasets.long_tail_rows(_rows(test_per_class=100, dev_per_class=30), ratio=16, seed=1)
    train, test, dev = (_counts(kept, split) for split in ("train", "test", "dev"))
    for name, size in train.items():
        assert test[name] == max(20, size)  # same class sizes in test: share of 100 items each
        assert dev[name] == min(30, max(20, round(size * 30 / 100)))


def test_a_class_with_fewer_evaluation_items_keeps_all_it_has():
    rows = _rows(test_per_class=0) + [{"text": f"t{n}", "label": "a", "split": "test"} for n in range(7)]
    kept = datasets.long_tail_rows(rows, ratio=16, seed=0)
    assert _counts(kept, "test") == {"a": 7}


def test_a_short_class_scales_the_whole_curve_down():
    rows = [row for row in _rows(classes=("a", "b")) if row["split"] == "train"]
    rows = [row for row in rows if row["label"] == "a" or int(row["text"].split()[-1]) < 10]
    kept = datasets.long_tail_rows(rows, ratio=4, seed=0)
    sizes = _counts(kept, "train")
    assert max(sizes.values()) / min(sizes.values()) == pytest.approx(4, rel=0.1)
    assert sizes[min(sizes, key=sizes.get)] <= 10


def test_rows_keep_their_input_order():
    rows = _rows()
    kept = datasets.long_tail_rows(rows, ratio=5, seed=0)
    positions = [rows.index(row) for row in kept]
    assert positions == sorted(positions)


@pytest.mark.parametrize(
    ("rows", "ratio", "message"),
    [
        (_rows(), 0.5, "ratio must be >= 1"),
        ([*_rows(), {"text": "x", "label": "a", "split": "pool"}], 5, "unknown split 'pool'"),
        (_rows(train_per_class=10), 20, "too few items"),
        (_rows(train_per_class=0), 5, "needs train rows"),
        ([*_rows(), {"text": "x", "label": "zz", "split": "test"}], 5, "classes the train split lacks: zz"),
    ],
)
def test_bad_input_is_a_clear_error(rows, ratio, message):
    with pytest.raises(ValueError, match=message):
        datasets.long_tail_rows(rows, ratio=ratio, seed=0)


def test_command_writes_the_file_and_prints_class_counts(tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in _rows()), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert datasets.main(["longtail", str(source), str(out), "--ratio", "16", "--seed", "0"]) == 0
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(_counts(written, "train").values()) == [6, 12, 25, 50, 100]
    printed = capsys.readouterr().out
    assert "train:" in printed and "test:" in printed


def test_command_reports_bad_ratio(tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in _rows()), encoding="utf-8")
    with pytest.raises(SystemExit):
        datasets.main(["longtail", str(source), str(tmp_path / "out.jsonl"), "--ratio", "0"])
    assert "ratio must be >= 1" in capsys.readouterr().err
