"""vsinfer: run ONNX models on VapourSynth clips through the vs-mlrt plugins.

```python
from vsinfer import Backend
out = Backend.autoselect().inference(clip, "model.onnx", (16, 16), (256, 256))
```

This is the package face: ``Backend`` with its families (``Backend.ORT_CPU``, ``Backend.TRT``, ...) and the
machine-wide choices attached: ``Backend.autoselect``, ``Backend.explain_autoselect``, ``Backend.autotune``,
``Backend.preset``. It sits above every layer (see docs/architecture.md), so nothing below imports upward to reach
them. Importing it loads no plugin and probes nothing.
"""

from .backends import Backend
from .presets import preset
from .select import autoselect, explain_autoselect
from .tune import autotune

__all__ = ["Backend", "__version__"]

__version__ = "0.1.0"

for _name, _function in (("autoselect", autoselect), ("explain_autoselect", explain_autoselect),
                         ("autotune", autotune), ("preset", preset)):
    setattr(Backend, _name, staticmethod(_function))
