"""An expert edits the label tree in a real browser (Debian's Chromium through Playwright).

They build a three-level tree with an Other bucket, rename a label inline (htmx), move a subtree with
the keyboard only, merge two labels after reading the preview's count, split a label, and the counts on
the page reconcile with the database.
"""

from __future__ import annotations

import pytest

from annotator.models import Annotation, AnnotationLabel, Label, LabelKind, Role
from annotator.selectors.labels import counted_item_counts
from annotator.services.projects import member_set_role, project_create
from annotator.services.taxonomy import label_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def annotate(project, label: Label, n: int) -> None:
    for _ in range(n):
        i = project.items.count()
        item = project.items.create(text=f"match report {i}", content_hash=f"hash-{i}")
        AnnotationLabel.objects.create(annotation=Annotation.objects.create(item=item), label=label)


def label(project, name: str) -> Label:
    return project.labels.get(name=name)


def row(page, project, name: str):
    return page.locator(f"#label-row-{label(project, name).pk}")


def shown_counts(page, project, name: str) -> tuple[int, int]:
    cells = row(page, project, name)
    items, subtree = (int(cells.locator(f"[data-count={kind}]").inner_text()) for kind in ("items", "subtree"))
    return items, subtree


def flash(page) -> str:
    return page.locator("#flashes").inner_text()


def add_label(page, name: str, *, parent: str = "Top level", kind: str = "Normal", shortcut: str = "") -> None:
    form = page.locator("form.label-form").first
    form.get_by_label("Name").fill(name)
    form.get_by_label("Parent").select_option(label=parent)
    form.get_by_label("Kind").select_option(label=kind)
    form.get_by_label("Shortcut key").fill(shortcut)
    form.get_by_role("button", name="Add label").click()
    page.wait_for_selector(f"#flashes:has-text('Created “{parent + ' > ' if parent != 'Top level' else ''}{name}”.')")


def test_an_expert_builds_and_reshapes_the_tree(page, live_server, django_user_model, tmp_path):
    admin = django_user_model.objects.create_user("grace", password="pw-grace")
    expert = django_user_model.objects.create_user("ada", password="correct horse")
    project = project_create(name="News desk", created_by=admin)
    member_set_role(project=project, user=expert, role=Role.EXPERT)
    # Labels from an earlier import: two annotations on "Soccer", one on "Football".
    annotate(project, label_create(project=project, name="Soccer", by=admin), 2)
    annotate(project, label_create(project=project, name="Football", by=admin), 1)

    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "ada")
    page.fill("input[name=password]", "correct horse")
    page.click("button[type=submit]")
    page.click("text=News desk")
    page.click("text=Edit the label tree")
    assert shown_counts(page, project, "Soccer") == (2, 2)

    # Build: Sport (with an Other bucket), Ball games > Handball, Tennis.
    add_label(page, "Sport", shortcut="p")
    add_label(page, "Other sport", parent="Sport", kind="Other bucket")
    add_label(page, "Ball games")
    add_label(page, "Handball", parent="Ball games")
    add_label(page, "Tenis", parent="Sport")
    assert "Other bucket" in row(page, project, "Other sport").inner_text()

    # Rename inline: the form swaps into the row, Enter saves, the row swaps back (no page load).
    row(page, project, "Tenis").get_by_role("link", name="Rename “Tenis”").click()
    name_input = page.locator("tr.editing input[name=name]")
    name_input.fill("Tennis")
    name_input.press("Enter")
    page.wait_for_selector("#flashes:has-text('Renamed “Tenis” to “Tennis”.')")
    assert row(page, project, "Tennis").locator(".label-name").inner_text() == "Tennis"

    # Move Football under Ball games with the mouse...
    football = row(page, project, "Football")
    football.locator("summary").click()
    football.get_by_label("Move to…").select_option(label="Ball games")
    football.get_by_role("button", name="Move", exact=True).click()
    page.wait_for_selector("#flashes:has-text('Moved “Football” to “Ball games > Football”.')")

    # ...and the Ball games subtree under Sport with the keyboard only.
    ball_games = row(page, project, "Ball games")
    ball_games.locator("summary").focus()
    page.keyboard.press("Enter")  # opens the details
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "parent"
    ball_games.get_by_label("Move to…").select_option(label="Sport")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Move"
    page.keyboard.press("Enter")
    page.wait_for_selector("#flashes:has-text('Moved “Ball games” to “Sport > Ball games”.')")
    assert label(project, "Handball").parent == label(project, "Ball games")
    assert label(project, "Football").parent == label(project, "Ball games")
    assert shown_counts(page, project, "Sport") == (0, 1)  # Football's one item is in Sport's subtree now

    # Merge Soccer into Football: the preview states the count before anything changes.
    soccer = row(page, project, "Soccer")
    soccer.locator("summary").click()
    soccer.get_by_label("Merge into").select_option(label="Sport > Ball games > Football")
    soccer.get_by_role("button", name="Preview merge").click()
    preview = soccer.locator(".merge-preview .preview-text")
    preview.wait_for()
    assert preview.inner_text().startswith(
        "2 annotations on 2 items will move to “Sport > Ball games > Football”; 0 already have both;"
    )
    assert label(project, "Soccer").active  # nothing written yet
    page.screenshot(path=str(tmp_path / "merge-preview.png"), full_page=True)
    soccer.get_by_role("button", name="Confirm merge into “Football”").click()
    page.wait_for_selector("#flashes:has-text('Merged “Soccer” into “Sport > Ball games > Football”.')")
    assert page.locator("#label-tree").get_by_text("Soccer").count() == 0

    # Split Handball into two children.
    handball = row(page, project, "Handball")
    handball.locator("summary").click()
    handball.get_by_label("Split into children, one name per line").fill("Beach handball\nIndoor handball")
    handball.get_by_role("button", name="Split").click()
    page.wait_for_selector("#flashes:has-text('Split “Handball” into “Beach handball”, “Indoor handball”')")

    # The page's counts reconcile with each other and with the database.
    assert shown_counts(page, project, "Football") == (3, 3)
    assert shown_counts(page, project, "Ball games") == (0, 3)
    assert shown_counts(page, project, "Sport") == (0, 3)
    assert shown_counts(page, project, "Indoor handball") == (0, 0)
    assert counted_item_counts(project=project) == {label(project, "Football").pk: 3}
    depth = page.locator(f"#label-row-{label(project, 'Beach handball').pk} .label-cell").get_attribute("style")
    assert depth == "--depth: 3"
    assert label(project, "Other sport").kind == LabelKind.OTHER
    page.click("summary:has-text('Archived labels (1)')")
    assert "merged into “Football”" in page.locator(".archived-labels").inner_text()

    screenshot = tmp_path / "tree-editor.png"
    page.screenshot(path=str(screenshot), full_page=True)

    page.click("text=History of changes")
    history = page.locator("table.history").inner_text()
    assert "Merged “Soccer” into “Sport > Ball games > Football”." in history
    assert "ada" in history
