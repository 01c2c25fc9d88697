"""Issue 20, bug 6: the navigation shows each role only the links it can use, and fits a 1280 px screen.

Before: at 1280 and 1366 px the top bar ran off the right edge ("Log out" cut off), and annotators saw
Review, Adjudication and Noisy labels, each ending in a bare 403 page. Now each role's links are exactly
those of its capabilities, every one of them opens (no 403), and every link and "Log out" lie inside
the viewport at both widths. A refused page is a page of the app saying which role it needs.
"""

from __future__ import annotations

import pytest

from annotator.models import Role
from annotator.services.projects import member_set_role, project_create
from annotator.services.taxonomy import label_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EVERYONE = {
    "Annotate",
    "Suggestions",
    "Items",
    "Labels",
    "Rules",
    "Clusters",
    "Models",
    "Active learning",
    "Jobs",
    "Progress",
    "Members",
}
EXPERTS = EVERYONE | {"Review", "Adjudication", "Noisy labels", "Augmentation"}  # issue 24: Augmentation
ADMINS = EXPERTS | {"Settings"}
LINKS_BY_ROLE = {Role.ANNOTATOR: EVERYONE, Role.EXPERT: EXPERTS, Role.ADMIN: ADMINS}
WIDTHS = (1280, 1366)
# A long project name must not push "Log out" off the screen either.
PROJECT_NAME = "BBC News topics, second round with the new guidelines and the Science label"


@pytest.fixture
def team(django_user_model):
    admin = django_user_model.objects.create_user("grace", password="pw-grace")
    project = project_create(name=PROJECT_NAME, created_by=admin)
    users = {Role.ADMIN: "grace"}
    for role, name in ((Role.EXPERT, "ada"), (Role.ANNOTATOR, "ann")):
        user = django_user_model.objects.create_user(name, password=f"pw-{name}")
        member_set_role(project=project, user=user, role=role)
        users[role] = name
    for name in ("Sport", "Politics"):
        label_create(project=project, name=name, by=admin)
    project.items.create(text="A late goal wins the cup", content_hash="a" * 64)
    return project, users


def log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", f"pw-{username}")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/")


def nav_links(page) -> dict[str, str]:
    """{text: href} of the project's navigation links (the header's brand, project, API and user left out)."""
    links = page.locator("header nav a, body > nav a")
    return {links.nth(i).inner_text().strip(): links.nth(i).get_attribute("href") for i in range(links.count())}


def inside_viewport(page, locator, width: int) -> bool:
    box = locator.bounding_box()
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width


@pytest.mark.parametrize("role", [Role.ANNOTATOR, Role.EXPERT, Role.ADMIN])
def test_each_role_sees_the_links_it_can_use_and_log_out_fits(page, live_server, team, role):
    """Issue 20, bug 6: the links per role, none of them a 403, and "Log out" visible at 1280 and 1366 px."""
    project, users = team
    log_in(page, live_server, users[role])
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/projects/{project.pk}/")
        links = nav_links(page)
        assert set(links) == LINKS_BY_ROLE[role], f"{role} at {width} px"
        log_out = page.get_by_role("button", name="Log out")
        assert log_out.is_visible()
        assert inside_viewport(page, log_out, width), f"Log out is cut off at {width} px"
        nav = page.locator("header nav a, body > nav a")
        for i in range(nav.count()):
            assert inside_viewport(page, nav.nth(i), width), f"{nav.nth(i).inner_text()} is cut off at {width} px"
    for text, href in links.items():
        response = page.goto(f"{live_server.url}{href}")
        assert response.status < 400, f"{role}: the {text} link answers {response.status}"


def test_a_refused_page_says_which_role_it_needs(page, live_server, team):
    """Issue 20, bug 6: an annotator who types the review URL gets the app's page, not a bare 403."""
    project, users = team
    log_in(page, live_server, users[Role.ANNOTATOR])
    response = page.goto(f"{live_server.url}/projects/{project.pk}/review/")
    assert response.status == 403
    body = page.locator("main")
    assert "expert" in body.inner_text()
    back = page.get_by_role("link", name="Back to the project")
    assert back.get_attribute("href") == f"/projects/{project.pk}/"
    assert page.get_by_role("button", name="Log out").is_visible()
    assert set(nav_links(page)) == EVERYONE
