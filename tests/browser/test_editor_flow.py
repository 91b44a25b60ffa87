"""The editor in Chromium on the real stack (uvicorn + PostgreSQL + Redis + a Celery worker): a
person uploads a face photo, sees the face found, opens the editor, picks an exemplar, drags a
slider and sees the preview change, saves a link-shared recipe; a second person opens the share
link, applies the recipe to their own photo, watches the job finish and sees the result."""
import uuid

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.conftest import FACES

pytestmark = [pytest.mark.browser, pytest.mark.stack]
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "a long pass phrase 42"
SLOW = 60_000  # the first encode and render load the model on the worker


@pytest.fixture
def browser(output_dir):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def new_page(browser, errors):
    page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page


def sign_up(page, base_url) -> str:
    username = "editor-" + uuid.uuid4().hex[:8]
    page.goto(base_url + "/signup/")
    page.fill("#id_username", username)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_test_id("username")).to_have_text(username)
    return username


def upload(page, name: str) -> None:
    page.get_by_test_id("nav-photos").click()
    page.wait_for_url("**/photos/")
    page.wait_for_load_state("load")  # the page script listens for the file input's change
    page.get_by_test_id("photo-file").set_input_files(str(FACES / name))
    result = page.get_by_test_id("face-result")
    expect(result).to_have_attribute("data-status", "ready", timeout=SLOW)
    expect(page.get_by_test_id("upload-progress")).to_have_attribute("data-done", "true")
    expect(page.get_by_test_id("face-canvas")).to_have_attribute("data-landmarks", "68")


PIXELS = """async () => {
    const image = document.querySelector('[data-testid=preview-image]');
    await image.decode();
    const canvas = document.createElement('canvas'); canvas.width = canvas.height = 32;
    const context = canvas.getContext('2d'); context.drawImage(image, 0, 0, 32, 32);
    return Array.from(context.getImageData(0, 0, 32, 32).data); }"""
PIXEL_DIFFERENCE = f"""async (before) => {{
    const after = await ({PIXELS})();
    let total = 0; for (let i = 0; i < after.length; i++) total += Math.abs(after[i] - before[i]);
    return total / after.length; }}"""


def wait_for_newer_frame(page, seq: int) -> None:
    page.wait_for_function(f"Number(document.querySelector('[data-testid=preview-image]').dataset.seq) > {seq}",
                           timeout=SLOW)


def drag(page, slider, start: float, end: float, steps: int = 12) -> None:
    """A real mouse drag along a range input: input events while moving, change on release."""
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * start, y)
    page.mouse.down()
    for step in range(1, steps + 1):
        page.mouse.move(box["x"] + box["width"] * (start + (end - start) * step / steps), y)
        page.wait_for_timeout(40)
    page.mouse.up()


@pytest.fixture
def benchmarked(model_versions, django_db_blocker) -> dict[str, tuple[str, str]]:
    """Each version's evaluation as `python -m ml eval --record` keeps it: its first control worked
    on 90% of 48 test faces, its second on 20%. -> {method: (first control, second control)}. (A
    fixture: the database is out of reach once Playwright's event loop runs in the test.)"""
    names = {}
    with django_db_blocker.unblock():
        for method, version in model_versions.items():
            first, second = list(version.controls_schema["properties"])[:2]
            version.metrics.update({f"control_success/{first}/Bangs": 0.9, f"control_success/{second}/Smiling": 0.2,
                                    "eval_faces": 48})
            version.save(update_fields=["metrics"])
            names[method] = (first, second)
    return names


def test_upload_edit_save_share_and_apply(stack_server, model_versions, benchmarked, gallery, browser, output_dir):
    errors: list[str] = []
    alice = new_page(browser, errors)
    sign_up(alice, stack_server.url)

    # Upload: the face is found and its landmarks are drawn.
    upload(alice, "astronaut.jpg")
    expect(alice.get_by_test_id("photo-card")).to_have_count(1)
    alice.screenshot(path=str(output_dir / "1-photos.png"), full_page=True)

    # The editor: the first frame comes from the Celery worker after the photo is encoded.
    alice.get_by_test_id("face-edit").click()
    alice.wait_for_url("**/edit/")
    preview = alice.get_by_test_id("preview-image")
    alice.wait_for_function("document.querySelector('[data-testid=preview-image]').dataset.kind === 'final'", timeout=SLOW)
    untrained = alice.get_by_test_id("untrained-badge").is_visible()
    assert alice.locator("#editor").get_attribute("data-render-mode") == "celery"
    expect(alice.get_by_test_id("frame-info")).to_contain_text("render")

    # Beside each control, how often its edits worked in the model's evaluation; a weak one is flagged.
    shown = next(method for method, version in model_versions.items()
                 if alice.get_by_test_id("method-select").input_value() == str(version.id))
    reliable, weak = benchmarked[shown]
    expect(alice.get_by_test_id(f"benchmark-{reliable}")).to_have_text("edits Bangs on 90% of 48 test faces")
    expect(alice.get_by_test_id(f"benchmark-{reliable}")).to_have_attribute("data-low", "false")
    expect(alice.get_by_test_id(f"benchmark-{weak}")).to_contain_text("Unreliable in this model: edits Smiling on 20%")
    expect(alice.get_by_test_id(f"benchmark-{weak}")).to_have_attribute("data-low", "true")

    # Controls come from the schema: pick an exemplar for the first exemplar control, from the gallery.
    exemplar_control = alice.locator("[data-widget=exemplar]").first
    exemplar_control.click()
    dialog = alice.get_by_test_id("exemplar-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_test_id("exemplar-option").first).to_be_visible(timeout=SLOW)
    alice.screenshot(path=str(output_dir / "2-exemplar-picker.png"))
    seq_before_pick = int(preview.get_attribute("data-seq"))
    dialog.get_by_test_id("exemplar-option").first.click()
    expect(dialog).to_be_hidden()
    expect(exemplar_control).not_to_have_attribute("data-value", "")
    wait_for_newer_frame(alice, seq_before_pick)

    # Drag the slider of the same group: newer frames, a different image, the release renders "final".
    before_seq = int(preview.get_attribute("data-seq"))
    before_src = preview.get_attribute("src")
    before_pixels = alice.evaluate(PIXELS)  # the frame's blob URL is revoked when a newer one is drawn
    group = exemplar_control.locator("xpath=ancestor::fieldset[1]")
    slider = group.locator("[data-widget=slider]") if group.count() else alice.locator("[data-widget=slider]").first
    drag(alice, slider.first, 0.66, 0.05)
    wait_for_newer_frame(alice, before_seq)
    alice.wait_for_function("document.querySelector('[data-testid=preview-image]').dataset.kind === 'final'", timeout=SLOW)
    assert int(preview.get_attribute("data-seq")) > before_seq
    assert preview.get_attribute("src") != before_src
    image_changed = alice.evaluate(PIXEL_DIFFERENCE, before_pixels)
    if untrained:
        # The untrained demo models barely react to their controls (their frames look like noise);
        # a new frame drawn from a new image is what can be checked until trained models land.
        print(f"untrained model: mean pixel difference after the drag {image_changed:.4f}")
    else:
        assert image_changed > 0.5, f"the preview did not change (mean difference {image_changed})"
    expect(alice.get_by_test_id("editor-message")).to_be_hidden()

    # History: undo and redo with the keyboard, before/after.
    history = alice.get_by_test_id("history")
    entries = int(history.get_attribute("data-count"))
    assert entries >= 3  # opened, exemplar, slider
    alice.keyboard.press("Control+z")
    expect(history.locator("li.current")).to_have_count(1)
    expect(history.locator("li.undone")).to_have_count(1)
    alice.keyboard.press("Control+Shift+z")
    expect(history.locator("li.undone")).to_have_count(0)
    alice.get_by_test_id("before-after").click()
    expect(alice.get_by_test_id("before-image")).to_be_visible()
    alice.screenshot(path=str(output_dir / "3-editor-before.png"), full_page=True)
    alice.get_by_test_id("before-after").click()
    expect(preview).to_be_visible()
    alice.screenshot(path=str(output_dir / "4-editor.png"), full_page=True)

    # Save as a recipe anyone with the link can see; the recipe page shows the share link.
    alice.get_by_test_id("recipe-title").fill("Borrowed bangs")
    alice.get_by_test_id("recipe-visibility").select_option("link")
    alice.get_by_test_id("save-recipe").click()
    alice.wait_for_url("**/recipes/*/", timeout=SLOW)
    expect(alice.get_by_test_id("recipe-title")).to_have_text("Borrowed bangs")
    expect(alice.get_by_test_id("step")).to_have_count(1)
    share_url = alice.get_by_test_id("share-url")
    expect(share_url).not_to_have_value("")
    link = share_url.input_value()
    assert "?share=" in link and link.startswith(stack_server.url)
    alice.screenshot(path=str(output_dir / "5-recipe-owner.png"), full_page=True)

    # A second person opens the share link and applies the recipe to their own photo.
    bob = new_page(browser, errors)
    sign_up(bob, stack_server.url)
    upload(bob, "astronaut_grey.jpg")
    bob.goto(link)
    expect(bob.get_by_test_id("recipe-title")).to_have_text("Borrowed bangs")
    expect(bob.get_by_test_id("share-panel")).to_have_count(0)
    expect(bob.get_by_test_id("step")).to_have_count(1)
    bob.get_by_test_id("apply-photo").first.click()
    bob.get_by_test_id("apply").click()
    job = bob.get_by_test_id("job")
    expect(job).to_be_visible()
    expect(job).to_have_attribute("data-status", "done", timeout=SLOW)
    expect(bob.get_by_test_id("job-status")).to_have_text("Done")
    result = bob.get_by_test_id("job-result")
    expect(result).to_have_count(1)
    expect(result.locator("img")).to_be_visible()
    bob.wait_for_function("document.querySelector('[data-testid=job-result] img').naturalWidth > 0", timeout=SLOW)
    download = bob.get_by_test_id("result-download").get_attribute("href")
    assert bob.request.get(stack_server.url + download).body()[:4] == b"\x89PNG"
    zip_url = bob.get_by_test_id("job-zip").get_attribute("href")
    assert bob.request.get(stack_server.url + zip_url).body()[:2] == b"PK"
    bob.screenshot(path=str(output_dir / "6-recipe-applied.png"), full_page=True)

    # Bob forks it: his copy remembers where it came from.
    bob.get_by_test_id("fork").click()
    expect(bob.get_by_test_id("recipe-title")).to_have_text("Borrowed bangs (fork)", timeout=SLOW)
    expect(bob.get_by_test_id("lineage-item")).to_contain_text("Borrowed bangs")
    bob.screenshot(path=str(output_dir / "7-fork.png"), full_page=True)

    assert not errors, errors
