"""The web chat page in headless Debian chromium, as the people around the owner use it: replies
stream in and render as Markdown, input methods and a busy page never send by accident, a failed
message goes back to the box, Stop/Regenerate/Copy/New conversation work, the conversation survives
a reload and a 390 px phone never scrolls sideways. In a Chinese browser (--lang=zh-CN) the page
speaks Chinese, and so do the disclosure line and the errors. One English and one Chinese browser
and one echo-backed server serve the whole module; waits are on conditions, not sleeps.

Screenshots at desktop and phone width are taken in Chinese; SCREENSHOT_DIR=docs refreshes the
README's (docs/screenshot-chat-zh-desktop.png and -phone.png)."""

from __future__ import annotations

import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.conftest import needs_binary
from browser_helpers import (js, open_page, questions, replies, set_input, state, type_and_enter, wait,
                             wait_replies)
from service_helpers import API_KEY, free_port, serve, start_browser

from twin.service.backends.echo import EchoBackend

pytestmark = needs_binary("chromium", "chromedriver")
SCREENSHOT_DIR = os.environ.get("SCREENSHOT_DIR")
DISCLOSURE_ZH = "（这是Lin的 AI 分身，不是Lin本人。）"


class RecordingEcho(EchoBackend):
    """The echo backend, counting the requests that reached the model (and what each asked)."""

    def __init__(self, config):
        super().__init__(config)
        self.calls: list[list[dict[str, str]]] = []
        self._calls_lock = threading.Lock()

    def stream(self, messages, params):
        with self._calls_lock:
            self.calls.append([dict(m) for m in messages])
        return super().stream(messages, params)

    def user_turns(self, call: int = -1) -> list[str]:
        return [m["content"] for m in self.calls[call] if m["role"] == "user"]


@dataclass
class Served:
    url: str
    app: object
    backend: RecordingEcho

    def log_rows(self) -> list[dict]:
        return self.app.state.twin.log.recent()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = start_browser(tmp_path_factory.mktemp("profile"))
    yield driver
    driver.quit()


def twin_app(config, tmp_path, keyless_port: int | None = None, memory=None):
    from twin.service.app import create_app

    config = config.model_copy(deep=True)
    config.paths.request_log = tmp_path / "requests.sqlite"
    if keyless_port:  # a keyless twin answers only on its own loopback host and port
        config.service.api_key_hashes = []
        config.service.allow_no_auth = True
        config.service.host, config.service.port = "127.0.0.1", keyless_port
    backend = RecordingEcho(config)
    return create_app(config, backend=backend, memory=memory), backend


@pytest.fixture(scope="module")
def served(indexed_twin, tmp_path_factory):
    app, backend = twin_app(indexed_twin, tmp_path_factory.mktemp("served"))
    with serve(app) as url:
        yield Served(url, app, backend)


@pytest.fixture
def page(browser, served):
    """The chat page with a fresh browser storage and the key already given; echo without delay."""
    served.backend.delay_s = 0.0
    open_page(browser, served.url, key=API_KEY)
    return browser


def watch_reply(driver) -> None:
    """Records, from the page itself, whether the typing dots showed and each length the reply grew to."""
    js(driver, """
        window.seen = { typing: false, lengths: new Set() };
        new MutationObserver(() => {
          const reply = document.querySelector('.turn.assistant.streaming');
          if (!reply) return;
          if (reply.querySelector('.typing')) window.seen.typing = true;
          else window.seen.lengths.add(reply.textContent.length);
        }).observe(document.getElementById('log'), { subtree: true, childList: true, characterData: true });
    """)


def test_key_box_then_a_streamed_reply_with_memories_collapsed(browser, served):
    from selenium.webdriver.common.by import By

    served.backend.delay_s = 0.1  # slow enough to see the typing dots and the reply grow
    open_page(browser, served.url)
    assert state(browser) == "needs-key"
    assert browser.find_element(By.ID, "key-row").is_displayed()
    assert "needs a key" in browser.find_element(By.ID, "key-hint").text
    assert not browser.find_element(By.ID, "send").is_enabled()
    key = browser.find_element(By.ID, "api-key")
    key.send_keys("not-the-key\n")
    wait(browser, lambda d: d.find_element(By.ID, "key-hint").text == "This key is not accepted.")
    assert not browser.find_element(By.ID, "send").is_enabled()
    key.clear()
    key.send_keys(API_KEY + "\n")
    wait(browser, lambda d: state(d) == "ready")
    assert browser.find_element(By.ID, "title").text == "twin"
    assert not browser.find_element(By.ID, "key-row").is_displayed()  # accepted: out of the way

    watch_reply(browser)
    type_and_enter(browser, "What happened on the Yellow Mountain hike?")
    assert wait_replies(browser, 1) == ["echo: What happened on the Yellow Mountain hike?"]
    seen = js(browser, "return { typing: window.seen.typing, lengths: [...window.seen.lengths] }")
    assert seen["typing"], "no typing indicator before the first words"
    assert len(set(seen["lengths"]) - {0}) >= 3, f"reply did not stream: saw lengths {seen['lengths']}"
    # the finished reply alone is announced, and the box has the focus back
    assert js(browser, "return document.getElementById('announcer').textContent") == "echo: What happened on the Yellow Mountain hike?"
    assert js(browser, "return document.getElementById('log').getAttribute('aria-live')") is None
    assert js(browser, "return document.activeElement.id") == "input"
    memories = browser.find_element(By.CSS_SELECTOR, ".reply .memories")
    assert memories.get_attribute("open") is None  # collapsed: the page does not flood
    summary = memories.find_element(By.TAG_NAME, "summary").text
    assert summary.startswith(f"{len(memories.find_elements(By.TAG_NAME, 'li'))} memories used · 2023-"), summary
    memories.find_element(By.TAG_NAME, "summary").click()
    metas = [m.text for m in memories.find_elements(By.CSS_SELECTOR, ".meta")]
    assert any(m.startswith("2023-04-02 · telegram") for m in metas), metas
    assert "red hat" in memories.text


def test_enter_that_confirms_an_input_method_candidate_does_not_send(page, served):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    calls = len(served.backend.calls)
    box = page.find_element(By.ID, "input")
    box.click()
    # A pinyin input method, through Chromium's own IME hooks: "zhong" is being composed, the
    # Enter that picks a candidate arrives while composing (isComposing, keyCode 229), "中" is committed.
    page.execute_cdp_cmd("Input.imeSetComposition", {"text": "zhong", "selectionStart": 5, "selectionEnd": 5})
    page.execute_cdp_cmd("Input.dispatchKeyEvent", {"type": "rawKeyDown", "key": "Enter", "code": "Enter",
                                                    "windowsVirtualKeyCode": 229, "nativeVirtualKeyCode": 229})
    page.execute_cdp_cmd("Input.insertText", {"text": "中"})
    # Safari sends the candidate's Enter after compositionend, with keyCode 229 only.
    taken = js(page, """
        const late = new KeyboardEvent('keydown', { key: 'Enter', code: 'Enter', bubbles: true, cancelable: true });
        Object.defineProperty(late, 'keyCode', { value: 229 });
        return !document.getElementById('input').dispatchEvent(late);""")
    assert not taken and questions(page) == [] and box.get_attribute("value") == "中"
    box.send_keys("文")
    box.send_keys(Keys.SHIFT, Keys.ENTER)  # Shift+Enter is a new line, not a send
    box.send_keys(Keys.NULL, "第二行")
    assert box.get_attribute("value") == "中文\n第二行" and questions(page) == []
    box.send_keys(Keys.ENTER)  # the plain Enter sends, once
    assert wait_replies(page, 1) == ["echo: 中文\n第二行"]
    assert len(served.backend.calls) == calls + 1 and questions(page) == ["中文\n第二行"]


def test_enter_during_a_slow_reply_does_not_send_again(page, served):
    from selenium.webdriver.common.by import By

    served.backend.delay_s = 0.15
    calls = len(served.backend.calls)
    type_and_enter(page, "tell me about the hike up the Yellow Mountain please")
    wait(page, lambda d: len((replies(d) or [""])[0]) > len("echo: tell"))  # words are arriving
    assert state(page) == "busy" and page.find_element(By.ID, "stop").is_displayed()
    type_and_enter(page, "and the red hat?")
    assert wait_replies(page, 1) == ["echo: tell me about the hike up the Yellow Mountain please"]
    assert len(served.backend.calls) == calls + 1
    assert page.find_element(By.ID, "input").get_attribute("value") == "and the red hat?"  # kept, not sent
    served.backend.delay_s = 0.0
    type_and_enter(page, "")
    assert wait_replies(page, 2)[-1] == "echo: and the red hat?"
    assert served.backend.user_turns() == ["tell me about the hike up the Yellow Mountain please", "and the red hat?"]
    assert len(page.find_elements(By.CSS_SELECTOR, ".memories")) == 2  # one list under each reply


def test_markdown_is_rendered_and_html_from_the_model_is_text(page):
    from selenium.webdriver.common.by import By

    set_input(page, "**bold** and a list:\n- one\n- two\n\n<script>window.pwned = 1</script><img src=x onerror=\"window.pwned = 2\">")
    page.find_element(By.ID, "send").click()
    wait_replies(page, 1)
    body = page.find_element(By.CSS_SELECTOR, ".turn.assistant .body")
    assert body.find_element(By.TAG_NAME, "strong").text == "bold"
    assert [li.text for li in body.find_elements(By.CSS_SELECTOR, "ul > li")] == ["one", "two"]
    assert not body.find_elements(By.CSS_SELECTOR, "script, img")
    assert "<script>window.pwned = 1</script>" in body.text
    assert js(page, "return window.pwned") is None
    assert questions(page)[0].startswith("**bold** and a list:\n- one")  # the person's words stay as typed


RENDERED = [
    ("line one\nline two", "<p>line one<br>line two</p>"),
    ("# Title\n\ntext", "<h3>Title</h3><p>text</p>"),
    ("snake_case_name, *it*, __strong__, ~~gone~~ and `a*b*c`",
     "<p>snake_case_name, <em>it</em>, <strong>strong</strong>, <del>gone</del> and <code>a*b*c</code></p>"),
    ("1. one\n   - nested\n2. two", "<ol><li>one<ul><li>nested</li></ul></li><li>two</li></ol>"),
    ("3. three\n4. four", '<ol start="3"><li>three</li><li>four</li></ol>'),
    ("> quoted **words**", "<blockquote><p>quoted <strong>words</strong></p></blockquote>"),
    ("```py\nprint('<b>')\n```", "<pre><code class=\"language-py\">print('&lt;b&gt;')</code></pre>"),
    ("| a | b |\n|---|--:|\n| 1 | 2 |",
     '<div class="table"><table><thead><tr><th>a</th><th style="text-align: right;">b</th></tr></thead>'
     '<tbody><tr><td>1</td><td style="text-align: right;">2</td></tr></tbody></table></div>'),
    ("[site](https://example.com/a_b) and https://example.org/x.",
     '<p><a href="https://example.com/a_b" rel="noopener noreferrer" target="_blank">site</a> and '
     '<a href="https://example.org/x" rel="noopener noreferrer" target="_blank">https://example.org/x</a>.</p>'),
    ("[click](javascript:alert(1)) [rel](/admin) ![img](data:image/png;base64,AAAA)", "<p>click rel img</p>"),
    ("<b onclick=\"x()\">hi</b> &amp;", "<p>&lt;b onclick=\"x()\"&gt;hi&lt;/b&gt; &amp;amp;</p>"),
    ("\\*not em\\* and 2 * 3 * 4", "<p>*not em* and 2 * 3 * 4</p>"),
]


def test_markdown_renderer_cases(page):
    html = js(page, """return arguments[0].map(text => {
        const div = document.createElement('div'); div.append(TwinMarkdown.render(text)); return div.innerHTML; })""",
              [text for text, _ in RENDERED])
    for (text, expected), got in zip(RENDERED, html):
        assert got == expected, f"{text!r}: {got}"


def test_stop_ends_the_stream_and_the_service_stops_generating(page, served):
    from selenium.webdriver.common.by import By

    served.backend.delay_s = 0.2
    question = " ".join(f"word{i}" for i in range(40))
    type_and_enter(page, question)
    wait(page, lambda d: len((replies(d) or [""])[0]) > len("echo: word1"))
    page.find_element(By.ID, "stop").click()
    wait(page, lambda d: state(d) == "ready")
    partial = replies(page)
    assert len(partial) == 1 and ("echo: " + question).startswith(partial[0]) and len(partial[0]) < len(question)
    assert page.find_element(By.CSS_SELECTOR, ".reply .stopped").text == "Stopped"
    # the service saw the client hang up and closed the model's stream
    wait(page, lambda d: any(r["status"] == 499 for r in served.log_rows()))
    assert js(page, "return document.activeElement.id") == "input"


def test_regenerate_and_copy(page, served):
    from selenium.webdriver.common.by import By

    type_and_enter(page, "what cake will you bring?")
    wait_replies(page, 1)
    calls = len(served.backend.calls)
    page.find_element(By.CSS_SELECTOR, ".reply.last .regenerate").click()
    wait(page, lambda d: len(served.backend.calls) == calls + 1)
    assert wait_replies(page, 1) == ["echo: what cake will you bring?"]
    assert served.backend.user_turns() == ["what cake will you bring?"]  # asked again, not appended
    # let the page (and the test, to read it back) use the clipboard, as a person's browser does
    page.execute_cdp_cmd("Browser.grantPermissions", {"origin": served.url, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    copy = page.find_element(By.CSS_SELECTOR, ".reply .copy")
    copy.click()
    wait(page, lambda d: copy.text == "Copied")
    clip = page.execute_async_script("navigator.clipboard.readText().then(arguments[0], e => arguments[0]('error: ' + e))")
    assert clip == "echo: what cake will you bring?"


def test_reload_restores_and_new_conversation_clears(page, served):
    from selenium.webdriver.common.by import By

    type_and_enter(page, "see you at 7?")
    wait_replies(page, 1)
    page.refresh()
    wait(page, lambda d: state(d) == "ready")
    assert questions(page) == ["see you at 7?"] and replies(page) == ["echo: see you at 7?"]
    assert page.find_element(By.CSS_SELECTOR, ".reply .memories").get_attribute("open") is None
    type_and_enter(page, "and after?")
    assert wait_replies(page, 2)[-1] == "echo: and after?"
    assert served.backend.user_turns() == ["see you at 7?", "and after?"]  # the restored turns were sent
    page.find_element(By.ID, "new-chat").click()
    assert questions(page) == [] and replies(page) == []
    assert js(page, "return localStorage.getItem('twin-conversation-chat')") is None
    page.refresh()
    wait(page, lambda d: state(d) == "ready")
    assert questions(page) == [] and page.find_element(By.CSS_SELECTOR, "#log .empty").is_displayed()
    # New conversation in the middle of a reply: the reply stops and nothing of it is kept
    served.backend.delay_s = 0.2
    type_and_enter(page, "one two three four five six seven eight nine ten eleven twelve")
    wait(page, lambda d: len((replies(d) or [""])[0]) > len("echo: one"))
    page.find_element(By.ID, "new-chat").click()
    wait(page, lambda d: state(d) == "ready")
    assert questions(page) == [] and replies(page) == []
    assert js(page, "return localStorage.getItem('twin-conversation-chat')") is None


def test_writer_mode_asks_the_writer_model(page, served):
    from selenium.webdriver.common.by import By

    page.find_element(By.ID, "mode-writer").click()
    assert page.find_element(By.ID, "input").get_attribute("placeholder") == "Topic of the post"
    type_and_enter(page, "climbing Yellow Mountain")
    assert wait_replies(page, 1) == ["echo: climbing Yellow Mountain"]
    assert served.log_rows()[0]["mode"] == "writer"
    assert page.find_elements(By.CSS_SELECTOR, ".reply .memories")
    page.find_element(By.ID, "mode-chat").click()  # the chat has its own conversation
    assert replies(page) == []


def test_phone_width_never_scrolls_sideways(page):
    page.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})
    try:
        long_url = "https://example.com/" + "a-very-long-path-segment/" * 12 + "?q=" + "x" * 80
        set_input(page, f"look {long_url} and {'Supercalifragilistic' * 10} and {'黄山' * 60}\n```\n{'code_' * 40}\n```")
        js(page, "document.getElementById('send').click()")
        wait_replies(page, 1)
        widths = js(page, """return ['log', 'composer'].map(id => document.getElementById(id))
            .concat([document.documentElement, document.body])
            .map(e => [e.id || e.tagName, e.scrollWidth, e.clientWidth])""")
        for name, scroll, client in widths:
            assert scroll <= client, f"{name} scrolls sideways: {scroll} > {client}"
        right = js(page, "return Math.max(...[...document.querySelectorAll('.turn')].map(t => t.getBoundingClientRect().right))")
        assert right <= js(page, "return window.innerWidth")
        # the long reply is taller than the phone's screen, and the view followed it to its end
        log = js(page, "const l = document.getElementById('log'); return [l.scrollHeight, l.clientHeight, l.scrollTop]")
        assert log[0] > 2 * log[1] and log[2] + log[1] >= log[0] - 2, log
    finally:
        page.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_a_failed_message_is_kept_and_not_resent_after_a_restart(browser, served, indexed_twin, tmp_path):
    from selenium.webdriver.common.by import By

    # the embedded memory store allows one opener: share the module server's
    port = free_port()
    app, backend = twin_app(indexed_twin, tmp_path, keyless_port=port, memory=served.app.state.twin.memory)
    with serve(app, port=port) as url:
        open_page(browser, url)
        assert state(browser) == "ready" and not browser.find_element(By.ID, "key-row").is_displayed()
        type_and_enter(browser, "first question")
        wait_replies(browser, 1)
    type_and_enter(browser, "second question")  # the service is down
    notice = browser.find_element(By.ID, "notice")
    wait(browser, lambda d: notice.text)
    assert notice.text.startswith("The twin is offline. Try again in a moment.")
    box = browser.find_element(By.ID, "input")
    assert box.get_attribute("value") == "second question"
    assert questions(browser) == ["first question"] and len(replies(browser)) == 1  # no empty bubble left
    with serve(app, port=port):
        box.clear()
        type_and_enter(browser, "third question")
        assert wait_replies(browser, 2)[-1] == "echo: third question"
        assert backend.user_turns() == ["first question", "third question"]
        assert notice.text == ""


# --- In a Chinese browser ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def zh_browser(tmp_path_factory):
    driver = start_browser(tmp_path_factory.mktemp("profile-zh"), language="zh-CN", width=1280, height=800)
    yield driver
    driver.quit()


@pytest.fixture
def disclosing(served):
    """The module's server with persona.disclose_ai on (the first reply says it is an AI twin)."""
    persona = served.app.state.twin.config.persona
    served.backend.delay_s = 0.0
    persona.disclose_ai = True
    yield served
    persona.disclose_ai = False


def shoot(driver, tmp_path: Path, name: str) -> None:
    shot = tmp_path / name
    driver.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    if SCREENSHOT_DIR:
        shutil.copy(shot, Path(SCREENSHOT_DIR) / name)


def test_chinese_page_reply_and_screenshots(zh_browser, disclosing, tmp_path):
    from selenium.webdriver.common.by import By

    driver = zh_browser
    open_page(driver, disclosing.url)
    assert driver.execute_script("return document.documentElement.lang") == "zh-CN"
    assert driver.find_element(By.ID, "key-hint").text == "需要密钥才能聊天，请向分身的主人索取。"
    key = driver.find_element(By.ID, "api-key")
    key.send_keys("错误的密钥\n")
    wait(driver, lambda d: d.find_element(By.ID, "key-hint").text == "这个密钥无效。")
    key.clear()
    key.send_keys(API_KEY + "\n")
    wait(driver, lambda d: state(d) == "ready")
    assert driver.find_element(By.ID, "send").text == "发送"
    assert driver.find_element(By.ID, "new-chat").text == "新对话"
    assert driver.find_element(By.ID, "input").get_attribute("placeholder") == "对分身说点什么"
    assert driver.find_element(By.CSS_SELECTOR, "label[for=input]").get_attribute("textContent") == "消息"

    type_and_enter(driver, "你在黄山爬了多久？红帽子丢在哪里了？")
    first = wait_replies(driver, 1)[0]
    assert first.startswith(DISCLOSURE_ZH), first  # a Chinese conversation gets the Chinese line
    summary = driver.find_element(By.CSS_SELECTOR, ".reply .memories summary").text
    assert summary.startswith("用到 ") and " 条记忆 · 2023-" in summary
    assert driver.find_element(By.CSS_SELECTOR, ".reply .copy").text == "复制"
    driver.execute_script("const i = document.getElementById('input'); i.value = arguments[0];",
                          "帮我列一下那次的事：\n- **几点**出发的？\n- 在哪里看的日出？")
    driver.find_element(By.ID, "send").click()
    wait_replies(driver, 2)
    shoot(driver, tmp_path, "screenshot-chat-zh-desktop.png")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})
    try:
        driver.refresh()  # the conversation comes back from the browser's storage
        wait(driver, lambda d: state(d) == "ready" and len(replies(d)) == 2)
        assert driver.execute_script("return document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        shoot(driver, tmp_path, "screenshot-chat-zh-phone.png")
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_language_switch_to_english_is_remembered(zh_browser, disclosing):
    from selenium.webdriver.common.by import By

    driver = zh_browser
    open_page(driver, disclosing.url, key=API_KEY)
    switch = driver.find_element(By.ID, "lang")
    assert switch.text == "English"
    switch.click()
    assert driver.find_element(By.ID, "send").text == "Send" and switch.text == "中文"
    driver.refresh()
    wait(driver, lambda d: state(d) == "ready")
    assert driver.find_element(By.ID, "send").text == "Send"
    assert driver.execute_script("return document.documentElement.lang") == "en"
    type_and_enter(driver, "Where did you lose the red hat?")
    assert wait_replies(driver, 1)[0].startswith("(This is Lin's AI twin, not Lin in person.)")
    assert questions(driver) == ["Where did you lose the red hat?"]
