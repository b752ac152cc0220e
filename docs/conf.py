"""Sphinx configuration of the API reference, built from the package's numpydoc docstrings.

Build (warnings are errors)::

    pip install -e ".[docs]"
    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's package, installed or not

import dbn  # noqa: E402

project = "dbn"
author = "the dbn authors"
copyright = "the dbn authors (MIT licence)"
release = version = dbn.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx.ext.mathjax",
    "myst_parser",
]

# the guides (docs/*.md) are Markdown, read by MyST; the API pages are reStructuredText
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
myst_heading_anchors = 3  # links such as performance.md#data-parallel-scaling
myst_enable_extensions = ["dollarmath"]
suppress_warnings = ["myst.xref_missing"]  # links to files outside docs/ (README.md, examples/)

# numpydoc-style docstrings, read by napoleon
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_ivar = True
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_inherit_docstrings = False  # torch's and scikit-learn's docstrings are not ours (nor valid here)

html_theme = "alabaster"
html_title = f"dbn {release}"
html_static_path: list[str] = []


def _skip_member(app, what, name, obj, skip, options):  # noqa: ARG001 (the event's signature)
    """Leave out the ``set_*_request`` methods scikit-learn's metadata routing adds to estimators."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)
