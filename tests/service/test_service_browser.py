"""The web chat page in headless Debian chromium: send a message, watch the reply stream in, see
the memories it used with their dates and sources; a screenshot is saved."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from service_helpers import API_KEY, serve

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# Set to a path (e.g. docs/screenshot-chat.png) to keep a copy of the screenshot for the README.
COPY_SHOT_TO = os.environ.get("SCREENSHOT_CHAT_TO")


def start_browser(profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert Path(CHROMIUM).is_file() and Path(DRIVER).is_file(), "apt-get install -y chromium chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", f"--user-data-dir={profile}", "--window-size=1100,800"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(DRIVER), options=options)


def test_chat_page_streams_reply_and_shows_memories(indexed_twin, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from twin.service.app import create_app
    from twin.service.backends.echo import EchoBackend

    config = indexed_twin.model_copy(deep=True)
    config.paths.request_log = tmp_path / "requests.sqlite"
    backend = EchoBackend(config)
    backend.delay_s = 0.15  # slow enough to see the reply grow
    driver = start_browser(tmp_path / "profile")
    try:
        with serve(create_app(config, backend=backend)) as url:
            driver.get(url + "/")
            wait = WebDriverWait(driver, 30)
            key = driver.find_element(By.ID, "api-key")
            key.send_keys(API_KEY)
            driver.execute_script("arguments[0].dispatchEvent(new Event('change'))", key)
            wait.until(lambda d: d.find_element(By.ID, "title").text == "twin")
            driver.find_element(By.ID, "input").send_keys("What happened on the Yellow Mountain hike?")
            driver.find_element(By.ID, "send").click()
            reply = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".turn.assistant")))
            lengths = set()
            deadline = time.monotonic() + 30
            while "done" not in reply.get_attribute("class") and time.monotonic() < deadline:
                lengths.add(len(reply.text))
                time.sleep(0.05)
            assert reply.text == "echo: What happened on the Yellow Mountain hike?"
            assert len(lengths - {0}) >= 3, f"reply did not stream: saw lengths {sorted(lengths)}"
            memories = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".memories")))
            metas = [m.text for m in memories.find_elements(By.CSS_SELECTOR, ".meta")]
            assert metas and any(m.startswith("2023-04-02 · telegram") for m in metas), metas
            assert "red hat" in memories.text
            shot = tmp_path / "chat.png"
            driver.save_screenshot(str(shot))
            assert shot.stat().st_size > 10_000
            if COPY_SHOT_TO:
                shutil.copy(shot, COPY_SHOT_TO)
    finally:
        driver.quit()
