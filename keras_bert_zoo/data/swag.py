"""SWAG-style multiple-choice CSV files.

Columns (the SWAG release's names): ``sent1`` (the context), ``sent2`` (the start of each ending),
``ending0`` ... ``ending{K-1}`` and ``label`` (the index of the right ending; absent in test files). Other columns
(``video-id``, ``fold-ind``, ``startphrase``, ``gold-source``) are ignored. As in the reference fine-tuning code
each choice is scored as the pair (``sent1``, ``sent2 + " " + ending_k``).

Public API:
    ChoiceExample(context, choices, label, line)
    read_swag(path, num_choices=None, require_labels=True) -> list[ChoiceExample]

Example::

    >>> from keras_bert_zoo.data.swag import read_swag
    >>> examples = read_swag("train.csv")       # tasks.MultipleChoice.fit takes them as they are
    >>> examples[0].label, examples[0].line, len(examples[0].choices)
    (0, 2, 4)
    >>> examples[0].choices[0]
    'A drum line passes by walking down the street playing their instruments.'
"""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

from keras_bert_zoo.data.textfile import csv_records, read_text

__all__ = ["ChoiceExample", "SwagError", "read_swag"]

logger = logging.getLogger(__name__)


class SwagError(ValueError):
    """A malformed SWAG CSV: names the file, the line and the column."""


@dataclasses.dataclass(frozen=True)
class ChoiceExample:
    context: str
    choices: tuple
    label: int = -1
    line: int = 0


def read_swag(path, num_choices: int | None = None, require_labels: bool = True) -> list[ChoiceExample]:
    """The examples of a SWAG-style CSV (see the module docstring); errors name the file, the line and the
    column (the encoding and quote checks of :mod:`keras_bert_zoo.data.textfile` included)."""
    path = Path(path)
    if not path.is_file():
        raise SwagError(f"{path}: no such file")
    records = csv_records(read_text(path, SwagError, logger), path, ",", error=SwagError)
    first = next(records, None)
    header = [h.strip() for h in first.fields] if first else []
    if not any(header):
        raise SwagError(f"{path}: empty file (no header)")
    endings = sorted((c for c in header if re.fullmatch(r"ending\d+", c)), key=lambda c: int(c[6:]))
    if num_choices is None:
        num_choices = len(endings)
    missing = [c for c in ["sent1", "sent2"] + [f"ending{k}" for k in range(num_choices)] if c not in header]
    if require_labels and "label" not in header:
        missing.append("label")
    if missing or num_choices < 2:
        raise SwagError(f"{path}:1: missing column(s) {missing or ['ending1']}; header is {header}")
    examples = []
    for record in records:
        line, fields = record.line, record.fields
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue
        if len(fields) != len(header):
            raise SwagError(f"{path}:{line}: row has {len(fields)} fields, expected {len(header)} (the header's "
                            f"columns {header})")
        row = dict(zip(header, fields))
        sent2 = row["sent2"].strip()
        choices = tuple((sent2 + " " + row[f"ending{k}"].strip()).strip() for k in range(num_choices))
        label = -1
        if "label" in header and row["label"].strip() != "":
            try:
                label = int(row["label"])
            except ValueError:
                raise SwagError(f"{path}:{line}: column 'label': expected an integer in "
                                f"[0, {num_choices}), got {row['label']!r}") from None
            if not 0 <= label < num_choices:
                raise SwagError(f"{path}:{line}: column 'label': expected an integer in "
                                f"[0, {num_choices}), got {label}")
        elif require_labels:
            raise SwagError(f"{path}:{line}: column 'label' is empty")
        examples.append(ChoiceExample(row["sent1"].strip(), choices, label, line))
    if not examples:
        raise SwagError(f"{path}: no rows")
    return examples
