"""Training data: image-folder layout checks, corrupt files skipped and counted, stratified split."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vitdemo.data.image_folder import scan_image_folder, stratified_split
from vitdemo.errors import DatasetError
from vitdemo.models.loaded import Preprocessing
from vitdemo.train.config import FineTuneConfig
from vitdemo.train.data import prepare_training_data, preview_dataset, save_upload

PRE = Preprocessing(input_size=(32, 32), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), crop_mode="squash")


def make_image_folder(root: Path, per_class: dict[str, int], size: int = 40) -> Path:
    """Solid-colour PNGs, one colour per class (so a tiny model can learn them)."""
    colours = [(220, 30, 30), (30, 200, 40), (40, 60, 230), (230, 200, 20)]
    for c, (name, n) in enumerate(per_class.items()):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            rng = np.random.default_rng([c, i])
            pixels = np.clip(np.array(colours[c]) + rng.normal(0, 20, (size, size, 3)), 0, 255).astype(
                np.uint8
            )
            Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    return root


def test_scan_finds_classes_nested_images_and_steps_into_a_wrapper_folder(tmp_path):
    make_image_folder(tmp_path / "wrapper" / "pets", {"cat": 3, "dog": 2})
    nested = tmp_path / "wrapper" / "pets" / "dog" / "more"
    nested.mkdir()
    Image.new("RGB", (8, 8)).save(nested / "x.jpg")
    (tmp_path / "wrapper" / "pets" / "cat" / "notes.txt").write_text("not an image")
    folder = scan_image_folder(tmp_path / "wrapper")
    assert folder.classes == ["cat", "dog"]
    assert folder.class_counts() == {"cat": 3, "dog": 3}
    assert [p.name for p in folder.ignored] == ["notes.txt"]


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ({"cat": 3}, "at least 2 classes"),
        ({"cat": 3, "dog": 1}, "'dog' has 1"),
        ({"cat": 3, "empty": 0}, "'empty' has 0"),
    ],
)
def test_unusable_layouts_are_one_line_errors(tmp_path, layout, message):
    make_image_folder(tmp_path, layout)
    with pytest.raises(DatasetError, match=message) as err:
        scan_image_folder(tmp_path)
    assert "\n" not in str(err.value)


def test_folder_without_class_folders_says_what_layout_is_expected(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    with pytest.raises(DatasetError, match="sub-folder"):
        scan_image_folder(tmp_path)


def test_stratified_split_keeps_class_shares_and_is_reproducible():
    labels = [0] * 50 + [1] * 20 + [2] * 5
    train, val = stratified_split(labels, 0.2, seed=3)
    assert set(train).isdisjoint(val) and sorted(train + val) == list(range(75))
    val_counts = np.bincount(np.asarray(labels)[val])
    assert val_counts.tolist() == [10, 4, 1]
    assert stratified_split(labels, 0.2, seed=3) == (train, val)
    assert stratified_split(labels, 0.2, seed=4) != (train, val)


def test_corrupt_images_are_skipped_and_counted(tmp_path):
    make_image_folder(tmp_path, {"red": 4, "green": 4})
    (tmp_path / "red" / "text.jpg").write_text("just text renamed to .jpg")
    (tmp_path / "green" / "empty.png").write_bytes(b"")
    good = (tmp_path / "green" / "000.png").read_bytes()
    (tmp_path / "green" / "truncated.png").write_bytes(good[: len(good) // 2])
    data = prepare_training_data(
        FineTuneConfig(data=str(tmp_path), val_fraction=0.25), PRE, tmp_path / "cache"
    )
    assert len(data.skipped) == 3
    assert sorted(Path(f).name for f, _ in data.skipped) == ["empty.png", "text.jpg", "truncated.png"]
    assert len(data.train_labels) + len(data.val_labels) == 8
    assert data.train_images.shape[1:] == (3, 32, 32)
    assert data.summary()["skipped_count"] == 3


def test_class_left_too_small_by_corrupt_files_is_an_error(tmp_path):
    make_image_folder(tmp_path, {"red": 4, "green": 1})
    (tmp_path / "green" / "bad.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DatasetError, match="'green' has 1"):
        prepare_training_data(FineTuneConfig(data=str(tmp_path)), PRE, tmp_path / "cache")


def test_uploaded_archive_is_saved_extracted_and_previewed(tmp_path):
    source = make_image_folder(tmp_path / "src" / "colours", {"red": 3, "blue": 3})
    archive = tmp_path / "colours.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in source.rglob("*.png"):
            z.write(path, path.relative_to(source.parent).as_posix())
    saved = save_upload(archive.read_bytes(), "colours.zip", tmp_path / "runs")
    preview = preview_dataset(FineTuneConfig(data=str(saved)), tmp_path / "runs")
    assert preview.classes == ["blue", "red"]
    assert preview.counts == {"blue": 3, "red": 3}
    assert len(preview.examples) == 2


def test_shapes_subset_has_the_chosen_classes_and_a_stratified_split(tmp_path):
    config = FineTuneConfig(
        data="shapes", shapes_classes=["circle", "cross"], shapes_per_class=10, val_fraction=0.2
    )
    data = prepare_training_data(config, PRE, tmp_path)
    assert data.classes == ["circle", "cross"]
    assert data.val_labels.bincount().tolist() == [2, 2]
    assert data.train_labels.bincount().tolist() == [8, 8]


def test_one_shapes_class_is_refused(tmp_path):
    with pytest.raises(DatasetError, match="at least 2 classes"):
        prepare_training_data(FineTuneConfig(data="shapes", shapes_classes=["circle"]), PRE, tmp_path)
