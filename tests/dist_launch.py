"""Launching a test's worker function in fresh gloo processes (the 2-rank DDP tests share this).

``launch_ranks(__file__, '_worker', out_dir, ...)`` runs ``_worker(rank, world, port, out_dir, ...)`` of the calling
test file in ``world`` new Python processes (one thread each, no GPU, the repository importable) and asserts that every
one exits 0; the workers write what the test compares under ``out_dir``.
"""
import os
import socket
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for MASTER_PORT)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def launch_ranks(test_file: str, fn_name: str, *args, world: int = 2, timeout: float = 300, cwd=None) -> None:
    """Run ``fn_name(rank, world, port, *args)`` defined in ``test_file`` in ``world`` gloo processes; all exit 0."""
    worker = os.path.splitext(os.path.basename(test_file))[0] + '_worker'
    call = ', '.join(['int(sys.argv[1])', str(world), str(free_port())] + [repr(str(a)) for a in args])
    code = ('import importlib.util, sys; '
            f'spec = importlib.util.spec_from_file_location({worker!r}, {test_file!r}); '
            'm = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); '
            f'm.{fn_name}({call})')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get('PYTHONPATH', '')]),
               CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1')
    procs = [subprocess.Popen([sys.executable, '-c', code, str(r)], env=env, cwd=cwd) for r in range(world)]
    codes = [p.wait(timeout=timeout) for p in procs]
    assert codes == [0] * world, codes
