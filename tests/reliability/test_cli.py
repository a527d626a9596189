"""Issue 14 catalogue: the CLI as a person meets it — help, exit codes, one-line errors, stdin, noise, installs.

Most cases run `python -m keras_bert_zoo.cli.main ...` in a subprocess (the process, its exit status and its
stderr are the outcome). The ones that fail on a flag or a path must fail before TensorFlow is imported; that is
checked with ``-X importtime`` (never with a timer). Cases that need TensorFlow share one tiny saved task.
"""

import ast
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "keras_bert_zoo" / "cli"

from keras_bert_zoo.cli.main import COMMANDS  # noqa: E402 - TensorFlow-free
from tests.cli import runner  # noqa: E402


# ------------------------------------------------------------------------------------------------ helpers
def _env(**extra):
    """The environment a user has (no TF_CPP_MIN_LOG_LEVEL, CUDA_VISIBLE_DEVICES, BERT_ZOO_TRACEBACK), with this
    checkout first on the path."""
    return runner.environment(as_user=True, **extra)


def bert_zoo(*args, stdin=None, cwd=None, importtime=False, timeout=600):
    """`bert-zoo ARGS` as a user runs it: bytes out (the cases check invalid UTF-8 and stray output)."""
    return runner.bert_zoo(*args, stdin=stdin, cwd=cwd, importtime=importtime, timeout=timeout, as_user=True,
                           text=False)


def text(stream: bytes) -> str:
    """A process's stderr/stdout as text, without ``-X importtime``'s lines."""
    return "\n".join(line for line in stream.decode("utf-8", "replace").splitlines()
                     if not line.startswith("import time:"))


def imported(stderr: bytes) -> set:
    """The modules ``-X importtime`` reports as imported."""
    return {line.rsplit("|", 1)[1].strip() for line in stderr.decode("utf-8", "replace").splitlines()
            if line.startswith("import time:") and "|" in line}


def assert_tf_free(result):
    mods = imported(result.stderr)
    assert mods, "run with importtime=True"
    assert "tensorflow" not in mods and "keras" not in mods, "TensorFlow/Keras imported before the answer"


def assert_one_line_error(result, *needles, status=1):
    err = text(result.stderr).strip()
    assert result.returncode == status, (result.returncode, err[-2000:])
    assert "Traceback" not in err, err[-3000:]
    assert len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


#: what TensorFlow, absl and Keras print unasked; none of it may reach a user's stderr by default
NOISE = [
    r"cuda", r"cuInit", r"oneDNN", r"cpu_feature_guard", r"This TensorFlow binary is optimized",
    r"rebuild TensorFlow with the appropriate compiler flags", r"signature_serialization",
    r"unsupported characters which will be renamed", r"Sharding callback duration", r"Assets written to",
    r"Writing fingerprint", r"`shuffle=True`", r"Skipping variable loading for optimizer",
    r"^[IWE]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ \S+:\d+\]",        # absl log lines
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWE] ",           # TensorFlow C++ log lines
    r"WARNING: All log messages before absl::InitializeLog",
]


def assert_no_noise(stderr: str):
    for pattern in NOISE:
        hits = [line for line in stderr.splitlines() if re.search(pattern, line, re.IGNORECASE if pattern == "cuda"
                                                                  else 0)]
        assert not hits, f"noise {pattern!r} on stderr: {hits[:3]}"


def defined_flags(module_file: Path):
    """(name, kind, default, help) of each absl flag a command module defines, read from its source."""
    for node in ast.walk(ast.parse(module_file.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr.startswith("DEFINE_") and node.args and isinstance(node.args[0], ast.Constant)):
            kind = node.func.attr[len("DEFINE_"):]
            help_index = 3 if kind == "enum" else 2
            args = list(node.args) + [kw.value for kw in node.keywords if kw.arg == "help"]
            try:
                help_text = ast.literal_eval(args[help_index])
            except (ValueError, IndexError):
                help_text = None
            try:
                default = ast.literal_eval(node.args[1])
            except ValueError:
                default = None
            yield node.args[0].value, kind, default, help_text


def _squash(s: str) -> str:
    return re.sub(r"\s+", "", s)


@pytest.fixture
def readonly_dir(tmp_path):
    """A directory this process cannot write in: a chmod 555 directory, or (as root, whom chmod does not stop)
    a path under /sys. Proven unwritable before use."""
    if os.geteuid() != 0:
        path = tmp_path / "read_only"
        path.mkdir()
        path.chmod(0o555)
    else:
        path = Path("/sys/bert_zoo_read_only")
    try:
        os.makedirs(path, exist_ok=True)
        (path / "probe").write_text("x")
    except OSError:
        yield path
    else:
        pytest.skip(f"no unwritable directory here ({path} is writable)")
    finally:
        if os.geteuid() != 0:
            (tmp_path / "read_only").chmod(0o755)


# ------------------------------------------------------------------------------------------------ 1. help
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_command_help_lists_its_own_flags_and_exits_0(command):
    """Before: absl's --help printed the dispatcher's docstring and no flag of the command, exit status 1."""
    r = bert_zoo(command, "--help", importtime=True)
    out = r.stdout.decode()
    assert r.returncode == 0, text(r.stderr)[-2000:]
    assert out.startswith(f"usage: bert-zoo {command}")
    module_file = CLI / (COMMANDS[command][0].rsplit(".", 1)[1] + ".py")
    flags = list(defined_flags(module_file))
    for name, kind, default, help_text in flags:
        assert re.search(rf"--(\[no\])?{re.escape(name)}:", out), f"--{name} missing from {command} --help"
        if help_text:
            assert _squash(help_text) in _squash(out), f"help of --{name} missing"
        if kind in ("string", "integer", "enum") and default is not None and default != "":
            assert f"(default: '{default}')" in out, f"default of --{name} missing"
    if not flags:
        assert "has no flags of its own" in out
    assert_tf_free(r)


def test_top_level_help_and_package_import_are_tensorflow_free():
    r = bert_zoo("--help", importtime=True)
    assert r.returncode == 0 and all(name in r.stdout.decode() for name in COMMANDS)
    assert_tf_free(r)
    r = bert_zoo("help", "predict")
    assert r.returncode == 0 and "--batch_size:" in r.stdout.decode()
    probe = subprocess.run([sys.executable, "-c", "import sys, keras_bert_zoo, keras_bert_zoo.cli.main; "
                            "print('tensorflow' in sys.modules, 'keras' in sys.modules)"],
                           capture_output=True, text=True, env=_env(), timeout=120)
    assert probe.stdout.split() == ["False", "False"], probe.stderr[-2000:]


def test_helpfull_adds_absl_flags():
    r = bert_zoo("predict", "--helpfull")
    out = r.stdout.decode()
    assert r.returncode == 0
    assert "--model:" in out and "--verbosity:" in out and "--logger_levels:" in out


def test_unknown_flag_is_one_line_naming_it():
    """Before: 'FATAL Flags parsing error: Unknown command line flag 'bogus'' plus a second line, status 1."""
    r = bert_zoo("predict", "--bogus=1", importtime=True)
    assert_one_line_error(r, "unknown flag --bogus", status=2)
    assert_tf_free(r)
    r = bert_zoo("predict", "--batch_sz=3")
    assert_one_line_error(r, "unknown flag --batch_sz", "did you mean --batch_size", status=2)


def test_bad_flag_value_is_one_line_naming_it():
    r = bert_zoo("predict", "--batch_size=abc", importtime=True)
    assert_one_line_error(r, "--batch_size=abc", status=2)
    assert_tf_free(r)
    r = bert_zoo("predict", "--format=xml")
    assert_one_line_error(r, "--format=xml", "auto|text|jsonl", status=2)


@pytest.mark.parametrize("args, needle", [(("--task=classify", "--task=tag"), "--task is given 2 times"),
                                          (("--batch_size=8", "--batch_size", "4"), "--batch_size is given 2 times"),
                                          (("--batch_size=0",), "--batch_size=0: 0 is not a positive integer")])
def test_a_repeated_flag_or_a_zero_batch_size_is_one_line_before_tensorflow(args, needle, tmp_path):
    """Issue 27: a repeated single-value flag silently took the last value; now one line naming it, status 2."""
    r = bert_zoo("finetune", "--train", str(tmp_path / "none.csv"), "--out", str(tmp_path / "o"), *args,
                 importtime=True)
    assert_one_line_error(r, needle, status=2)
    assert_tf_free(r)
    assert not (tmp_path / "o").exists()


def test_missing_required_flags_are_one_line_naming_them(tmp_path):
    """Before: 'FATAL Flags parsing error:' and one line per flag, then a hint line."""
    r = bert_zoo("make-pretraining-data", importtime=True)
    assert_one_line_error(r, "missing required flag(s): --input, --vocab", status=2)
    assert_tf_free(r)


# ------------------------------------------------------------------------------------------------ 2. noise
def test_old_flag_spellings_are_aliases_with_a_one_line_notice(tmp_path):
    """Issue 25: one spelling per flag (--out, --sequence_length); an old one works one more release."""
    r = bert_zoo("predict", "--model", tmp_path / "nope.keras", "--output", tmp_path / "p.jsonl", importtime=True)
    err = text(r.stderr).strip().splitlines()
    assert r.returncode == 1 and len(err) == 2, err
    assert err[0] == "bert-zoo: --output is deprecated and will be removed in the next release; use --out"
    assert err[1].startswith(f"bert-zoo predict: error: --model {tmp_path / 'nope.keras'}: no such file")
    assert_tf_free(r)
    r = bert_zoo("predict", "--model", tmp_path / "nope.keras", "--output", "a", "--out", "b", importtime=True)
    assert_one_line_error(r, "--output and --out are the same flag")


def test_mixed_precision_has_one_value_set():
    """Before: finetune took any string, demo float32|mixed_*, pretrain none|bfloat16|float16."""
    for command in ("finetune", "pretrain"):
        r = bert_zoo(command, "--mixed_precision=bfloat16", importtime=True)
        assert_one_line_error(r, "--mixed_precision=bfloat16", "float32|mixed_bfloat16|mixed_float16", status=2)
        assert_tf_free(r)


def test_only_errors_raised_on_purpose_are_one_line(capsys):
    """Issue 25: a bad-input error of the package is one line; an internal ValueError / KeyError is a bug and keeps
    its traceback (before, every ValueError and KeyError became a one-line 'user error')."""
    from keras_bert_zoo.cli.errors import UsageError, run_command
    from keras_bert_zoo.data.task_files import TaskFileError

    def fail(err):
        def fn():
            raise err
        return fn

    for err in (UsageError("--flag: bad"), TaskFileError("x.csv:3: bad row"), FileNotFoundError(2, "gone")):
        with pytest.raises(SystemExit) as exit_info:
            run_command("x", fail(err))
        assert exit_info.value.code == 1
        assert capsys.readouterr().err.count("\n") == 1
    for err in (ValueError("internal"), KeyError("k"), TypeError("t")):
        with pytest.raises(type(err)):
            run_command("x", fail(err))


def test_quiet_environment_silences_tensorflow_unless_verbosity_or_user_setting(monkeypatch):
    import warnings

    from keras_bert_zoo.cli import main as cli_main

    assert cli_main.verbosity_requested(["--model=m", "--verbosity=0"])
    assert cli_main.verbosity_requested(["-v", "1"]) and cli_main.verbosity_requested(["--v=1"])
    assert not cli_main.verbosity_requested(["--model=m"]) and not cli_main.verbosity_requested(["--", "-v"])
    with warnings.catch_warnings():
        monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
        cli_main.quiet_environment(verbose=True)
        assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ
        cli_main.quiet_environment(verbose=False)
        assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"
        with pytest.warns(UserWarning):      # the package's own warnings are not filtered
            warnings.warn("bert-zoo: a warning of ours")
        monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")
        cli_main.quiet_environment(verbose=False)
        assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"   # the user's own setting wins


# ------------------------------------------------------------------------------------------------ 3. predict input
@pytest.fixture(scope="module")
def predict_module():
    # the reader module, not the command module: that one defines absl flags (--batch_size, --model ...) that
    # another command module imported in the same test process (tests/reliability/test_runs.py) also defines
    from keras_bert_zoo.batch import lines

    return lines


def _read(predict_module, data: bytes, fmt="auto", fields=("text",)):
    warnings_seen = []
    reader = predict_module.LineReader(io.BytesIO(data), fmt, fields, "<stdin>", warn=warnings_seen.append)
    records = list(reader)
    reader.summary_warnings()
    return records, warnings_seen


def test_predict_blank_line_gives_an_empty_record(predict_module):
    """Before: blank lines were skipped, so output line N no longer matched input line N."""
    records, warned = _read(predict_module, b"good film\n\n   \nbad film\n")
    assert records == [(1, {"text": "good film"}), (2, None), (3, None), (4, {"text": "bad film"})]
    assert warned == ['<stdin>: 2 blank line(s) (2, 3) gave {"empty": true} records without a prediction']


def test_predict_invalid_utf8_on_stdin_is_replaced_with_a_warning_naming_the_line(predict_module):
    """Before: UnicodeDecodeError from sys.stdin (no line named)."""
    records, warned = _read(predict_module, b"\xef\xbb\xbfok\ncaf\xe9 au lait\n")
    assert records == [(1, {"text": "ok"}), (2, {"text": "caf\ufffd au lait"})]     # BOM dropped, byte replaced
    assert warned == ["<stdin>:2: invalid UTF-8 (byte 0xe9 at column 4) replaced with U+FFFD"]


def test_predict_format_text_reads_a_brace_line_as_text(predict_module):
    records, _ = _read(predict_module, b'{not json, just text}\n{"text": "x"}\n', fmt="text")
    assert records == [(1, {"text": "{not json, just text}"}), (2, {"text": '{"text": "x"}'})]


def test_predict_auto_invalid_json_names_the_line(predict_module):
    with pytest.raises(predict_module.PredictInputError, match=r"^<stdin>:2: invalid JSON: .*--format=text"):
        _read(predict_module, b'fine\n{"text": "unterminated}\n')


def test_predict_jsonl_plain_line_names_the_line(predict_module):
    with pytest.raises(predict_module.PredictInputError, match=r"^<stdin>:1: invalid JSON"):
        _read(predict_module, b"plain text\n", fmt="jsonl")
    with pytest.raises(predict_module.PredictInputError, match=r"^<stdin>:1: expected a JSON object .* list"):
        _read(predict_module, b'["a", "b"]\n', fmt="jsonl")


def test_predict_json_record_missing_input_field_names_line_and_field(predict_module):
    """Before: 'record 1: missing field(s)' counted records, not lines (blank lines were skipped)."""
    with pytest.raises(predict_module.PredictInputError,
                       match=r"^<stdin>:3: missing field\(s\) \['text_pair'\]; the task takes \['text', 'text_pair'\]"):
        _read(predict_module, b'{"text": "a", "text_pair": "b"}\n\n{"text": "a"}\n', fields=("text", "text_pair"))
    with pytest.raises(predict_module.PredictInputError, match=r"^<stdin>:1: field 'text' must be a string, got "
                                                               r"NoneType null"):
        _read(predict_module, b'{"text": null}\n')


def test_predict_text_line_for_a_two_input_task_names_the_line(predict_module):
    with pytest.raises(predict_module.PredictInputError,
                       match=r"^<stdin>:1: a text line, but the task takes several inputs \['question', 'context'\]"):
        _read(predict_module, b"what is it?\n", fields=("question", "context"))


# ---------------------------------------------------------------------------------- the same through the CLI
@pytest.fixture(scope="module")
def saved_task(tmp_path_factory):
    """A tiny real TextClassifier (vocab 99, hidden 32, 4 heads, intermediate 37, T 7) saved as .keras."""
    import keras

    from keras_bert_zoo.models.backbone import BertBackbone
    from keras_bert_zoo.tasks import TextClassifier
    from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer
    from tests.conftest import TINY
    from tests.tasks.tiny_classify import vocabulary

    keras.utils.set_random_seed(0)
    preprocessor = BertPreprocessor(WordPieceTokenizer(vocabulary(), lowercase=True), sequence_length=7)
    task = TextClassifier(BertBackbone(TINY.replace(max_position_embeddings=64)), preprocessor=preprocessor,
                          labels=["negative", "neutral", "positive"])
    path = tmp_path_factory.mktemp("task") / "tiny.keras"
    task.save(path)
    return path


@pytest.mark.slow   # TensorFlow starts in a subprocess: ~20-60 s on 2 shared cores
def test_predict_stdin_one_output_per_line_and_no_tensorflow_noise(saved_task):
    """Before: blank line skipped; a cuInit line on stderr (TF_CPP_MIN_LOG_LEVEL was 2)."""
    stdin = b'the movie was good\n\n{"text": "bad and awful", "id": 7}\ncaf\xe9 ok\n{not json}\n'
    r = bert_zoo("predict", "--model", saved_task, "--format=text", stdin=stdin)
    err = text(r.stderr)
    assert r.returncode == 0, err[-3000:]
    rows = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert len(rows) == 5
    assert rows[1] == {"text": "", "empty": True}
    assert rows[2]["text"] == '{"text": "bad and awful", "id": 7}'         # --format=text: a line is text
    assert rows[3]["text"] == "caf\ufffd ok"
    assert all(rows[i]["label"] in ("negative", "neutral", "positive") for i in (0, 2, 3, 4))
    assert "<stdin>:4: invalid UTF-8" in err and "1 blank line(s) (2)" in err
    assert_no_noise(err)
    # auto (default): the JSON line keeps its extra field; the invalid JSON line is named
    r = bert_zoo("predict", "--model", saved_task, stdin=b'{"text": "bad and awful", "id": 7}\nok\n{not json}\n')
    assert_one_line_error(r, "<stdin>:3: invalid JSON")


@pytest.mark.slow   # TensorFlow starts in a subprocess
def test_predict_bad_line_midway_leaves_no_output_file(saved_task, tmp_path):
    """Before: all lines were read first, but a failure while writing left a half-written file; now the output
    is written atomically: the predictions of lines 1-8 are never visible when line 11 fails."""
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": f"the film was good {i}"}) + "\n" for i in range(10))
                   + '{"txt": "typo"}\n', encoding="utf-8")
    out = tmp_path / "out" / "predictions.jsonl"
    r = bert_zoo("predict", "--model", saved_task, "--input", src, "--out", out, "--batch_size=1")
    assert_one_line_error(r, f"{src}:11: missing field(s) ['text']")
    assert not out.exists() and list(out.parent.iterdir()) == []


@pytest.mark.slow   # a TensorFlow start-up in a subprocess, then SIGINT
def test_predict_sigint_exits_130_with_one_line_and_no_partial_output(saved_task, tmp_path):
    """Ctrl-C while predicting: exit status 130, 'interrupted' on one line, no traceback, no output file."""
    fifo = tmp_path / "lines.fifo"
    os.mkfifo(fifo)
    out = tmp_path / "predictions.jsonl"
    cmd = [sys.executable, "-m", "keras_bert_zoo.cli.main", "predict", "--model", str(saved_task), "--input",
           str(fifo), "--out", str(out), "--batch_size=1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    opened = threading.Event()

    def feed():      # open() returns once predict has opened --input, i.e. after loading the model
        with open(fifo, "w") as f:
            opened.set()
            f.write("the film was good\n")
            f.flush()
            time.sleep(120)     # keep the pipe open: predict waits for the next line

    threading.Thread(target=feed, daemon=True).start()
    assert opened.wait(300), "predict never opened --input"
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    err = stderr.decode()
    assert proc.returncode == 130, err[-3000:]
    assert err.strip() == "bert-zoo predict: interrupted"
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["lines.fifo"]


@pytest.mark.slow   # ~1 minute: trace, save, verify in a fresh process
def test_export_prints_no_tensorflow_noise(saved_task, tmp_path):
    """Before: a cuInit line, three 'signature renaming' INFO lines, two 'Sharding callback duration' lines,
    'Assets written to' and 'Writing fingerprint' on stderr."""
    r = bert_zoo("export", "--model", saved_task, "--name", "tiny", "--out", tmp_path / "exports")
    err = text(r.stderr)
    assert r.returncode == 0, err[-3000:]
    assert json.loads(r.stdout.decode())["path"].endswith("tiny/1")
    assert_no_noise(err)


# ------------------------------------------------------------------------------------------------ 5. errors
@pytest.mark.parametrize("command,extra", [("predict", []), ("evaluate", ["--data", "x.csv"]),
                                           ("export", ["--name", "x"])])
def test_model_missing_file_is_one_line(command, extra, tmp_path):
    """Before: the same error, but only after TensorFlow and Keras were imported."""
    r = bert_zoo(command, "--model", tmp_path / "nope.keras", *extra, importtime=True, cwd=tmp_path)
    assert_one_line_error(r, f"--model {tmp_path / 'nope.keras'}: no such file")
    assert_tf_free(r)


@pytest.mark.parametrize("command,extra", [("predict", []), ("evaluate", ["--data", "x.csv"]),
                                           ("export", ["--name", "x"])])
def test_model_directory_that_is_not_a_model_is_one_line(command, extra, tmp_path):
    """Before: '<dir>/model.keras: no such file' after the TensorFlow import."""
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "notes.txt").write_text("not a model")
    r = bert_zoo(command, "--model", tmp_path / "runs", *extra, importtime=True, cwd=tmp_path)
    assert_one_line_error(r, f"--model {tmp_path / 'runs'}: a directory without model.keras")
    assert_tf_free(r)


@pytest.mark.slow   # loads TensorFlow to find out
def test_model_file_that_is_not_a_model_is_one_line(tmp_path):
    bogus = tmp_path / "model.keras"
    bogus.write_text("text,label\nhello,positive\n")
    r = bert_zoo("predict", "--model", bogus, stdin=b"hello\n")
    assert_one_line_error(r, f"{bogus}: not a valid .keras archive")


def test_input_missing_is_one_line(tmp_path):
    """Before: '[Errno 2] No such file or directory' without the flag, after the model had loaded."""
    model = tmp_path / "m.keras"
    model.write_bytes(b"")                    # never loaded: the input is checked first
    r = bert_zoo("predict", "--model", model, "--input", tmp_path / "texts.txt", importtime=True)
    assert_one_line_error(r, f"--input {tmp_path / 'texts.txt'}: no such file")
    assert_tf_free(r)
    r = bert_zoo("evaluate", "--model", model, "--data", tmp_path / "dev.csv", importtime=True)
    assert_one_line_error(r, f"--data {tmp_path / 'dev.csv'}: no such file")
    assert_tf_free(r)


def test_out_not_writable_is_one_line_before_any_work(readonly_dir, tmp_path):
    """Before: finetune trained first and failed writing (a PermissionError after the TensorFlow import)."""
    model = tmp_path / "m.keras"
    model.write_bytes(b"")
    r = bert_zoo("predict", "--model", model, "--out", readonly_dir / "p.jsonl", stdin=b"x\n", importtime=True)
    assert_one_line_error(r, f"--out {readonly_dir / 'p.jsonl'}: cannot write there")
    assert_tf_free(r)
    train = tmp_path / "train.csv"
    train.write_text("text,label\ngood,positive\n")
    r = bert_zoo("finetune", "--train", train, "--out", readonly_dir / "run", importtime=True)
    assert_one_line_error(r, f"--out {readonly_dir / 'run'}: cannot write there")
    assert_tf_free(r)


def test_unknown_preset_is_one_line():
    """Before: a PresetError traceback (presets did not go through cli/errors.py)."""
    r = bert_zoo("presets", "--fetch", "no_such_preset", importtime=True)
    assert_one_line_error(r, "bert-zoo presets: error: Unknown preset 'no_such_preset'")
    assert_tf_free(r)


# ------------------------------------------------------------------------------------------------ 4. installs
def _extras():
    from tests.conftest import require

    return require("tomllib").loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def _expand(extra, extras):
    """The requirement names an extra installs (self-references ``keras_bert_zoo[a,b]`` expanded)."""
    names = set()
    for req in extras[extra]:
        m = re.match(r"keras_bert_zoo\[([^\]]+)\]", req)
        if m:
            for sub in m.group(1).split(","):
                names |= _expand(sub.strip(), extras)
        else:
            names.add(re.match(r"[A-Za-z0-9_.\-]+", req).group(0).lower().replace("_", "-"))
    return names


HEAVY = {"torch", "jax", "jaxlib", "transformers", "tokenizers", "seqeval"}


def _installed_closure(names):
    """Every distribution ``names`` pull in, through the installed distributions' metadata (markers for
    extras are not followed); names that are not installed are returned in the second set."""
    from importlib import metadata

    seen, missing, todo = set(), set(), list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            missing.add(name)
            continue
        for req in requires:
            if "extra ==" in req:
                continue
            todo.append(re.match(r"[A-Za-z0-9_.\-]+", req).group(0).lower().replace("_", "-"))
    return seen, missing


def test_demo_extra_installs_no_torch_jax_transformers():
    """Before: the README's first command installed .[all] (torch, jax, transformers) for the demo."""
    extras = _extras()
    demo = _expand("demo", extras)
    assert {"matplotlib", "tensorflow-serving-api", "scikit-learn"} <= demo and not demo & HEAVY
    closure, missing = _installed_closure(demo)
    assert not closure & HEAVY, closure & HEAVY
    assert _expand("all", extras) >= set().union(*(_expand(e, extras) for e in extras))   # all = everything
    assert {"transformers", "torch", "jax", "scikit-learn", "seqeval", "tokenizers"} <= _expand("test", extras)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.S)
    assert "pip install -e '.[demo]' && bert-zoo demo" in blocks[0]
    assert "pip install -e '.[all]'" in blocks[1] and "pytest" in blocks[1]
    assert "pip install -q -e '.[all]'" in (ROOT / ".ci" / "run").read_text()


def test_demo_imports_without_torch_jax_transformers():
    """Everything `bert-zoo demo` imports (its module and each import inside its functions) with torch, jax,
    transformers, tokenizers and seqeval blocked."""
    apps = ROOT / "keras_bert_zoo" / "apps"        # the command and the app it runs (apps/demo_en.py)
    tree = ast.Module(body=[n for f in (CLI / "demo.py", apps / "demo_en.py", apps / "baselines.py", apps / "common.py")
                            for n in ast.parse(f.read_text(encoding="utf-8")).body], type_ignores=[])
    modules = {"keras_bert_zoo.cli.demo"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
            if node.module == "keras_bert_zoo" or node.module.startswith("keras_bert_zoo."):
                modules |= {f"{node.module}.{a.name}" for a in node.names if (ROOT / (node.module.replace(".", "/"))
                                                                              / f"{a.name}.py").exists()}
        elif isinstance(node, ast.Import):
            modules |= {a.name for a in node.names}
    assert {"keras_bert_zoo.export", "keras_bert_zoo.viz", "sklearn.linear_model"} <= modules
    code = ("import importlib, importlib.abc, sys\n"
            "class NotInstalled(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            f"        if name.split('.')[0] in {sorted(HEAVY)!r}: raise ModuleNotFoundError(name)\n"
            "sys.meta_path.insert(0, NotInstalled())\n"
            f"for name in {sorted(modules)!r}: importlib.import_module(name)\n"
            "import keras_bert_zoo.export.saved_model, keras_bert_zoo.export.warmup, matplotlib.pyplot\n"
            "import tensorflow_serving.apis.prediction_log_pb2, tensorflow_serving.apis.predict_pb2\n"
            f"assert not set(sys.modules) & {HEAVY!r}\n"
            "print('imported', len(sys.modules))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=600)
    assert r.returncode == 0 and "imported" in r.stdout, r.stderr[-3000:]
