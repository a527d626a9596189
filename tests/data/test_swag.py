"""SWAG CSV reader: choices as sent2 + ending, labels, errors naming file, line and column."""

import pytest

from keras_bert_zoo.data.swag import SwagError, read_swag

FIX = __import__("pathlib").Path(__file__).resolve().parent / "fixtures"
HEADER = "video-id,fold-ind,startphrase,sent1,sent2,gold-source,ending0,ending1,ending2,ending3,label\n"


def test_read_fixture():
    ex = read_swag(FIX / "swag_train.csv")
    assert len(ex) == 6 and [e.label for e in ex] == [0, 1, 2, 2, 0, 1]
    assert ex[1].context == "She picks up the cup." and ex[1].choices[1] == "She drinks the hot tea slowly."
    assert ex[3].choices[2] == "他 走进了房间。" and ex[0].line == 2


def test_unlabelled_and_errors(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text(HEADER + "v,1,s,A man,He,gold,a,b,c,d,\n", encoding="utf-8")
    assert read_swag(p, require_labels=False)[0].label == -1
    with pytest.raises(SwagError, match=r"t.csv:2: column 'label' is empty"):
        read_swag(p)
    p.write_text(HEADER + "v,1,s,A man,He,gold,a,b,c,d,7\n", encoding="utf-8")
    with pytest.raises(SwagError, match=r"t.csv:2: column 'label': expected an integer in \[0, 4\), got 7"):
        read_swag(p)
    p.write_text("sent1,ending0,ending1,label\nx,a,b,0\n", encoding="utf-8")
    with pytest.raises(SwagError, match=r"missing column\(s\) \['sent2'\]"):
        read_swag(p)
    p.write_text("", encoding="utf-8")
    with pytest.raises(SwagError, match="empty file"):
        read_swag(p)
