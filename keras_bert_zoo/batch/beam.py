"""Batch prediction on Apache Beam: an exported SavedModel over sharded text / JSON-lines files, on any runner.

    from keras_bert_zoo.batch.beam import predict_on_beam

    result = predict_on_beam("saved_models/sentiment/1", "tweets/part-*.txt", "predictions/tweets",
                             runner="DirectRunner",
                             pipeline_args=["--direct_running_mode=multi_processing", "--direct_num_workers=2"])
    result.files       # ['predictions/tweets-00000-of-00002.jsonl', ...]
    result.lines       # output lines written (one per input line)

The same from the command line: ``bert-zoo predict --runner=DirectRunner --model saved_models/sentiment/1
--input 'tweets/part-*.txt' --out predictions/tweets [-- BEAM PIPELINE OPTIONS]``.

The pipeline: the files matching ``input_pattern`` -> their lines, read by the same
:class:`~keras_bert_zoo.batch.lines.LineReader` as `bert-zoo predict` (``fmt``: text / jsonl / auto; invalid
UTF-8 replaced; a bad line is an error naming ``file:line``) -> spread over the workers -> ``RunInference``
with :class:`~keras_bert_zoo.batch.beam_handler.SavedModelHandler` (the SavedModel loaded once per worker,
its ``serving_default`` signature called on batches of at most ``batch_size`` records) -> one JSON line per input
line, made by :func:`~keras_bert_zoo.batch.lines.output_line` as `bert-zoo predict` makes it (a blank line gives
``{"text": "", "empty": true}``) -> text shards ``<output_prefix>-SSSSS-of-NNNNN.jsonl``. The lines are the lines
`bert-zoo predict` writes for the same inputs; their order across and within shards is the runner's (carry an
``"id"`` field in JSON-lines input to join them back: every field of an input record is copied to its output).

Runners: :data:`RUNNERS`. On Dataflow / Flink / Spark the workers need this package and tensorflow-text
(Dataflow: ``--extra_package`` with the wheel ``python -m build --wheel`` makes), and the paths
(SavedModel, inputs, outputs) must be where the workers can read and write them (``gs://...``, HDFS, ...).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Sequence

from keras_bert_zoo.batch.exported import ExportedModelError, read_export_info
from keras_bert_zoo.batch.lines import LineReader, PredictInputError, output_line

__all__ = ["RUNNERS", "BeamPredictError", "BeamPredictResult", "predict_on_beam", "match_inputs", "require_beam"]

#: the runners `bert-zoo predict --runner` takes
RUNNERS = ("DirectRunner", "DataflowRunner", "FlinkRunner", "SparkRunner")
#: the suffix of the output shards
SUFFIX = ".jsonl"
#: the Beam metrics namespace of the pipeline's counters
NAMESPACE = "keras_bert_zoo"


class BeamPredictError(ValueError):
    """Bad arguments of a Beam prediction run: an unknown runner, Beam not installed, no file matching the
    input pattern (one line naming the argument)."""


@dataclasses.dataclass(frozen=True)
class BeamPredictResult:
    """``files``: the output shards written; ``lines``: output lines in all (None when the runner reports no
    metrics)."""

    files: list
    lines: int | None


def require_beam():
    """``apache_beam``, or a :class:`BeamPredictError` naming the extra that installs it."""
    try:
        import apache_beam
    except ImportError as err:
        raise BeamPredictError(f"batch prediction on Beam needs apache-beam ({err}): pip install "
                               f"'keras_bert_zoo[beam]'") from None
    return apache_beam


def check_runner(runner: str) -> str:
    if runner not in RUNNERS:
        raise BeamPredictError(f"runner {runner!r}: expected one of {', '.join(RUNNERS)}")
    return runner


def match_inputs(pattern: str) -> list:
    """The files matching ``pattern`` (a glob on any file system Beam knows: local, ``gs://``, ...), sorted;
    a :class:`BeamPredictError` naming the pattern when there are none."""
    from apache_beam.io.filesystems import FileSystems

    try:
        found = FileSystems.match([pattern])[0].metadata_list
    except Exception as err:  # noqa: BLE001 - Beam's BeamIOError wraps the file system's own error
        raise BeamPredictError(f"input pattern {pattern!r}: cannot be listed ({err})") from None
    files = sorted(m.path for m in found if not m.path.endswith("/"))
    if not files:
        raise BeamPredictError(f"input pattern {pattern!r}: no files match")
    return files


def read_records(path: str, fmt: str, fields: Sequence[str]):
    """The records of the file ``path`` (``None`` for a blank line), as `bert-zoo predict` reads them; the
    file's warnings (replaced bytes, blank lines) are printed by the worker that reads it."""
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.open(path) as stream:
        reader = LineReader(iter(stream.readline, b""), fmt, fields, path)
        for _, record in reader:
            yield record
        reader.summary_warnings()


def _format(fields, record, result, counter):
    counter.inc()
    return output_line(fields, record, result)


def _build(pipeline, files, handler, fields, fmt, output_prefix):
    """The pipeline's transforms (see the module docstring)."""
    import apache_beam as beam
    from apache_beam.ml.inference.base import RunInference

    lines = beam.metrics.Metrics.counter(NAMESPACE, "output_lines")
    records = (pipeline
               | "InputFiles" >> beam.Create(files)
               | "ReadLines" >> beam.FlatMap(read_records, fmt, tuple(fields))
               | "SpreadOverWorkers" >> beam.Reshuffle())
    blank, texts = records | "BlankOrText" >> beam.Partition(lambda record, n: 0 if record is None else 1, 2)
    predicted = (texts
                 | "RunInference" >> RunInference(handler)
                 | "FormatPredictions" >> beam.Map(lambda r: _format(fields, r.example, r.inference, lines)))
    empty = blank | "FormatBlankLines" >> beam.Map(lambda _: _format(fields, None, None, lines))
    return ((predicted, empty)
            | "AllLines" >> beam.Flatten()
            | "WriteShards" >> beam.io.WriteToText(output_prefix, file_name_suffix=SUFFIX))


#: errors raised on purpose in a worker, found again in the runner's failure message (which wraps them)
_WORKER_ERRORS = {cls.__name__: cls for cls in (PredictInputError, ExportedModelError)}


def _worker_error(err: Exception):
    """The package's own bad-input error that failed a worker, as one line without the runner's additions: the
    error itself (an in-process runner re-raises it with `` [while running 'STEP']`` appended), or rebuilt from
    the worker's traceback in the runner's message (multi-process and remote runners); None for any other
    failure."""
    if isinstance(err, tuple(_WORKER_ERRORS.values())):
        cls, message = type(err), str(err)
    else:
        found = re.findall(rf"(?:^|[\s.])({'|'.join(_WORKER_ERRORS)}): ([^\n]+)", str(err))
        if not found:
            return None
        cls, message = _WORKER_ERRORS[found[-1][0]], found[-1][1]
    return cls(re.sub(r"( \[while running '[^']*'\])+$", "", message.strip()))


def _written(output_prefix: str) -> list:
    from apache_beam.io.filesystems import FileSystems

    found = FileSystems.match([f"{output_prefix}-*-of-*{SUFFIX}"])[0].metadata_list
    return sorted(m.path for m in found)


def _counted_lines(result):
    import apache_beam as beam

    try:
        query = result.metrics().query(beam.metrics.MetricsFilter().with_namespace(NAMESPACE)
                                       .with_name("output_lines"))
        return int(sum(c.committed or 0 for c in query["counters"]))
    except (NotImplementedError, KeyError, TypeError, AttributeError):   # a runner without metrics
        return None


def predict_on_beam(saved_model_dir, input_pattern: str, output_prefix: str, *, runner: str = "DirectRunner",
                    pipeline_args: Sequence[str] = (), fmt: str = "auto", batch_size: int = 32,
                    task_modules: Sequence[str] = ()) -> BeamPredictResult:
    """Predict every line of the files matching ``input_pattern`` with the SavedModel at ``saved_model_dir``
    (written by `bert-zoo export` / ``task.export``) on the Beam ``runner``; write the JSON lines to the shards
    ``<output_prefix>-SSSSS-of-NNNNN.jsonl`` and wait for the job to finish.

    ``pipeline_args``: Beam pipeline options (``--direct_num_workers=2``, ``--project=...``, ...); ``fmt``:
    ``auto`` / ``text`` / ``jsonl`` as `bert-zoo predict --format`; ``batch_size``: most records per signature
    call; ``task_modules``: modules registering the export's task type (a task defined outside the package).

    Raises :class:`BeamPredictError` (runner, Beam, pattern), :class:`~keras_bert_zoo.batch.exported.ExportedModelError`
    (not an export of this package) before the pipeline starts; :class:`~keras_bert_zoo.batch.lines.PredictInputError`
    for a bad input line (naming ``file:line``), after which the output shards are not written.
    """
    check_runner(runner)
    if fmt not in ("auto", "text", "jsonl"):
        raise BeamPredictError(f"fmt {fmt!r}: expected auto, text or jsonl")
    beam = require_beam()
    from apache_beam.options.pipeline_options import PipelineOptions

    from keras_bert_zoo.batch.beam_handler import SavedModelHandler

    files = match_inputs(input_pattern)
    info = read_export_info(saved_model_dir)
    handler = SavedModelHandler(info.path, batch_size=batch_size, task_modules=task_modules)
    args = list(pipeline_args)
    if not any(a.startswith("--default_sdk_harness_log_level") for a in args):
        args.append("--default_sdk_harness_log_level=WARNING")      # the workers' INFO log is Beam's noise
    options = PipelineOptions(args, runner=runner)
    pipeline = beam.Pipeline(options=options)
    _build(pipeline, files, handler, info.text_inputs, fmt, str(output_prefix))
    try:
        result = pipeline.run()
        result.wait_until_finish()
    except Exception as err:  # noqa: BLE001 - a worker's bad-input error comes back wrapped by the runner
        own = _worker_error(err)
        if own is None:
            raise
        raise own from None
    return BeamPredictResult(_written(str(output_prefix)), _counted_lines(result))
