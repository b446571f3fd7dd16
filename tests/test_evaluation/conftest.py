"""Evaluation tests: make ``evalkit`` (helpers shared with tests/test_apis) importable; fixtures."""
import os.path as osp
import sys

import pytest

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from evalkit import install_hand_made_scores  # noqa: E402


@pytest.fixture
def hand_made_scores(monkeypatch):
    return install_hand_made_scores(monkeypatch)
