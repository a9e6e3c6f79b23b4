"""CPC under DDP, two CPU processes (gloo) started by `accelerate launch`: the gathered loss is the loss of one process on the
whole batch, fine-tuning with FixMatch runs under fastai's `distrib_ctx`, and a pre-training killed with SIGKILL resumes to
the uninterrupted run's weights."""
import contextlib, socket, subprocess, sys, time
from pathlib import Path
import psutil, pytest, torch
from safetensors.torch import load_file
from fastai_cpc.loss import CPCLoss
from fastai_cpc.test_utils import synth_image_folder

from ddp_worker import cpc_model, whole_batch  # beside this file: pytest puts tests/ on the path

def test_device_data_path_decodes_only_its_shard(ddp):
    r0, r1 = (r['device'] for r in ddp)
    total = 2 * (24 + 4)  # the synthetic folder: 2 classes of 24 training and 4 validation images, all pre-trained on
    assert r0['types'] == r1['types'] == ['LocalShardDL', 'LocalShardDL']      # DistributedTrainer kept them as they are
    assert r0['n'] == r1['n'] and total // 2 - 2 <= sum(r0['n']) <= total // 2  # equal shards, half the images each
    assert not set(r0['images'].tolist()) & set(r1['images'].tolist())          # different images
    assert r0['loss'] == r0['loss'] and r1['loss'] == r1['loss']               # an epoch ran (no NaN)

def _acc() -> list:
    "accelerate launch with two processes, on a port free now (a fixed one may still be held by another job, or by the last run)"
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    return [str(Path(sys.executable).parent/'accelerate'), 'launch', '--multi_gpu', '--num_processes', '2', '--main_process_port', str(port)]

@pytest.fixture(scope='module')
def ddp(tmp_path_factory) -> list:
    "What each of two processes measured in tests/ddp_worker.py, launched as a user would: accelerate launch"
    tmp = tmp_path_factory.mktemp('ddp')
    synth_image_folder(tmp/'data', n_train=24, size=16)
    r = subprocess.run(_acc() + [str(Path(__file__).parent/'ddp_worker.py'), str(tmp/'out.pt'), str(tmp/'data')], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return torch.load(tmp/'out.pt', weights_only=False)

def _single(x, global_negatives=True):
    "One process: the loss, accuracy and gradients on batch `x`"
    model, lf = cpc_model(), CPCLoss((2, 3), global_negatives=global_negatives)
    loss = lf(model(x))
    loss.backward()
    return loss.detach(), loss.accuracy, {k: p.grad for k, p in model.named_parameters()}

def test_global_negatives_equal_one_process_on_the_whole_batch(ddp):
    r0, r1 = (r['global_'] for r in ddp)
    loss, acc, grads = _single(whole_batch())
    torch.testing.assert_close(torch.tensor((r0['loss'] + r1['loss']) / 2), loss)   # the mean over both processes' predictions
    assert abs(r0['accuracy'] - acc.item()) < 1e-6 and r0['accuracy'] == r1['accuracy']  # averaged over processes
    assert abs(r0['loss'] - _single(whole_batch()[:2])[0].item()) > 1e-3                 # not the per-process task
    for k, g in grads.items():                                                          # DDP's averaged gradients
        torch.testing.assert_close(r0['grads'][k], g, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(r1['grads'][k], g, atol=1e-5, rtol=1e-4)

def test_without_global_negatives_each_process_has_its_own_loss(ddp):
    for r, half in ((ddp[0]['local'], whole_batch()[:2]), (ddp[1]['local'], whole_batch()[2:])):
        torch.testing.assert_close(torch.tensor(r['loss']), _single(half, global_negatives=False)[0])

def test_fine_tune_with_fixmatch_under_ddp(ddp):
    r0, r1 = (r['finetune'] for r in ddp)
    torch.testing.assert_close(r0['weights'], r1['weights'])  # the processes stayed in step
    assert r0['seen'] and all(name == 'DistributedDL' and n < r0['full'] for name, n in r0['seen'])  # each drew from its own share

CLI = [str(Path(sys.executable).parent/'fastai-cpc')]  # accelerate launch runs a script: the command's
PRE = ['pretrain', '--data', 'imagenette', '--run-size', 'cpu', '--size', '16', '--patch-size', '4', '--bs', '8', '--n-train', '256',
       '--epochs', '3', '--num-workers', '0', '--seed', '3']

def _epoch(f:Path) -> int: return torch.load(f, weights_only=True)['epoch']

def test_accelerate_launch_two_processes_sigkill_then_resume(tmp_path):
    a, b = tmp_path/'a', tmp_path/'b'
    r = subprocess.run(_acc() + CLI + PRE + ['--out', str(a)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'Grad strides do not match' not in r.stderr  # DDP copies every gradient into a bucket laid out like its weight (01_models)
    assert _epoch(a/'cpc-last.pth') == 2 and len(torch.load(a/'cpc-last.pth', weights_only=True)['rng']) == 2  # one random state per process
    assert r.stdout.count('encoder:') == 1  # one process speaks

    p = subprocess.Popen(_acc() + CLI + PRE + ['--out', str(b)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last, deadline = b/'cpc-last.pth', time.time() + 600
    while not last.exists() and time.time() < deadline and p.poll() is None: time.sleep(0.05)
    assert last.exists() and p.poll() is None, "the run ended or failed before its first checkpoint"
    time.sleep(0.5)  # into the second epoch, well before the end however fast the machine (a loaded one only moves the kill earlier in the run)
    launcher = psutil.Process(p.pid)
    for q in [launcher] + launcher.children(recursive=True):  # the launcher first (it cannot react), then both processes: a lost machine
        with contextlib.suppress(psutil.NoSuchProcess): q.kill()
    p.wait()
    assert _epoch(last) < 2, "the kill came too late: the run had finished"
    killed_at = _epoch(last)

    r = subprocess.run(_acc() + CLI + PRE + ['--out', str(b), '--resume'], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f'epoch {killed_at + 2} of 3' in r.stdout and _epoch(last) == 2
    wa, wb = load_file(a/'cpc-encoder.safetensors'), load_file(b/'cpc-encoder.safetensors')
    for k in wa: torch.testing.assert_close(wb[k], wa[k], atol=1e-5, rtol=1e-4)
