"""A person signs up, logs out, logs in and sees the home page's live preview, in Chromium."""
import uuid

import pytest
from playwright.sync_api import expect, sync_playwright

pytestmark = [pytest.mark.browser, pytest.mark.stack]
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def page(output_dir):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        yield page
        page.screenshot(path=str(output_dir / "last.png"), full_page=True)
        browser.close()


def test_sign_up_log_out_log_in_and_see_a_live_preview(stack_server, page, output_dir):
    username = "person-" + uuid.uuid4().hex[:8]
    password = "a long pass phrase 42"
    page.goto(stack_server.url + "/")
    page.get_by_role("link", name="Sign up").first.click()
    page.fill("#id_username", username)
    page.fill("#id_password1", password)
    page.fill("#id_password2", password)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_test_id("username")).to_have_text(username)

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in", exact=True)).to_be_visible()
    page.get_by_role("link", name="Log in", exact=True).click()
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("username")).to_have_text(username)

    # The first frame arrives from the Celery worker; a slider move asks for a newer one.
    expect(page.locator("#render-mode")).to_have_text("celery")
    expect(page.locator("#preview")).to_have_attribute("data-seq", "1", timeout=30_000)
    first_src = page.locator("#preview").get_attribute("src")
    page.locator("#strength").fill("0.2")
    expect(page.locator("#preview")).not_to_have_attribute("data-seq", "1", timeout=30_000)
    assert page.locator("#preview").get_attribute("src") != first_src
    page.screenshot(path=str(output_dir / "home.png"), full_page=True)
