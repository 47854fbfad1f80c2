"""In silico experiments on one-hot sequences: edits (substitute, insert, delete, randomize,
shuffle a region), marginalisation of a motif's effect, and variant effects (SNVs and indels
from a table or a VCF)."""

from ._edits import delete, insert, marginalize, randomize, shuffle_region, substitute
from ._variants import locate_variants, read_vcf, variant_effects

__all__ = [
    "delete",
    "insert",
    "locate_variants",
    "marginalize",
    "randomize",
    "read_vcf",
    "shuffle_region",
    "substitute",
    "variant_effects",
]
