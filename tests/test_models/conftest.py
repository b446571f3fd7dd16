"""Model tests run with one intra-op thread per module (many tiny ops: several times faster on a shared 2-core
machine; the suite's default too, tests/conftest.py), restored afterwards."""
import pytest
import torch


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
