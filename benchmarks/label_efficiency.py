"""Label-efficiency benchmark, as a user meets it (the paper's Figure 1): pre-train CPC v2 on every training image,
labels unused, then train classifiers on stratified subsets of the whole labelled training split, 1% to 100%:

- `cpc_finetune`: the CPC encoder and a head, `fine_tune` (one epoch for the head, then every layer at the same rate);
- `cpc_frozen`: the CPC encoder frozen, the head trained (the paper's linear evaluation);
- `scratch`: the same classifier from random weights, `fit_one_cycle`;
- `fastai`: what a fastai user would do without this package, `vision_learner` with an `xresnet` from random weights, `fit_one_cycle`;
- `cpc_fixmatch`, `scratch_fixmatch` (at 5% and below): `cpc_finetune` and `scratch` with the `FixMatch` callback, which uses
  every training image again, unlabelled, while fine-tuning.

    python benchmarks/label_efficiency.py --profile cpu     # Imagenette + CIFAR-10 on a 2-core CPU
    python benchmarks/label_efficiency.py --profile gpu     # Imagenette 96 px + CIFAR-10 on one GPU, bf16

Every side gets the same subsets, the same epochs rule and the same fixed learning rate: nothing is chosen on the
validation images (the CPC fine-tuning rule was chosen on held-out training images, `benchmarks/finetune_rule.py`).
The pre-trained encoder is cached in models/label-efficiency/ under a name made of its settings, and an interrupted
pre-training resumes from its last epoch (`fastai-cpc pretrain`'s `run_pretrain`); every finished fine-tuning run is
written at once, and a rerun with the same settings skips the runs already there (`--fresh` starts over).

Writes benchmarks/results/<profile>-<dataset>.{md,json,png}. This is a benchmark, not a test: it measures and reports.
"""
from __future__ import annotations
import json, math, sys, time
from collections import Counter
from fastcore.script import call_parse, store_true
import fastai
from fastai_cpc.all import *  # fastai's vision API too
from fastai_cpc.cli import resolve_data, run_pretrain, run_sizes
from provenance import provenance

here = Path(__file__).resolve().parent
sides = ('cpc_finetune', 'cpc_frozen', 'scratch', 'fastai', 'cpc_fixmatch', 'scratch_fixmatch')
fixmatch_sides = ('cpc_fixmatch', 'scratch_fixmatch')  # run where frac <= fixmatch_max_frac
fixmatch_keys = ('mu', 'threshold', 'lambda_u', 'fixmatch_max_frac')  # settings only the FixMatch sides read
declared_side = 'cpc_finetune'  # the CPC side the bar is judged on, declared before any run
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
_per_dataset = {'cpu': {'imagenette': dict(pre_epochs=30, n_pool=None, n_valid=None),
                        'cifar10': dict(pre_epochs=12, n_pool=20000, n_valid=5000)},
                'gpu': {'imagenette-96': dict(size=96, patch_size=24, pre_epochs=60, n_pool=None, n_valid=None),
                        'imagenette': dict(size=96, patch_size=24, pre_epochs=60, n_pool=None, n_valid=None),
                        'cifar10': dict(size=32, patch_size=8, pre_epochs=12, n_pool=None, n_valid=None)}}
fractions = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)

def settings(profile:str, dataset:str, **given) -> AttrDict:
    "The run size, then the profile, then its settings for `dataset`, then what the command line gives"
    return AttrDict({**run_sizes[profiles[profile]['run_size']], **profiles[profile], **_per_dataset[profile].get(dataset, {}), **given, 'profile': profile})

def n_seeds(frac:float, seeds:int=3) -> int:
    "Seeds per fraction: `seeds` at 10% and below, one above"
    return seeds if frac <= 0.1 else 1

def ft_epochs(n_labelled:int, bs:int, min_epochs:int, min_steps:int) -> int:
    "Epochs of a fine-tuning run: at least `min_epochs`, and at least `min_steps` optimiser steps (same rule every side)"
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

def pool_of(path:Path, n:int|None) -> L:
    "The training images used, pre-training and label pool alike: all of them, or `n` stratified over the classes"
    files = L(sorted(get_image_files(path/'train'), key=str))
    return files if n is None or n >= len(files) else label_subset(files, frac=n / len(files), seed=0)

def encoder_file(path:Path, pool:L, c:AttrDict, cache:Path) -> tuple:
    "The encoder pre-trained on `pool` with the settings of `c`, and the seconds pre-training took in this run (0: it was cached)"
    name = f"{path.name}-{c.arch}-{c.size}px-p{c.patch_size}-n{len(pool)}-e{c.pre_epochs}-bs{c.bs}-lr{c.lr:g}-d{c.n_dirs}"
    t = time.time()
    if cached := [f for f in (cache/f'{name}-encoder.safetensors', cache/f'{name}-encoder.pth') if f.exists()]: return cached[0], 0.
    enc = run_pretrain(path, out=cache, name=name, resume=(cache/f'{name}-last.pth').exists(), items=pool, **{**c, 'epochs': c.pre_epochs, 'n_train': None})
    return enc, round(time.time() - t, 1)

def classifier(side:str, dls:DataLoaders, enc:Path, c:AttrDict, pool:L=None, num_workers=None) -> Learner:
    "The `Learner` of one side, validating only at the end of training; the FixMatch sides draw unlabelled images from `pool`"
    cbs = [_ValidateLast()]
    if side in fixmatch_sides:
        cbs.append(FixMatch(unlabelled_dl(pool, dls, mu=c.mu, num_workers=num_workers), threshold=c.threshold, lambda_u=c.lambda_u))
    if side == 'fastai':
        learn = vision_learner(dls, getattr(fastai.vision.models.xresnet, c.fastai_arch), pretrained=False, metrics=accuracy, cbs=cbs)
    else: learn = cpc_classifier(dls, c.arch if side.startswith('scratch') else enc, head=c.head, patch_size=c.patch_size, cbs=cbs)
    return learn.to_bf16() if c.bf16 and torch.cuda.is_available() else learn

def train(learn:Learner, side:str, epochs:int, c:AttrDict) -> dict:
    "Train one side for `epochs` at `c.ft_lr`: its validation accuracy (and FixMatch's last-epoch `confident` share and `pseudo_acc`)"
    with learn.no_bar(), learn.no_logging():
        if side in ('cpc_finetune', 'cpc_fixmatch'): learn.fine_tune(epochs - 1, c.ft_lr, lr_mult=c.lr_mult)
        elif side == 'cpc_frozen': learn.freeze(); learn.fit_one_cycle(epochs, c.ft_lr)
        else: learn.fit_one_cycle(epochs, c.ft_lr)
        fm = getattr(learn, 'fix_match', None)
        return dict(accuracy=float(learn.validate()[1]), **(dict(confident=fm.share, pseudo_acc=fm.pseudo_acc) if fm else {}))

def _log(msg:str): print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

def run_dataset(name:str, c:AttrDict, out_dir:Path, cache:Path, seeds:int, fracs, kw:dict, fresh:bool=False, log=_log, meta:dict=None,
                only:tuple=sides) -> dict:
    "Pre-train (or load the cached encoder), then train every side at every fraction and seed; results written after every run"
    path = resolve_data(name)
    pool = pool_of(path, c.n_pool)
    vfiles = L(sorted(get_image_files(path/valid_folder(path)), key=str))
    valid = vfiles if c.n_valid is None or c.n_valid >= len(vfiles) else vfiles[np.random.default_rng(0).permutation(len(vfiles))[:c.n_valid]]
    cfg = {k: v for k, v in c.items() if k != 'datasets'}
    res = dict(meta=meta, dataset=Path(name).name, path=str(path), config=cfg, declared_side=declared_side, sides=list(sides), runs=[])
    stem = out_dir/f"{c.profile}-{res['dataset']}"
    partial = stem.with_suffix('.partial.json')  # the runs so far; the results files are written when every run is done
    old = next((json.loads(f.read_text()) for f in (partial, stem.with_suffix('.json')) if f.exists() and not fresh), {})
    new, prior = json.loads(json.dumps(cfg)), old.get('config')
    if prior is not None and old.get('pool') == len(pool) and all(k in new and new[k] == v for k, v in prior.items() if k not in fixmatch_keys):
        fm_same = all(prior.get(k, new[k]) == new[k] for k in fixmatch_keys)  # settings added since do not void earlier runs; FixMatch's void only its runs
        res['runs'] = [r for r in old['runs'] if fm_same or r['side'] not in fixmatch_sides]
    log(f"{name}: {len(pool)} training images (pre-training and label pool), {len(valid)} validation images, {c.size} px, "
        f"{c.patch_size} px patches; {len(res['runs'])} runs already done")
    enc, secs = encoder_file(path, pool, c, cache)
    res.update(pool=len(pool), n_valid=len(valid), encoder=str(enc), pretrain_seconds=secs)
    log(f"  encoder {enc} ({f'pre-trained in {secs:.0f} s' if secs else 'cached'})")
    ft_kw = {**kw, 'num_workers': c.ft_workers} if c.ft_workers is not None else kw
    if ft_kw.get('num_workers'): ft_kw['persistent_workers'] = True  # no new worker processes at every epoch
    if res['runs'] and 'probes' in old: res['probes'] = old['probes']
    else:
        full = labelled_dls(pool, valid, size=c.size, bs=min(c.ft_bs, len(pool)), **ft_kw)
        torch.manual_seed(0)
        res['probes'] = {k: dict(linear=linear_probe(full, e, patch_size=c.patch_size), knn=knn_accuracy(full, e, patch_size=c.patch_size))
                         for k, e in (('cpc', enc), ('random', c.arch))}
    log(f"  frozen encoder, 100% labels: {res['probes']}")
    done = {(r['side'], r['frac'], r['seed']) for r in res['runs']}
    for frac in fracs:
        for seed in range(n_seeds(frac, seeds)):
            trn = label_subset(pool, frac, seed=seed)
            dls = labelled_dls(trn, valid, size=c.size, bs=min(c.ft_bs, len(trn)), **ft_kw)
            epochs = ft_epochs(len(trn), dls.bs, c.min_epochs, c.min_steps)
            for side in only:
                if (side, frac, seed) in done or (side in fixmatch_sides and frac > c.fixmatch_max_frac): continue
                set_seed(seed); t = time.time()
                out = train(classifier(side, dls, enc, c, pool, ft_kw.get('num_workers')), side, epochs, c)
                res['runs'].append(dict(side=side, frac=frac, seed=seed, labels=len(trn), epochs=epochs, **out, seconds=round(time.time() - t, 1),
                                        device=(meta or {}).get('device')))  # a resumed run may finish on another machine
                fm = f", confident {out['confident']:.2f}, pseudo-labels right {out['pseudo_acc']:.2f}" if 'confident' in out else ''
                log(f"  {side:12s} {frac:>5.0%} seed {seed}: {len(trn)} labels, {epochs} epochs, accuracy {out['accuracy']:.4f}{fm}, {res['runs'][-1]['seconds']:.0f} s")
                res['summary'] = summarise(res['runs'])
                partial.write_text(json.dumps(res, indent=1, default=str))  # an interrupted run keeps what it measured
    res['summary'] = summarise(res['runs'])
    return res

def _stats(accs) -> dict:
    a = np.array(accs)
    return dict(mean=float(a.mean()), std=float(a.std(ddof=1)) if len(a) > 1 else 0., n=len(a))

def summarise(runs:list) -> list:
    "Per fraction: mean, spread and n of every side, and each CPC side's label-efficiency factor against scratch and fastai"
    rows = []
    for frac in sorted({r['frac'] for r in runs}):
        row = dict(frac=frac, labels=first(r['labels'] for r in runs if r['frac'] == frac))
        for side in sides:
            accs = [r['accuracy'] for r in runs if r['frac'] == frac and r['side'] == side]
            if accs: row[side] = _stats(accs)
        rows.append(row)
    for base in ('scratch', 'fastai'):
        sup = {r['frac']: r[base]['mean'] for r in rows if base in r}
        if not sup: continue
        for r in rows:
            for side in ('cpc_finetune', 'cpc_frozen'):
                if side in r: r.setdefault('factors', {}).setdefault(side, {})[base] = efficiency_factor(r['frac'], r[side]['mean'], sup)
    return rows

def _devices(res:dict) -> str:
    "The device, or each device with its number of runs when an interrupted run was resumed on another machine"
    n = Counter(r.get('device') or res['meta']['device'] for r in res['runs'])
    return res['meta']['device'] if len(n) < 2 else ', '.join(f"{d} ({k} runs)" for d, k in n.items())

def _pm(s:dict|None) -> str:
    if s is None: return ''
    return f"{s['mean']:.3f} ± {s['std']:.3f}" if s['n'] > 1 else f"{s['mean']:.3f}"

def _factor(f) -> str: return '' if f is None else f"{'' if f[1] == '=' else f[1]}{f[0]:.2f}x"
def _n(k:int, word:str) -> str: return f"{k} {word}{'' if k == 1 else 's'}"

def to_markdown(res:dict) -> str:
    "The results file: what was run, where, and the table"
    m, c = res['meta'], res['config']
    fm = any(r['side'] in fixmatch_sides for r in res['runs'])  # their columns only where they ran
    fm_text = (f"; `cpc_fixmatch`, `scratch_fixmatch`: `cpc_finetune` and `scratch` with the `FixMatch` callback (mu={c['mu']}, threshold "
               f"{c['threshold']}, lambda_u {c['lambda_u']}; every training image again, unlabelled), at {c['fixmatch_max_frac']:.0%} and below") if fm else ''
    lines = [f"# Label efficiency, `{m['profile']}` profile, {res['dataset']}", "",
             f"- command: `{m['command']}`", f"- device: {_devices(res)}",
             f"- versions: " + (v if isinstance(v := m['versions'], str) else ', '.join(f'{k} {x}' for k, x in v.items())), f"- commit: `{m['commit']}`", f"- date: {m['date']}",
             f"- data: {res['pool']} training images, pre-training (labels unused) and label pool alike (100% = all of them); "
             f"{res['n_valid']} validation images, never seen before evaluation; {c['size']} px, {c['patch_size']} px patches",
             f"- pre-training: encoder `{c['arch']}`, {c['pre_epochs']} epochs, batch {c['bs']}, lr {c['lr']}, {c['n_dirs']} directions "
             f"({res['pretrain_seconds']:.0f} s in this run; 0 means the cached encoder `{Path(res['encoder']).name}`)",
             f"- every side: the same subsets (stratified; {_n(max(r['seed'] for r in res['runs']) + 1, 'seed')} at 10% and below, one above), "
             f"epochs = max({c['min_epochs']}, enough for {c['min_steps']} steps of batch {c['ft_bs']}), one-cycle at lr {c['ft_lr']} "
             f"(fixed, not tuned on validation images); head `{c['head']}` for the CPC sides and scratch. `cpc_finetune`: `fine_tune` "
             f"with lr_mult={c['lr_mult']} (one epoch for the head, then all layers); `cpc_frozen`: encoder frozen, head trained; "
             f"`scratch`: the same classifier from random weights; `fastai`: `vision_learner({c['fastai_arch']}, pretrained=False)`{fm_text}",
             f"- declared side (judged by the bar): `{res['declared_side']}`", "",
             f"| labels | images | CPC fine-tuned | CPC frozen | scratch | fastai {c['fastai_arch']} |{' CPC + FixMatch | scratch + FixMatch |' if fm else ''} "
             f"{declared_side} - scratch | factor vs scratch | factor vs fastai |", "|---" * (9 + 2 * fm) + "|"]
    for r in res['summary']:
        d, s, fs = r.get(declared_side), r.get('scratch'), r.get('factors', {}).get(declared_side, {})
        diff = f"{d['mean'] - s['mean']:+.3f}" if d and s else ''
        fms = ''.join(f" {_pm(r.get(k))} |" for k in fixmatch_sides) if fm else ''
        lines.append(f"| {r['frac']:.0%} | {r['labels']} | {_pm(d)} | {_pm(r.get('cpc_frozen'))} | {_pm(s)} | {_pm(r.get('fastai'))} |{fms} {diff} | "
                     f"{_factor(fs.get('scratch'))} | {_factor(fs.get('fastai'))} |")
    pr = res['probes']
    lines += ["", "Mean ± sample standard deviation over seeds (n per side and fraction in the JSON's `summary`). Factor: the smallest "
              "fraction at which the baseline reaches the CPC side's accuracy (log-linear interpolation), over the CPC fraction; `>` when "
              "the baseline never reaches it (a lower bound), `<=` when its smallest fraction already does.",
              "", "| frozen encoder, 100% labels | linear probe | kNN (k=20) |", "|---|---|---|",
              f"| CPC pre-trained | {pr['cpc']['linear']:.3f} | {pr['cpc']['knn']:.3f} |",
              f"| random init | {pr['random']['linear']:.3f} | {pr['random']['knn']:.3f} |", ""]
    return '\n'.join(lines + [f"{n}\n" for n in res.get('notes', [])])  # `notes`: what the run left out or changed, in its JSON

_labels = {'cpc_finetune': 'CPC + fine_tune', 'cpc_frozen': 'CPC, frozen encoder', 'scratch': 'same classifier, from scratch', 'fastai': 'fastai xresnet, from scratch',
           'cpc_fixmatch': 'CPC + fine_tune + FixMatch', 'scratch_fixmatch': 'from scratch + FixMatch'}

def plot(res:dict, fname:Path):
    "Accuracy against labelled fraction on a log axis, every side, like the paper's Figure 1"
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for side in sides:
        rows = [r for r in res['summary'] if side in r]
        if not rows: continue
        ax.errorbar([r['frac'] * 100 for r in rows], [r[side]['mean'] for r in rows], yerr=[r[side]['std'] for r in rows],
                    marker='o', capsize=3, label=_labels[side].replace('xresnet', res['config']['fastai_arch']))
    fr = [r['frac'] * 100 for r in res['summary']]
    ax.set_xscale('log'); ax.set_xticks(fr); ax.set_xticklabels([f'{f:g}%' for f in fr])
    ax.set_xlabel('labelled training images'); ax.set_ylabel('validation accuracy'); ax.grid(alpha=.3); ax.legend(fontsize=8)
    ax.set_title(f"{res['dataset']}, {res['meta']['profile']} profile")
    fig.tight_layout(); fig.savefig(fname, dpi=100); plt.close(fig)

def write_results(res:dict, out_dir:Path) -> list:
    "`<profile>-<dataset>` .json, .md and .png in `out_dir`"
    stem = out_dir/f"{res['meta']['profile']}-{res['dataset']}"
    stem.with_suffix('.json').write_text(json.dumps(res, indent=1, default=str))
    stem.with_suffix('.md').write_text(to_markdown(res))
    plot(res, stem.with_suffix('.png'))
    return [stem.with_suffix(s) for s in ('.json', '.md', '.png')]

@call_parse
def main(profile:str='cpu', # 'cpu' or 'gpu'
         datasets:str=None, # comma-separated data set names or folders; the profile's by default
         out:str=str(here/'results'), # folder for the results
         cache:str=str(here.parent/'models'/'label-efficiency'), # folder for the pre-trained encoders and their checkpoints
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
         fresh:store_true=False, # ignore the runs of an earlier, interrupted invocation with the same settings
         sides:str=None, # comma-separated sides to run (all by default), e.g. cpc_fixmatch,scratch_fixmatch to add them to earlier results
        ):
    "Run the label-efficiency benchmark and write its results"
    if profile not in profiles: sys.exit(f"label_efficiency: unknown profile {profile!r}: use one of {', '.join(profiles)}")
    given = dict(n_pool=n_pool, n_valid=n_valid, pre_epochs=pre_epochs, min_epochs=min_epochs, min_steps=min_steps, size=size, patch_size=patch_size)
    given = {k: v for k, v in given.items() if v is not None}
    fr = [float(f) for f in fracs.split(',')] if fracs else fractions
    only = tuple(sides.split(',')) if sides else globals()['sides']  # the parameter hides the module's tuple of every side
    if bad := [o for o in only if o not in globals()['sides']]: sys.exit(f"label_efficiency: unknown side {bad[0]!r}: use some of {', '.join(globals()['sides'])}")
    out_dir = Path(out); out_dir.mkdir(parents=True, exist_ok=True)
    kw = dict(num_workers=ifnone(num_workers, defaults.cpus))
    for name in (datasets.split(',') if datasets else profiles[profile]['datasets']):
        c = settings(profile, name, **given)
        for k in ('n_pool', 'n_valid'): c[k] = c[k] or None
        t, meta = time.time(), provenance('cuda' if torch.cuda.is_available() else 'cpu', profile=profile)  # the code as it was when the run started
        res = run_dataset(name, c, out_dir, Path(cache), seeds, fr, kw, fresh=fresh, meta=meta, only=only)
        res['meta'] = {**meta, 'seconds': round(time.time() - t, 1)}
        for f in write_results(res, out_dir): print(f"wrote {f}")
        (out_dir/f"{profile}-{res['dataset']}.partial.json").unlink(missing_ok=True)
