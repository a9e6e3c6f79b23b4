"""CPC v2 pre-training throughput: images/s, FLOPs per image, achieved TFLOP/s against the device's own
measured matrix-multiply rate, and peak memory, for named configurations.

    python benchmarks/throughput.py --config cpu-tiny            # this CPU
    python benchmarks/throughput.py --config gpu-r50             # one GPU, bf16, the largest batch that fits
    python benchmarks/throughput.py --config gpu-paper
    python benchmarks/throughput.py --config cpu-tiny --peer /path/to/peer-venv/bin/python

The model is timed on random patch tensors of the configuration's shape: forward, `CPCLoss`, backward and
an Adam step, the median over the timed steps after warm-up, synchronised on a GPU. The data path (files
decoded, cropped and augmented per patch by `cpc_dls`, real images from `untar_data`, upscaled where the
configuration needs larger images) is timed separately. FLOPs come from `torch.utils.flop_counter` over one
forward and backward. Each run writes `benchmarks/results/throughput-<config>.md` and `.json` with the
command, device, versions, commit and date.

`--peer PYTHON` also times lightning-bolts' `CPC_v2` (`benchmarks/peer_cpc.py`, run by that interpreter,
which must have `lightning-bolts==0.7.0 pytorch-lightning==1.9.5 'setuptools<70'`) on the same input, and
ours with the encoder preset closest to the peer's in FLOPs per image.
"""
import argparse, json, math, platform, resource, statistics, subprocess, sys, time, warnings
from datetime import datetime, timezone
from pathlib import Path

warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated')
import torch
from torch.utils.flop_counter import FlopCounterMode

here = Path(__file__).resolve().parent
root = here.parent
sys.path.insert(0, str(root))
from fastai_cpc.models import create_cpc_model, cpc_presets
from fastai_cpc.loss import CPCLoss
from fastai_cpc.data import grid_size

CONFIGS = {
    'cpu-tiny':  dict(device='cpu', size=64, patch_size=16, arch='tiny', bs=32, bf16=False, channels_last=True),
    'gpu-r50':   dict(device='cuda', size=256, patch_size=64, arch='resnet50', bs=None, bf16=True, channels_last=True),
    'gpu-paper': dict(device='cuda', size=256, patch_size=64, arch='resnet161', bs=None, bf16=True, channels_last=True),
}

def sync(device):
    if device == 'cuda': torch.cuda.synchronize()

def matmul_tflops(device:str, bf16:bool, n:int|None=None, reps:int=10) -> float:
    "The device's measured dense matrix-multiply rate (bf16 on a GPU, fp32 on a CPU), TFLOP/s: the reference peak"
    n = n or (8192 if device == 'cuda' else 1024)
    dt = torch.bfloat16 if bf16 else torch.float32
    a, b = torch.randn(n, n, device=device, dtype=dt), torch.randn(n, n, device=device, dtype=dt)
    for _ in range(3): a @ b
    times = []
    for _ in range(reps):
        sync(device); t = time.perf_counter(); a @ b; sync(device); times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times) / 1e12

def build(cfg:dict, arch:str|None=None):
    "Model, loss and optimiser of a configuration, on its device"
    model = create_cpc_model(arch or cfg['arch'], offsets=(3,), n_dirs=4).to(cfg['device'])
    model = model.to(memory_format=torch.channels_last if cfg['channels_last'] else torch.contiguous_format) # the library's default: channels_last
    if cfg.get('compile'): model = torch.compile(model)
    return model, CPCLoss((3,)), torch.optim.Adam(model.parameters(), 1e-4, fused=cfg.get('fused_adam', False))

def patches(cfg:dict, bs:int) -> torch.Tensor:
    G, P = grid_size(cfg['size'], cfg['patch_size']), cfg['patch_size']
    return torch.randn(bs, G, G, 3, P, P, device=cfg['device'])

def train_step(model, loss_func, opt, x, bf16:bool):
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        loss = loss_func(model(x))
    loss.backward()
    opt.step(); opt.zero_grad(set_to_none=True)
    return loss

def flops_per_image(model, loss_func, x, bf16:bool) -> float:
    "FLOPs of one forward and backward pass, per image"
    with FlopCounterMode(display=False) as fc:
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = loss_func(model(x))
        loss.backward()
    model.zero_grad(set_to_none=True)
    return fc.get_total_flops() / x.shape[0]

def time_steps(step, device:str, warmup:int, steps:int) -> list:
    for _ in range(warmup): step()
    times = []
    for _ in range(steps):
        sync(device); t = time.perf_counter(); step(); sync(device); times.append(time.perf_counter() - t)
    return times

def largest_batch(cfg:dict, start:int=16, limit:int=4096) -> int:
    "The largest power-of-two batch whose training step fits in GPU memory"
    bs, best = start, None
    while bs <= limit:
        try:
            model, lf, opt = build(cfg)
            train_step(model, lf, opt, patches(cfg, bs), cfg['bf16']); sync(cfg['device'])
            best, bs = bs, bs * 2
        except torch.OutOfMemoryError: break
        finally:
            model = lf = opt = None; torch.cuda.empty_cache()
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
    flops = flops_per_image(build(cfg, arch)[0] if cfg.get('compile') else model, lf, x, cfg['bf16'])
    if cfg['device'] == 'cuda': torch.cuda.reset_peak_memory_stats()
    times = time_steps(lambda: train_step(model, lf, opt, x, cfg['bf16']), cfg['device'], warmup, steps)
    med = statistics.median(times)
    mem, mem_what = peak_memory(cfg['device'])
    return dict(arch=arch or cfg['arch'], bs=bs, step_s_median=med, step_s_all=times, images_per_s=bs / med,
                gflops_per_image=flops / 1e9, achieved_tflops=flops * bs / med / 1e12, peak_memory_gib=mem, peak_memory_what=mem_what,
                params_m=sum(p.numel() for p in model.parameters()) / 1e6)

VARIANTS = {'as configured': {}, 'contiguous (NCHW)': dict(channels_last=False), 'channels_last': dict(channels_last=True),
            'fused Adam': dict(fused_adam=True), 'torch.compile': dict(compile=True)}

def measure_variants(cfg:dict, bs:int, warmup:int, steps:int, names:list) -> dict:
    """The training step with each option switched on, against the configuration as it is: which of them help, and by how much.
    The variants' steps are interleaved (one step of each in turn), so a machine whose speed drifts during the run
    (other tenants, clocks) slows them all alike instead of whichever ran last."""
    names = ['as configured'] + names
    runs = {}
    for n in names:
        c = dict(cfg, **VARIANTS[n])
        torch.manual_seed(0)
        model, lf, opt = build(c)
        runs[n] = (c, model, lf, opt, patches(c, bs))
    step = lambda n: train_step(*runs[n][1:], runs[n][0]['bf16'])
    for _ in range(warmup):
        for n in names: step(n)
    times = {n: [] for n in names}
    for _ in range(steps):
        for n in names: times[n] += time_steps(lambda: step(n), cfg['device'], 0, 1)
    base = bs / statistics.median(times['as configured'])
    res = {}
    for n in names:
        med = statistics.median(times[n])
        res[n] = dict(step_s_median=med, step_s_all=times[n], images_per_s=bs / med, speedup=bs / med / base)
    return res

def measure_data(cfg:dict, bs:int, n_batches:int, num_workers:int|None) -> dict:
    "Images/s of the fastai data path on real Imagenette files: decode, random crop to `size`, patchify and per-patch augmentation"
    from fastai.vision.all import untar_data, URLs, get_image_files
    from fastai_cpc.data import cpc_dls
    files = get_image_files(untar_data(URLs.IMAGENETTE_160)/'train')
    kw = {} if num_workers is None else dict(num_workers=num_workers)
    dls = cpc_dls(files[:bs * (n_batches + 2) * 2], size=cfg['size'], patch_size=cfg['patch_size'], bs=bs, device=cfg['device'], **kw)
    it = iter(dls.train)
    next(it) # workers started, first batch
    sync(cfg['device']); t = time.perf_counter()
    n = 0
    for _ in range(n_batches): xb, = next(it); n += len(xb)
    sync(cfg['device'])
    dt = time.perf_counter() - t
    return dict(images_per_s=n / dt, batches=n_batches, bs=bs, num_workers=dls.train.num_workers,
                source=f"Imagenette 160 px JPEGs (fastai URLs.IMAGENETTE_160), random-resized-cropped to {cfg['size']} px")

def closest_preset(cfg:dict, target_gflops:float) -> tuple:
    "Our encoder preset whose training step is closest to `target_gflops` per image (in log scale), and every preset's figure"
    x = patches(dict(cfg, device='cpu'), 2)
    figs = {}
    for arch in cpc_presets:
        model, lf, _ = build(dict(cfg, device='cpu', channels_last=False, compile=False), arch)
        figs[arch] = flops_per_image(model, lf, x, False) / 1e9
    return min(figs, key=lambda a: abs(math.log(figs[a] / target_gflops))), figs

def run_peer(python:str, cfg:dict, bs:int, warmup:int, steps:int) -> dict:
    cmd = [python, str(here/'peer_cpc.py'), '--bs', str(bs), '--size', str(cfg['size']), '--patch-size', str(cfg['patch_size']),
           '--device', cfg['device'], '--warmup', str(warmup), '--steps', str(steps)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode: raise RuntimeError(f"the peer run failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])

def meta(cfg:dict) -> dict:
    import fastai
    def git(*a): return subprocess.run(['git', *a], cwd=root, capture_output=True, text=True).stdout.strip()
    dev = torch.cuda.get_device_name() if cfg['device'] == 'cuda' else f'CPU: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads'
    script = Path(sys.argv[0]).resolve()
    script = script.relative_to(root).as_posix() if script.is_relative_to(root) else sys.argv[0]
    return dict(command=' '.join(['python', script] + sys.argv[1:]),
                device=dev, python=platform.python_version(), torch=torch.__version__, fastai=fastai.__version__,
                commit=git('rev-parse', 'HEAD') + (' (with uncommitted changes)' if git('status', '--porcelain', '--untracked-files=no') else ''),
                date=datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC'))

def report(name:str, cfg:dict, res:dict) -> str:
    m, r = res['meta'], res['model']
    G = grid_size(cfg['size'], cfg['patch_size'])
    lines = [f"# Pre-training throughput, `{name}`", '',
             *[f"- {k}: {v}" for k, v in m.items() if k != 'command'], f"- command: `{m['command']}`", '',
             f"Configuration: {cfg['size']} px images, {cfg['patch_size']} px patches (G = {G}), encoder `{r['arch']}` ({r['params_m']:.1f}M parameters in the CPC model), "
             f"4 directions, offset 3, batch {r['bs']}, {'bf16 autocast' if cfg['bf16'] else 'fp32'}{', channels_last' if cfg['channels_last'] else ''}{', torch.compile' if cfg.get('compile') else ''}{', fused Adam' if cfg.get('fused_adam') else ''}. "
             f"Training step = forward, `CPCLoss`, backward, `torch.optim.Adam` step (fastai's own optimiser, which `cpc_learner` uses, is not timed here); random patch tensors; median of {len(r['step_s_all'])} timed steps after {res['warmup']} warm-up steps.", '',
             '| | value |', '|---|---|',
             f"| model: images/s | {r['images_per_s']:.1f} |",
             f"| model: step time (median) | {r['step_s_median']*1e3:.1f} ms |",
             f"| FLOPs per image (forward + backward) | {r['gflops_per_image']:.2f} GFLOP |",
             f"| achieved | {r['achieved_tflops']:.3f} TFLOP/s |",
             f"| measured matmul rate of this device ({'bf16' if cfg['bf16'] else 'fp32'}) | {res['matmul_tflops']:.3f} TFLOP/s |",
             f"| fraction of that rate | {r['achieved_tflops'] / res['matmul_tflops']:.1%} |",
             f"| peak memory | {r['peak_memory_gib']:.2f} {r['peak_memory_what']} |"]
    if 'data' in res:
        d = res['data']
        lines.append(f"| data path: images/s | {d['images_per_s']:.1f} ({d['source']}; batch {d['bs']}, {d['num_workers']} DataLoader workers, {d['batches']} batches) |")
    if 'variants' in res:
        lines += ['', '## Options, measured one by one', '', f"Same step and batch, {len(r['step_s_all'])} timed steps each, interleaved (one step of each option in turn, so drift in the machine's speed hits all alike); speed-up against the configuration as above, measured in the same interleaved run.", '',
                  '| option | images/s | step (median) | speed-up |', '|---|---|---|---|']
        lines += [f"| {n} | {v['images_per_s']:.2f} | {v['step_s_median']*1e3:.0f} ms | {v['speedup']:.2f}x |" for n, v in res['variants'].items()]
    if 'peer' in res:
        p, o = res['peer'], res['ours_matched']
        lines += ['', f"## Side by side with lightning-bolts `CPC_v2`", '',
                  f"Same input: batch {p['bs']} of {cfg['size']} px images as {G}x{G} patches of {cfg['patch_size']} px, {'bf16' if cfg['bf16'] else 'fp32'}, one training step each (forward, loss, backward, Adam), "
                  f"median of {len(p['step_s_all'])} steps. Peer: {p['versions']}. Ours: the preset closest to the peer's FLOPs per image "
                  f"(every preset: {', '.join(f'{a} {g:.2f}' for a, g in res['preset_gflops'].items())} GFLOP).", '',
                  '| | encoder | GFLOP per image | images/s | achieved TFLOP/s | ours / peer, images/s |', '|---|---|---|---|---|---|',
                  f"| lightning-bolts CPC_v2 | {p['encoder']} | {p['gflops_per_image']:.2f} | {p['images_per_s']:.2f} | {p['achieved_tflops']:.3f} | |",
                  f"| fastai_cpc, as configured | {o['arch']} | {o['gflops_per_image']:.2f} | {o['images_per_s']:.2f} | {o['achieved_tflops']:.3f} | {o['images_per_s'] / p['images_per_s']:.2f}x |"]
        if 'ours_matched_fused' in res:
            f = res['ours_matched_fused']
            lines.append(f"| fastai_cpc, fused Adam | {f['arch']} | {f['gflops_per_image']:.2f} | {f['images_per_s']:.2f} | {f['achieved_tflops']:.3f} | {f['images_per_s'] / p['images_per_s']:.2f}x |")
    return '\n'.join(lines) + '\n'

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--config', choices=list(CONFIGS), default='cpu-tiny')
    ap.add_argument('--bs', type=int, help="batch size (GPU configurations: the largest power of two that fits)")
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--compile', action='store_true', help='torch.compile the model')
    ap.add_argument('--no-bf16', action='store_true')
    ap.add_argument('--no-channels-last', action='store_true')
    ap.add_argument('--channels-last', action='store_true')
    ap.add_argument('--fused-adam', action='store_true', help="torch.optim.Adam(fused=True) instead of its for-loop implementation")
    ap.add_argument('--variants', nargs='*', choices=[n for n in VARIANTS if n != 'as configured'],
                    help="also time the step with each of these options (none named: the other memory layout, and fused Adam)")
    ap.add_argument('--data-batches', type=int, default=10, help='batches of the data-path timing; 0 to skip it')
    ap.add_argument('--num-workers', type=int, help='DataLoader workers of the data path (fastai default if not given)')
    ap.add_argument('--peer', help='python of a virtual environment with lightning-bolts 0.7.0: compare with its CPC_v2')
    ap.add_argument('--peer-bs', type=int, default=4, help='batch size of the side-by-side run (both sides); the peer is slow on a CPU')
    ap.add_argument('--peer-steps', type=int, default=3, help='timed steps of the side-by-side run (after one warm-up step)')
    ap.add_argument('--out', default=str(here/'results'))
    ap.add_argument('--tag', default='', help='suffix of the result files, for variants (e.g. -compile)')
    a = ap.parse_args()
    cfg = dict(CONFIGS[a.config], compile=a.compile)
    if a.no_bf16: cfg['bf16'] = False
    if a.no_channels_last: cfg['channels_last'] = False
    if a.channels_last: cfg['channels_last'] = True
    cfg['fused_adam'] = a.fused_adam
    if cfg['device'] == 'cuda' and not torch.cuda.is_available(): sys.exit(f"{a.config} needs a CUDA GPU; none is visible here")
    res = dict(meta=meta(cfg), config=a.config, settings=cfg, warmup=a.warmup)
    bs = a.bs or cfg['bs'] or largest_batch(cfg)
    res['matmul_tflops'] = matmul_tflops(cfg['device'], cfg['bf16'])
    res['model'] = measure_model(cfg, bs, a.warmup, a.steps)
    print(f"model: {res['model']['images_per_s']:.1f} images/s, {res['model']['gflops_per_image']:.2f} GFLOP/image, "
          f"{res['model']['achieved_tflops']:.3f} TFLOP/s of {res['matmul_tflops']:.3f} measured", flush=True)
    if a.variants is not None:
        default = ['contiguous (NCHW)' if cfg['channels_last'] else 'channels_last', 'fused Adam']
        res['variants'] = measure_variants(cfg, bs, a.warmup, a.steps, a.variants or default)
        print('variants: ' + ', '.join(f"{n} {v['speedup']:.2f}x" for n, v in res['variants'].items()), flush=True)
    if a.data_batches:
        res['data'] = measure_data(cfg, bs, a.data_batches, a.num_workers)
        print(f"data path: {res['data']['images_per_s']:.1f} images/s", flush=True)
    if a.peer:
        res['peer'] = run_peer(a.peer, cfg, a.peer_bs, 1, a.peer_steps)
        arch, res['preset_gflops'] = closest_preset(cfg, res['peer']['gflops_per_image'])
        res['ours_matched'] = measure_model(cfg, a.peer_bs, 1, a.peer_steps, arch)
        if not cfg['fused_adam']: res['ours_matched_fused'] = measure_model(dict(cfg, fused_adam=True), a.peer_bs, 1, a.peer_steps, arch)
        print(f"peer: {res['peer']['images_per_s']:.2f} images/s at {res['peer']['gflops_per_image']:.2f} GFLOP/image; "
              f"ours ({arch}): {res['ours_matched']['images_per_s']:.2f} images/s at {res['ours_matched']['gflops_per_image']:.2f}", flush=True)
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    stem = f'throughput-{a.config}{a.tag}'
    (out/f'{stem}.json').write_text(json.dumps(res, indent=1))
    (out/f'{stem}.md').write_text(report(a.config, cfg, res))
    print(f"wrote {out/stem}.md and .json")

if __name__ == '__main__': main()
