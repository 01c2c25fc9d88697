"""The one torch training loop (issue 21): any network, parameter groups from the caller, every target kind."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mlcore import teacher
from mlcore.losses import make_loss
from mlcore.targets import SoftTargets, TargetBatch, encode_targets
from mlcore.training_loop import Callbacks, Objective, Trainer, TrainingCancelled


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def toy_data(n: int = 64, seed: int = 0):
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(n, 4)).astype(np.float32)
    labels = ["a" if point[0] + point[1] > 0 else "b" for point in points]
    return points, labels


def toy_run(trainer: Trainer, targets_y, *, dev: bool = False, param_groups=None, callbacks=None, weight=None):
    points, _ = toy_data()
    _, targets = encode_targets(targets_y, multi_label=False, sample_weight=weight)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        network = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    features = torch.as_tensor(points)

    def batch_of(rows):
        return (features[torch.as_tensor(rows)],), targets.batch(rows, torch.device("cpu"))

    rows = np.arange(len(points))
    train, dev_rows = (rows[:48], rows[48:]) if dev else (rows, None)
    result = trainer.fit(
        network,
        batch_of,
        train,
        dev_rows,
        rng=np.random.default_rng(0),
        strata=targets.strata(),
        param_groups=param_groups,
        callbacks=callbacks,
    )
    return network, result, features


def objective(name: str = "cross_entropy") -> Objective:
    return Objective(make_loss(name, multi_label=False, class_counts=[1, 1]), multi_label=False)


def test_the_teacher_module_re_exports_the_shared_trainer():
    assert teacher.Trainer is Trainer


def test_trains_any_network_and_reports_progress_and_metrics():
    fractions, metrics = [], []
    trainer = Trainer(
        multi_label=False, loss_fn=objective(), learning_rate=0.05, epochs=20, batch_size=16, on_metrics=metrics.append
    )
    network, result, features = toy_run(trainer, toy_data()[1], callbacks=Callbacks(fractions.append))
    predicted = network(features).argmax(dim=1).numpy()
    truth = np.array([0 if label == "a" else 1 for label in toy_data()[1]])
    assert np.mean(predicted == truth) >= 0.9
    assert result.n_epochs == 20 and len(result.history) == 20
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert {m["event"] for m in metrics} == {"step", "epoch"}


def test_parameter_groups_come_from_the_caller():
    metrics = []

    def groups(network: nn.Module) -> list[dict]:
        return [
            {"params": network[0].parameters(), "lr": 0.01},
            {"params": network[2].parameters(), "lr": 0.1},
        ]

    trainer = Trainer(multi_label=False, loss_fn=objective(), epochs=1, batch_size=64, on_metrics=metrics.append)
    toy_run(trainer, toy_data()[1], param_groups=groups)
    assert next(m for m in metrics if m["event"] == "step")["learning_rates"] == [0.01, 0.1]


def test_adam_and_adamw_differ_only_with_weight_decay():
    def probabilities(optimizer: str, weight_decay: float) -> np.ndarray:
        trainer = Trainer(
            multi_label=False, loss_fn=objective(), optimizer=optimizer, weight_decay=weight_decay, epochs=3
        )
        network, _, features = toy_run(trainer, toy_data()[1])
        return network(features).detach().numpy()

    np.testing.assert_allclose(probabilities("adam", 0.0), probabilities("adamw", 0.0), atol=1e-6)
    assert not np.allclose(probabilities("adam", 0.5), probabilities("adamw", 0.5), atol=1e-4)


def test_early_stopping_keeps_the_best_dev_epoch():
    trainer = Trainer(multi_label=False, loss_fn=objective(), learning_rate=0.3, epochs=60, patience=2)
    _, result, _ = toy_run(trainer, toy_data()[1], dev=True)
    assert result.n_epochs < 60
    dev_losses = [m["dev_loss"] for m in result.history]
    assert result.best_epoch == int(np.argmin(dev_losses)) + 1


def test_soft_targets_and_weights_reach_the_objective():
    _, labels = toy_data()
    probabilities = np.array([[0.9, 0.1] if label == "a" else [0.1, 0.9] for label in labels])
    seen = []

    class Recording(Objective):
        def forward(self, logits, targets):
            seen.append(targets)
            return super().forward(logits, targets)

    loss = Recording(make_loss("focal", multi_label=False), multi_label=False, temperature=2.0, alpha=0.5)
    trainer = Trainer(multi_label=False, loss_fn=loss, epochs=1, batch_size=64)
    weight = np.linspace(0.5, 2.0, 64)
    toy_run(trainer, SoftTargets(["a", "b"], probabilities, temperature=2.0, alpha=0.5), weight=weight)
    assert isinstance(seen[0], TargetBatch) and seen[0].soft.shape == (64, 2)
    assert sorted(seen[0].weight.tolist()) == pytest.approx(weight.tolist())
    seen.clear()
    toy_run(trainer, labels)  # plain labels: the hard tensor, as the registry losses take it
    assert isinstance(seen[0], torch.Tensor) and seen[0].dtype == torch.int64


def test_re_sampling_needs_strata_and_cancel_stops():
    trainer = Trainer(multi_label=False, loss_fn=objective(), sampling_q=0.0, epochs=1)
    network = nn.Linear(4, 2)
    with pytest.raises(ValueError, match="sampling_q needs strata"):
        trainer.fit(network, lambda rows: None, np.arange(4), rng=np.random.default_rng(0))
    trainer = Trainer(multi_label=False, loss_fn=objective(), epochs=3)
    with pytest.raises(TrainingCancelled, match="before epoch 1"):
        toy_run(trainer, toy_data()[1], callbacks=Callbacks(should_cancel=lambda: True))


def test_bad_scheduler_or_optimizer_is_refused():
    with pytest.raises(ValueError, match="scheduler must be one of"):
        Trainer(multi_label=False, loss_fn=objective(), scheduler="step")
    with pytest.raises(ValueError, match="optimizer must be one of"):
        Trainer(multi_label=False, loss_fn=objective(), optimizer="sgd")
