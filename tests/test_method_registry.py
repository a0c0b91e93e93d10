"""Adding a map method is one registry entry: explain, the CLI and the app's picker all see it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from explain_models import input_tensor, random_image, small_resnet
from pytorch_grad_cam import XGradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from streamlit.testing.v1 import AppTest

from vitdemo.cli import main
from vitdemo.errors import VitdemoError
from vitdemo.explain import explain
from vitdemo.explain.cam import library_cam_method
from vitdemo.explain.methods import METHODS, MapMethod, MethodRegistry
from vitdemo.ui.sidebar import GALLERY_KEY, MODELS_KEY
from vitdemo.ui.texts import method_sentence

APP = Path(__file__).resolve().parents[1] / "app.py"
XGRADCAM = MapMethod(
    name="xgradcam",
    title="XGrad-CAM",
    family="cam",
    needs_gradient=True,
    paper="Fu et al. 2020, Axiom-based Grad-CAM",
    description="XGrad-CAM: gradients weighted by the normalised activations.",
    sentence="Grad-CAM whose channel weights follow two axioms of attribution, sensitivity and conservation.",
    compute=library_cam_method("XGradCAM"),
)


def test_a_registered_method_is_computed_by_explain_as_the_library_does():
    model = small_resnet(size=128)
    image = random_image(11, (128, 128))
    with METHODS.temporarily(XGRADCAM):
        result = explain(model, image, target=2, methods=["XGrad-CAM", "gradcam"])
    assert list(result.maps) == ["xgradcam", "gradcam"]
    assert (result.raw_maps["xgradcam"] > 0).sum() >= 4  # not degenerate: the comparison means something
    with XGradCAM(model.network, [model.network.layer4[-1]]) as cam:
        expected = cam(input_tensor(model, image), [ClassifierOutputTarget(2)])[0]
    expected = (expected - expected.min()) / (expected.max() - expected.min())
    np.testing.assert_allclose(result.maps["xgradcam"], expected, atol=2e-4)
    with pytest.raises(VitdemoError, match="'xgradcam' is not an explanation method"):
        explain(model, image, methods=["xgradcam"])  # gone again after the block


def test_a_registered_method_is_in_the_clis_method_list(capsys):
    with METHODS.temporarily(XGRADCAM):
        assert main(["explain", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "gradcam++, hirescam, layercam, eigencam, scorecam, xgradcam" in help_text


def test_a_registered_method_is_offered_by_the_apps_picker(tiny_vit_dir, tiny_resnet_dir):
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state[MODELS_KEY] = [str(tiny_vit_dir), str(tiny_resnet_dir)]
    at.session_state[GALLERY_KEY] = ["Shapes: star (plain)"]
    with METHODS.temporarily(XGRADCAM):
        at.run()
        at.switch_page("app_pages/3_Grad-CAM.py").run()
        picker = at.multiselect(key="cam_methods")
        assert "XGrad-CAM" in picker.options
        picker.set_value(["xgradcam"]).run()
        assert not at.exception
        assert [m.value for m in at.markdown].count("**XGrad-CAM**") == 2  # one tile per model
        assert method_sentence("xgradcam") == XGRADCAM.sentence
    st.cache_resource.clear()


def test_names_are_matched_loosely_and_duplicates_refused():
    registry = MethodRegistry([XGRADCAM])
    assert registry.resolve("cnn", ["x-grad_cam", "XGRADCAM"]) == ("xgradcam",)
    assert registry.defaults("cnn") == ()
    with pytest.raises(ValueError, match="already registered"):
        registry.add(XGRADCAM)
    assert METHODS.resolve("cnn", ["GradCAM_PlusPlus", "cls_attention"]) == ("gradcam++", "cls")
