"""benchmarks/throughput.py: FLOP counting is right on a model whose FLOPs are known, and a tiny run of the
cpu-tiny configuration writes consistent results. This checks the benchmark, it does not time anything."""
import json, subprocess, sys
from pathlib import Path
import torch
from torch import nn

root = Path(__file__).resolve().parent.parent
from benchmarks import throughput

def test_flops_per_image_counts_forward_and_backward():
    lin = nn.Linear(64, 32, bias=False)
    x = torch.randn(8, 64)
    # forward: one [8,64]@[64,32] matmul; backward: grad of the weight only (x needs no grad), another of the same size
    flops = throughput.flops_per_image(lin, lambda out: out.sum(), x, bf16=False)
    assert flops == 2 * (2 * 64 * 32)

def test_nominal_flops_count_convolutions_as_dense():
    # a 3x3 convolution over a 1x1 map runs as the matrix product of its centre tap: 1/9 of the dense count
    from fastai_cpc.models import MatmulConv2d
    conv, x = MatmulConv2d(16, 8, 3, padding=1, bias=False), torch.randn(4, 16, 1, 1)
    loss = lambda out: out.sum()
    executed, nominal = (throughput.flops_per_image(conv, loss, x, bf16=False, nominal=n) for n in (False, True))
    assert nominal == 9 * executed == 9 * 2 * (2 * 16 * 8)

def test_busy_fraction_is_the_union_of_intervals():
    assert throughput._union_us([(0, 10), (5, 15), (20, 30), (21, 22)]) == 25
    assert throughput._union_us([]) == 0

def test_cpu_tiny_run_writes_consistent_results(tmp_path):
    r = subprocess.run([sys.executable, '-m', 'benchmarks.throughput', '--config', 'cpu-tiny', '--bs', '2', '--warmup', '0',
                        '--steps', '2', '--data-batches', '1', '--num-workers', '0', '--out', str(tmp_path)], capture_output=True, text=True, cwd=root)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads((tmp_path/'throughput-cpu-tiny.json').read_text())
    m = res['model']
    assert m['bs'] == 2 and len(m['step_s_all']) == 2
    assert abs(m['images_per_s'] - 2 / m['step_s_median']) < 1e-6 * m['images_per_s']
    assert abs(m['achieved_tflops'] - m['gflops_per_image'] * 1e9 * m['images_per_s'] / 1e12) < 1e-6 * m['achieved_tflops']
    assert 1 < m['gflops_per_image'] <= m['gflops_nominal'] < 50 and res['matmul_tflops'] > 0
    assert res['data']['fastai']['images_per_s'] > 0 and res['data']['device']['images_per_s'] > 0
    md = (tmp_path/'throughput-cpu-tiny.md').read_text()
    for k in ('command', 'device', 'versions', 'commit', 'date'): assert f'- {k}:' in md
