"""SQuAD v1.1 / v2.0 reader: versions, answers, byte offsets, errors naming the question."""

import json

import pytest

from keras_bert_zoo.data.squad import SquadError, byte_to_char, char_to_byte, read_squad

FIX = __import__("pathlib").Path(__file__).resolve().parent / "fixtures"


def test_versions_and_answers():
    v1, ver1 = read_squad(FIX / "squad_v1.json")
    v2, ver2 = read_squad(FIX / "squad_v2.json")
    assert (ver1, ver2) == ("1.1", "2.0") and len(v1) == 7 and len(v2) == 10
    assert sum(e.is_impossible for e in v2) == 3 and not any(e.is_impossible for e in v1)
    for e in v1:
        text, start = e.answers[0]
        assert e.context[start:start + len(text)] == text
    zh = [e for e in v2 if e.id == "q9"][0]
    text, start = zh.answers[0]
    b = char_to_byte(zh.context, start)
    assert zh.context.encode()[b:b + len(text.encode())].decode() == "1406年" and byte_to_char(zh.context, b) == start


def _write(tmp_path, doc):
    p = tmp_path / "s.json"
    p.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return p


def test_errors(tmp_path):
    para = {"context": "Paris is in France.", "qas": [{"id": "x1", "question": "Where?",
                                                         "answers": [{"text": "Spain", "answer_start": 12}]}]}
    with pytest.raises(SquadError, match=r"question id 'x1' answers\[0\]: text 'Spain' is not at answer_start 12"):
        read_squad(_write(tmp_path, {"data": [{"paragraphs": [para]}]}))
    del para["qas"][0]["question"]
    with pytest.raises(SquadError, match=r"question id 'x1': missing field 'question'"):
        read_squad(_write(tmp_path, {"data": [{"paragraphs": [para]}]}))
    with pytest.raises(SquadError, match="missing field 'data'"):
        read_squad(_write(tmp_path, {"version": "1.1"}))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(SquadError, match="invalid JSON"):
        read_squad(bad)
