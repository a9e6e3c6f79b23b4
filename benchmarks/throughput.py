"""CPC v2 pre-training throughput: images/s, FLOPs per image, achieved TFLOP/s against the device's own
measured matrix-multiply rate, and peak memory, for named configurations.

    python -m benchmarks.throughput --config cpu-tiny --variants                 # this CPU, every option
    python -m benchmarks.throughput --config gpu-r50 --variants --gpu-busy       # one GPU, bf16, the largest batch that fits
    python -m benchmarks.throughput --config gpu-paper
    python -m benchmarks.throughput --config cpu-tiny --peer /path/to/peer-venv/bin/python

The model is timed on random patch tensors of the configuration's shape: forward, `CPCLoss`, backward and
an Adam step, the median over the timed steps after warm-up, synchronised on a GPU. FLOPs come from
`torch.utils.flop_counter` over one forward and backward. `--variants` times options (memory layout, `MatmulConv2d`
against plain `F.conv2d`, fused or fastai's Adam, chunked logits, activation checkpointing, precision,
`torch.compile`, and under `torchrun --nproc_per_node 1` the model in DDP: what the distributed path costs one
process) interleaved with the configuration as it is, with the activation memory of each.

Both data paths are timed separately on real images (Imagenette from `untar_data`, upscaled where the
configuration needs larger images): fastai's `cpc_dls` and the device path `cpc_dls(on_device=True)`. On a GPU, `--gpu-busy`
runs training steps fed by `cpc_dls(on_device=True)` under `torch.profiler` and reports the fraction of the time the GPU is busy.

Each run writes `benchmarks/results/throughput-<config>.md` and `.json` with the command, device, versions, commit and date.

`--peer PYTHON` also times lightning-bolts' `CPC_v2` (`benchmarks/peer_cpc.py`, run by that interpreter,
which must have `lightning-bolts==0.7.0 pytorch-lightning==1.9.5 'setuptools<70'`) on the same input, and
ours with the encoder preset closest to the peer's in nominal FLOPs per image.
"""
import argparse, gc, json, math, os, resource, statistics, subprocess, sys, time
from pathlib import Path

import torch, torch.nn as nn, torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

here = Path(__file__).resolve().parent
root = here.parent
import fastai_cpc.all  # fastai and every module, with fastai's torch.jit warning filtered (in one place: fastai_cpc.all)
from fastai_cpc.models import create_cpc_model, cpc_presets, MatmulConv2d, PatchNorm, kept_for_backward
from fastai_cpc.learner import compile_forward
from fastai_cpc.loss import CPCLoss
from fastai_cpc.patches import grid_size
from fastai_cpc.data import cpc_dls
from .common import provenance

CONFIGS = {
    'cpu-tiny':  dict(device='cpu', size=64, patch_size=16, arch='tiny', bs=32, bf16=False, channels_last=True),
    'gpu-r50':   dict(device='cuda', size=256, patch_size=64, arch='resnet50', bs=None, bf16=True, channels_last=True, compile=True, fused_adam=True),
    'gpu-paper': dict(device='cuda', size=256, patch_size=64, arch='resnet161', bs=None, bf16=True, channels_last=True, compile=True, fused_adam=True),
}

def sync(device):
    if device == 'cuda': torch.cuda.synchronize()

def matmul_tflops(device:str, bf16:bool, n:int|None=None, reps:int=10, warmup:int=3) -> float:
    "The device's measured dense matrix-multiply rate (bf16 on a GPU, fp32 on a CPU), TFLOP/s: the reference peak"
    n = n or (8192 if device == 'cuda' else 1024)
    dt = torch.bfloat16 if bf16 else torch.float32
    a, b = torch.randn(n, n, device=device, dtype=dt), torch.randn(n, n, device=device, dtype=dt)
    for _ in range(warmup): a @ b
    times = []
    for _ in range(reps):
        sync(device); t = time.perf_counter(); a @ b; sync(device); times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times) / 1e12

def previous_norms(model:nn.Module) -> nn.Module:
    """The patch norm of the step before 2026-11-27, for the variant `previous default`: plain `nn.GroupNorm(1, C)` (under bf16 autocast
    it converts each activation to fp32 and the next convolution converts it back) where `PatchNorm` now runs a `layer_norm` in bf16 on a GPU"""
    for m in model.modules():
        if isinstance(m, PatchNorm): m.__class__ = nn.GroupNorm # the same parameters and buffers: only the forward changes
    return model

def build(cfg:dict, arch:str|None=None):
    "Model, loss and optimiser of a configuration, on its device"
    model = create_cpc_model(arch or cfg['arch'], offsets=(3,), n_dirs=4, context_dim=256, context_blocks=5).to(cfg['device']) # the paper's shape, pinned
    if cfg.get('previous_norms'): previous_norms(model)
    model.encoder.checkpoint = cfg.get('checkpoint', False)
    model = model.to(memory_format=torch.channels_last if cfg['channels_last'] else torch.contiguous_format) # the library's default: channels_last
    if cfg.get('fastai_adam'):
        from fastai.optimizer import Adam
        opt = Adam(list(model.parameters()), lr=1e-4)
    else: opt = torch.optim.Adam(model.parameters(), 1e-4, fused=cfg.get('fused_adam', False))
    if cfg.get('compile'): compile_forward(model, cfg['device'])
    if cfg.get('ddp'): model = ddp_wrap(model, cfg['device'])
    return model, CPCLoss((3,), chunk=cfg.get('chunk')), opt

def ddp_wrap(model, device:str):
    "The model in DDP, as fastai's `distrib_ctx` trains it under a launcher; needs one (`torchrun --nproc_per_node 1`: accelerate launch wraps in DDP from 2 processes on)"
    import torch.distributed as dist
    if device == 'cuda': torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', 0)))  # before NCCL starts on it
    if not dist.is_initialized(): dist.init_process_group('nccl' if device == 'cuda' else 'gloo')  # from the launcher's environment
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=[torch.cuda.current_device()] if device == 'cuda' else None)

def patches(cfg:dict, bs:int) -> torch.Tensor:
    G, P = grid_size(cfg['size'], cfg['patch_size']), cfg['patch_size']
    return torch.randn(bs, G, G, 3, P, P, device=cfg['device'])

def train_step(model, loss_func, opt, x, bf16:bool, matmul:bool=True):
    MatmulConv2d.use_matmul = matmul
    x = x.as_subclass(torch.Tensor)  # the data loaders' `TensorImage`: compiled forwards take plain tensors (as `PlainInputs` hands them)
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        loss = loss_func(model(x))
    loss.backward()
    opt.step(); opt.zero_grad()
    return loss

def flops_per_image(model, loss_func, x, bf16:bool, nominal:bool=False) -> float:
    """FLOPs of one forward and backward pass, per image: those executed, or with `nominal` the model's nominal FLOPs,
    every convolution counted as a dense `F.conv2d` (`MatmulConv2d` runs some as smaller matrix products)"""
    MatmulConv2d.use_matmul = not nominal
    try:
        with FlopCounterMode(display=False) as fc:
            with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = loss_func(model(x))
            loss.backward()
    finally: MatmulConv2d.use_matmul = True
    model.zero_grad(set_to_none=True)
    return fc.get_total_flops() / x.shape[0]

def saved_bytes(model, loss_func, x, bf16:bool) -> int:
    "Bytes autograd keeps for backward in one training forward, parameters aside: the activation memory of a step"
    def fwd():
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16): return loss_func(model(x))
    return kept_for_backward(fwd, exclude=model.parameters())[1]

def time_steps(step, device:str, warmup:int, steps:int, between=None) -> list:
    "Wall time of each of `steps` calls of `step` after `warmup` calls; `between()` runs, untimed, before each timed one"
    for _ in range(warmup): step()
    times = []
    for _ in range(steps):
        if between: between()
        sync(device); t = time.perf_counter(); step(); sync(device); times.append(time.perf_counter() - t)
    return times

def largest_batch(cfg:dict, start:int=16, limit:int=8192) -> int:
    "The largest power-of-two batch whose training step fits in GPU memory"
    bs, best = start, None
    while bs <= limit:
        try:
            model, lf, opt = build(cfg)
            train_step(model, lf, opt, patches(cfg, bs), cfg['bf16'], cfg.get('matmul', True)); sync(cfg['device'])
            best, bs = bs, bs * 2
        except torch.OutOfMemoryError: break
        finally: # a failed step's tensors can sit in reference cycles: collect them before the next size is tried
            model = lf = opt = None; gc.collect(); torch.cuda.empty_cache()
    if best is None: raise RuntimeError(f"even a batch of {start} does not fit on this GPU")
    return best

def peak_memory(device:str) -> tuple:
    if device == 'cuda': return torch.cuda.max_memory_allocated() / 2**30, 'GiB allocated by PyTorch on the GPU (max_memory_allocated)'
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 'GiB peak resident memory of the process (ru_maxrss)'

def measure_model(cfg:dict, bs:int, warmup:int, steps:int, arch:str|None=None) -> dict:
    "Images/s, FLOPs per image and achieved TFLOP/s of the training step"
    torch.manual_seed(0)
    model, lf, opt = build(cfg, arch)
    x = patches(cfg, bs)
    plain = build(dict(cfg, compile=False), arch)[0] if cfg.get('compile') else model
    flops, nominal = (flops_per_image(plain, lf, x, cfg['bf16'], n) for n in (not cfg.get('matmul', True), True)) # executed, nominal
    if cfg['device'] == 'cuda': torch.cuda.reset_peak_memory_stats()
    rates = [] # the matmul reference, measured between the timed steps: this machine's speed drifts
    probe = lambda: rates.append(matmul_tflops(cfg['device'], cfg['bf16'], reps=3, warmup=1))
    times = time_steps(lambda: train_step(model, lf, opt, x, cfg['bf16'], cfg.get('matmul', True)), cfg['device'], warmup, steps, probe)
    med = statistics.median(times)
    mem, mem_what = peak_memory(cfg['device'])
    return dict(arch=arch or cfg['arch'], bs=bs, step_s_median=med, step_s_all=times, images_per_s=bs / med,
                gflops_per_image=flops / 1e9, gflops_nominal=nominal / 1e9, achieved_tflops=flops * bs / med / 1e12, peak_memory_gib=mem, peak_memory_what=mem_what,
                params_m=sum(p.numel() for p in model.parameters()) / 1e6, matmul_tflops=statistics.median(rates))

STEP_OPTIONS = {'as configured': {}, 'contiguous (NCHW)': dict(channels_last=False), 'channels_last': dict(channels_last=True),
                'F.conv2d everywhere': dict(matmul=False), 'fused Adam': dict(fused_adam=True), "fastai's Adam": dict(fastai_adam=True),
                'chunked logits': dict(chunk=256), 'activation checkpointing': dict(checkpoint=True),
                'fp32': dict(bf16=False), 'bf16 autocast': dict(bf16=True), 'torch.compile': dict(compile=True),
                'DDP': dict(ddp=True),  # under `torchrun --nproc_per_node 1`: what DistributedDataParallel costs one process
                'without torch.compile': dict(compile=False), 'without fused Adam': dict(fused_adam=False),
                'previous default': dict(previous_norms=True, compile=False, fused_adam=False)}  # the gpu step of 2026-11-25: GroupNorm under autocast, Adam's for-loop, eager

def measure_variants(cfg:dict, bs:int, warmup:int, steps:int, names:list) -> dict:
    """The training step with each option switched on, against the configuration as it is: which of them help, and by how much.
    The variants' steps are interleaved in rounds (one step of each, in an order rotated every round), and each option's
    speed-up is the median over rounds of its step time against the configuration's in the same round: a machine whose
    speed drifts during the run (other tenants, clocks) then slows both sides of each ratio alike. Memory: the bytes
    autograd keeps for backward (every device), and on a GPU the step's peak allocation above what was allocated before it."""
    names = ['as configured'] + names
    runs, kept = {}, {}
    for n in names:
        c = dict(cfg, **STEP_OPTIONS[n])
        torch.manual_seed(0)
        model, lf, opt = build(c)
        runs[n] = (c, model, lf, opt, patches(c, bs))
        MatmulConv2d.use_matmul = c.get('matmul', True)
        kept[n] = saved_bytes(model, lf, runs[n][-1], c['bf16']) / 2**30
        gc.collect() # the measured forward's graph sits in reference cycles: free it before the next variant's
        model.zero_grad(set_to_none=True)
    step = lambda n: train_step(*runs[n][1:], runs[n][0]['bf16'], runs[n][0].get('matmul', True))
    for _ in range(warmup):
        for n in names: step(n)
    times, peak = {n: [] for n in names}, {n: 0. for n in names}
    cuda = cfg['device'] == 'cuda'
    for r in range(steps):
        for n in names[r % len(names):] + names[:r % len(names)]:
            if cuda: sync('cuda'); before = torch.cuda.memory_allocated(); torch.cuda.reset_peak_memory_stats()
            times[n] += time_steps(lambda: step(n), cfg['device'], 0, 1)
            if cuda: peak[n] = max(peak[n], (torch.cuda.max_memory_allocated() - before) / 2**30)
    res = {}
    for n in names:
        med = statistics.median(times[n])
        ratios = [b / t for b, t in zip(times['as configured'], times[n])] # per round
        q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
        res[n] = dict(step_s_median=med, step_s_all=times[n], images_per_s=bs / med, speedup=statistics.median(ratios),
                      speedup_quartiles=[q[0], q[2]], kept_for_backward_gib=kept[n], **(dict(step_peak_gib=peak[n]) if cuda else {}))
    return res

IMAGES = None # --images: a folder of images for the data paths; None for Imagenette 160 px from `untar_data`

def _train_files(n:int) -> list:
    from fastai.vision.all import untar_data, URLs, get_image_files
    return get_image_files(IMAGES or untar_data(URLs.IMAGENETTE_160)/'train')[:n]

def _images_name() -> str:
    return f"the JPEGs of {IMAGES}" if IMAGES else "Imagenette 160 px JPEGs (fastai URLs.IMAGENETTE_160)"

def _images_per_s(dl, n_batches:int, device:str) -> float:
    it = iter(dl)
    next(it) # workers started, first batch
    sync(device); t = time.perf_counter()
    n = sum(len(next(it)[0]) for _ in range(n_batches))
    sync(device)
    return n / (time.perf_counter() - t)

def measure_data(cfg:dict, bs:int, n_batches:int, num_workers:int|None) -> dict:
    """Images/s of both data paths on real image files (Imagenette unless --images), each up to a normalised batch of augmented patch grids on the
    device: fastai's (`cpc_dls`: DataLoader workers decode and crop every file every epoch) and the device path
    (`cpc_dls(on_device=True)`: decoded once into a uint8 tensor on the device, then cropped and augmented there in batches)"""
    files = _train_files(bs * (n_batches + 2) * 2)
    kw = dict(size=cfg['size'], patch_size=cfg['patch_size'], bs=bs, device=cfg['device'])
    dls = cpc_dls(files, **kw, **({} if num_workers is None else dict(num_workers=num_workers)))
    res = dict(fastai=dict(images_per_s=_images_per_s(dls.train, n_batches, cfg['device']), num_workers=dls.train.num_workers))
    t = time.perf_counter()
    ddls = cpc_dls(files, on_device=True, **kw)
    res['device'] = dict(images_per_s=_images_per_s(ddls.train, n_batches, cfg['device']), decode_s=time.perf_counter() - t, images=len(files))
    return dict(res, batches=n_batches, bs=bs,
                source=f"{_images_name()}, random-resized-cropped to {cfg['size']} px")

def _union_us(intervals) -> float:
    "Total length covered by a set of (start, end) intervals"
    total, end = 0., -math.inf
    for a, b in sorted(intervals):
        if b > end: total += b - max(a, end); end = b
    return total

def gpu_busy(cfg:dict, bs:int, warmup:int=3, steps:int=5) -> dict:
    """Fraction of the wall time of `steps` training steps, fed by `cpc_dls(on_device=True)`, during which the GPU runs a kernel or
    a copy (`torch.profiler`): the union of the device's activity intervals over the span of all recorded events"""
    from torch.profiler import profile, ProfilerActivity
    dls = cpc_dls(_train_files(bs * (warmup + steps + 2)), size=cfg['size'], patch_size=cfg['patch_size'], bs=bs, on_device=True, device='cuda', valid_pct=0.01)
    model, lf, opt = build(cfg)
    it = iter(dls.train)
    step = lambda: train_step(model, lf, opt, next(it)[0], cfg['bf16'], cfg.get('matmul', True))
    for _ in range(warmup): step()
    sync('cuda')
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(steps): step()
        sync('cuda')
    evs = [e for e in prof.events() if e.time_range.end > e.time_range.start]
    dev = [(e.time_range.start, e.time_range.end) for e in evs if e.device_type == torch.autograd.DeviceType.CUDA]
    span = max(e.time_range.end for e in evs) - min(e.time_range.start for e in evs)
    avg = prof.key_averages()
    top = avg.table(sort_by='self_cuda_time_total', row_limit=12)
    dev_us = lambda e: getattr(e, 'self_device_time_total', None) or getattr(e, 'self_cuda_time_total', 0)
    busy_us = _union_us(dev)
    copies = sum(dev_us(e) for e in avg if e.key == 'aten::copy_') / busy_us # layout and precision conversions
    return dict(busy=busy_us / span, copy_share=copies, steps=steps, bs=bs, span_ms=span / 1e3, top_ops=top)

def closest_preset(cfg:dict, target_gflops:float) -> tuple:
    "Our encoder preset whose nominal FLOPs per image are closest to `target_gflops` (in log scale), and every preset's figure"
    x = patches(dict(cfg, device='cpu'), 2)
    figs = {}
    for arch in cpc_presets:
        model, lf, _ = build(dict(cfg, device='cpu', channels_last=False, compile=False, checkpoint=False), arch)
        figs[arch] = flops_per_image(model, lf, x, False, nominal=True) / 1e9
    return min(figs, key=lambda a: abs(math.log(figs[a] / target_gflops))), figs

def run_peer(python:str, cfg:dict, bs:int, warmup:int, steps:int) -> dict:
    cmd = [python, str(here/'peer_cpc.py'), '--bs', str(bs), '--size', str(cfg['size']), '--patch-size', str(cfg['patch_size']),
           '--device', cfg['device'], '--warmup', str(warmup), '--steps', str(steps)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode: raise RuntimeError(f"the peer run failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])

def _gflops(r:dict) -> str:
    "Executed GFLOP per image, and the nominal figure where it differs"
    return f"{r['gflops_per_image']:.2f}" + (f" (nominal {r['gflops_nominal']:.2f})" if abs(r['gflops_nominal'] - r['gflops_per_image']) > 1e-3 * r['gflops_nominal'] else '')

def report(name:str, cfg:dict, res:dict) -> str:
    m, r = res['meta'], res['model']
    G = grid_size(cfg['size'], cfg['patch_size'])
    prec = 'bf16' if cfg['bf16'] else 'fp32'
    lines = [f"# Pre-training throughput, `{name}`", '',
             *[f"- {k}: {v}" for k, v in m.items() if k != 'command'], f"- command: `{m['command']}`", '',
             f"Configuration: {cfg['size']} px images, {cfg['patch_size']} px patches (G = {G}), encoder `{r['arch']}` ({r['params_m']:.1f}M parameters in the CPC model), "
             f"4 directions, offset 3, context network 256 wide x 5 blocks (the paper's shape, not the library's defaults), batch {r['bs']}, {'bf16 autocast' if cfg['bf16'] else 'fp32'}{', channels_last' if cfg['channels_last'] else ''}{', torch.compile' if cfg.get('compile') else ''}{', fused Adam' if cfg.get('fused_adam') else ''}. "
             f"Training step = forward, `CPCLoss`, backward, `torch.optim.Adam` step (fastai's own optimiser, which `cpc_learner` uses by default, is the option \"fastai's Adam\" below); "
             f"random patch tensors; median of {len(r['step_s_all'])} timed steps after {res['warmup']} warm-up steps. "
             f"FLOPs are those executed (`torch.utils.flop_counter`); \"nominal\" counts every convolution as a dense `F.conv2d`, where `MatmulConv2d` runs some as smaller matrix products.", '',
             '| | value |', '|---|---|',
             f"| model: images/s | {r['images_per_s']:.1f} |",
             f"| model: step time (median) | {r['step_s_median']*1e3:.1f} ms |",
             f"| FLOPs per image (forward + backward) | {_gflops(r)} GFLOP |",
             f"| achieved | {r['achieved_tflops']:.3f} TFLOP/s |",
             f"| measured matmul rate of this device ({prec}, {'8192' if cfg['device'] == 'cuda' else '1024'}^2, median over the timed steps, measured between them) | {res['matmul_tflops']:.3f} TFLOP/s |",
             f"| fraction of that rate | {r['achieved_tflops'] / res['matmul_tflops']:.1%} |",
             f"| peak memory | {r['peak_memory_gib']:.2f} {r['peak_memory_what']} |"]
    if 'largest_batch' in res:
        lines += [f"| largest power-of-two batch that fits, {k} | {v} |" for k, v in res['largest_batch'].items()]
    if 'data' in res:
        d = res['data']
        lines += [f"| data path, cpc_dls (DataLoader workers: {d['fastai']['num_workers']}): images/s | {d['fastai']['images_per_s']:.1f} |",
                  f"| data path, cpc_dls(on_device=True) (on the {cfg['device'].upper()}): images/s | {d['device']['images_per_s']:.1f} (after decoding {d['device']['images']} files once in {d['device']['decode_s']:.1f} s) |"]
        lines += ['', f"Data paths: {d['source']}, batch {d['bs']}, {d['batches']} batches after the first, each up to a normalised batch of augmented patch grids on the device."]
    if pr := res.get('gpu_busy', res.get('profile')):  # `profile`: its key before 2026-11-26
        lines += ['', '## Is the GPU busy?', '', f"`torch.profiler` over {pr['steps']} training steps of batch {pr['bs']}, fed by `cpc_dls(on_device=True)` (crop, patchify and augmentation on the GPU): "
                  f"the GPU ran a kernel or a copy during **{pr['busy']:.1%}** of the {pr['span_ms']:.0f} ms" + (f"; `aten::copy_` (layout and precision conversions) took {pr['copy_share']:.1%} of its busy time" if 'copy_share' in pr else '') + ". Most expensive operations on the GPU:", '', '```', pr['top_ops'].strip(), '```']
    for n, b in res.get('gpu_busy_variants', {}).items():
        lines += ['', f'### The same with the option "{n}"', '', f"GPU busy **{b['busy']:.1%}** of the {b['span_ms']:.0f} ms ({b['span_ms'] / b['steps']:.0f} ms a step); `aten::copy_` (layout and precision conversions) {b['copy_share']:.1%} of the GPU's busy time.", '', '```', b['top_ops'].strip(), '```']
    if 'variants' in res:
        cuda = cfg['device'] == 'cuda'
        lines += ['', '## Options, measured one by one', '', f"Same step, batch {res.get('variants_bs', r['bs'])}, {len(r['step_s_all'])} timed steps each, interleaved in rounds (one step of each option, in an order rotated every round); "
                  "speed-up: the median over rounds of the configuration's step time over the option's in the same round, with the 25th-75th percentiles, so drift in the machine's speed hits both sides of each ratio alike. "
                  "Kept for backward: bytes of the distinct tensors autograd saves in the step's forward (the activation memory)" + ("; step peak: the GPU's peak allocation during the step above what was allocated before it." if cuda else "."), '',
                  *(["`previous default` is the step as it was on 2026-11-25 (`nn.GroupNorm` under autocast, Adam's for-loop, no compilation): its speed-up below 1 says how much faster the configuration is (0.5: twice as fast).", ''] if 'previous default' in res['variants'] else []),
                  '| option | images/s | step (median) | speed-up | kept for backward |' + (' step peak |' if cuda else ''), '|---|---|---|---|---|' + ('---|' if cuda else '')]
        lines += [f"| {n} | {v['images_per_s']:.2f} | {v['step_s_median']*1e3:.0f} ms | {v['speedup']:.2f}x ({v['speedup_quartiles'][0]:.2f}-{v['speedup_quartiles'][1]:.2f}) | {v['kept_for_backward_gib']:.2f} GiB |" + (f" {v['step_peak_gib']:.2f} GiB |" if cuda else '')
                  for n, v in res['variants'].items()]
    if 'variants_error' in res:
        lines += ['', '## Options, measured one by one', '', f"Not measured: the GPU ran out of memory at batch {res['variants_bs']}: {res['variants_error']}"]
    if 'peer_error' in res:
        lines += ['', "## Side by side with lightning-bolts `CPC_v2`", '', "The peer did not run here; the end of its error:", '', '```', res['peer_error'].strip()[-600:], '```']
    if 'peer' in res:
        p = res['peer']
        lines += ['', f"## Side by side with lightning-bolts `CPC_v2`", '',
                  f"Same input: batch {p['bs']} of {cfg['size']} px images as {G}x{G} patches of {cfg['patch_size']} px, {prec}, one training step each (forward, loss, backward, Adam), "
                  f"median of {len(p['step_s_all'])} steps. Peer: {p['versions']}. Ours: the preset closest to the peer's nominal FLOPs per image "
                  f"(every preset: {', '.join(f'{a} {g:.2f}' for a, g in res['preset_gflops'].items())} GFLOP). Achieved TFLOP/s from executed FLOPs.", '',
                  '| | encoder | GFLOP per image | images/s | achieved TFLOP/s | ours / peer, images/s |', '|---|---|---|---|---|---|',
                  f"| lightning-bolts CPC_v2 | {p['encoder']} | {p['gflops_per_image']:.2f} | {p['images_per_s']:.2f} | {p['achieved_tflops']:.3f} | |"]
        lines += [f"| fastai_cpc, {k} | {o['arch']} | {_gflops(o)} | {o['images_per_s']:.2f} | {o['achieved_tflops']:.3f} | {o['images_per_s'] / p['images_per_s']:.2f}x |"
                  for k, o in res['ours_matched'].items()]
    return '\n'.join(lines) + '\n'

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--config', choices=list(CONFIGS), default='cpu-tiny')
    ap.add_argument('--bs', type=int, help="batch size (GPU configurations: the largest power of two that fits)")
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--compile', action=argparse.BooleanOptionalAction, help="compile the model's forward (the gpu configurations: on)")
    ap.add_argument('--no-bf16', action='store_true')
    ap.add_argument('--no-channels-last', action='store_true')
    ap.add_argument('--channels-last', action='store_true')
    ap.add_argument('--fused-adam', action=argparse.BooleanOptionalAction, help="torch.optim.Adam(fused=True) instead of its for-loop implementation (the gpu configurations: on)")
    ap.add_argument('--variants', nargs='*', choices=[n for n in STEP_OPTIONS if n != 'as configured'],
                    help="also time the step with each of these options (none named: every option that applies to the device)")
    ap.add_argument('--variants-bs', type=int, help="batch of the --variants comparison (default: the configuration's; on a GPU a quarter of it, since all variants share the memory)")
    ap.add_argument('--gpu-busy', action='store_true',
                    help='GPU: run steps fed by cpc_dls(on_device=True) under torch.profiler and report how busy the GPU is')
    ap.add_argument('--gpu-busy-variants', nargs='*', choices=[n for n in STEP_OPTIONS if n != 'as configured'], help='with --gpu-busy: profile these options too')
    ap.add_argument('--data-batches', type=int, default=10, help='batches of the data-path timing; 0 to skip it')
    ap.add_argument('--num-workers', type=int, help='DataLoader workers of the data path (fastai default if not given)')
    ap.add_argument('--images', help="folder of images for the data paths and --gpu-busy (default: Imagenette 160 px's train/, from untar_data)")
    ap.add_argument('--peer', help='python of a virtual environment with lightning-bolts 0.7.0: compare with its CPC_v2')
    ap.add_argument('--peer-bs', type=int, default=4, help='batch size of the side-by-side run (both sides); the peer is slow on a CPU')
    ap.add_argument('--peer-steps', type=int, default=3, help='timed steps of the side-by-side run (after one warm-up step)')
    ap.add_argument('--out', default=str(here/'results'))
    ap.add_argument('--tag', default='', help='suffix of the result files, for variants (e.g. -compile)')
    ap.add_argument('--render', metavar='JSON', help='only rewrite the .md beside a results .json from its measurements (after a change of format)')
    a = ap.parse_args()
    if a.render:
        res = json.loads(Path(a.render).read_text())
        Path(a.render).with_suffix('.md').write_text(report(res['config'], res['settings'], res))
        return
    if 'DDP' in (a.variants or []) and 'WORLD_SIZE' not in os.environ:  # before any measurement
        sys.exit("--variants DDP needs a launcher: torchrun --nproc_per_node 1 benchmarks/throughput.py ... (accelerate launch needs 2 processes for DDP; with 1 it does not wrap the model at all)")
    global IMAGES
    IMAGES = a.images
    cfg = dict(CONFIGS[a.config], **{k: v for k, v in dict(compile=a.compile, fused_adam=a.fused_adam).items() if v is not None})
    if a.no_bf16: cfg['bf16'] = False
    if a.no_channels_last: cfg['channels_last'] = False
    if a.channels_last: cfg['channels_last'] = True
    if cfg['device'] == 'cuda' and not torch.cuda.is_available(): sys.exit(f"{a.config} needs a CUDA GPU; none is visible here")
    res = dict(meta=provenance(cfg['device']), config=a.config, settings=cfg, warmup=a.warmup)
    bs = a.bs or cfg['bs'] or largest_batch(cfg)
    res['model'] = measure_model(cfg, bs, a.warmup, a.steps)
    res['matmul_tflops'] = res['model']['matmul_tflops']
    print(f"model (batch {bs}): {res['model']['images_per_s']:.1f} images/s, {res['model']['gflops_per_image']:.2f} GFLOP/image, "
          f"{res['model']['achieved_tflops']:.3f} TFLOP/s of {res['matmul_tflops']:.3f} measured", flush=True)
    if not (a.bs or cfg['bs']):
        res['largest_batch'] = {'as configured': bs, 'with activation checkpointing and chunked logits': largest_batch(dict(cfg, **STEP_OPTIONS['activation checkpointing'], **STEP_OPTIONS['chunked logits']), bs)}
    if a.gpu_busy:
        if cfg['device'] != 'cuda': sys.exit('--gpu-busy measures how busy a GPU is: use a gpu configuration')
        res['gpu_busy'] = gpu_busy(cfg, bs)
        print(f"GPU busy {res['gpu_busy']['busy']:.1%} of {res['gpu_busy']['steps']} steps, copies {res['gpu_busy']['copy_share']:.1%} of its busy time", flush=True)
        for n in a.gpu_busy_variants or []:
            gc.collect(); torch.cuda.empty_cache()
            res.setdefault('gpu_busy_variants', {})[n] = b = gpu_busy(dict(cfg, **STEP_OPTIONS[n]), bs)
            print(f"{n}: GPU busy {b['busy']:.1%}, copies {b['copy_share']:.1%} of its busy time, {b['span_ms'] / b['steps']:.0f} ms a step", flush=True)
            print(b['top_ops'], flush=True)
    if a.data_batches:
        res['data'] = measure_data(cfg, bs, a.data_batches, a.num_workers)
        print(f"data path: cpc_dls {res['data']['fastai']['images_per_s']:.1f} images/s, cpc_dls(on_device=True) {res['data']['device']['images_per_s']:.1f} images/s", flush=True)
    if a.peer:
        gc.collect(); torch.cuda.empty_cache() # tensors of the runs above, in reference cycles, would hold the GPU memory the peer needs
        try: res['peer'] = run_peer(a.peer, cfg, a.peer_bs, 1, a.peer_steps)
        except RuntimeError as e: # keep what was measured; the report says the peer could not run
            res['peer_error'] = str(e)[-1500:]; print(f"peer: {e}", flush=True)
    if 'peer' in res:
        arch, res['preset_gflops'] = closest_preset(cfg, res['peer']['gflops_per_image'])
        res['ours_matched'] = {k: measure_model(dict(cfg, **o), a.peer_bs, 1, a.peer_steps, arch) for k, o in
                               [('as configured', {}), ('fused Adam', dict(fused_adam=True)), ('F.conv2d everywhere', dict(matmul=False))]}
        print(f"peer: {res['peer']['images_per_s']:.2f} images/s at {res['peer']['gflops_per_image']:.2f} GFLOP/image; ours ({arch}): "
              + ', '.join(f"{k} {o['images_per_s']:.2f} images/s" for k, o in res['ours_matched'].items()), flush=True)
    if a.variants is not None:
        default = ['contiguous (NCHW)' if cfg['channels_last'] else 'channels_last', 'F.conv2d everywhere', 'without fused Adam' if cfg.get('fused_adam') else 'fused Adam',
                   "fastai's Adam", 'chunked logits', 'activation checkpointing']
        if cfg['device'] == 'cuda': default += ['fp32' if cfg['bf16'] else 'bf16 autocast', 'without torch.compile' if cfg.get('compile') else 'torch.compile', 'previous default']
        # every variant's model, optimiser and input stay on the device together: on a GPU, at a quarter of the largest batch
        res['variants_bs'] = a.variants_bs or (max(1, bs // 4) if cfg['device'] == 'cuda' else bs)
        gc.collect(); torch.cuda.empty_cache()
        try: res['variants'] = measure_variants(cfg, res['variants_bs'], a.warmup, a.steps, a.variants or default)
        except torch.OutOfMemoryError as e: # keep the other measurements; the report says what ran out
            res['variants_error'] = str(e)[:400]; print(f"variants: {e}", flush=True)
    if 'variants' in res:
        print('variants: ' + ', '.join(f"{n} {v['speedup']:.2f}x" for n, v in res['variants'].items()), flush=True)
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    stem = f'throughput-{a.config}{a.tag}'
    (out/f'{stem}.json').write_text(json.dumps(res, indent=1))
    (out/f'{stem}.md').write_text(report(a.config, cfg, res))
    print(f"wrote {out/stem}.md and .json")

if __name__ == '__main__': main()
