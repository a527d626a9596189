"""Batch prediction on Apache Beam (keras_bert_zoo.batch.beam) gives the lines `bert-zoo predict` gives.

`bert-zoo predict`'s route is ``predict_lines`` on the task loaded from its ``.keras`` file (what the command runs,
without the flag parsing; tests/reliability/test_cli.py runs the command itself); the Beam route is
``predict_on_beam`` on the task's SavedModel export. Outputs are compared as multisets of lines keyed by the input
record (the order across shards is the runner's): strings, ints and structure exactly, floats to 1e-5.
The default run covers the classifier on DirectRunner in one process; ``-m slow`` runs every task type that has a
SavedModel (the classifier on 2 worker processes, the others in process), the command line on 2 workers, and the
demo's test tweets.
"""

import io
import json

import pytest

from tests.conftest import require

require("apache_beam")

from keras_bert_zoo.batch import beam as beam_lib  # noqa: E402
from keras_bert_zoo.batch.exported import ExportedModelError  # noqa: E402
from keras_bert_zoo.batch.lines import LineReader, PredictInputError, predict_lines  # noqa: E402
from tests.batch.cases import INPUTS, make_task, write_shards  # noqa: E402

TWO_WORKERS = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
IN_PROCESS = ["--direct_running_mode=in_memory"]


def export_case(kind, root):
    """(.keras path, SavedModel dir) of the tiny task ``kind``."""
    task = make_task(kind)
    keras_path = root / f"{kind}.keras"
    task.save(keras_path)
    task.export(root / f"{kind}_saved_model", fresh_process_check=False)
    return keras_path, root / f"{kind}_saved_model"


def predict_command_lines(keras_path, files, fmt="auto", batch_size=4) -> list:
    """The lines `bert-zoo predict --model KERAS --input FILE` writes for each file, joined."""
    from keras_bert_zoo.tasks import load_task

    task = load_task(keras_path)
    out = io.StringIO()
    for path in files:
        with open(path, "rb") as stream:
            predict_lines(task, LineReader(stream, fmt, task.text_inputs, str(path)), out, batch_size, 8 * batch_size)
    return out.getvalue().splitlines()


def beam_lines(result) -> list:
    lines = []
    for path in result.files:
        with open(path, encoding="utf-8") as f:
            lines += f.read().splitlines()
    return lines


def _close(a, b, where):
    if isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, (int, float)) and isinstance(b, (int, float)), where
        assert abs(a - b) <= 1e-5 + 1e-5 * abs(b), f"{where}: {a} vs {b}"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), f"{where}: keys {list(a)} vs {list(b)}"
        for k in a:
            _close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{where}: {a} vs {b}"
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"


def assert_same_rows(got: list, want: list, fields) -> int:
    """``got`` and ``want`` (JSON lines) hold the same rows, whatever their order; -> lines byte-identical."""
    assert len(got) == len(want)

    def key(line):
        row = json.loads(line)
        return json.dumps([row.get(k) for k in (*fields, "id", "empty")], ensure_ascii=False)

    got, want = sorted(got, key=key), sorted(want, key=key)
    for g, w in zip(got, want):
        assert key(g) == key(w), f"different inputs: {g[:120]} vs {w[:120]}"
        _close(json.loads(g), json.loads(w), key(w))
    return sum(g == w for g, w in zip(got, want))


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    root = tmp_path_factory.mktemp("beam_classifier")
    keras_path, saved_model = export_case("classify", root)
    files = write_shards(root / "inputs", "classify")
    return keras_path, saved_model, files, root


def test_in_process_runner_gives_the_predict_lines(classifier, tmp_path):
    keras_path, saved_model, files, root = classifier
    result = beam_lib.predict_on_beam(saved_model, str(root / "inputs" / "part-*"), str(tmp_path / "out" / "pred"),
                                      pipeline_args=IN_PROCESS, batch_size=4)
    got = beam_lines(result)
    want = predict_command_lines(keras_path, files)
    assert result.lines == len(got) == sum(len(lines) for lines in INPUTS["classify"]) == 10
    assert all(p.endswith(".jsonl") and "/out/pred-" in p for p in result.files)
    assert assert_same_rows(got, want, ("text",)) == len(want)          # here every line is byte-identical
    assert '{"text": "", "empty": true}' in got                          # the blank line
    assert sum('"id": ' in line for line in got) == 5                    # JSON-lines records keep their fields


def _bad_line(saved_model, tmp_path, pipeline_args):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text('{"text": "fine"}\n{"text": "unterminated}\n', encoding="utf-8")
    (tmp_path / "in" / "b.jsonl").write_text('{"text": "fine too"}\n', encoding="utf-8")
    with pytest.raises(PredictInputError, match=r"^\S*/in/a\.jsonl:2: invalid JSON: .*--format=text "
                                                r"reads such lines as text\)$") as err:
        beam_lib.predict_on_beam(saved_model, str(tmp_path / "in" / "*.jsonl"), str(tmp_path / "out" / "p"),
                                 pipeline_args=pipeline_args)
    assert "\n" not in str(err.value)
    assert not list(tmp_path.glob("out/p-*"))                 # no output shard is written


def test_bad_input_line_names_the_file_and_line(classifier, tmp_path):
    _bad_line(classifier[1], tmp_path, IN_PROCESS)


def test_bad_arguments_are_one_line_errors(tmp_path):
    saved_model = tmp_path                                             # checked after the arguments below
    write_shards(tmp_path / "inputs", "classify")
    with pytest.raises(beam_lib.BeamPredictError, match=r"^runner 'Direct': expected one of DirectRunner, "
                                                         r"DataflowRunner, FlinkRunner, SparkRunner$"):
        beam_lib.predict_on_beam(saved_model, "x", "y", runner="Direct")
    with pytest.raises(beam_lib.BeamPredictError, match=r"^input pattern '.*nothing-\*\.txt': no files match$"):
        beam_lib.predict_on_beam(saved_model, str(tmp_path / "nothing-*.txt"), str(tmp_path / "o"))
    with pytest.raises(ExportedModelError, match=r"not a SavedModel directory \(no saved_model\.pb\)"):
        beam_lib.predict_on_beam(tmp_path, str(tmp_path / "inputs" / "part-*"), str(tmp_path / "o"))
    with pytest.raises(beam_lib.BeamPredictError, match=r"^fmt 'csv': expected auto, text or jsonl$"):
        beam_lib.predict_on_beam(saved_model, "x", "y", fmt="csv")


def test_without_beam_installed_the_error_names_the_extra(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "apache_beam", None)            # `import apache_beam` raises ImportError
    with pytest.raises(beam_lib.BeamPredictError, match=r"^batch prediction on Beam needs apache-beam \(.*\): "
                                                         r"pip install 'keras_bert_zoo\[beam\]'$"):
        beam_lib.predict_on_beam(tmp_path, "x*", str(tmp_path / "o"))


def test_command_line_errors_name_the_flag(tmp_path):
    from tests.cli.runner import bert_zoo

    r = bert_zoo("predict", "--runner=Flinky", "--model", tmp_path, "--input", "x*", "--out", tmp_path / "p")
    assert r.returncode == 1
    assert r.stderr.strip() == ("bert-zoo predict: error: runner 'Flinky': expected one of DirectRunner, "
                                "DataflowRunner, FlinkRunner, SparkRunner")
    r = bert_zoo("predict", "--runner=DirectRunner", "--model", tmp_path, "--out", tmp_path / "p")
    assert r.returncode == 1 and r.stderr.strip() == (
        "bert-zoo predict: error: --runner reads files, not stdin: give --input PATTERN (e.g. 'texts/part-*.txt')")
    r = bert_zoo("predict", "--model", tmp_path / "m.keras", "--", "--direct_num_workers=2")
    assert r.returncode == 1 and "only --runner takes (Beam pipeline) options after `--`" in r.stderr


# ------------------------------------------------------------------------------------------------ slow
@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(INPUTS))
def test_beam_gives_the_predict_lines_for_every_task_type(kind, tmp_path):
    """Every task type through the one SavedModel handler. The classifier runs on 2 worker processes (the
    handler pickled, the model loaded in each worker); the other types run in process — the same handler code
    and output formatting without 2 x (TensorFlow import + model load) per type (~25 s of CPU each)."""
    keras_path, saved_model = export_case(kind, tmp_path)
    files = write_shards(tmp_path / "inputs", kind, ".jsonl" if kind in ("qa", "choice", "classify_pairs")
                         else ".txt")
    two_workers = kind == "classify"
    result = beam_lib.predict_on_beam(saved_model, str(tmp_path / "inputs" / "part-*"),
                                      str(tmp_path / "out" / kind),
                                      pipeline_args=TWO_WORKERS if two_workers else IN_PROCESS, batch_size=4)
    want = predict_command_lines(keras_path, files)
    fields = make_task(kind).text_inputs
    assert result.lines == len(want) == sum(len(lines) for lines in INPUTS[kind])
    if two_workers:
        assert len(result.files) == 2
    assert_same_rows(beam_lines(result), want, fields)


@pytest.mark.slow
def test_bad_input_line_in_a_worker_process_is_one_line_too(classifier, tmp_path):
    _bad_line(classifier[1], tmp_path, TWO_WORKERS)


@pytest.mark.slow
def test_command_line_runner_on_the_demo_test_tweets(tmp_path):
    """`bert-zoo predict --runner=DirectRunner` (2 workers) on the demo's test tweets (the split `bert-zoo demo`
    evaluates on) vs `bert-zoo predict` on the same file, both as commands, with the tiny classifier."""
    from keras_bert_zoo.apps.demo_en import EnDemoConfig
    from keras_bert_zoo.data.corpora import tweet_sentiment_splits
    from tests.cli.runner import bert_zoo

    texts = tweet_sentiment_splits(seed=EnDemoConfig().split_seed)["test"][0]
    lines = [json.dumps({"id": i, "text": t}, ensure_ascii=False) for i, t in enumerate(texts)]
    (tmp_path / "tweets").mkdir()
    for shard in range(2):
        (tmp_path / "tweets" / f"test-{shard}.jsonl").write_text("".join(l + "\n" for l in lines[shard::2]),
                                                                encoding="utf-8")
    (tmp_path / "all.jsonl").write_text("".join(l + "\n" for l in lines), encoding="utf-8")
    keras_path, saved_model = export_case("classify", tmp_path)

    r = bert_zoo("predict", "--runner=DirectRunner", "--model", saved_model, "--input", tmp_path / "tweets" / "*",
                 "--out", tmp_path / "out" / "tweets", "--batch_size=64", "--", *TWO_WORKERS)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"bert-zoo predict: {len(texts)} lines written to 2 file(s)" in r.stderr
    r2 = bert_zoo("predict", "--model", keras_path, "--input", tmp_path / "all.jsonl", "--out", tmp_path / "p.jsonl",
                  "--batch_size=64")
    assert r2.returncode == 0, r2.stderr[-3000:]
    got = []
    for path in sorted((tmp_path / "out").glob("tweets-*-of-*.jsonl")):
        got += path.read_text(encoding="utf-8").splitlines()
    want = (tmp_path / "p.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(want) == len(texts) > 3000
    assert_same_rows(got, want, ("text",))
