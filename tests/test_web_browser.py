"""The web pages in a real headless Chromium (Debian's `chromium` and `chromium-driver`): signed in through the
fake identity provider, then checked as a person sees them — headings, visible text, contrast, the keyboard, a
phone's width — with a screenshot of each. Skipped where Chromium is not installed, required in CI."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from tests.web_client import web_app, web_settings

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    if os.environ.get("CI") == "true":
        raise RuntimeError("CI needs chromium and chromium-driver (.ci/run installs them)")
    pytest.skip("chromium and chromium-driver are not installed", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

SCREENSHOTS = Path(os.environ.get("WEB_SCREENSHOTS_DIR", "/tmp"))  # where a person can look at them


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def site_url(settings, fake_slack, store) -> Iterator[str]:
    """The web process's WSGI app on 127.0.0.1 (port 0), its ROADMAP_BASE_URL pointing at itself."""
    server = make_server("127.0.0.1", 0, lambda e, s: [], server_class=_Server, handler_class=_Quiet)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    server.set_app(web_app(web_settings(settings, fake_slack, base_url=base), store))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def browser(tmp_path) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(arg)
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not look for a browser to download
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def _luminance(rgb: tuple[float, ...]) -> float:
    def channel(c: float) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _rgb(css: str) -> tuple[float, ...]:
    return tuple(float(x) for x in css[css.index("(") + 1 : css.index(")")].split(",")[:3])


def _contrast(fg: str, bg: str) -> float:
    a, b = sorted((_luminance(_rgb(fg)), _luminance(_rgb(bg))), reverse=True)
    return (a + 0.05) / (b + 0.05)


def _shot(driver, name: str) -> Path:
    path = SCREENSHOTS / f"roadmap-web-{name}.png"
    assert driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000  # a rendered page, not an empty canvas
    return path


def test_a_person_signs_in_and_reads_a_cluster(browser, site_url, store):
    browser.get(f"{site_url}/clusters/security")
    # Sent to Slack (the fake) and back, then to the page asked for.
    assert browser.current_url == f"{site_url}/clusters/security"
    cluster = store.roadmap.cluster_detail("security").cluster
    assert browser.find_element(By.TAG_NAME, "h1").text == cluster.title
    headings = [h.text for h in browser.find_elements(By.TAG_NAME, "h2")]
    assert headings[:1] == ["Steps"] and "Reciprocal pairs" in headings and "Latest developments" in headings
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "Signed in as Ada Analyst" in body and "SEC-1" in body
    _shot(browser, "cluster")
    # Text and links are readable: WCAG AA contrast (4.5:1) against the page.
    bg = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
    for css in ("main p", "main a", "main h1"):
        element = browser.find_element(By.CSS_SELECTOR, css)
        color = element.value_of_css_property("color")
        assert _contrast(color, bg) >= 4.5, (css, color, bg)


def test_the_keyboard_reaches_the_skip_link_and_the_steps(browser, site_url):
    browser.get(f"{site_url}/clusters/security")
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    first = browser.switch_to.active_element
    assert first.tag_name == "a" and first.text == "Skip to content" and first.is_displayed()
    reached = []
    for _ in range(40):
        browser.switch_to.active_element.send_keys(Keys.TAB)
        active = browser.switch_to.active_element
        reached.append((active.tag_name, active.get_attribute("href") or ""))
        if "/steps/" in reached[-1][1]:
            break
    assert any(tag == "input" for tag, _ in reached), "the search box is reachable"
    assert "/steps/" in reached[-1][1], reached
    outline = browser.switch_to.active_element.value_of_css_property("outline-style")
    assert outline != "none"  # focus is visible
    _shot(browser, "keyboard")


def test_a_step_reads_on_a_phone(browser, site_url, store):
    browser.set_window_size(390, 844)
    browser.get(f"{site_url}/steps/SEC-1")
    step = store.roadmap.step("SEC-1")
    assert step.title in browser.find_element(By.TAG_NAME, "h1").text
    headings = [h.text for h in browser.find_elements(By.TAG_NAME, "h2")]
    assert headings == ["Reciprocal commitments", "History", "Developments"]
    width = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways on a phone: {width}"
    _shot(browser, "step-phone")


def test_the_overview_and_search_render_and_print(browser, site_url, store):
    browser.get(f"{site_url}/")
    titles = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "main h2")]
    assert titles == [c.cluster.title for c in store.roadmap.cluster_overview()]
    _shot(browser, "overview")
    box = browser.find_element(By.ID, "q")
    box.send_keys("Kellogg", Keys.ENTER)
    # The form's navigation is asynchronous: wait for the results page rather than race it.
    WebDriverWait(browser, 10).until(lambda b: "/search?q=Kellogg" in b.current_url)
    WebDriverWait(browser, 10).until(lambda b: "Kellogg" in b.find_element(By.TAG_NAME, "main").text)
    _shot(browser, "search")
    assert len(browser.print_page()) > 1000  # a printable PDF comes out


def test_an_unknown_page_says_so_with_a_way_back(browser, site_url):
    browser.get(f"{site_url}/steps/ZZ-99")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not found"
    back = browser.find_element(By.LINK_TEXT, "Back to the roadmap overview")
    back.click()
    WebDriverWait(browser, 10).until(lambda b: b.current_url == f"{site_url}/")
