"""vsinfer: run ONNX models on VapourSynth clips through the vs-mlrt plugins.

```python
from vsinfer import Backend
out = Backend.autoselect().inference(clip, "model.onnx", (16, 16), (256, 256))
```
"""

from .backends import Backend

__all__ = ["Backend", "__version__"]

__version__ = "0.1.0"
