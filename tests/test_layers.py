"""The layers stay apart: predicting needs neither the explain package nor grad-cam nor Streamlit."""

from __future__ import annotations

import subprocess
import sys

from vitdemo.models.backends import BACKENDS


def modules_after(code: str) -> set[str]:
    """The top-level modules a fresh interpreter has imported after running `code`."""
    probe = f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def explain_modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(m for m in sys.modules if m.startswith('vitdemo.'))))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return {m for m in out.stdout.split() if m.startswith(("vitdemo.explain", "vitdemo.ui"))}


def test_predicting_with_a_model_imports_neither_grad_cam_nor_streamlit():
    code = (
        "import vitdemo, vitdemo.models\n"
        "from PIL import Image\n"
        "model = vitdemo.load_model('demo-resnet', device='cpu')\n"
        "print(vitdemo.predict(model, Image.new('RGB', (64, 64)))[0][0].label)\n"
        "vitdemo.ClassScore\n"
    )
    imported = modules_after(code)
    assert "torch" in imported  # the probe really ran a model
    assert "pytorch_grad_cam" not in imported and "streamlit" not in imported
    assert explain_modules_after(code) == set()


def test_every_backend_a_loader_can_produce_has_an_adapter():
    assert set(BACKENDS) == {"timm", "hf"}
    assert all(name == backend.name for name, backend in BACKENDS.items())
