"""Driving the chat page in selenium: open it with fresh storage, type, wait for replies by condition."""

from __future__ import annotations

WAIT_S = 20


def wait(driver, condition, timeout: float = WAIT_S):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition)


def open_page(driver, url: str, key: str | None = None) -> None:
    driver.get(url + "/")
    driver.execute_script("localStorage.clear(); sessionStorage.clear();"
                          "if (arguments[0]) sessionStorage.setItem('twin-key', arguments[0]);", key)
    driver.refresh()
    wait(driver, lambda d: d.execute_script("return document.body.dataset.state") in ("ready", "needs-key"))


def js(driver, script: str, *args):
    return driver.execute_script(script, *args)


def state(driver) -> str:
    return js(driver, "return document.body.dataset.state")


def type_and_enter(driver, text: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.ID, "input")
    box.send_keys(text)
    box.send_keys(Keys.ENTER)


def set_input(driver, text: str) -> None:
    """Fills the box with text that has newlines (send_keys would press Enter on each)."""
    js(driver, "const i = document.getElementById('input'); i.value = arguments[0]; i.focus();", text)


def replies(driver) -> list[str]:
    return js(driver, "return [...document.querySelectorAll('.reply:not([hidden]) .turn.assistant .body')].map(b => b.innerText)")


def questions(driver) -> list[str]:
    return js(driver, "return [...document.querySelectorAll('.turn.user')].map(b => b.textContent)")


def wait_replies(driver, count: int) -> list[str]:
    """Waits until `count` replies are complete and the page is ready for the next message."""
    wait(driver, lambda d: state(d) == "ready" and js(d, "return document.querySelectorAll('.reply:not([hidden]) .turn.done').length") == count)
    return replies(driver)
