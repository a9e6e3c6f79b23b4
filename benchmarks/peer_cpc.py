"""Time lightning-bolts' CPC_v2 training step, for benchmarks/throughput.py --peer.

Runs with the python of a separate virtual environment that has the peer installed:
    pip install torch torchvision lightning-bolts==0.7.0 pytorch-lightning==1.9.5 'setuptools<70'
Its training step is what `CPC_v2.training_step` does (`shared_step`), without Lightning's logging: the encoder over all patches,
its `CPCTask` InfoNCE loss, backward, and the Adam optimiser of its `configure_optimizers`. Input: random
patches `[B, G*G, 3, P, P]`, the layout its transforms produce. Prints one JSON line.
"""
import argparse, json, statistics, time, warnings
warnings.filterwarnings('ignore')
import torch
from torch.utils.flop_counter import FlopCounterMode
import pl_bolts, pytorch_lightning
from pl_bolts.models.self_supervised import CPC_v2

ap = argparse.ArgumentParser()
for k, d in [('bs', 32), ('size', 64), ('patch-size', 16), ('warmup', 3), ('steps', 10)]: ap.add_argument(f'--{k}', type=int, default=d)
ap.add_argument('--device', default='cpu')
a = ap.parse_args()
G = 2 * a.size // a.patch_size - 1
torch.manual_seed(0)
model = CPC_v2(encoder_name='cpc_encoder', patch_size=a.patch_size, patch_overlap=a.patch_size // 2).to(a.device)
opt = model.configure_optimizers() # 0.7.0: [Adam]
while isinstance(opt, (tuple, list)): opt = opt[0]
x = torch.randn(a.bs, G * G, 3, a.patch_size, a.patch_size, device=a.device)

def sync():
    if a.device == 'cuda': torch.cuda.synchronize()

def step():
    loss = model.contrastive_task(model(x))
    loss.backward()
    opt.step(); opt.zero_grad(set_to_none=True)

with FlopCounterMode(display=False) as fc:
    model.contrastive_task(model(x)).backward()
model.zero_grad(set_to_none=True)
flops = fc.get_total_flops() / a.bs
for _ in range(a.warmup): step()
times = []
for _ in range(a.steps):
    sync(); t = time.perf_counter(); step(); sync(); times.append(time.perf_counter() - t)
med = statistics.median(times)
print(json.dumps(dict(bs=a.bs, step_s_all=times, step_s_median=med, images_per_s=a.bs / med, gflops_per_image=flops / 1e9,
                      achieved_tflops=flops * a.bs / med / 1e12, params_m=sum(p.numel() for p in model.parameters()) / 1e6,
                      encoder='cpc_resnet101 (its default: LayerNorm bottleneck ResNet, [3, 4, 46, 3] blocks)',
                      versions=f'lightning-bolts {pl_bolts.__version__}, pytorch-lightning {pytorch_lightning.__version__}, torch {torch.__version__}')))
