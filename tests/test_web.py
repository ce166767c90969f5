"""The web page in a real headless browser (Debian's chromium + chromedriver, driven by Selenium)."""

import shutil

import pytest

from tests.conftest import SIGN, TOKEN

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="needs Debian's browser: apt-get install chromium chromium-driver")


@pytest.fixture
def browser(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium (the dev extra)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def test_a_request_through_the_page_draws_the_dag_and_plays_the_audio(service, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(service + "/")
    assert browser.title == "hugginggpt-ray"
    browser.find_element(By.ID, "request").send_keys("Read the text in sign.png aloud")
    browser.find_element(By.ID, "files").send_keys(str(SIGN))
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.ID, "go").click()
    WebDriverWait(browser, 120).until(lambda b: b.find_element(By.ID, "status").text.startswith("done in"))
    nodes = browser.find_elements(By.CSS_SELECTOR, "#dag g.node")
    assert [n.get_attribute("data-state") for n in nodes] == ["ok", "ok"]
    assert "image-to-text" in nodes[0].text and "RapidOCR" in nodes[0].text
    assert browser.find_elements(By.CSS_SELECTOR, "#dag line.edge")  # the edge 0 → 1
    audio = browser.find_element(By.CSS_SELECTOR, "#outputs audio")
    assert "/files/" in audio.get_attribute("src")
    # the browser really loaded the wav: its duration is known once the metadata arrived
    WebDriverWait(browser, 30).until(lambda b: b.execute_script(
        "const a = document.querySelector('#outputs audio'); return a.readyState >= 1 && a.duration > 0.3;"))
    assert "MIND THE GAP" in browser.find_element(By.ID, "answer").text


def test_a_wrong_token_shows_the_error(service, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(service + "/")
    browser.find_element(By.ID, "request").send_keys("Read the text in sign.png aloud")
    browser.find_element(By.ID, "token").send_keys("wrong")
    browser.find_element(By.ID, "go").click()
    WebDriverWait(browser, 30).until(lambda b: "Bearer" in b.find_element(By.ID, "answer").text)
