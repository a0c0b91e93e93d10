"""`python -m vitdemo shapes export`: an image-folder tree a person can fine-tune on."""

import json

from PIL import Image

from vitdemo.cli import main


def test_export_writes_the_requested_classes_and_counts(tmp_path, capsys):
    code = main(
        ["shapes", "export", str(tmp_path / "out"), "--per-class", "3", "--classes", "star,cross", "--json"]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {"star": 3, "cross": 3}
    pngs = sorted((tmp_path / "out" / "cross").glob("*.png"))
    assert len(pngs) == 3 and Image.open(pngs[0]).mode == "RGB"


def test_unknown_class_is_one_line_and_exit_1(tmp_path, capsys):
    code = main(["shapes", "export", str(tmp_path), "--classes", "circle,blob"])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert "blob" in err and len(err.splitlines()) == 1
    assert not any(tmp_path.iterdir())
