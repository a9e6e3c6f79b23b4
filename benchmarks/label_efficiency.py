"""Label-efficiency benchmark: CPC v2 pre-training then `fine_tune`, against the same classifier trained from scratch,
at label fractions from 1% to 100% (the paper's Figure 1), plus linear-probe and kNN accuracy of the encoder.

    python benchmarks/label_efficiency.py --profile cpu     # Imagenette + CIFAR-10 on a 2-core CPU
    python benchmarks/label_efficiency.py --profile gpu     # Imagenette 96 px + CIFAR-10 on one GPU, bf16

Writes benchmarks/results/<profile>-<dataset>.{md,json,png}. This is a benchmark, not a test: it measures and reports.
"""
from __future__ import annotations
import json, math, platform, shlex, subprocess, sys, time, warnings
warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated')
from fastcore.script import call_parse, bool_arg
from fastai.vision.all import *
import fastai, fastai_cpc
from fastai_cpc.all import *
from fastai_cpc.data import _valid_folder
from fastai_cpc.cli import resolve_data
import datetime as dt  # after the star imports, which bind `datetime` to the class

# Everything a profile fixes. Both sides (CPC and scratch) share every fine-tuning setting.
profiles = {
    'cpu': dict(datasets=('imagenette', 'cifar10'), size=32, patch_size=8, arch='tiny', n_dirs=2, context_dim=None, context_blocks=2,
                pre_bs=32, pre_epochs=12, pre_lr=1e-3, n_pool=2000, n_valid=1000, head='linear', bs=64, min_epochs=6, min_steps=60,
                ft_workers=0, bf16=False), # on 2 cores, starting DataLoader workers at every short epoch costs more than decoding
    'gpu': dict(datasets=('imagenette-96', 'cifar10'), size=64, patch_size=16, arch='small', n_dirs=2, context_dim=None, context_blocks=2,
                pre_bs=256, pre_epochs=60, pre_lr=5e-4, n_pool=None, n_valid=None, head='resnet', bs=128, min_epochs=15, min_steps=200,
                ft_workers=None, bf16=True),
}
# per data set: image side and patch side (G = 2*size/patch - 1 = 7 everywhere, as in the paper), and pre-training epochs
# where they differ from the profile's (CIFAR-10 has five times Imagenette's images)
_per_dataset = {'cpu': {'imagenette': dict(size=32, patch_size=8), 'cifar10': dict(size=32, patch_size=8)},
                'gpu': {'imagenette-96': dict(size=96, patch_size=24), 'imagenette': dict(size=96, patch_size=24),
                        'cifar10': dict(size=32, patch_size=8, pre_epochs=12)}}
fractions = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)

def n_seeds(frac:float, seeds:int=3) -> int:
    "Seeds per fraction: `seeds` at 10% and below, one above"
    return seeds if frac <= 0.1 else 1

def ft_epochs(n_labelled:int, bs:int, min_epochs:int, min_steps:int) -> int:
    "Epochs of a fine-tuning run: at least `min_epochs`, and at least `min_steps` optimiser steps (same rule both sides)"
    steps = max(1, math.ceil(n_labelled / min(bs, n_labelled)))
    return max(min_epochs, 2, math.ceil(min_steps / steps))

def efficiency_factor(frac:float, acc:float, sup:dict) -> tuple:
    "(factor, qualifier): the smallest supervised fraction reaching `acc` on the log-fraction curve `sup`, over `frac`"
    fs = sorted(sup)
    if sup[fs[0]] >= acc: return fs[0] / frac, '<='
    for lo, hi in zip(fs, fs[1:]):
        if sup[hi] >= acc:
            t = (acc - sup[lo]) / (sup[hi] - sup[lo])
            return math.exp(math.log(lo) + t * (math.log(hi) - math.log(lo))) / frac, '='
    return fs[-1] / frac, '>'

class _ValidateLast(Callback):
    "Skip validation except after the last epoch of a `fit` (validation sets are large next to a 1% subset)"
    order, fitting = -10, False
    def before_train(self): self.fitting = True  # only `fit` trains; `validate` runs before_fit too
    def after_fit(self): self.fitting = False
    def before_validate(self):
        if self.fitting and self.epoch < self.n_epoch - 1: raise CancelValidException

def _sample(items, n, seed=0) -> L:
    items = L(sorted(items, key=str))
    if n is None or n >= len(items): return items
    return items[np.random.default_rng(seed).permutation(len(items))[:n]]

def _classifier(dls, encoder, c):
    learn = cpc_classifier(dls, encoder, head=c.head, patch_size=c.patch_size, cbs=_ValidateLast())
    if c.bf16: learn.to_bf16()
    return learn

def _lr(learn, frozen:bool) -> float:
    "The learning-rate rule of both sides: fastai's `lr_find` valley, on the model as its first training phase sees it"
    if frozen: learn.freeze()
    set_seed(0)
    with learn.no_bar(), learn.no_logging(): lr = learn.lr_find(show_plot=False).valley
    learn.unfreeze()
    return float(lr)

def _train(learn, side:str, epochs:int, lr:float):
    "CPC side: fastai's transfer recipe `fine_tune` (head alone for a quarter of the epochs, then all). Scratch: `fit_one_cycle`"
    with learn.no_bar(), learn.no_logging():
        if side == 'cpc':
            frozen = max(1, epochs // 4)
            learn.fine_tune(epochs - frozen, lr, freeze_epochs=frozen)
        else: learn.fit_one_cycle(epochs, lr)
        return float(learn.validate()[1])

def pretrain(pool, c, out:Path, kw:dict) -> tuple:
    "Pre-train CPC on the pool's images (labels unused) and save the encoder"
    t = time.time()
    dls = cpc_dls(pool, size=c.size, patch_size=c.patch_size, bs=min(c.pre_bs, len(pool)//2), **kw)
    learn = cpc_learner(dls, c.arch, n_dirs=c.n_dirs, context_dim=c.context_dim, context_blocks=c.context_blocks)
    if c.bf16: learn.to_bf16()
    with learn.no_bar(): learn.fit_one_cycle(c.pre_epochs, c.pre_lr)
    vals = learn.recorder.values[-1]
    info = dict(epochs=c.pre_epochs, lr=c.pre_lr, images=len(pool), seconds=round(time.time() - t, 1),
                final_train_loss=float(learn.recorder.losses[-1]), final_valid_loss=float(vals[1]), cpc_accuracy=float(vals[2]),
                chance_loss=math.log(dls.bs * grid_size(c.size, c.patch_size)**2))
    return save_encoder(learn, out), info

def _log(msg:str): print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

def run_dataset(name:str, c:AttrDict, out_dir:Path, seeds:int, fracs, kw:dict, log=_log) -> dict:
    "Pre-train, then fine-tune both sides at every fraction and seed; every run and summary in one dict"
    path = resolve_data(name)
    pool = _sample(get_image_files(path/'train'), c.n_pool)
    valid = _sample(get_image_files(path/_valid_folder(path, None)), c.n_valid)
    log(f"{name}: {len(pool)} training images (pre-training and label pool), {len(valid)} validation images, "
        f"{c.size} px, {c.patch_size} px patches")
    enc_file, pre = pretrain(pool, c, out_dir/f'.{c.profile}-{name}-encoder.pth', kw)
    log(f"  pre-trained in {pre['seconds']:.0f} s: training loss {pre['final_train_loss']:.3f} (chance {pre['chance_loss']:.3f}), "
        f"contrastive accuracy {pre['cpc_accuracy']:.4f}")
    ft_kw = {**kw, 'num_workers': c.ft_workers} if c.ft_workers is not None else kw
    if ft_kw.get('num_workers'): ft_kw['persistent_workers'] = True  # no new worker processes at every epoch
    def dls_of(frac, seed):
        trn = label_subset(pool, frac, seed=seed)
        return labelled_dls(trn, valid, size=c.size, bs=min(c.bs, len(trn)), **ft_kw)
    encoders = {'cpc': enc_file, 'scratch': c.arch}
    full = dls_of(1.0, 0)
    # on the whole pool: on a 1-10% subset lr_find's 100 steps cycle over a handful of batches and its curve is noise
    lrs = {side: _lr(_classifier(full, enc, c), frozen=side == 'cpc') for side, enc in encoders.items()}
    log(f"  learning rates from lr_find on the whole labelled pool: {lrs}")
    probes = {}
    for side, enc in encoders.items():
        torch.manual_seed(0)
        probes[side] = dict(linear=linear_probe(full, enc, patch_size=c.patch_size), knn=knn_accuracy(full, enc, patch_size=c.patch_size))
    log(f"  frozen encoder, 100% labels: {probes}")
    runs = []
    for frac in fracs:
        for seed in range(n_seeds(frac, seeds)):
            dls = dls_of(frac, seed)
            epochs = ft_epochs(len(dls.train_ds), dls.bs, c.min_epochs, c.min_steps)
            for side, enc in encoders.items():
                set_seed(seed)
                t = time.time()
                acc = _train(_classifier(dls, enc, c), side, epochs, lrs[side])
                runs.append(dict(side=side, frac=frac, seed=seed, labels=len(dls.train_ds), epochs=epochs, lr=lrs[side],
                                 accuracy=acc, seconds=round(time.time() - t, 1)))
                log(f"  {side:7s} {frac:>5.0%} seed {seed}: {len(dls.train_ds)} labels, {epochs} epochs, accuracy {acc:.4f}, {runs[-1]['seconds']:.0f} s")
    cfg = {**{k: v for k, v in c.items() if k != 'datasets'}, 'n_valid_used': len(valid)}
    return dict(dataset=Path(name).name, path=str(path), config=cfg, pretrain=pre, lrs=lrs, probes=probes, runs=runs, summary=summarise(runs))

def summarise(runs:list) -> list:
    "Mean and spread per fraction and side, the difference, and the label-efficiency factor at each CPC point"
    rows, sup = [], {}
    for frac in sorted({r['frac'] for r in runs}):
        row = dict(frac=frac, labels=first(r['labels'] for r in runs if r['frac'] == frac))
        for side in ('cpc', 'scratch'):
            accs = np.array([r['accuracy'] for r in runs if r['frac'] == frac and r['side'] == side])
            row[side] = dict(mean=float(accs.mean()), std=float(accs.std(ddof=1)) if len(accs) > 1 else 0., n=len(accs))
        sup[frac] = row['scratch']['mean']
        rows.append(row)
    for row in rows: row['factor'] = efficiency_factor(row['frac'], row['cpc']['mean'], sup)
    return rows

def _meta(profile:str) -> dict:
    git = lambda *a: subprocess.run(['git', *a], capture_output=True, text=True, cwd=Path(__file__).parent).stdout.strip()
    try: commit = git('rev-parse', 'HEAD') + (' (with uncommitted changes)' if git('status', '--porcelain', '--untracked-files=no') else '')
    except OSError: commit = 'unknown'
    dev = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    return dict(command=' '.join(['python'] + [shlex.quote(a) for a in sys.argv]), profile=profile, device=dev,
                versions=dict(python=platform.python_version(), torch=torch.__version__, fastai=fastai.__version__, fastai_cpc=fastai_cpc.__version__),
                commit=commit, date=dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'))

def _pm(s:dict) -> str: return f"{s['mean']:.3f} ± {s['std']:.3f}" if s['n'] > 1 else f"{s['mean']:.3f}"

def to_markdown(res:dict) -> str:
    "The results file: what was run, where, and the table"
    m, c, p = res['meta'], res['config'], res['pretrain']
    lines = [f"# Label efficiency, `{m['profile']}` profile, {res['dataset']}", "",
             f"- command: `{m['command']}`", f"- device: {m['device']}",
             f"- versions: " + ', '.join(f'{k} {v}' for k, v in m['versions'].items()), f"- commit: `{m['commit']}`", f"- date: {m['date']}",
             f"- data: {p['images']} training images (pre-training and label pool; 100% = all of them), "
             f"{c['n_valid_used']} validation images, {c['size']} px, {c['patch_size']} px patches, encoder `{c['arch']}`, head `{c['head']}`",
             f"- pre-training: {p['epochs']} epochs, lr {p['lr']}, {p['seconds']:.0f} s; final training loss {p['final_train_loss']:.3f} "
             f"(chance ln(B*G*G) = {p['chance_loss']:.3f}), validation loss {p['final_valid_loss']:.3f}, contrastive accuracy {p['cpc_accuracy']:.4f}",
             f"- fine-tuning, both sides: epochs = max({c['min_epochs']}, enough for {c['min_steps']} steps); learning rate from `lr_find` "
             f"(valley) on the whole labelled pool, each side's own model as its first phase trains it (CPC: head only): CPC {res['lrs']['cpc']:.2e}, scratch {res['lrs']['scratch']:.2e}. "
             f"CPC: `fine_tune` (head alone for a quarter of the epochs); scratch: `fit_one_cycle`.",
             "", "| labels | images | CPC accuracy | scratch accuracy | CPC - scratch | label-efficiency factor |", "|---|---|---|---|---|---|"]
    for r in res['summary']:
        f, q = r['factor']
        lines.append(f"| {r['frac']:.0%} | {r['labels']} | {_pm(r['cpc'])} | {_pm(r['scratch'])} | {r['cpc']['mean'] - r['scratch']['mean']:+.3f} | "
                     f"{'' if q == '=' else q}{f:.2f}x |")
    pr = res['probes']
    lines += ["", "Mean ± sample standard deviation over seeds (`n_seeds` per fraction in the JSON). Factor: smallest scratch fraction "
              "reaching the CPC accuracy (log-linear interpolation) over the CPC fraction; `>` when scratch never reaches it, `<=` when its smallest fraction already does.",
              "", "| frozen encoder, 100% labels | linear probe | kNN (k=20) |", "|---|---|---|",
              f"| CPC pre-trained | {pr['cpc']['linear']:.3f} | {pr['cpc']['knn']:.3f} |",
              f"| random init | {pr['scratch']['linear']:.3f} | {pr['scratch']['knn']:.3f} |", ""]
    return '\n'.join(lines)

def plot(res:dict, fname:Path):
    "Accuracy against label fraction on a log axis, both sides, like the paper's Figure 1"
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    fr = [r['frac'] * 100 for r in res['summary']]
    for side, label in (('cpc', 'CPC v2 + fine_tune'), ('scratch', 'from scratch')):
        ax.errorbar(fr, [r[side]['mean'] for r in res['summary']], yerr=[r[side]['std'] for r in res['summary']], marker='o', capsize=3, label=label)
    ax.set_xscale('log'); ax.set_xticks(fr); ax.set_xticklabels([f'{f:g}%' for f in fr])
    ax.set_xlabel('labelled training images'); ax.set_ylabel('validation accuracy'); ax.grid(alpha=.3); ax.legend()
    ax.set_title(f"{res['dataset']}, {res['meta']['profile']} profile")
    fig.tight_layout(); fig.savefig(fname, dpi=100); plt.close(fig)

def write_results(res:dict, out_dir:Path) -> list:
    "`<profile>-<dataset>` .json, .md and .png in `out_dir`"
    stem = out_dir/f"{res['meta']['profile']}-{res['dataset']}"
    stem.with_suffix('.json').write_text(json.dumps(res, indent=1))
    stem.with_suffix('.md').write_text(to_markdown(res))
    plot(res, stem.with_suffix('.png'))
    return [stem.with_suffix(s) for s in ('.json', '.md', '.png')]

@call_parse
def main(profile:str='cpu', # 'cpu' or 'gpu'
         datasets:str=None, # comma-separated data set names or folders; the profile's by default
         out:str='benchmarks/results', # folder for the results
         seeds:int=3, # seeds at fractions of 10% and below
         fracs:str=None, # comma-separated label fractions; 0.01,...,1 by default
         n_pool:int=None, # training images to use (all if 0); the profile's by default
         n_valid:int=None, # validation images to use (all if 0)
         pre_epochs:int=None, # pre-training epochs
         min_epochs:int=None, # fewest fine-tuning epochs
         min_steps:int=None, # fewest fine-tuning steps
         size:int=None, # image side (the profile's per data set by default)
         patch_size:int=None, # patch side
         num_workers:int=None, # DataLoader workers (fastai's default if not given)
        ):
    "Run the label-efficiency benchmark and write its results"
    if profile not in profiles: sys.exit(f"label_efficiency: unknown profile {profile!r}: use one of {', '.join(profiles)}")
    given = dict(n_pool=n_pool, n_valid=n_valid, pre_epochs=pre_epochs, min_epochs=min_epochs, min_steps=min_steps, size=size, patch_size=patch_size)
    given = {k: v for k, v in given.items() if v is not None}
    fr = [float(f) for f in fracs.split(',')] if fracs else fractions
    out_dir = Path(out); out_dir.mkdir(parents=True, exist_ok=True)
    kw = dict(num_workers=ifnone(num_workers, defaults.cpus))
    for name in (datasets.split(',') if datasets else profiles[profile]['datasets']):
        # the profile, then its settings for this data set, then what the command line says
        c = AttrDict({**profiles[profile], **_per_dataset[profile].get(name, {}), **given, 'profile': profile})
        for k in ('n_pool', 'n_valid'): c[k] = c[k] or None
        t, meta = time.time(), _meta(profile)  # the code as it was when the run started
        res = run_dataset(name, c, out_dir, seeds, fr, kw)
        res['meta'] = {**meta, 'seconds': round(time.time() - t, 1)}
        for f in write_results(res, out_dir): print(f"wrote {f}")
