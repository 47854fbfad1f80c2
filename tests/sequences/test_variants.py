import gzip

import numpy as np
import pandas as pd
import pytest

from skexplain.sequences import locate_variants, read_vcf, variant_effects
from tests.sequences import decode, encode

MOTIF = "GATA"


def count_motif(X):
    """Occurrences of GATA in each one-hot sequence: a model whose answer is known."""
    X = np.asarray(X)
    motif = encode([MOTIF])[0]
    width = motif.shape[1]
    windows = np.stack([X[:, :, i:i + width] for i in range(X.shape[2] - width + 1)], axis=1)
    return ((windows * motif).sum(axis=(2, 3)) == width).sum(axis=1).astype(float)


def edited_string(sequence, position, ref, alt):
    """The stated edit: ref -> alt, then the right flank trimmed or padded with N."""
    new = sequence[:position] + alt + sequence[position + len(ref):]
    return (new + "N" * len(sequence))[:len(sequence)]


def _random_strings(n, length, seed):
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]


def test_snv_effect_equals_raw_ism():
    torch = pytest.importorskip("torch")
    from skexplain.explainers import InSilicoMutagenesis

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv1d(4, 4, 5), torch.nn.ReLU(),
                                torch.nn.Flatten(), torch.nn.Linear(4 * 20, 3))
    strings = _random_strings(3, 24, 0)
    X = encode(strings).astype(np.float32)
    rng = np.random.default_rng(1)
    rows = []
    for _ in range(12):
        seq, pos = int(rng.integers(3)), int(rng.integers(24))
        alt = rng.choice([b for b in "ACGT" if b != strings[seq][pos]])
        rows.append((seq, pos, strings[seq][pos], alt))
    variants = pd.DataFrame(rows, columns=["sequence", "position", "ref", "alt"])
    for target in (None, 2):
        effects = variant_effects(model, X, variants, target=target, batch_size=5)
        E = InSilicoMutagenesis(model, reduction=None).fit(X).explain(X, target=target)
        ism = E.values[variants["sequence"], ["ACGT".index(a) for a in variants["alt"]],
                       variants["position"]]
        np.testing.assert_allclose(effects["effect"], ism, atol=1e-6)
        assert (effects["kind"] == "SNV").all()
    with torch.no_grad():
        logits = model(torch.tensor(X)).numpy()
    np.testing.assert_allclose(effects["ref_score"], logits[variants["sequence"], 2], atol=1e-6)


def test_indels_on_a_motif_counting_model():
    #            0123456789012345678901234
    strings = ["ACCTTGATACCATTAGGCCTTCAGA",  # one GATA at 5
               "CCGACCTACCTTGCCCTTCCGATAC"]  # one GATA at 20, near the right end
    X = encode(strings)
    variants = pd.DataFrame(
        [(0, 9, "C", "CGATA", +1),    # insertion of a GATA
         (0, 5, "GATA", "G", -1),     # deletion of the GATA
         (0, 14, "AGGCC", "A", 0),    # deletion away from the GATA
         (1, 2, "GACC", "GA", +1),    # GA + TACC joins into a second GATA
         (1, 3, "", "TTTTTTT", -1),   # insertion pushes the GATA at 20 off the right end
         (1, 16, "T", "", 0),         # deletion: GATA shifts left and is kept
         (0, 6, "A", "T", -1)],       # SNV in the GATA
        columns=["sequence", "position", "ref", "alt", "expected"])
    effects = variant_effects(count_motif, X, variants)
    np.testing.assert_array_equal(effects["effect"], variants["expected"])
    np.testing.assert_array_equal(effects["ref_score"], [1, 1, 1, 1, 1, 1, 1])
    expected = [count_motif(encode([edited_string(strings[s], p, r, a)]))[0]
                for s, p, r, a in zip(variants["sequence"], variants["position"],
                                      variants["ref"], variants["alt"], strict=True)]
    np.testing.assert_array_equal(effects["alt_score"], expected)
    assert effects["kind"].tolist() == ["insertion", "deletion", "deletion", "deletion",
                                        "insertion", "deletion", "SNV"]


def test_indel_edits_are_the_stated_ones():
    """The scored rows are the edited strings: trimmed or N-padded on the right."""
    seen = []

    def model(X):
        seen.extend(decode(X))
        return np.zeros(len(X))

    X = encode(["ACGTACGTAC"])
    variants = pd.DataFrame({"sequence": [0, 0, 0], "position": [2, 2, 0],
                             "ref": ["G", "GTA", "AC"], "alt": ["GTT", "-", "TTTC"]})
    variant_effects(model, X, variants)
    assert seen == ["ACGTACGTAC", "ACGTTTACGT", "ACCGTACNNN", "TTTCGTACGT"]


def test_ref_mismatch_names_the_variant():
    X = encode(["ACGTACGTAC", "TTTTTTTTTT"])
    variants = pd.DataFrame({"sequence": [0, 1], "position": [1, 3], "ref": ["C", "GT"],
                             "alt": ["A", "G"]}, index=["ok", "rs42"])
    with pytest.raises(ValueError, match=r"variant 'rs42' \(sequence 1, position 3.*'TT'"):
        variant_effects(count_motif, X, variants)


@pytest.mark.parametrize("change, match", [
    ({"position": 12}, "does not fit"), ({"sequence": 5}, "out of range"),
    ({"sequence": "chrX"}, "unknown sequence"), ({"alt": "<DEL>"}, "outside ACGTN"),
    ({"position": 1.0}, "integer"),
])
def test_bad_variants(change, match):
    X = encode(["ACGTACGTAC"])
    row = {"sequence": 0, "position": 1, "ref": "C", "alt": "A", **change}
    with pytest.raises(ValueError, match=match):
        variant_effects(count_motif, X, pd.DataFrame([row]))


def test_missing_columns_and_names():
    X = encode(["ACGTACGTAC", "GATAGATAGA"])
    with pytest.raises(ValueError, match="lacks columns"):
        variant_effects(count_motif, X, pd.DataFrame({"position": [1]}))
    variants = pd.DataFrame({"sequence": ["b"], "position": [4], "ref": ["G"], "alt": ["C"]})
    effects = variant_effects(count_motif, X, variants, sequence_names=["a", "b"])
    assert effects["effect"].item() == -1.0


VCF = """##fileformat=VCFv4.2
##contig=<ID=chr1>
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO
chr1\t103\trs1\tA\tG,GATA\t.\tPASS\t.
chr1\t118\t.\tAC\tA\t.\tPASS\t.
chr2\t51\trs3\tC\tT\t.\tPASS\tDP=3
chr2\t60\trs4\tG\t.\t.\tPASS\t.
chr3\t10\trs5\tA\tT\t.\tPASS\t.
"""


@pytest.mark.parametrize("compressed", [False, True])
def test_read_vcf_and_locate(tmp_path, compressed):
    path = tmp_path / ("x.vcf.gz" if compressed else "x.vcf")
    if compressed:
        with gzip.open(path, "wt") as handle:
            handle.write(VCF)
    else:
        path.write_text(VCF)
    records = read_vcf(path, engine="text")
    assert records[["chrom", "pos", "id", "ref", "alt"]].values.tolist() == [
        ["chr1", 103, "rs1", "A", "G"], ["chr1", 103, "rs1", "A", "GATA"],
        ["chr1", 118, None, "AC", "A"], ["chr2", 51, "rs3", "C", "T"],
        ["chr3", 10, "rs5", "A", "T"]]
    loci = ["chr1:100-120", "chr2:50-70"]
    with pytest.raises(ValueError, match=r"1 variant\(s\) lie in none.*chr3:10 A>T"):
        read_vcf(path, loci=loci, engine="text")
    located = read_vcf(path, loci=loci, outside="drop", engine="text")
    assert located["sequence"].tolist() == [0, 0, 0, 1]
    assert located["position"].tolist() == [2, 2, 17, 0]
    assert located["locus"].tolist() == ["chr1:100-120"] * 3 + ["chr2:50-70"]


def test_variant_effects_from_vcf_records(tmp_path):
    path = tmp_path / "x.vcf"
    path.write_text(VCF)
    strings = ["CCA" + "C" * 14 + "ACC", "C" + "T" * 19]
    X = encode(strings)
    bed = pd.DataFrame({"chrom": ["chr1", "chr2"], "start": [100, 50], "end": [120, 70]})
    records = read_vcf(path, engine="text")
    records = records[records["chrom"] != "chr3"]
    effects = variant_effects(count_motif, X, records, loci=bed)
    assert effects["effect"].tolist() == [0.0, 1.0, 0.0, 0.0]
    assert effects["id"].tolist() == ["rs1", "rs1", None, "rs3"]
    table = pd.DataFrame({"sequence": ["chr1:100-120"] * 3 + ["chr2:50-70"],
                          "position": [2, 2, 17, 0], "ref": ["A", "A", "AC", "C"],
                          "alt": ["G", "GATA", "A", "T"]})
    by_name = variant_effects(count_motif, X, table, loci=bed)
    np.testing.assert_array_equal(by_name["effect"], effects["effect"])
    with pytest.raises(ValueError, match="not 20 bases long"):
        variant_effects(count_motif, X, records, loci=["chr1:100-121", "chr2:50-70"])
    with pytest.raises(ValueError, match="ref allele does not match"):
        variant_effects(count_motif, X[::-1], records, loci=bed)


def test_locate_variants_overlapping_loci_and_bad_names():
    variants = pd.DataFrame({"chrom": ["chr1"], "pos": [106], "ref": ["AC"], "alt": ["A"]})
    located = locate_variants(variants, [("chr1", 100, 110), ("chr1", 104, 120),
                                         ("chr1", 106, 130)])
    assert located["sequence"].tolist() == [0, 1]  # the ref allele is not inside locus 2
    assert located["position"].tolist() == [5, 1]
    with pytest.raises(ValueError, match="not a locus name"):
        locate_variants(variants, ["chr1-100-110"])


def test_deletion_pulls_in_the_right_flank():
    seen = []

    def model(X):
        seen.extend(decode(X))
        return np.zeros(len(X))

    X = encode(["ACGTACGTAC", "TTTTTTTTTT"])
    variants = pd.DataFrame({"sequence": [0, 1], "position": [1, 0], "ref": ["CGT", "TTTT"],
                             "alt": ["C", "T"]})
    variant_effects(model, X, variants, right_flank=["GGCA", "AC"])
    assert seen[2:] == ["ACACGTACGG", "TTTTTTTACN"]
    seen.clear()
    variant_effects(model, X, variants, right_flank=encode(["GGCA", "ACNN"]))
    assert seen[2:] == ["ACACGTACGG", "TTTTTTTACN"]


def test_no_variants_and_strand_names():
    X = encode(["ACGTACGTAC"])
    empty = pd.DataFrame({"sequence": [], "position": [], "ref": [], "alt": []})
    assert variant_effects(count_motif, X, empty).columns[-1] == "effect"
    variants = pd.DataFrame({"chrom": ["chr1"], "pos": [3], "ref": ["G"], "alt": ["A"]})
    assert locate_variants(variants, ["chr1:0-10(+)"])["position"].item() == 2
    with pytest.raises(ValueError, match="minus strand"):
        locate_variants(variants, ["chr1:0-10(-)"])


def test_read_vcf_errors(tmp_path):
    path = tmp_path / "bad.vcf"
    path.write_text("#CHROM\tPOS\tID\tREF\tALT\nchr1\t10\trs1\tA\n")
    with pytest.raises(ValueError, match="Line 2 .* 4 tab-separated columns"):
        read_vcf(path, engine="text")
    path.write_text("#CHROM\tPOS\tID\tREF\tALT\nchr1\tten\trs1\tA\tG\n")
    with pytest.raises(ValueError, match="POS 'ten'"):
        read_vcf(path, engine="text")
    with pytest.raises(ValueError, match="engine"):
        read_vcf(path, engine="vcfpy")
    with pytest.raises(ImportError, match="BCF"):
        read_vcf(tmp_path / "x.bcf", engine="text")
