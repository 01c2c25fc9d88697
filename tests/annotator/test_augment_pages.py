"""The augmentation page (issue 24): who sees it, the start form and its errors, the job card, the counts
per class before and after, and the sample browser's bulk decisions with and without htmx.

Copies are rows written here as a job would write them; the job itself runs in the worker and browser
tests. Starting a job only enqueues on commit, which a plain django_db test never reaches, and the
broker is replaced anyway."""

from __future__ import annotations

import pytest
from django.test import Client

from annotator.importing.parsers import Record
from annotator.models import AugmentedText, AugmentStatus, Job, JobStatus, ModelVersion, Split, TaskType
from annotator.services import jobs
from annotator.services.imports import ImportReport, import_parsed
from annotator.services.projects import project_create
from annotator.services.taxonomy import label_create
from annotator.views.augment import SAMPLES_PER_PAGE
from annotator.views.training_form import option_field_name
from mlcore.training_options import OPTION_SPECS

pytestmark = pytest.mark.django_db

XSS = '<img src=x onerror="window.__xss = 1">'
# Training items per class: Weather is the scarce one (below the median of 4, 2, 1 is 2).
TRAIN = {"Sport": 4, "Politics": 2, "Weather": 1}


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    monkeypatch.setattr(jobs, "enqueue", lambda name, *, args, queue, **options: "tid")


@pytest.fixture
def desk(project_with_roles):
    """Labeled training items of three classes, an empty class, and three copies of the Weather item."""
    project, users = project_with_roles
    records = [
        Record(line=n, text=f"{name} story number {i}", labels=(name,), meta={})
        for n, (name, i) in enumerate(((name, i) for name, count in TRAIN.items() for i in range(count)), 1)
    ]
    import_parsed(project=project, records=records, split=Split.TRAIN, report=ImportReport(format="test"))
    labels = {label.name: label for label in project.labels.all()}
    labels["Empty"] = label_create(project=project, name="Empty", by=users["admin"])
    weather = project.items.get(text="Weather story number 0")
    sport = project.items.get(text="Sport story number 0")
    copies = [
        AugmentedText.objects.create(
            project=project, source_item=weather, op="swap", text="story Weather number 0", changed_spans=[[0, 13]]
        ),
        AugmentedText.objects.create(
            project=project,
            source_item=weather,
            op="delete",
            text=f"Weather {XSS} 0",
            changed_spans=[[8, 8 + len(XSS)]],
        ),
        AugmentedText.objects.create(
            project=project,
            source_item=sport,
            op="swap",
            text="Sport number story 0",
            changed_spans=[[6, 18]],
            status=AugmentStatus.REJECTED,
            filtered_out=True,
            filter_confidence=0.12,
        ),
    ]
    return project, users, labels, copies


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _url(project, suffix: str = "") -> str:
    return f"/projects/{project.pk}/augment/{suffix}"


def _part(page: str, marker: str, end: str = "</section>") -> str:
    return page.split(marker, 1)[1].split(end, 1)[0]


def _ticked(html: str, name: str, value=None) -> bool:
    """Whether the checkbox `name`=`value` (None: the only one called `name`) in `html` is checked."""
    tag = next(
        t for t in html.split("<input")[1:] if f'name="{name}"' in t and (value is None or f'value="{value}"' in t)
    )
    return " checked" in tag.split(">", 1)[0]


def test_annotators_are_refused_outsiders_get_404_and_only_experts_and_admins_see_the_link(desk):
    project, users, _labels, copies = desk
    assert _client(users["annotator"]).get(_url(project)).status_code == 403
    assert _client(users["outsider"]).get(_url(project)).status_code == 404
    refused = _client(users["annotator"]).post(_url(project, "decide/"), {"action": "accept", "ids": [copies[0].pk]})
    assert refused.status_code == 403 and AugmentedText.objects.get(pk=copies[0].pk).status == AugmentStatus.PENDING
    assert _client(users["annotator"]).post(_url(project, "run/"), {"ops": ["swap"], "copies": 1}).status_code == 403
    link = f'href="{_url(project)}"'
    assert link not in _client(users["annotator"]).get(f"/projects/{project.pk}/").content.decode()
    for role in ("expert", "admin"):
        assert link in _client(users[role]).get(f"/projects/{project.pk}/").content.decode(), role


def test_an_expert_sees_counts_before_and_after_the_defaults_and_the_ops(desk):
    project, users, labels, _copies = desk
    AugmentedText.objects.filter(op="swap", status=AugmentStatus.PENDING).update(status=AugmentStatus.ACCEPTED)
    response = _client(users["expert"]).get(_url(project))
    assert response.status_code == 200
    page = response.content.decode()
    counts = _part(page, 'id="augment-counts"')
    weather = labels["Weather"].pk
    # Weather: 1 human label, +1 accepted copy after, 1 waiting; Sport's copy was rejected: no change.
    assert f'data-before="{weather}">1<' in counts and f'data-after="{weather}">2<' in counts
    assert f'data-pending="{weather}">1<' in counts
    assert f'data-before="{labels["Sport"].pk}">4<' in counts and f'data-after="{labels["Sport"].pk}">4<' in counts
    assert "scarce" in counts.split(f'data-before="{weather}"')[0].rsplit('class="name"', 1)[1]
    assert "cdn" not in page.lower() and "<script>" not in page  # a CSS picture, offline
    form = _part(page, 'id="augment-start"', "</form>")
    # The scarce class starts ticked, with its count; the others do not.
    assert _ticked(form, "classes", weather) and not _ticked(form, "classes", labels["Sport"].pk)
    assert 'Weather <span class="muted">(1)</span>' in form
    # Each op with its description; a plug-in without a model is shown, disabled.
    ops = _part(form, 'class="picker ops', "</fieldset>")
    assert _ticked(ops, "ops", "swap") and "Swap two random words." in ops
    mlm = ops.split('value="mlm"')[1].split("</label>")[0]
    assert "disabled" in mlm and "no model configured" in mlm
    assert 'name="copies"' in form and 'name="strength"' in form and 'name="model_version"' in form
    # No model yet: the filter starts off, and the form says how to get one.
    assert not _ticked(form, "use_filter") and 'id="augment-no-model"' in form
    ModelVersion.objects.create(
        project=project, number=1, kind="fast_head", data_hash="0", n_train=7, n_test=1, metrics={}, artifact_dir="m"
    )
    form = _part(_client(users["expert"]).get(_url(project)).content.decode(), 'id="augment-start"', "</form>")
    assert _ticked(form, "use_filter") and 'id="augment-no-model"' not in form


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"copies": "0"}, "greater than or equal to 1"),
        ({"copies": "1000"}, "less than or equal to"),
        ({"copies": "many"}, "Enter a whole number"),
        ({"ops": []}, "Choose at least one operation."),
        ({"ops": ["nonsense"]}, "Select a valid choice"),
        ({"classes": []}, "Choose at least one class."),
        ({"strength": "0"}, "greater than or equal to 0.01"),
    ],
)
def test_bad_fields_are_shown_at_the_form_and_queue_nothing(desk, fields, message):
    project, users, labels, _copies = desk
    data = {"classes": [labels["Weather"].pk], "ops": ["swap"], "copies": "2", "strength": "0.1", **fields}
    response = _client(users["expert"]).post(_url(project, "run/"), data)
    assert response.status_code == 400
    form = _part(response.content.decode(), 'id="augment-start"', "</form>")
    assert message in form and 'role="alert"' in form
    assert not Job.objects.filter(kind="augment").exists()


def test_a_class_without_items_and_a_filter_without_a_model_are_clear_errors(desk):
    project, users, labels, _copies = desk
    expert = _client(users["expert"])
    base = {"ops": ["swap"], "copies": "2", "strength": "0.1"}
    empty = expert.post(_url(project, "run/"), {**base, "classes": [labels["Empty"].pk]})
    assert empty.status_code == 400 and "“Empty” has no labeled training items" in empty.content.decode()
    unfiltered = expert.post(_url(project, "run/"), {**base, "classes": [labels["Weather"].pk], "use_filter": "on"})
    assert unfiltered.status_code == 400 and "train one first, or turn the filter off" in unfiltered.content.decode()
    plugin = expert.post(_url(project, "run/"), {**base, "classes": [labels["Weather"].pk], "ops": ["mlm"]})
    assert plugin.status_code == 400 and "mlm" in _part(plugin.content.decode(), 'id="augment-start-errors"', "</div>")
    assert not Job.objects.filter(kind="augment").exists()


def test_an_expert_starts_a_job_and_the_page_shows_its_card_with_cancel(desk):
    project, users, labels, _copies = desk
    expert = _client(users["expert"])
    response = expert.post(
        _url(project, "run/"),
        {"classes": [labels["Weather"].pk, labels["Politics"].pk], "ops": ["swap"], "copies": "3", "strength": "0.2"},
    )
    assert response.status_code == 302 and response["Location"] == _url(project)
    job = Job.objects.get(kind="augment")
    assert (job.queue, job.created_by) == ("cpu", users["expert"])
    assert job.params["ops"] == ["swap"] and job.params["copies"] == 3 and job.params["strength"] == 0.2
    assert sorted(job.params["classes"]) == sorted([labels["Weather"].pk, labels["Politics"].pk])
    assert job.params["use_filter"] is False
    page = expert.get(_url(project)).content.decode()
    card = _part(page, 'id="augment-job-status"', "</div>")
    assert f"/augment/jobs/{job.pk}/" in card and "every 1s" in card and 'id="augment-cancel"' in card
    # A second job while this one waits is refused with the service's reason, and nothing is queued.
    again = expert.post(_url(project, "run/"), {"classes": [labels["Weather"].pk], "ops": ["swap"], "copies": "1"})
    assert again.status_code == 400 and "already" in again.content.decode()
    assert Job.objects.filter(kind="augment").count() == 1


def test_the_job_card_polls_until_the_end_and_an_expert_can_cancel(desk):
    project, users, _labels, _copies = desk
    expert = _client(users["expert"])
    job = Job.objects.create(project=project, kind="augment", status=JobStatus.RUNNING, progress=40, queue="cpu")
    poll = expert.get(_url(project, f"jobs/{job.pk}/"), HTTP_HX_REQUEST="true")
    assert poll.status_code == 200 and "HX-Trigger" not in poll and 'value="40"' in poll.content.decode()
    cancelled = expert.post(_url(project, f"jobs/{job.pk}/cancel/"), HTTP_HX_REQUEST="true")
    assert cancelled.status_code == 200 and Job.objects.get(pk=job.pk).cancel_requested
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.SUCCEEDED, progress=100, result={"copies": 6, "kept": 4, "filtered_out": 2}
    )
    last = expert.get(_url(project, f"jobs/{job.pk}/"), HTTP_HX_REQUEST="true")
    assert last["HX-Trigger"] == "job-finished" and "hx-trigger" not in last.content.decode()
    assert "6 copies written, 4 kept for review; 2 rejected by the filter." in last.content.decode()
    # The job's own page leads to the review.
    detail = expert.get(f"/projects/{project.pk}/jobs/{job.pk}/").content.decode()
    assert 'id="job-augment-link"' in detail and "Review the 4 copies waiting" in detail and "of 6 written" in detail
    other = Job.objects.create(project=project, kind="selfcheck")  # not an augmentation job: not this page's
    assert expert.get(_url(project, f"jobs/{other.pk}/")).status_code == 404


def test_samples_show_the_changed_words_marked_escape_the_text_and_filter(desk):
    project, users, labels, copies = desk
    expert = _client(users["expert"])
    samples = _part(expert.get(_url(project)).content.decode(), 'id="augment-samples"')
    # The first visit shows what waits for review: the two pending Weather copies, not the rejected one.
    assert f'id="copy-{copies[0].pk}"' in samples and f'id="copy-{copies[2].pk}"' not in samples
    assert "<mark>story Weather</mark> number 0" in samples
    assert XSS not in samples and "&lt;img src=x onerror=" in samples
    assert "Keys:" in samples and "<kbd>X</kbd>" in samples and "accept all shown" in samples
    rejected = _part(expert.get(_url(project), {"status": "rejected"}).content.decode(), 'id="augment-samples"')
    assert f'id="copy-{copies[2].pk}"' in rejected and "12%" in rejected and "by the filter" in rejected
    by_op = _part(expert.get(_url(project), {"status": "", "op": "swap"}).content.decode(), 'id="augment-samples"')
    assert f'id="copy-{copies[0].pk}"' in by_op and f'id="copy-{copies[2].pk}"' in by_op
    assert f'id="copy-{copies[1].pk}"' not in by_op
    sport = expert.get(_url(project), {"status": "", "label": labels["Sport"].pk}).content.decode()
    assert f'id="copy-{copies[2].pk}"' in sport and f'id="copy-{copies[0].pk}"' not in sport


def test_bulk_decisions_by_htmx_update_counts_and_samples_in_place(desk):
    project, users, labels, copies = desk
    expert = _client(users["expert"])
    htmx = {"HTTP_HX_REQUEST": "true"}
    accepted = expert.post(
        _url(project, "decide/"), {"action": "accept", "ids": [copies[0].pk], "back": "status=pending"}, **htmx
    )
    part = accepted.content.decode()
    assert accepted.status_code == 200 and part.startswith('<div id="augment-results">')
    assert "Accepted 1 copy." in part and f'data-after="{labels["Weather"].pk}">2<' in part
    assert f'id="copy-{copies[0].pk}"' not in part and f'id="copy-{copies[1].pk}"' in part  # still pending: shown
    copy = AugmentedText.objects.get(pk=copies[0].pk)
    assert (copy.status, copy.decided_by) == (AugmentStatus.ACCEPTED, users["expert"])

    rejected = expert.post(_url(project, "decide/"), {"action": "reject", "ids": [copies[1].pk]}, **htmx)
    assert "Rejected 1 copy." in rejected.content.decode()
    assert AugmentedText.objects.get(pk=copies[1].pk).status == AugmentStatus.REJECTED

    # "Accept all shown" takes the ids shown, not the boxes ticked.
    shown = expert.post(
        _url(project, "decide/"), {"action": "accept_shown", "shown": [copies[1].pk, copies[2].pk]}, **htmx
    )
    assert "Accepted 2 copies." in shown.content.decode()
    assert set(AugmentedText.objects.values_list("status", flat=True)) == {AugmentStatus.ACCEPTED}


def test_bad_decisions_say_why_and_change_nothing(desk, make_user):
    project, users, _labels, copies = desk
    other = project_create(name="Elsewhere", created_by=make_user("someone_else"))
    foreign = AugmentedText.objects.create(project=other, source_item=copies[0].source_item, op="swap", text="x")
    expert = _client(users["expert"])
    htmx = {"HTTP_HX_REQUEST": "true"}
    before = sorted(AugmentedText.objects.values_list("id", "status"))
    cases = [
        ({"action": "accept"}, "Select copies first"),
        ({"action": "accept", "ids": [copies[0].pk, foreign.pk]}, f"No augmented copy with id {foreign.pk}"),
        ({"action": "accept", "ids": ["1; DROP"]}, "Choose accept or reject"),
        ({"action": "shred", "ids": [copies[0].pk]}, "Choose accept or reject"),
    ]
    for data, message in cases:
        response = expert.post(_url(project, "decide/"), data, **htmx)
        assert response.status_code == 200 and message in response.content.decode(), data
    assert sorted(AugmentedText.objects.values_list("id", "status")) == before


def test_decisions_without_htmx_redirect_back_to_the_same_filters(desk):
    project, users, labels, copies = desk
    back = f"status=pending&label={labels['Weather'].pk}"
    response = _client(users["expert"]).post(
        _url(project, "decide/"), {"action": "reject", "ids": [copies[0].pk], "back": back}
    )
    assert response.status_code == 302 and response["Location"] == f"{_url(project)}?{back}"
    assert AugmentedText.objects.get(pk=copies[0].pk).status == AugmentStatus.REJECTED


def test_the_training_form_offers_the_augmented_copies_and_the_model_page_says_how_they_were_used(desk):
    project, users, labels, copies = desk
    admin = _client(users["admin"])
    assert 'name="augmentation"' in admin.get(f"/projects/{project.pk}/models/").content.decode()
    # Enough to train on (10 training items) and a test split to evaluate on.
    more = [Record(line=n, text=f"Politics story extra {n}", labels=("Politics",), meta={}) for n in range(1, 4)]
    import_parsed(project=project, records=more, split=Split.TRAIN, report=ImportReport(format="test"))
    tests = [Record(line=n, text=f"{name} test story", labels=(name,), meta={}) for n, name in enumerate(TRAIN, 1)]
    import_parsed(project=project, records=tests, split=Split.TEST, report=ImportReport(format="test"))
    AugmentedText.objects.filter(pk=copies[0].pk).update(status=AugmentStatus.ACCEPTED)
    for ticked in (True, False):
        data = {"preset": "fast_head", **({"augmentation": "on"} if ticked else {})}
        response = admin.post(f"/projects/{project.pk}/models/train/", data)
        job = Job.objects.filter(kind="train").order_by("id").last()
        assert response["Location"] == f"/projects/{project.pk}/jobs/{job.pk}/"
        assert job.params.get("augmentation", False) is ticked, job.params
    weather = labels["Weather"].pk
    common = {"data_hash": "0" * 64, "n_train": 7, "n_test": 1, "metrics": {"macro_f1": 0.5}, "artifact_dir": "m"}
    record = {"used": True, "copies": 5, "by_op": {"swap": 3, "delete": 2}, "by_class": {str(weather): 5}}
    used = ModelVersion.objects.create(
        project=project, number=1, kind="text_cnn", params={"augmentation": record}, **common
    )
    unused = ModelVersion.objects.create(
        project=project, number=2, kind="text_cnn", params={"augmentation": {"used": False}}, **common
    )
    page = admin.get(f"/projects/{project.pk}/models/{used.pk}/").content.decode()
    card = _part(page, 'id="augmentation"')
    assert "Trained with 5 accepted augmented copies" in card
    assert '<td>swap</td><td class="num">3</td>' in card and '<td>Weather</td><td class="num">5</td>' in card
    assert "human labels only" in _part(
        admin.get(f"/projects/{project.pk}/models/{unused.pk}/").content.decode(), 'id="augmentation"'
    )
    listing = admin.get(f"/projects/{project.pk}/models/").content.decode()
    assert "+5 augmented" in listing


@pytest.mark.parametrize("kind", ["text_cnn", "teacher"])
def test_the_uda_options_come_into_the_training_form_from_the_options_spec(desk, kind):
    """UDA consistency training is a model option (mlcore.training_options), so the form's advanced part
    shows it for the TextCNN and the teacher without a line of its own."""
    names = [option.name for option in OPTION_SPECS[kind] if option.name.startswith("consistency_")]
    assert names, f"the {kind} has no consistency_ (UDA) options in its spec"
    project, users, _labels, _copies = desk
    page = _client(users["admin"]).get(f"/projects/{project.pk}/models/").content.decode()
    for name in names:
        assert f'name="{option_field_name(kind, name)}"' in page, name


def test_the_page_speaks_chinese_to_a_chinese_browser(desk):
    project, users, _labels, _copies = desk
    page = _client(users["expert"]).get(_url(project), HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    chinese = ("数据增强", "各类别数量", "每个条目的副本数", "随机交换两个词。", "未配置模型", "接受所选", "等待审核")
    for words in chinese:
        assert words in page, words
    for english in (">Counts per class<", "Swap two random words.", ">Samples<", "no model configured", "Keys:"):
        assert english not in page, english


def test_samples_come_a_page_at_a_time_and_a_bad_offset_is_the_first_page(desk):
    project, users, _labels, copies = desk
    source = copies[0].source_item
    AugmentedText.objects.bulk_create(
        AugmentedText(project=project, source_item=source, op="swap", text=f"copy {n}") for n in range(SAMPLES_PER_PAGE)
    )  # with the two pending copies of the fixture: 52 waiting
    expert = _client(users["expert"])
    first = _part(expert.get(_url(project)).content.decode(), 'id="augment-samples"')
    assert first.count('class="augment-row') == SAMPLES_PER_PAGE and "offset=50" in first and "Previous" not in first
    second = _part(
        expert.get(_url(project), {"status": "pending", "offset": "50"}).content.decode(), 'id="augment-samples"'
    )
    assert second.count('class="augment-row') == 2 and 'href="?status=pending">' in second and "Next" not in second
    for offset in ("0", "abc", "9" * 30, "-5"):
        response = expert.get(_url(project), {"offset": offset})
        assert response.status_code == 200, offset
        assert _part(response.content.decode(), 'id="augment-samples"').count('class="augment-row') == SAMPLES_PER_PAGE


def test_a_multi_label_project_says_augmentation_is_for_single_label_ones(desk):
    project, users, _labels, _copies = desk
    project.task_type = TaskType.MULTI_LABEL
    project.save(update_fields=["task_type"])
    page = _client(users["expert"]).get(_url(project)).content.decode()
    assert 'id="augment-multi-label"' in page and 'id="augment-start"' not in page
