"""The Kubernetes pack against the team's labelled corpus: every document right, or the
divergence is one where the pack follows the Pod Security Standards text (documented)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpora" / "kubernetes"


def _corpus_module():
    spec = importlib.util.spec_from_file_location("corpus", ROOT / "benchmarks" / "corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not (CORPUS / "labels.json").exists(), reason="shared corpus not present")
def test_every_control_scored_and_right():
    corpus = _corpus_module()
    rows = corpus.score(CORPUS)
    assert {r["control"] for r in rows} == set(corpus.CONTROLS)
    for row in rows:
        assert row["policy"], f"{row['control']}: no policy declares {row['standard']}"
        assert not row["errors"], row["errors"][:3]
        wrong = row["false_positives"] + row["false_negatives"]
        assert not wrong, f"{row['control']}: {wrong[:5]}"
        assert row["right"] + len(row["divergences"]) == row["documents"]
