"""report.html in a real browser (headless Chromium through Selenium and chromedriver): the page renders without
console errors, every section is there, the attention explorer draws the weights of the layer and head chosen
(read back from the DOM and compared with the page's JSON and, for a real tiny fine-tuning run, with the model's
own attention), and CJK tokens are drawn as characters, not as missing-glyph boxes. A screenshot is written
(``BERT_ZOO_REPORT_SCREENSHOT=path.png`` keeps a copy).

The default tests read a run directory written by hand (:func:`tests.viz.tiny_run.write_synthetic_run`: no
model, seconds); the slow one fine-tunes the tiny classifier first (:func:`tests.viz.tiny_run.build_tiny_run`).

Needs ``selenium`` (the test extra) and Debian's ``chromium`` + ``chromium-driver`` (+ ``fonts-noto-cjk`` for
the CJK check); ``.ci/run`` installs them."""

import json
import os
import shutil

import numpy as np
import pytest

from tests.conftest import in_ci, require

webdriver = require("selenium.webdriver")

from keras_bert_zoo.viz import attention_scores  # noqa: E402
from keras_bert_zoo.viz.attention_data import decode_weights  # noqa: E402
from keras_bert_zoo.viz.html_report import build_report  # noqa: E402
from tests.viz.tiny_run import CJK_TEXT, build_tiny_run, write_synthetic_run  # noqa: E402

SECTIONS = ("metrics", "curves", "evaluation", "attention")


def _binaries():
    browser = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
                   None)
    driver = shutil.which("chromedriver")
    if browser and driver:
        return browser, driver
    msg = "headless Chromium is missing: apt-get install chromium chromium-driver fonts-noto-cjk"
    if in_ci():
        pytest.fail(f"CI=true and {msg}", pytrace=False)
    pytest.skip(msg)


def _open(path):
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = _binaries()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1300,1800",
                "--disable-gpu"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.get(path.resolve().as_uri())
    return driver


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    run = write_synthetic_run(tmp_path_factory.mktemp("synthetic") / "run")
    build_report(run)
    driver = _open(run / "report.html")
    try:
        yield run, driver
    finally:
        driver.quit()


def _drawn(driver):
    """The head view's cells as a [T, T] matrix of the values written in the DOM, and its layer / head."""
    cells = driver.execute_script(
        "return Array.from(document.querySelectorAll('#head-view rect.cell')).map(function (r) {"
        " return [+r.dataset.q, +r.dataset.k, +r.dataset.w]; });")
    t = int(round(len(cells) ** 0.5))
    mat = np.zeros((t, t))
    for q, k, w in cells:
        mat[q, k] = w
    svg = driver.find_element("css selector", "#head-view svg")
    return mat, int(svg.get_attribute("data-layer")), int(svg.get_attribute("data-head"))


def _choose(driver, select_id, value):
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", select_id)).select_by_value(str(value))


def _rendered_without_errors(driver):
    assert driver.execute_script("return document.body.getAttribute('data-rendered')") == "1"
    assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
    for sid in SECTIONS:
        assert driver.find_element("id", sid).text.strip(), sid


def _loss_points(driver) -> int:
    return driver.execute_script("return document.querySelector('#curves svg[data-metric=loss] polyline')"
                                 ".getAttribute('points').trim().split(/\\s+/).length")


def _check_switching(driver, record, model_scores=None, pairs=((0, 0), (1, 2), (0, 1))):
    """For each example: choose (layer, head) pairs, compare the drawn matrix with the JSON (and the model)."""
    for example, ex in enumerate(record["examples"]):
        _choose(driver, "att-example", example)
        stored = decode_weights(ex)
        seen = []
        for layer, head in pairs:
            _choose(driver, "att-layer", layer)
            _choose(driver, "att-head", head)
            drawn, at_layer, at_head = _drawn(driver)
            assert (at_layer, at_head) == (layer, head)
            np.testing.assert_allclose(drawn, stored[layer, head], atol=5.1e-5)       # 4 decimals in the DOM
            if model_scores is not None:                                              # bytes: 1/510 at most
                np.testing.assert_allclose(drawn, model_scores[example][layer, head], atol=0.5 / 255 + 1e-4)
            seen.append(drawn)
        assert not np.allclose(seen[0], seen[1], atol=1e-3)      # switching changed what is drawn


def _check_cjk(driver):
    _choose(driver, "att-example", 0)
    tokens = driver.execute_script("return Array.from(document.querySelectorAll('#att-tokens span'))"
                                   ".map(function (s) { return s.textContent; });")
    assert tokens == ["[CLS]"] + list(CJK_TEXT) + ["[SEP]"]
    labels = driver.execute_script("return Array.from(document.querySelectorAll('#head-view text.qtok'))"
                                   ".map(function (s) { return s.textContent; });")
    assert labels == tokens
    # drawn with the token's own font: distinct characters give distinct glyph images, none of them the
    # missing-glyph box that a code point no font has (U+10FFFD) is drawn as
    images = driver.execute_script("""
        var font = getComputedStyle(document.querySelector('#att-tokens span')).font;
        function draw(ch) { var c = document.createElement('canvas'); c.width = 48; c.height = 48;
          var x = c.getContext('2d'); x.font = font; x.textBaseline = 'top'; x.fillText(ch, 4, 4);
          var d = x.getImageData(0, 0, 48, 48).data, s = []; for (var i = 3; i < d.length; i += 4) s.push(d[i]);
          return s.join(','); }
        return {tofu: draw('\\u{10FFFD}'), chars: arguments[0].map(draw)};""", list(CJK_TEXT))
    blank = ",".join(["0"] * 48 * 48)
    assert all(img != blank for img in images["chars"])
    assert len(set(images["chars"])) == len(set(CJK_TEXT))
    assert images["tofu"] not in images["chars"]


def test_page_renders_every_section_without_console_errors(synthetic):
    run, page = synthetic
    _rendered_without_errors(page)
    metrics_text = page.find_element("id", "metrics").text
    assert "tfidf_lr_same_subset" in metrics_text and "0.4500" in metrics_text and "0.7333" in metrics_text
    assert len(page.find_elements("css selector", "#curves svg.chart")) == 3      # accuracy, loss, learning rate
    assert _loss_points(page) == 10                                               # by step, not one per epoch
    evaluation = page.find_element("id", "evaluation")
    assert len(page.find_elements("css selector", "#evaluation table.cm tr")) == 3
    assert "what a dull <script>film</script>" in evaluation.text                 # user text shown as text
    assert page.execute_script("return document.querySelectorAll('#evaluation script').length") == 0
    marks = page.execute_script("return Array.from(document.querySelectorAll('#evaluation .sent mark'))"
                                ".map(function (m) { return m.dataset.type + ':' + m.textContent; });")
    assert marks == ["PER:李明", "LOC:北京", "PER:李明", "ORG:北京"]               # gold, then predicted


def test_layer_and_head_switch_draws_the_stored_weights(synthetic):
    run, page = synthetic
    record = json.loads((run / "attention.json").read_text(encoding="utf-8"))
    assert len(page.find_elements("css selector", "#model-view canvas")) == 2 * 3
    _check_switching(page, record)
    page.find_element("css selector", "#model-view canvas[data-layer='1'][data-head='0']").click()
    assert _drawn(page)[1:] == (1, 0)


def test_cjk_tokens_render_as_characters(synthetic, tmp_path):
    _check_cjk(synthetic[1])
    shot = tmp_path / "report.png"
    synthetic[1].find_element("id", "attention").screenshot(str(shot))
    assert shot.stat().st_size > 1000


@pytest.mark.slow   # fine-tunes the tiny classifier first (~25 CPU-seconds)
def test_fitted_run_report_shows_the_models_numbers(tmp_path):
    run, task, _ = build_tiny_run(tmp_path)
    record = json.loads((run / "attention.json").read_text(encoding="utf-8"))
    # the weight budget leaves out examples past it (the first one always stays)
    from keras_bert_zoo.viz.attention_data import attention_record

    texts = [ex["text"] for ex in record["examples"]]
    first = 2 * 4 * len(record["examples"][0]["tokens"]) ** 2               # layers x heads x T x T bytes
    assert len(attention_record(task, texts, max_bytes=first)["examples"]) == 1
    assert len(attention_record(task, texts, max_bytes=1)["examples"]) == 1
    model_scores = []
    for ex in record["examples"][:2]:
        tokens, scores = attention_scores(task, ex["text"])
        assert tokens == ex["tokens"]
        model_scores.append(scores)
    record["examples"] = record["examples"][:2]
    driver = _open(run / "report.html")
    try:
        _rendered_without_errors(driver)
        report = json.loads((run / "test" / "report.json").read_text())
        assert f"{report['accuracy']:.4f}" in driver.find_element("id", "metrics").text
        steps = (run / "steps.jsonl").read_text().splitlines()
        assert _loss_points(driver) == len(steps) > 2
        _check_switching(driver, record, model_scores, pairs=((0, 0), (1, 3), (1, 2)))
        _check_cjk(driver)
        if os.environ.get("BERT_ZOO_REPORT_SCREENSHOT"):
            driver.save_screenshot(os.environ["BERT_ZOO_REPORT_SCREENSHOT"])
    finally:
        driver.quit()
