"A pre-training run killed with SIGKILL in the middle of an epoch resumes with `fastai-cpc pretrain --resume` and ends where an uninterrupted run ends."
import os, signal, subprocess, sys, time
from pathlib import Path
import torch
from safetensors.torch import load_file

CMD = [str(Path(sys.executable).parent/'fastai-cpc'), 'pretrain', '--data', 'imagenette', '--run-size', 'cpu', '--size', '16', '--patch-size', '4',
       '--bs', '16', '--n-train', '192', '--epochs', '3', '--num-workers', '0', '--seed', '3']

# one thread: a multi-threaded CPU kernel may sum in another order from one run to the next (measured here: two uninterrupted runs
# on two threads differed by up to 5e-5 in the encoder's weights after two epochs, and were equal bit for bit on one), and this test is about resuming, not about the kernels
ENV = dict(os.environ, OMP_NUM_THREADS='1')

def _epoch(f:Path) -> int: return torch.load(f, weights_only=True)['epoch']

def test_sigkill_mid_epoch_then_resume(tmp_path):
    a, b = tmp_path/'a', tmp_path/'b'
    r = subprocess.run(CMD + ['--out', str(a)], capture_output=True, text=True, timeout=600, env=ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    assert _epoch(a/'cpc-last.pth') == 2

    # the same run, killed once its first epoch is saved and the second is under way
    p = subprocess.Popen(CMD + ['--out', str(b)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    last, deadline = b/'cpc-last.pth', time.time() + 600
    while not last.exists() and time.time() < deadline and p.poll() is None: time.sleep(0.05)
    assert last.exists() and p.poll() is None, "the run ended or failed before its first checkpoint"
    time.sleep(0.5)  # into the second epoch (an epoch takes seconds here), well before its end however fast the machine is today
    os.kill(p.pid, signal.SIGKILL); p.wait()
    assert _epoch(last) < 2, "the kill came too late: the run had finished"   # loads whole: never half-written
    killed_at = _epoch(last)

    # a plain rerun refuses to overwrite the checkpoint; --resume continues it
    r = subprocess.run(CMD + ['--out', str(b)], capture_output=True, text=True, timeout=600, env=ENV)
    assert r.returncode == 2 and '--resume' in r.stderr
    r = subprocess.run(CMD + ['--out', str(b), '--resume'], capture_output=True, text=True, timeout=600, env=ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f'epoch {killed_at + 2} of 3' in r.stdout
    assert _epoch(last) == 2
    assert not list(b.glob('.*.tmp'))

    # same seed, CPU, no workers: the resumed run ends with the uninterrupted run's weights
    wa = load_file(a/'cpc-encoder.safetensors')
    wb = load_file(b/'cpc-encoder.safetensors')
    for k in wa: torch.testing.assert_close(wb[k], wa[k], atol=1e-5, rtol=1e-4)
    va = torch.load(a/'cpc-last.pth', weights_only=True)['value']
    vb = torch.load(last, weights_only=True)['value']
    assert abs(va - vb) < 1e-4 * abs(va)
