"""The interface in Simplified Chinese (issue 22): the catalog is complete and compiled, every main page
speaks Chinese to a browser that asks for it (and says so in `lang`), and the language switch sticks."""

from __future__ import annotations

import ast
import gettext
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import translation

from annotator.i18n import catalog_sources, i18n_names_source
from annotator.models import Item, Job, ModelVersion, Split
from annotator.services.taxonomy import label_create

LOCALE = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES"
PO, MO = LOCALE / "django.po", LOCALE / "django.mo"
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9,en;q=0.5"}
# Words of the navigation and of common buttons that must never reach a Chinese page in English.
ENGLISH_UI = [
    ">Annotate<",
    ">Suggestions<",
    ">Labels<",
    ">Rules<",
    ">Clusters<",
    ">Models<",
    ">Active learning<",
    ">Jobs<",
    ">Progress<",
    ">Members<",
    ">Log out<",
    ">Log in<",
    ">Save settings<",
    ">Cancel<",
    ">Filter<",
]
PLACEHOLDER = re.compile(r"%\([a-z_]+\)s|\{[a-z_]+\}|%%|<[^>]+>")


def _po_entries(path: Path) -> list[dict]:
    """The entries of a PO file: msgctxt, msgid, msgid_plural, msgstr (index -> text) and flags."""
    entries, current, field = [], None, None
    for raw in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        line = raw.strip()
        if not line:
            if current is not None:
                entries.append(current)
            current = None
            continue
        if current is None:
            current = {"ctx": None, "msgid": None, "plural": None, "msgstr": {}, "flags": set()}
        if line.startswith("#,"):
            current["flags"] |= {flag.strip() for flag in line[2:].split(",")}
        elif line.startswith("#"):
            continue
        elif match := re.match(r'(msgctxt|msgid_plural|msgid|msgstr)(?:\[(\d+)\])? (".*")$', line):
            keyword, index, text = match.group(1), match.group(2), ast.literal_eval(match.group(3))
            field = {"msgctxt": ("ctx",), "msgid": ("msgid",), "msgid_plural": ("plural",)}.get(
                keyword, ("msgstr", int(index or 0))
            )
            _set(current, field, text)
        elif line.startswith('"'):
            _set(current, field, _get(current, field) + ast.literal_eval(line))
    return [entry for entry in entries if entry["msgid"]]  # the header has an empty msgid


def _get(entry: dict, field: tuple) -> str:
    return entry["msgstr"][field[1]] if field[0] == "msgstr" else entry[field[0]]


def _set(entry: dict, field: tuple, text: str) -> None:
    if field[0] == "msgstr":
        entry["msgstr"][field[1]] = text
    else:
        entry[field[0]] = text


def test_every_message_of_the_catalog_is_translated_and_none_is_fuzzy():
    entries = _po_entries(PO)
    assert len(entries) > 500
    untranslated = [entry["msgid"] for entry in entries if not all(entry["msgstr"].values()) or not entry["msgstr"]]
    fuzzy = [entry["msgid"] for entry in entries if "fuzzy" in entry["flags"]]
    assert not untranslated, f"untranslated: {untranslated[:10]}"
    assert not fuzzy, f"fuzzy: {fuzzy[:10]}"
    # Every placeholder, %% and HTML tag of the English survives in the Chinese (a swapped line breaks this).
    broken = [
        entry["msgid"]
        for entry in entries
        for text in entry["msgstr"].values()
        if sorted(PLACEHOLDER.findall(entry["msgid"])) != sorted(PLACEHOLDER.findall(text))
    ]
    assert not broken, f"placeholders differ: {broken[:5]}"


def test_the_committed_mo_file_is_compiled_from_the_po_file(tmp_path):
    """CI does not compile messages: the committed .mo must say exactly what the .po says."""
    with MO.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for entry in _po_entries(PO):
        ctx = entry["ctx"]
        if entry["plural"] is None:
            got = compiled.pgettext(ctx, entry["msgid"]) if ctx else compiled.gettext(entry["msgid"])
        else:
            got = (
                compiled.npgettext(ctx, entry["msgid"], entry["plural"], 1)
                if ctx
                else compiled.ngettext(entry["msgid"], entry["plural"], 1)
            )
        assert got == entry["msgstr"][0], f".mo is stale for {entry['msgid']!r}: run manage.py compilemessages"
    if shutil.which("msgfmt") is None:
        pytest.skip("msgfmt is not installed: the format check of the .po is skipped (the content check ran)")
    result = subprocess.run(
        ["msgfmt", "--check", "-o", str(tmp_path / "django.mo"), str(PO)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_the_generated_msgid_list_is_current():
    """annotator/i18n_names.py lists the strings translated at display time; a new model choice, job
    kind or strategy must be added by `manage.py i18n_names` (then makemessages and a translation)."""
    path = Path(settings.BASE_DIR) / "annotator" / "i18n_names.py"
    assert path.read_text(encoding="utf-8") == i18n_names_source(), "run: manage.py i18n_names"
    with translation.override("zh-hans"):
        untranslated = [text for text in catalog_sources() if translation.gettext(text) == text and text != "TextCNN"]
    assert not untranslated, f"not in the catalog: {untranslated[:5]}"


@pytest.fixture
def busy_project(project_with_roles):
    """A project with labels, items, a model version and a job, so that every page shows its parts."""
    project, users = project_with_roles
    sport = label_create(project=project, name="体育", by=users["admin"])
    label_create(project=project, name="财经", by=users["admin"])
    for index in range(3):
        Item.objects.create(project=project, text=f"今天的比赛非常精彩 {index}", content_hash=f"h{index}")
    Item.objects.create(project=project, text="测试集条目", content_hash="t", split=Split.TEST)
    version = ModelVersion.objects.create(
        project=project, number=1, kind="fast_head", data_hash="x", n_train=3, n_test=1,
        label_ids=[sport.pk], metrics={"macro_f1": 0.5, "accuracy": 0.5, "predicted_classes": 1}, artifact_dir="m/v1",
    )  # fmt: skip
    Job.objects.create(project=project, kind="selfcheck", created_by=users["admin"])
    return project, users, version


def _main_pages(project, version, job) -> dict[str, str]:
    names = [
        "project-detail", "dashboard", "queue", "item-list", "label-tree", "label-history", "rule-list",
        "cluster-page", "item-import", "item-export", "candidate-list", "model-list", "predict-page",
        "active-learning", "noise-page", "augment-page", "review", "adjudication", "job-list", "project-settings",
        "member-list",
    ]  # fmt: skip
    pages = {name: reverse(name, args=[project.pk]) for name in names}
    pages["model-detail"] = reverse("model-detail", args=[project.pk, version.pk])
    pages["job-detail"] = reverse("job-detail", args=[project.pk, job.pk])
    pages["project-list"] = reverse("project-list")
    pages["password-change"] = reverse("password-change")
    return pages


@pytest.mark.django_db
def test_every_main_page_is_in_chinese_for_a_browser_that_asks_for_it(busy_project):
    project, users, version = busy_project
    browser = Client()
    browser.force_login(users["admin"])
    for name, url in _main_pages(project, version, Job.objects.get(project=project)).items():
        response = browser.get(url, **ZH)
        assert response.status_code == 200, (name, url, response.status_code)
        page = response.content.decode()
        assert '<html lang="zh-hans">' in page, name
        assert "退出登录" in page, name  # the account links ("Log out")
        if name not in ("project-list", "password-change"):
            assert ">标注</a>" in page, name  # the project navigation ("Annotate")
        leaked = [word for word in ENGLISH_UI if word in page]
        assert not leaked, f"{name}: English left on the page: {leaked}"
        assert "{#" not in page and "#}" not in page, f"{name}: a template comment is shown as text"
    login = Client().get("/login/", **ZH).content.decode()
    assert '<html lang="zh-hans">' in login and "用户名" in login and ">Log in<" not in login


@pytest.mark.django_db
def test_an_english_browser_gets_english(busy_project):
    project, users, _version = busy_project
    browser = Client()
    browser.force_login(users["admin"])
    page = browser.get(f"/projects/{project.pk}/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert '<html lang="en">' in page and ">Annotate<" in page and "标注" not in page


@pytest.mark.django_db
def test_the_language_switch_sticks_across_logging_out_and_in(make_user):
    make_user("li")
    browser = Client(enforce_csrf_checks=True)
    login_page = browser.get("/login/", HTTP_ACCEPT_LANGUAGE="en")
    assert 'action="/i18n/setlang/"' in login_page.content.decode()
    token = login_page.cookies["csrftoken"].value
    switched = browser.post("/i18n/setlang/", {"language": "zh-hans", "next": "/login/", "csrfmiddlewaretoken": token})
    assert switched.status_code == 302 and switched["Location"] == "/login/"
    assert browser.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    # The cookie wins over an English Accept-Language, before and after logging in.
    assert '<html lang="zh-hans">' in browser.get("/login/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    token = browser.cookies["csrftoken"].value
    logged_in = browser.post("/login/", {"username": "li", "password": "pw-li", "csrfmiddlewaretoken": token})
    assert logged_in.status_code == 302
    home = browser.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="zh-hans">' in home and "新建项目" in home
    # A `next` off this site is not followed.
    token = browser.cookies["csrftoken"].value
    away = browser.post(
        "/i18n/setlang/", {"language": "en", "next": "https://evil.example/", "csrfmiddlewaretoken": token}
    )
    assert away.status_code == 302 and "evil.example" not in away["Location"]
    assert '<html lang="en">' in browser.get("/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()


@pytest.mark.django_db
def test_the_language_switch_needs_the_csrf_token(make_user):
    browser = Client(enforce_csrf_checks=True)
    assert browser.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"}).status_code == 403


@pytest.mark.django_db
def test_messages_and_form_labels_are_translated(busy_project):
    """A flash message from a view and a form's labels and choices, in Chinese."""
    project, users, _version = busy_project
    browser = Client()
    browser.force_login(users["admin"])
    response = browser.post(
        f"/projects/{project.pk}/labels/new/", {"name": "科技", "color": "#123456", "kind": "normal"}, **ZH
    )
    page = browser.get(response["Location"], **ZH).content.decode()
    assert "已创建“科技”。" in page
    members = browser.get(f"/projects/{project.pk}/members/", **ZH).content.decode()
    assert "用户名" in members and ">专家<" in members and ">Expert<" not in members


@pytest.mark.django_db
def test_refusals_and_service_errors_are_in_chinese(busy_project):
    """The 403 page names the role in Chinese, and a service's ValidationError reaches the page translated."""
    project, users, _version = busy_project
    annotator = Client()
    annotator.force_login(users["annotator"])
    refused = annotator.get(reverse("project-settings", args=[project.pk]), **ZH)
    page = refused.content.decode()
    assert refused.status_code == 403 and "不允许" in page
    assert "你在此项目中的角色（标注者）不能更改设置。" in page and "这需要管理员角色" in page
    admin = Client()
    admin.force_login(users["admin"])
    taken = admin.post(reverse("label-new", args=[project.pk]), {"name": "体育", "kind": "normal"}, **ZH)
    assert "这里已经有一个标签“体育”" in admin.get(taken["Location"], **ZH).content.decode()
    english = annotator.get(reverse("project-settings", args=[project.pk]), HTTP_ACCEPT_LANGUAGE="en")
    assert "Your role in this project (annotator) cannot change settings." in english.content.decode()


@pytest.mark.django_db
def test_the_switch_names_each_language_in_itself():
    """A reader of either language finds the way back: 简体中文 and English, whatever the page's language."""
    for accept in ("zh-hans", "en"):
        page = Client().get("/login/", HTTP_ACCEPT_LANGUAGE=accept).content.decode()
        assert ">English</button>" in page and ">简体中文</button>" in page, accept
