"""examples/quickstart.ipynb runs top to bottom in a real Jupyter kernel (nbclient + ipykernel) on a small subset:
fine-tune MiniLM on tweets, predict, the report's attention explorer inline, export and call the SavedModel. The
notebook is committed with its outputs stripped (checked here)."""

import os
import time
from pathlib import Path

import pytest

from tests.conftest import require

nbformat = require("nbformat")
nbclient = require("nbclient")
require("ipykernel")

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "quickstart.ipynb"


def test_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code) >= 6
    assert all(not c.outputs and c.execution_count is None for c in code)


def _text(outputs) -> str:
    parts = []
    for o in outputs:
        parts.append(o.get("text", ""))
        parts.extend(str(v) for k, v in o.get("data", {}).items() if k in ("text/plain", "text/html"))
    return "".join(parts)


@pytest.mark.slow   # downloads nothing once the corpus and the preset are cached, but fine-tunes MiniLM (~2 min)
@pytest.mark.timeout(900)
def test_quickstart_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    run = tmp_path / "run"
    monkeypatch.setenv("QUICKSTART_RUN", str(run))
    monkeypatch.setenv("QUICKSTART_TRAIN", "96")
    monkeypatch.setenv("QUICKSTART_TEST", "64")
    root = str(NOTEBOOK.parents[1])                  # the kernel imports this checkout's package
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([root] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    start = time.perf_counter()
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    seconds = time.perf_counter() - start
    print(f"quickstart notebook: {seconds:.0f} s")
    text = "\n".join(_text(c.outputs) for c in nb.cells if c.cell_type == "code")
    assert "96 training tweets, 64 test tweets" in text
    assert "'accuracy':" in text and "<iframe srcdoc=" in text and "att-layer" in text
    assert (run / "report.html").exists() and (run / "attention.json").exists()
    assert (run / "saved_model" / "saved_model.pb").exists()
    last = _text(nb.cells[-1].outputs)
    assert last.count("'") >= 4 and any(name in last for name in ("negative", "neutral", "positive"))
