"""The Python examples of docs/embedding.md run as written, in order, in one namespace."""

import re
from pathlib import Path

DOC = Path(__file__).parents[2] / "docs" / "embedding.md"


def test_embedding_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) >= 3
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
