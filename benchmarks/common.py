"""What the benchmarks share: where a benchmark's figures come from (the command that reproduces them, the device, the
versions, the commit and the date, written the same way into every results file: `provenance()`); the profiles (a
`fastai-cpc` run size plus what a benchmark fixes on top, per data set: `settings`); the images, the cached encoder and
the classifier of each side (`pool_of`, `encoder_file`, `classifier`), and how each side trains (`ft_epochs`, `fit_side`, `train`)."""
from __future__ import annotations
import datetime as dt, math, os, platform, shlex, subprocess, sys
from pathlib import Path
import time
import torch, fastai, fastai_cpc
from fastai_cpc.all import *  # fastai's vision API too
from fastai_cpc.recipes import run_pretrain, run_sizes, bf16_if_asked

root = Path(__file__).resolve().parents[1]

def device_name(device:str='cpu') -> str:
    "The GPU's name for 'cuda', else the CPU and the threads torch uses"
    if device == 'cuda': return torch.cuda.get_device_name()
    return f"CPU: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"

def commit() -> str:
    "The commit checked out, and whether tracked files differ from it"
    git = lambda *a: subprocess.run(['git', *a], cwd=root, capture_output=True, text=True).stdout.strip()
    try: return git('rev-parse', 'HEAD') + (' (with uncommitted changes)' if git('status', '--porcelain', '--untracked-files=no') else '')
    except OSError: return 'unknown'

def command() -> str:
    "The command line as typed from the repository's root (`python -m benchmarks.<name>`, or the script's path)"
    spec = getattr(sys.modules.get('__main__'), '__spec__', None)
    if spec is not None and spec.name.startswith('benchmarks.'): script = ['-m', spec.name]
    else:
        path = Path(sys.argv[0]).resolve()
        script = [path.relative_to(root).as_posix() if path.is_relative_to(root) else sys.argv[0]]
    launcher = ['torchrun', f"--nproc_per_node {os.environ['LOCAL_WORLD_SIZE']}"] if 'TORCHELASTIC_RUN_ID' in os.environ else ['python']  # torchrun, accelerate launch
    return ' '.join(launcher + script + [shlex.quote(a) for a in sys.argv[1:]])

def provenance(device:str='cpu', **extra) -> dict:
    "Command, device, versions, commit and date of a run (plus `extra`), for its results file"
    versions = f"python {platform.python_version()}, torch {torch.__version__}, fastai {fastai.__version__}, fastai_cpc {fastai_cpc.__version__}"
    return dict(command=command(), **extra, device=device_name(device), versions=versions, commit=commit(),
                date=dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'))

def ft_epochs(n_labelled:int, bs:int, min_epochs:int, min_steps:int) -> int:
    "Epochs of a fine-tuning run by the fixed rule: at least `min_epochs`, and at least `min_steps` optimiser steps (the same rule for every side)"
    steps = max(1, math.ceil(n_labelled / min(bs, n_labelled)))
    return max(min_epochs, 2, math.ceil(min_steps / steps))

# the self-supervised peers, fine-tuned as cpc_finetune is; run when named in --sides. `cpc30_finetune` is CPC among them: its encoder
# pre-trained beside theirs by benchmarks/pretrain_efficiency.py (its `default` variant, for the same budget), so all start from equal compute
peer_sides = ('simclr_finetune', 'byol_finetune', 'cpc30_finetune')
fixmatch_sides = ('cpc_fixmatch', 'scratch_fixmatch')  # run where frac <= fixmatch_max_frac

# The converged protocol's rule, fixed before any run: `n_tune` held-out training images per class (seed `tune_seed`), the
# learning rate times 1/3, 1 and 3 at the fixed rule's epochs, epochs doubled until `patience` doublings in a row bring no new
# best held-out accuracy (at most `max_mult` times the fixed rule's), then label smoothing and MixUp, each kept if it helps.
# `edge_steps` (added after the first runs, where every CPC classifier chose the grid's largest rate): a best rate at an edge
# of the grid extends it that way while it keeps winning. `heads` (added 2026-12-04, after the resnet head raised fine-tuned
# CPC by 4 points at 2% of Imagenette and lowered scratch by 2): the classifiers with our head (`cpc_classifier`'s) choose it
# too, the whole rule run once per head and the best held-out accuracy kept. `merged_runs` (label_efficiency) makes every
# recorded choice again under the rule as it is, from the trials recorded in any results file, and keeps the runs made with it
converged_rule = dict(n_tune=50, tune_seed=10_000, lr_factors=(1/3, 3), options=('label_smoothing', 'mixup'), max_mult=16, patience=2, edge_steps=2,
                      heads=('linear', 'resnet'))
# What a profile fixes beyond its `fastai-cpc` run size (image and patch size, encoder, pre-training batch and rate,
# precision, data path). Every side shares every fine-tuning setting.
profiles = {
    'cpu': dict(datasets=('imagenette', 'cifar10'), run_size='cpu', head='linear', fastai_arch='xresnet18', ft_bs=64,
                ft_lr=2e-3, lr_mult=1, min_epochs=6, min_steps=60, ft_workers=0,
                mu=2, threshold=0.95, lambda_u=1., fixmatch_max_frac=0.05), # mu=2, not the paper's 7: each step costs 1 + 2*mu labelled steps # on 2 cores, worker start-up per short epoch costs more than decoding
    'gpu': dict(datasets=('imagenette-96', 'cifar10'), run_size='gpu', head='resnet', fastai_arch='xresnet50', ft_bs=128,
                ft_lr=2e-3, lr_mult=1, min_epochs=15, min_steps=60, ft_workers=None,
                mu=7, threshold=0.95, lambda_u=1., fixmatch_max_frac=0.05), # 200 steps at 1% were 200 one-batch epochs: over 2 min a run on an H100
}
# Per data set: pre-training epochs, images used (`n_pool`: pre-training images and label pool; None: all), validation images
_per_dataset = {'cpu': {'imagenette': dict(pre_epochs=60, n_pool=None, n_valid=None),  # 30 before 2026-11-28: the longer-pre-training lead in benchmarks/findings.md
                        # 30, not 12, from 2026-12-05: the image passes of Imagenette's 60 epochs (600k against 568k), fixed before any converged run
                        # bf16 from 2026-12-05 (`CPUMixedPrecision`: 1.7-2.1x a training step on this AMX CPU), fixed before any converged run
                        'cifar10': dict(pre_epochs=30, n_pool=20000, n_valid=5000, bf16=True)},
                'gpu': {'imagenette-96': dict(size=96, patch_size=24, pre_epochs=60, n_pool=None, n_valid=None),
                        'imagenette': dict(size=96, patch_size=24, pre_epochs=60, n_pool=None, n_valid=None),
                        'cifar10': dict(size=32, patch_size=8, pre_epochs=12, n_pool=None, n_valid=None)}}
fractions = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)

def settings(profile:str, dataset:str, protocol:str='converged', **given) -> AttrDict:
    "The run size, then the profile, then its settings for `dataset`, then the protocol's rule, then what the command line gives"
    rule = converged_rule if protocol == 'converged' else {}
    return run_sizes[profiles[profile]['run_size']].settings(**{**profiles[profile], **_per_dataset[profile].get(dataset, {}), **rule, **given,
                                                                'profile': profile, 'protocol': protocol})

def pool_of(path:Path, n:int|None) -> L:
    "The training images used, pre-training and label pool alike: all of them, or `n` stratified over the classes"
    files = L(sorted(get_image_files(path/'train'), key=str))
    return files if n is None or n >= len(files) else label_subset(files, frac=n / len(files), seed=0)

def encoder_file(path:Path, pool:L, c:AttrDict, cache:Path) -> tuple:
    "The encoder pre-trained on `pool` with the settings of `c`, and the seconds pre-training took in this run (0: it was cached)"
    name = f"{path.name}-{c.arch}-{c.size}px-p{c.patch_size}-n{len(pool)}-e{c.pre_epochs}-bs{c.bs}-lr{c.lr:g}-d{c.n_dirs}{'-bf16' if c.bf16 else ''}"
    t = time.time()
    if cached := [f for f in (cache/f'{name}-encoder.safetensors', cache/f'{name}-encoder.pth') if f.exists()]: return cached[0], 0.
    enc = run_pretrain(path, out=cache, name=name, resume=(cache/f'{name}-last.pth').exists(), items=pool, **{**c, 'epochs': c.pre_epochs, 'n_train': None})
    return enc, round(time.time() - t, 1)

def classifier(side:str, dls:DataLoaders, enc:Path, c:AttrDict, pool:L=None, num_workers=None, loss_func=None, cbs=()) -> Learner:
    "The `Learner` of one side, validating only at the end of training; the FixMatch sides draw unlabelled images from `pool`"
    cbs = [ValidateOnce(), *cbs]  # each run is validated once, after training
    if side in fixmatch_sides:
        cbs.append(FixMatch(unlabelled_dl(pool, dls, mu=c.mu, num_workers=num_workers), threshold=c.threshold, lambda_u=c.lambda_u))
    kw = dict(cbs=cbs, **({} if loss_func is None else dict(loss_func=loss_func)))
    if side == 'cpc30_finetune': learn = cpc_classifier(dls, peer_file(side, c), head='linear', patch_size=c.patch_size, **kw)  # the peers' kind of head
    elif side in peer_sides: learn = peer_classifier(dls, load_backbone(peer_file(side, c)), **kw)
    elif side == 'fastai':
        learn = vision_learner(dls, getattr(fastai.vision.models.xresnet, c.fastai_arch), pretrained=False, metrics=accuracy, **kw)
    else: learn = cpc_classifier(dls, c.arch if side.startswith('scratch') else enc, head=c.head, patch_size=c.patch_size, **kw)
    return bf16_if_asked(learn, c)

def peer_file(side:str, c:AttrDict) -> Path:
    """The pre-trained backbone of a peer side: `<method>-<peer_arch>.safetensors` in `c.peer_cache`, from benchmarks/pretrain_efficiency.py
    (`cpc30_finetune`: the CPC encoder of its `default` variant, `default.safetensors`)"""
    variant = 'default' if side == 'cpc30_finetune' else f"{side.split('_')[0]}-{c.peer_arch}"
    f = Path(c.peer_cache)/f"{variant}.safetensors"
    if not f.exists(): raise FileNotFoundError(f"{f} not found: pre-train the peer first, e.g. python -m benchmarks.pretrain_efficiency "
                                               f"--data <data> --variants {variant} --minutes 30 (or point --peer-cache at its folder)")
    return f

def fit_side(learn:Learner, side:str, epochs:int, lr:float, c:AttrDict) -> Learner:
    """Train one side its own way for `epochs` at `lr`: `fine_tune` for the CPC encoder, the head alone when frozen, one cycle from scratch;
    `cpc_lpft`, a linear probe then fine-tuning (Kumar et al. 2022): the head alone for half the epochs, then every layer (`fine_tune`'s `freeze_epochs`)"""
    with learn.no_bar(), learn.no_logging():
        if side in ('cpc_finetune', 'cpc_fixmatch', *peer_sides): learn.fine_tune(epochs - 1, lr, lr_mult=c.lr_mult)
        elif side == 'cpc_lpft': learn.fine_tune(epochs // 2, lr, freeze_epochs=epochs - epochs // 2, lr_mult=c.lr_mult)
        elif side == 'cpc_frozen': learn.freeze(); learn.fit_one_cycle(epochs, lr)
        else: learn.fit_one_cycle(epochs, lr)
    return learn

def train(learn:Learner, side:str, epochs:int, c:AttrDict) -> dict:
    "Train one side for `epochs` at `c.ft_lr`: its validation accuracy (and FixMatch's last-epoch `confident` share and `pseudo_acc`)"
    fit_side(learn, side, epochs, c.ft_lr, c)
    fm = getattr(learn, 'fix_match', None)
    with learn.no_bar(): return dict(accuracy=float(learn.validate()[1]), **(dict(confident=fm.share, pseudo_acc=fm.pseudo_acc) if fm else {}))

