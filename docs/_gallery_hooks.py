"""Sphinx-Gallery hooks for the skexplain documentation build.

The examples are ordinary scripts: run by hand (``bash scripts/run_example.sh``) they write
their tables and figures to ``examples/output/`` (found from ``__file__``) and close each
figure once saved. Sphinx-Gallery runs them without ``__file__`` and only shows figures that
are still open, so two hooks make the gallery show what a reader of the script would see:

* :func:`redirect_output` (a ``reset_modules`` callable, run before and after every example)
  points ``__file__`` at ``docs/_build/gallery_output/<example>/<example>.py``, so an example
  writes its files inside the build directory and never into the source tree;
* :func:`saved_figure_scraper` (an image scraper) shows every figure the block saved with
  ``savefig`` as the example saved it (its dpi, its bounding box), closes it, and leaves the
  figures that are still open to Sphinx-Gallery's matplotlib scraper.

Both are named by string in ``conf.py`` so that the Sphinx configuration stays picklable.
"""

import builtins
import shutil
from pathlib import Path, PurePosixPath

DOCS = Path(__file__).resolve().parent
GALLERY_OUTPUT = DOCS / "_build" / "gallery_output"

_saved = []  # (figure, path) pairs saved since the last scrape
_original_savefig = None


def _recording_savefig(fig, fname, *args, **kwargs):
    result = _original_savefig(fig, fname, *args, **kwargs)
    if isinstance(fname, (str, Path)):
        _saved.append((fig, Path(fname)))
    return result


def redirect_output(gallery_conf, fname, when):
    """Give the example a ``__file__`` inside the build directory and record its savefig calls."""
    global _original_savefig
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    _saved.clear()
    if when == "before" and fname is not None:
        stem = Path(fname).stem
        target = GALLERY_OUTPUT / stem
        target.mkdir(parents=True, exist_ok=True)
        builtins.__file__ = str(target / Path(fname).name)
        if _original_savefig is None:
            _original_savefig = Figure.savefig
            Figure.savefig = _recording_savefig
    else:
        if hasattr(builtins, "__file__"):
            del builtins.__file__
        if _original_savefig is not None:
            Figure.savefig = _original_savefig
            _original_savefig = None


def saved_figure_scraper(block, block_vars, gallery_conf):
    """Show the figures a code block saved, in the order it saved them.

    Parameters
    ----------
    block, block_vars, gallery_conf
        As Sphinx-Gallery passes them to an image scraper.

    Returns
    -------
    rst : str
        The reStructuredText that shows the images ('' when the block saved none).
    """
    import matplotlib.pyplot as plt
    from sphinx_gallery.scrapers import figure_rst

    images = []
    seen = set()
    for fig, path in _saved:
        if path in seen or path.suffix.lower() != ".png" or not path.exists():
            continue
        seen.add(path)
        target = PurePosixPath(next(block_vars["image_path_iterator"]))
        shutil.copyfile(path, target)
        images.append(target)
        plt.close(fig)
    _saved.clear()
    if not images:
        return ""
    return figure_rst(images, gallery_conf["src_dir"])
