"""The README's excerpt of the main example is what the example writes.

``examples/plot_single_cell_gene_importance.py`` writes its summary to
``examples/output/main_example_summary.md`` (committed); the README quotes it between the
``main-example-summary`` markers. After rerunning the example, refresh the README with
``python tests/test_readme.py --update``.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SUMMARY = ROOT / "examples" / "output" / "main_example_summary.md"
BLOCK = re.compile(
    r"(<!-- main-example-summary:start -->\n```\n)(.*?)(```\n<!-- main-example-summary:end -->)",
    flags=re.DOTALL,
)


def readme_excerpt(text=None):
    match = BLOCK.search(README.read_text() if text is None else text)
    assert match, "README.md has no main-example-summary block"
    return match.group(2)


def marker_counts(summary):
    """{(cell type label, method): (found, of)} from the summary's marker table."""
    lines = summary.splitlines()
    header = next(i for i, line in enumerate(lines) if line.strip().startswith("cell type"))
    methods = lines[header].split()[-4:]
    counts = {}
    for line in lines[header + 1:]:
        if not line.strip():
            break
        label = line.split(" = ")[0].strip()
        cells = re.findall(r"(\d+)/(\d+)", line)
        for method, (found, of) in zip(methods, cells, strict=True):
            counts[label, method] = (int(found), int(of))
    return counts


def test_readme_excerpt_is_the_main_example_summary():
    assert readme_excerpt() == SUMMARY.read_text(), (
        "README.md's main-example excerpt differs from examples/output/"
        "main_example_summary.md: run `python tests/test_readme.py --update`."
    )


def test_summary_meets_the_main_example_claims():
    summary = SUMMARY.read_text()
    counts = marker_counts(summary)
    assert counts["B", "SensX"] == (3, 3)
    assert counts["NK", "SensX"][0] >= 3 and counts["NK", "SensX"][1] == 4
    assert {method for _, method in counts} == {"SensX", "Occlusion", "KernelSHAP",
                                                "Wilcoxon"}
    accuracy = [float(a) for a in re.findall(r"^  \S.*? (\d\.\d\d)$", summary, re.MULTILINE)]
    assert len(accuracy) == 3 and accuracy[0] >= max(accuracy[1:])  # MLP, LR, kNN


def test_marker_counts_parse_a_table():
    table = ("  cell type (explained cells)    SensX   Occlusion  KernelSHAP    Wilcoxon\n"
             "  B = CD19+ B (20)                 3/3         2/3         1/3         3/3\n\n")
    assert marker_counts(table)["B", "KernelSHAP"] == (1, 3)


if __name__ == "__main__" and sys.argv[1:] == ["--update"]:
    text = README.read_text()
    README.write_text(BLOCK.sub(lambda m: m.group(1) + SUMMARY.read_text() + m.group(3), text))
    print(f"updated {README}")
