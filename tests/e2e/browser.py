"""A real browser for the dashboard stories: Debian's headless Chromium driven by Selenium.

Only the system's ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` are used, never Selenium
Manager (which would download a browser): the stories must run offline. Without them a story
is skipped, or fails when ``COMPLIANCE_BOT_REQUIRE_SERVICES=1`` (CI installs them).

Screenshots are of the whole page, always saved beside the test (its ``tmp_path``), and copied
to ``docs/screenshots/`` with ``UPDATE_SCREENSHOTS=1``, as ``UPDATE_GOLDEN=1`` does for goldens:
look at them before committing.
"""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WIDTH, HEIGHT = 1366, 900
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
FLAGS = (
    "--headless=new",
    "--no-sandbox",  # as root in a container there is no sandbox to have
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # nothing but the pages a story opens goes out
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    f"--window-size={WIDTH},{HEIGHT}",
)
WAIT = 15.0  # seconds for a page a story expects


def chromium_missing() -> str | None:
    """None when the system's Chromium and its driver are installed; otherwise what is missing."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        return (
            f"no {' and '.join(missing)}: the dashboard's browser stories need Debian's "
            "`chromium` and `chromium-driver` (apt-get install -y chromium chromium-driver)"
        )
    return None


def chromium(profile: Path) -> WebDriver:
    """A fresh headless Chromium with its own profile directory (cookies, cache) ``profile``."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    # the browser's own asks (a site's icon) would reach the fake forge, which serves only what
    # the bot calls and counts anything else as a misuse of GitHub's API
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/favicon.ico"]})
    return driver


def path_of(driver: WebDriver) -> str:
    return urlsplit(driver.current_url).path


def wait_for_path(driver: WebDriver, path: str) -> None:
    """Until the browser is on a page whose path is ``path`` (after redirects)."""
    WebDriverWait(driver, WAIT).until(
        lambda d: (
            path_of(d) == path and d.execute_script("return document.readyState") == "complete"
        ),
        f"never reached {path}",
    )


def text(driver: WebDriver, css: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, css).text


def texts(driver: WebDriver, css: str) -> list[str]:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, css)]


def screenshot(driver: WebDriver, name: str, tmp_path: Path, *, whole: bool = True) -> Path:
    """The whole page (``whole=False``: what the window shows) as ``<tmp_path>/<name>.png``;
    with ``UPDATE_SCREENSHOTS=1`` also ``docs/screenshots/<name>.png``."""
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    content = metrics["cssContentSize"] if whole else {"width": WIDTH, "height": HEIGHT}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            # wider than the window only when the page overflows: that is worth seeing
            "clip": {
                "x": 0,
                "y": 0,
                "width": max(WIDTH, content["width"]),
                "height": max(200, content["height"]),
                "scale": 1,
            },
        },
    )
    path = tmp_path / f"{name}.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOTS / path.name)
    return path
