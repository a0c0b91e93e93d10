"""The procedural Shapes dataset: deterministic, balanced, visible objects with exact masks."""

import numpy as np
import pytest
from PIL import Image

from vitdemo.data.shapes import SHAPE_CLASSES, render_shape
from vitdemo.data.shapes_dataset import ShapesDataset, export_image_folder, gallery


def test_class_names_are_the_six_promised():
    assert SHAPE_CLASSES == ["circle", "square", "triangle", "star", "hexagon", "cross"]


def test_same_seed_and_index_give_the_same_image_and_others_differ():
    a, b = render_shape(0, 7), render_shape(0, 7)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask) and a.label == b.label
    assert not np.array_equal(a.image, render_shape(1, 7).image)
    assert not np.array_equal(a.image, render_shape(0, 13).image)  # same class, another example


def test_every_run_of_six_indices_is_balanced():
    labels = [render_shape(0, i).label for i in range(12)]
    assert sorted(labels) == sorted(list(range(6)) * 2)


def test_objects_vary_in_size_and_reach_the_edges():
    samples = [render_shape(0, i) for i in range(120)]
    sides = []
    near_edge = 0
    for s in samples:
        ys, xs = np.nonzero(s.mask)
        assert len(ys) > 0, "every image has its object"
        sides.append(max(np.ptp(ys), np.ptp(xs)) / s.mask.shape[0])
        near_edge += min(ys.min(), xs.min(), 223 - ys.max(), 223 - xs.max()) < 12
    assert min(sides) < 0.2 and max(sides) > 0.5  # roughly 15–60 % of the side
    assert near_edge >= 5  # objects are not always centred


def test_object_stands_out_from_its_surroundings():
    """The labelled shape is visible: its colour differs from the ring of pixels around it."""
    import cv2

    weak = 0
    for i in range(60):
        s = render_shape(2, i)
        ring = cv2.dilate(s.mask.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool) & ~s.mask
        inside = s.image[s.mask].astype(float).mean(0)
        outside = s.image[ring].astype(float).mean(0)
        weak += np.abs(inside - outside).sum() < 60
    assert weak <= 3


def test_dataset_splits_do_not_overlap_and_subsets_relabel():
    train, test = ShapesDataset("train", 12), ShapesDataset("test", 12)
    assert not np.array_equal(np.asarray(train[0][0]), np.asarray(test[0][0]))
    sub = ShapesDataset("val", 6, classes=["star", "cross"])
    labels = [sub[i][1] for i in range(6)]
    assert labels == [0, 1, 0, 1, 0, 1]
    assert sub.sample(1).class_name == "cross"
    assert isinstance(sub[0][0], Image.Image)
    with pytest.raises(ValueError):
        ShapesDataset("train", 6, classes=["blob"])


def test_export_writes_an_image_folder_tree(tmp_path):
    counts = export_image_folder(tmp_path, per_class=2, classes=["circle", "square", "star"])
    assert counts == {"circle": 2, "square": 2, "star": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["circle", "square", "star"]
    files = list((tmp_path / "star").glob("*.png"))
    assert len(files) == 2 and Image.open(files[0]).size == (224, 224)


def test_gallery_has_one_example_per_class():
    items = gallery()
    assert [c.split(" ")[0] for c, _, _ in items] == SHAPE_CLASSES
    assert all(m.any() for _, _, m in items)
