"""SavedModel export in the TF Serving layout, tokenizer and packer inside the graph.

``export_saved_model(task, path, sample_texts)`` writes the SavedModel directory ``path`` (for TF Serving a
version directory ``<root>/<name>/<version>``, :func:`keras_bert_zoo.export.next_version_dir`) with

* signature ``serving_default``: raw strings (one ``tf.string [B]`` input per ``task.serving_input_spec()``
  name, e.g. ``text`` / ``text_pair``) -> the task's named outputs (probabilities, label_ids, label_names, ...);
* signature ``serving_packed``: packed int32 ``token_ids`` / ``segment_ids`` / ``padding_mask`` [B, T] -> the
  same outputs (for clients that tokenize themselves);
* signature ``preprocess``: raw strings -> the packed ids (to debug tokenization against the server);
* ``assets.extra/tf_serving_warmup_requests``: PredictionLog records replayed by TF Serving at load time;
* ``export_info.json`` in ``assets.extra``: versions, op listing, verification report.

``serving_default`` and ``serving_packed`` run the backbone on the request's own length: the task's
``packed_serving_fn`` cuts the packed batch after the last position where any row's padding mask is 1
(:meth:`~keras_bert_zoo.tasks.Task.trim`; exact for BERT, padding is masked), so a batch of tweets runs ~25
positions, not the preprocessor's ``sequence_length``. Tasks with per-position packed outputs (QA and token
classification ``serving_packed``) are not cut there; their raw-string graphs cut their windows themselves.

Every signature checks its inputs at run time before the task's graph sees them (rank, fixed dimensions, one
batch size across inputs, packed shapes and id ranges): a bad request is an ``InvalidArgumentError`` naming
the input (:mod:`keras_bert_zoo.export.input_checks`); valid requests get exactly the task's outputs.

    from keras_bert_zoo.export.saved_model import ServingModule, export_saved_model
    result = export_saved_model(task, "saved_models/sentiment/1", ["a sample text", "another one"])
    module = ServingModule(task)                      # the tf.Module the export saves
    tf.saved_model.save(module, "/tmp/x", signatures=module.signatures)

The task protocol
-----------------
Every exporter (SavedModel, TFLite, ONNX, verification) uses exactly these members of the ``task`` it is given:

* ``task.preprocessor``: the Keras preprocessing layer (tokenizer + packer), tracked so its vocabulary assets
  are saved;
* ``task.serving_input_spec()``: ``{name: tf.TensorSpec([None], tf.string)}`` of the raw-string inputs;
* ``task.packed_input_spec()``: ``{name: tf.TensorSpec([None, T], tf.int32)}`` of the packed inputs;
* ``task.serving_fn(inputs)``: raw-string tensors -> dict of named output tensors;
* ``task.packed_serving_fn(packed)``: packed tensors -> the same dict;
* ``task.preprocess(inputs)``: raw-string tensors -> the packed tensors;
* ``task.task_type`` and ``task.labels``: recorded in ``export_info.json`` (with the raw-string input names in
  order, ``text_inputs``), so a batch job can decode the SavedModel's outputs as the task does
  (:mod:`keras_bert_zoo.batch.exported`).

Steps, in order, all inside a temporary directory next to the version directory: save -> op compatibility
check for the target -> warm-up file -> verification against the Keras task (in this process, and in a
fresh process importing only tensorflow + tensorflow_text) -> rename into ``path``. Any failure removes the
temporary directory: a failed export leaves nothing at ``path``. An existing ``path`` is an error naming it
unless ``overwrite=True``. The rename is also the claim of the path: of two concurrent exports to the same
path exactly one succeeds, the other raises :class:`ExportError`. File exports (TFLite, ONNX) claim their file
the same way (:func:`atomic_export_file`). Directories are created ``0777 & ~umask`` and files ``0666 & ~umask`` (0755 /
0644 under the usual umask), so a TF Serving process running as another user can read them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import importlib.util
import json
import logging
import os
import re
import types
from pathlib import Path
from typing import Mapping, Sequence

import tensorflow as tf

from keras_bert_zoo import cache
from keras_bert_zoo.export import ops as ops_lib
from keras_bert_zoo.export import input_checks, serving_requests, verify, warmup

logger = logging.getLogger(__name__)

__all__ = ["ServingModule", "ExportResult", "ExportError", "export_saved_model", "version_dir", "remove_stale_temps",
           "sample_feed", "atomic_export_dir", "atomic_export_file", "file_target", "library_versions"]


class ExportError(RuntimeError):
    """Bad export arguments (existing target, bad name or path, no samples), or a target claimed by another
    export."""


@dataclasses.dataclass
class ExportResult:
    path: Path
    ops: dict
    verification: dict
    info: dict


class ServingModule(tf.Module):
    """The tf.Module an export saves: the task's preprocessor (tracked: vocabulary assets, tokenizer
    resources), the three signatures as concrete functions (``serving_default``, ``serving_packed``,
    ``preprocess``; each called with one dict) and the variables they capture.

    ``signatures`` maps each signature name to its concrete function; pass it to ``tf.saved_model.save``.
    ``task`` follows the protocol in the module docstring. ``check_inputs=False`` leaves out the run-time input
    checks (:mod:`~keras_bert_zoo.export.input_checks`): the TFLite export does, see there.
    """

    def __init__(self, task, name: str = "bert_zoo_serving", check_inputs: bool = True):
        super().__init__(name=name)
        self.preprocessor = task.preprocessor
        text_spec = task.serving_input_spec()
        packed_spec = task.packed_input_spec()

        # Every signature checks its inputs' shapes (and the packed ids' ranges) at run time before the task's
        # graph sees them: see input_checks (a scalar string used to crash the server in the tf-text kernels).
        ranges = packed_value_ranges(task)
        packed_aligned = [k for k in ("token_ids", "segment_ids", "padding_mask") if k in packed_spec]

        def checked(inputs, specs, signature, **kwargs):
            if not check_inputs:
                return inputs
            return input_checks.check_inputs(inputs, specs, signature, **kwargs)

        # autograph=False: the serving graph is plain TF code (as Task's own serving function); converting it
        # cost ~10 % of an export's tracing time
        @tf.function(input_signature=[text_spec], autograph=False)
        def serving_default(inputs):
            return dict(task.serving_fn(checked(inputs, text_spec, verify.SERVING_SIGNATURE)))

        @tf.function(input_signature=[packed_spec], autograph=False)
        def serving_packed(packed):
            return dict(task.packed_serving_fn(checked(packed, packed_spec, verify.PACKED_SIGNATURE,
                                                       same_shape=packed_aligned, value_ranges=ranges)))

        @tf.function(input_signature=[text_spec], autograph=False)
        def preprocess(inputs):
            return dict(task.preprocess(checked(inputs, text_spec, verify.PREPROCESS_SIGNATURE)))

        with precomputed_projections(task) as projection_variables:
            concrete = {verify.SERVING_SIGNATURE: serving_default.get_concrete_function(),
                        verify.PACKED_SIGNATURE: serving_packed.get_concrete_function(),
                        verify.PREPROCESS_SIGNATURE: preprocess.get_concrete_function()}
        # The traces, not the tf.functions: saving a tf.function traces it again, outside the projections' scope
        self.serving_default, self.serving_packed, self.preprocess = (concrete[k] for k in (
            verify.SERVING_SIGNATURE, verify.PACKED_SIGNATURE, verify.PREPROCESS_SIGNATURE))
        # Not an attribute tf.Module would track: the functions are saved through the signatures argument.
        self._signature_view = types.MappingProxyType(concrete)
        # Track the tf.Variables the functions actually capture (a Keras 3 variable wraps one). Tracking the
        # Keras model object instead saves them under other nodes: TF Serving does not mind, but the TFLite
        # converter then cannot freeze them and leaves uninitialised resource variables (NaN outputs).
        captured, seen = [], set()
        for fn in concrete.values():
            for v in fn.variables:
                if id(v) not in seen:
                    seen.add(id(v))
                    captured.append(v)
        self._captured_variables = captured
        assert all(any(v is c for c in captured) for v in projection_variables), "a fused projection not captured"

    @property
    def signatures(self) -> Mapping:
        """``{signature name: concrete function}`` (read-only)."""
        return self._signature_view


@contextlib.contextmanager
def precomputed_projections(task):
    """Trace the serving graphs with each attention layer's fused [D, 3D] query/key/value kernel (and bias) held
    as a variable of its own, its value computed once here: otherwise the graph concatenates the three kernels
    on every request (MiniLM-L6 at batch 1: ~10 % of the op time, a 1.7 MB copy per layer). The new variables
    are captured by the traced functions and saved with them; the Dense layers' own variables are then not in
    the serving graph (the values are the same). Yields the new variables: keep them referenced until the
    functions' captured variables are tracked (a tf.function holds its captures weakly)."""
    from keras_bert_zoo.layers.attention import MultiHeadSelfAttention

    layers = [layer for layer in getattr(task, "_flatten_layers", lambda: [])()
              if isinstance(layer, MultiHeadSelfAttention) and layer.built]
    variables = []
    with contextlib.ExitStack() as stack:
        for layer in layers:
            kernel, bias = (tf.Variable(tf.convert_to_tensor(t), trainable=False, name=f"{layer.path}/{part}")
                            for t, part in zip(layer.fused_projection(), ("qkv_kernel", "qkv_bias")))
            stack.enter_context(layer.precomputed_projection(kernel, bias))
            variables += [kernel, bias]
        yield variables


def packed_value_ranges(task) -> dict:
    """``{packed input: (low, high)}`` the serving_packed signature enforces: token ids inside the vocabulary,
    segment ids inside the segment vocabulary, the padding mask 0/1 (from the task's backbone config)."""
    config = getattr(getattr(task, "backbone", None), "config", None)
    ranges = {"padding_mask": (0, 2)}
    if config is not None:
        ranges["token_ids"] = (0, int(config.vocab_size))
        ranges["segment_ids"] = (0, int(config.type_vocab_size))
    return ranges


def version_dir(root: str | os.PathLike, name: str, version: int) -> Path:
    if not name or "/" in name or name.startswith(".") or name != name.strip():
        raise ExportError(f"bad model name {name!r}: use a plain directory name (no '/', no leading '.')")
    try:
        version = int(version)
    except (TypeError, ValueError):
        raise ExportError(f"version must be a positive integer, got {version!r}") from None
    if version <= 0:
        raise ExportError(f"version must be a positive integer (TF Serving loads numeric directories), "
                          f"got {version}")
    return Path(root) / name / str(version)


def _refuse_existing(final: Path, overwrite: bool, kind: str):
    if final.exists() and not overwrite:
        raise ExportError(f"{final} already exists; export to a new path (for TF Serving a new version "
                          f"directory: keras_bert_zoo.export.next_version_dir) or pass overwrite=True")
    if final.exists() and final.is_dir() != (kind == "directory"):
        raise ExportError(f"{final} exists and is not a {kind}: overwrite=True replaces a {kind} only")


def _claimed_by_another(final: Path) -> ExportError:
    return ExportError(f"{final} was created by another export while this one ran; this export is discarded "
                       f"(export to a new path, or pass overwrite=True to replace it)")


#: a hidden export temporary directory untouched this long is left by a killed export, and is removed by the
#: next export into the same directory (no export runs for a day; a live one writes into it every few seconds)
STALE_TEMP_SECONDS = 24 * 3600
_TEMP_RE = re.compile(r"^\..+\.[A-Za-z0-9_]{6,}\.tmp$")


def remove_stale_temps(parent: str | os.PathLike, older_than: float = STALE_TEMP_SECONDS) -> list:
    """Remove the hidden ``.<name>.<random>.tmp`` directories that killed exports left in ``parent`` (untouched
    for ``older_than`` seconds, contents included); -> the paths removed (each logged)."""
    import shutil
    import time

    removed, now = [], time.time()
    for entry in os.scandir(parent) if os.path.isdir(parent) else ():
        if not (_TEMP_RE.match(entry.name) and entry.is_dir(follow_symlinks=False)):
            continue
        times = [entry.stat(follow_symlinks=False).st_mtime]
        times += [e.stat(follow_symlinks=False).st_mtime for e in os.scandir(entry.path)]
        if now - max(times) > older_than:
            shutil.rmtree(entry.path, ignore_errors=True)
            logger.warning("removed %s: the temporary directory of an export that did not finish", entry.path)
            removed.append(Path(entry.path))
    return removed


@contextlib.contextmanager
def atomic_export_dir(final: str | os.PathLike, overwrite: bool = False):
    """Yield a fresh hidden temporary directory next to ``final``; on success rename it to ``final``.

    ``final`` must not exist unless ``overwrite`` (then it is replaced atomically). The rename claims the
    path: when another export created ``final`` while this one ran, this one raises :class:`ExportError`
    and leaves the other's directory alone. On any exception the temporary directory is removed.
    """
    final = Path(final)
    _refuse_existing(final, overwrite, "directory")
    remove_stale_temps(final.parent)
    try:
        # Hidden, non-numeric name: TF Serving never tries to load a half-written version.
        with cache.atomic_dir(final, overwrite=overwrite, suffix=".tmp") as tmp:
            yield tmp
    except cache.DirectoryExistsError:
        raise _claimed_by_another(final) from None


@contextlib.contextmanager
def atomic_export_file(final: str | os.PathLike, overwrite: bool = False):
    """Yield a hidden temporary directory next to the file ``final`` (room for intermediate files) and the
    temporary file path inside it to write; on success that file becomes ``final``, and the directory goes.

    As :func:`atomic_export_dir`: ``final`` must not exist unless ``overwrite`` (then it is replaced
    atomically); without ``overwrite`` a hard link claims the name, so of two concurrent exports exactly one
    succeeds and the other raises :class:`ExportError`; any exception leaves nothing behind.
    """
    import shutil
    import tempfile

    final = Path(final)
    _refuse_existing(final, overwrite, "file")
    created = [d for d in final.absolute().parents if not d.exists()]        # deepest first
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(final.parent)
    work = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    done = False
    try:
        tmp = work / final.name
        yield work, tmp
        if overwrite:
            os.replace(tmp, final)
        else:
            _claim_file(tmp, final)
        done = True
    finally:
        shutil.rmtree(work, ignore_errors=True)
        for d in created if not done else ():       # a failed export leaves no directory it made either
            with contextlib.suppress(OSError):
                d.rmdir()


def _claim_file(tmp: Path, final: Path):
    """Give ``tmp``'s content the name ``final`` unless that name is taken (then :class:`ExportError`)."""
    try:
        os.link(tmp, final)                  # fails if the name is taken, never replaces it
        return
    except FileExistsError:
        raise _claimed_by_another(final) from None
    except OSError as err:                   # a file system without hard links: claim the name, then fill it
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
    try:
        os.close(os.open(final, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    except FileExistsError:
        raise _claimed_by_another(final) from None
    os.replace(tmp, final)


def file_target(path: str | os.PathLike, suffix: str, format: str) -> Path:
    """``path`` as the file a ``format`` export writes: it must end with ``suffix`` (as Keras's ``export``
    requires for LiteRT), so a directory-like path is not silently turned into a file."""
    path = Path(path)
    if path.suffix.lower() != suffix:
        raise ExportError(f"{path}: format={format!r} writes one file, and its path must end with {suffix!r} "
                          f"(e.g. {path.with_name(path.name + suffix)})")
    return path


def serving_name(path: Path) -> tuple[str, int | None]:
    """(model name, version) for the warm-up requests: ``<root>/<name>/<version>`` gives both, any other path
    its own name and no version (TF Serving answers the version it loads)."""
    if path.name.isdigit() and int(path.name) > 0 and path.parent.name:
        return path.parent.name, int(path.name)
    return path.name, None


def sample_feed(task, texts, pairs: Sequence[str] | None = None) -> dict:
    """{input name: list of str} for the task's raw-string signature: ``texts`` is either a dict with every
    input of ``task.serving_input_spec()``, or the list of first inputs (and ``pairs`` the second ones)."""
    names = list(task.serving_input_spec())
    if isinstance(texts, Mapping):
        if pairs is not None:
            raise ExportError("sample inputs: give a dict of inputs or texts (+ pairs), not both")
        if sorted(texts) != sorted(names):
            raise ExportError(f"sample inputs {sorted(texts)} do not match the task's inputs {names}")
        feed = {k: list(texts[k]) for k in names}
        lengths = {k: len(v) for k, v in feed.items()}
        if len(set(lengths.values())) != 1 or not feed[names[0]]:
            raise ExportError(f"sample inputs must be non-empty lists of one length, got {lengths}")
        return feed
    if isinstance(texts, str):
        raise ExportError("sample texts: expected a list of strings, got a single string")
    if not texts:
        raise ExportError("export needs sample texts to verify the exported model against the Keras model")
    feed = {names[0]: list(texts)}
    if len(names) > 2 or (len(names) == 2 and pairs is None):
        raise ExportError(f"the task takes inputs {names}; give the sample inputs as a dict of them")
    if len(names) == 2:
        if len(pairs) != len(texts):
            raise ExportError(f"{len(texts)} sample texts but {len(pairs)} sample pairs")
        feed[names[1]] = list(pairs)
    elif pairs is not None:
        raise ExportError(f"the task takes a single text input {names}; got sample pairs")
    return feed


def library_versions() -> dict:
    """Versions of TensorFlow, tensorflow-text and Keras, as recorded in ``export_info.json``."""
    import keras
    import tensorflow_text

    return {"tensorflow": tf.__version__, "tensorflow_text": tensorflow_text.__version__,
            "keras": keras.__version__}


def _write_warmup(tmp, feed, batch_sizes, name, version) -> str:
    """Write TF Serving's warm-up requests into the SavedModel at ``tmp``: "written", or why not (the protos
    come from the optional ``tensorflow-serving-api``; without it the export is complete, only without them)."""
    if importlib.util.find_spec("tensorflow_serving") is None:
        logger.warning("tensorflow-serving-api is not installed: the SavedModel gets no TF Serving warm-up "
                       "requests (pip install 'keras_bert_zoo[serving]' to add them)")
        return "skipped: tensorflow-serving-api is not installed"
    spec = serving_requests.signature_spec(tmp, verify.SERVING_SIGNATURE)
    texts = {k: list(v) for k, v in feed.items()}
    n = len(next(iter(texts.values())))
    requests = []
    for b in batch_sizes:
        rows = [i % n for i in range(b)]
        requests.append(serving_requests.predict_request(
            spec, {k: [v[i] for i in rows] for k, v in texts.items()}, model_name=name, version=version))
    warmup.write_warmup_requests(tmp, requests)
    return "written"


def export_saved_model(task, path: str | os.PathLike, sample_texts: Sequence[str],
                       sample_pairs: Sequence[str] | None = None, *, target: ops_lib.Target | None = None,
                       warmup_batch_sizes: Sequence[int] = (1, 8), tolerance: verify.Tolerance | None = None,
                       fresh_process_check: bool = True, overwrite: bool = False) -> ExportResult:
    """Export ``task`` (a :class:`keras_bert_zoo.tasks.Task`) to the SavedModel directory ``path``.

    Args:
        task: the task (see the protocol in the module docstring).
        path: the directory to create; for TF Serving ``<root>/<name>/<version>`` (``--model_base_path`` is
            ``<root>/<name>``; :func:`keras_bert_zoo.export.next_version_dir` gives the next free version).
        sample_texts / sample_pairs: raw strings used for verification and the warm-up requests.
        target: op-compatibility target (default :func:`ops.tf_serving_target` for the installed TF).
        warmup_batch_sizes: batch sizes of the warm-up requests (cycling through the sample texts).
        tolerance: float tolerance of the verification (default ``verify.TOLERANCES["saved_model"]``).
        fresh_process_check: also load and run the export in a fresh process importing only tensorflow and
            tensorflow_text.
        overwrite: replace an existing ``path`` (atomically).
    Returns:
        ExportResult(path, ops, verification report, info).
    Raises:
        ExportError, ops.OpCompatibilityError, verify.VerificationError — with nothing left on disk.
    """
    final = Path(path)
    if not final.name or final.name in (".", ".."):
        raise ExportError(f"export path {str(path)!r}: name the directory to create")
    name, version = serving_name(final.absolute())
    feed = sample_feed(task, sample_texts, sample_pairs)
    tolerance = tolerance or verify.TOLERANCES["saved_model"]
    target = target or ops_lib.tf_serving_target()
    with atomic_export_dir(final, overwrite=overwrite) as tmp:
        module = ServingModule(task)
        tf.saved_model.save(module, str(tmp), signatures=module.signatures)
        graph_ops = ops_lib.check_saved_model(tmp, target)

        warmup_status = _write_warmup(tmp, feed, warmup_batch_sizes, name, version)

        reference = verify.reference_outputs(task, feed)
        report = {"in_process": verify.verify_saved_model(tmp, task, feed, tolerance, reference)}
        if fresh_process_check:
            report["fresh_process"] = verify.verify_in_fresh_process(tmp, task, feed, tolerance, reference)
        tftext = ops_lib.tftext_op_names()
        info = {"format": "saved_model", "name": name, "version": version, "versions": library_versions(),
                "signatures": {s: {"inputs": sorted(serving_requests.signature_spec(tmp, s).inputs),
                                   "outputs": sorted(serving_requests.signature_spec(tmp, s).outputs)}
                               for s in module.signatures},
                "target": target.name, "tftext_ops": sorted(op for op in graph_ops if op in tftext),
                "tolerance": dataclasses.asdict(tolerance), "verification": report, "warmup": warmup_status,
                "task_type": getattr(task, "task_type", None), "labels": getattr(task, "labels", None),
                "text_inputs": list(task.serving_input_spec())}
        with cache.atomic_write(tmp / "assets.extra" / "export_info.json", "w", encoding="utf-8") as f:
            json.dump(info, f, indent=1, ensure_ascii=False)
    return ExportResult(final, graph_ops, report, info)
