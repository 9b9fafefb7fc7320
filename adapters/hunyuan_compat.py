"""Make the HunYuanVL image processor loadable on machines without torchvision.

transformers registers two image processors for ``hunyuan_vl``: a torchvision
one and a PIL one. The PIL one is decorated as needing torchvision too (it does
not: it only uses numpy and Pillow), so without torchvision — the CPU install,
where PyPI's CUDA-linked torchvision cannot be used — ``AutoProcessor`` gets a
placeholder that refuses to load. We point transformers' lazy module at the
real PIL class. Nothing changes where torchvision is installed.
"""

from __future__ import annotations

import importlib
import importlib.util


def install_pil_image_processor() -> None:
    """Expose the real PIL HunYuanVL image processor when torchvision is absent."""
    if importlib.util.find_spec("torchvision") is not None:
        return
    import transformers

    # import_module, not `from package import submodule`: the lazy package
    # would hand back its placeholder.
    pil_module = importlib.import_module("transformers.models.hunyuan_vl.image_processing_pil_hunyuan_vl")
    real_class = pil_module.HunYuanVLImageProcessorPil
    # The lazy `transformers` module resolves attributes from its own cache
    # first, then from the submodule; seed both so every lookup path agrees.
    for package in (transformers, importlib.import_module("transformers.models.hunyuan_vl")):
        setattr(package, "HunYuanVLImageProcessorPil", real_class)
