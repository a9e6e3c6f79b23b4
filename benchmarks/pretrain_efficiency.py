"""Pre-training efficiency: what a fixed budget of compute buys, measured by what the frozen encoder knows.

    python -m benchmarks.pretrain_efficiency --data imagenette --minutes 30 --variants default,ctx64,ctx64-cos
    python -m benchmarks.pretrain_efficiency --data cifar10 --minutes 30 --variants default
    python -m benchmarks.pretrain_efficiency --profile gpu --data imagenette --minutes 5     # one GPU, the `gpu` run size

Each variant pre-trains a CPC model on every training image of the data set (labels unused; validation images never
seen) for the same budget of compute. On a CPU the budget is the process's CPU time (`time.process_time()`, every
thread: `--minutes 30` on 2 threads is 60 CPU-minutes), so a shared machine's drifting speed does not change what a
variant gets; on a GPU it is the synchronised wall time of the training steps. Data loading is counted too: on a CPU
it runs in the process (`num_workers=0`); on a GPU the images are decoded once onto it (`cpc_dls(..., on_device=True)`, as the `gpu`
run size does) and every batch is cut and augmented there. The one-cycle schedule follows the fraction of the budget used.

At every `--every` minutes of the budget, and at its end, the run stops the clock and records the training loss, the
contrastive top-1 accuracy on validation images, and the frozen encoder's kNN and linear-probe accuracy: features of a
fixed labelled probe set (`--per-class` training images per class) against every validation image. A randomly
initialised encoder of the same preset gives the floor. A sanity check first trains each variant on one fixed,
un-augmented batch: the loss must fall far below chance (ln of the candidates).

Writes benchmarks/results/pretrain-<profile>-<dataset>.md/.json/.png (command, device, versions, commit and date) after every
point, and caches each variant's final encoder in models/pretrain/. A rerun keeps the variants that file has finished at the
same settings and budget (named again or not) and trains the others; one cut off mid-way starts over (`--fresh`: all of them). This is a benchmark, not a test: it measures and reports.
"""
from __future__ import annotations
import json, math, sys, time
from fastcore.script import call_parse, store_true, bool_arg
from fastai_cpc.all import *  # fastai's vision API too
from fastai_cpc.recipes import resolve_data, run_sizes, bf16_if_asked
from .common import provenance

here = Path(__file__).resolve().parent
# What every variant shares in a profile: image and patch size, encoder preset, precision, data path
profiles = {p: dict({k: getattr(run_sizes[p], k) for k in ('size', 'patch_size', 'arch', 'bf16', 'on_device')}, device=d)  # the fastai-cpc run sizes'
            for p, d in (('cpu', 'cpu'), ('gpu', 'cuda'))}
# The variants of the study: pre-training settings, each a change from `cpc_learner`'s defaults.
# 'default' is what `cpc_learner` and the `fastai-cpc` run sizes use now, read from the library itself.
VARIANTS = {
    'paper':      dict(bs=64, lr=5e-4, n_dirs=4, context_dim=256, context_blocks=5),  # the defaults before this study
    'ctx64':      dict(bs=32, lr=5e-4, n_dirs=2, context_dim=64, context_blocks=2),    # the context network sized to `tiny`
    'ctx64-lr1e-3': dict(bs=32, lr=1e-3, n_dirs=2, context_dim=64, context_blocks=2),
    'ctx64-bs64': dict(bs=64, lr=1e-3, n_dirs=2, context_dim=64, context_blocks=2),  # twice the negatives, half the steps
    'ctx64-1dir': dict(bs=32, lr=5e-4, n_dirs=1, context_dim=64, context_blocks=2),  # one direction: cheaper steps
    'ctx64-1dir-lr1e-3': dict(bs=32, lr=1e-3, n_dirs=1, context_dim=64, context_blocks=2),
    'ctx64-lr2e-3': dict(bs=32, lr=2e-3, n_dirs=2, context_dim=64, context_blocks=2),
    'ctx64-cos':  dict(bs=32, lr=5e-4, n_dirs=2, context_dim=64, context_blocks=2, temperature=0.1),
    'ctx64-cos-lr2e-3': dict(bs=32, lr=2e-3, n_dirs=2, context_dim=64, context_blocks=2, temperature=0.1),
    'ctx64-cos-off234': dict(bs=32, lr=5e-4, n_dirs=2, context_dim=64, context_blocks=2, temperature=0.1, offsets=(2, 3, 4)),
    'ctx64-cos-bs64': dict(bs=64, lr=1e-3, n_dirs=2, context_dim=64, context_blocks=2, temperature=0.1),
    'ctx64-cos-mildaug': dict(bs=32, lr=5e-4, n_dirs=2, context_dim=64, context_blocks=2, temperature=0.1, aug='mild'),
}
# Changes from today's defaults, one at a time (the rest of the study's leads): several offsets, milder or ramped
# per-patch augmentation, weight decay, a flat-then-cosine schedule. Resolution is the profile's: `--size`/`--patch-size`.
DEFAULT_DELTAS = {'off234': dict(offsets=(2, 3, 4)), 'mildaug': dict(aug='mild'), 'rampaug': dict(aug='ramp'),
                  'wd0.1': dict(wd=0.1), 'flatcos': dict(sched='flat_cos')}
_learner_args = ('offsets', 'n_dirs', 'target_dim', 'context_dim', 'context_blocks', 'temperature')
# The self-supervised peers (`fastai_cpc.peers`: lightly's SimCLR and BYOL), named `<method>-<backbone>`, at lightly's published
# CIFAR-10 settings (docs/source/getting_started/benchmarks/cifar10_benchmark.py): batch 128, its own (not scaled to CPC's 32:
# each method runs at the batch its authors published), SGD at 0.06 with momentum 0.9 and weight decay 5e-4, a cosine schedule
# over the budget; on lightly's CIFAR ResNet-18 and on the profile's own encoder preset applied to the whole image
PEER_METHODS = ('simclr', 'byol')
def peer_variants(arch:str) -> dict:
    "The peers' variants, on lightly's ResNet-18 and on our `arch` over the whole image"
    return {f'{m}-{a}': dict(method=m, arch=a, bs=128, lr=peer_lr(128), sched='cos') for m in PEER_METHODS for a in ('resnet18', arch)}

def default_variant(profile:str) -> dict:
    "The settings `cpc_learner` and the `fastai-cpc` run size of `profile` use today"
    sig = inspect.signature(cpc_learner).parameters
    r = run_sizes[profile]
    return dict({k: sig[k].default for k in _learner_args if k in sig}, bs=r.bs, lr=r.lr, n_dirs=r.n_dirs)

def augmentation(name:str|None) -> PatchAugment|None:
    "Per-patch augmentation of a variant: the default, 'mild' (no colour dropping, half the jitter) or 'ramp' (the default, grown by `AugmentRamp`)"
    if name in (None, 'default', 'ramp'): return PatchAugment()
    if name == 'mild': return PatchAugment(p_drop=0., p_grey=0.1, brightness=0.2, contrast=0.2, saturation=0.2, jitter=0.1)
    raise ValueError(f"unknown augmentation {name!r}: use 'default', 'mild' or 'ramp'")

class AugmentRamp(Callback):
    "Grow the per-patch augmentation `aug` linearly from none to its full strength over the first `until` of the budget"
    order, _strength = 51, ('p_drop', 'p_grey', 'brightness', 'contrast', 'saturation', 'jitter')  # after ComputeBudget sets pct_train
    def __init__(self, aug:PatchAugment, until:float=0.5): self.aug, self.until, self.full = aug, until, {k: getattr(aug, k) for k in self._strength}
    def before_batch(self):
        if not self.training: return
        f = min(1., self.learn.pct_train / self.until)
        for k, v in self.full.items(): setattr(self.aug, k, v * f)

class ComputeBudget(Callback):
    "Stop `fit` once `clock` has run `stop_at` seconds of training; the schedules follow the fraction of `total` used"
    order = 50 # after TrainEvalCallback moves pct_train, before ParamScheduler reads it
    def __init__(self, clock, total:float):
        self.clock, self.total, self.used, self.stop_at, self.losses, self.steps, self.images = clock, total, 0., total, [], 0, 0
    def before_train(self): self.t0 = self.clock()
    def before_batch(self):
        if self.training: self.learn.pct_train = min(self.used / self.total, 1.)
    def after_batch(self):
        if not self.training: return
        t = self.clock(); self.used += t - self.t0; self.t0 = t
        self.losses.append(self.learn.loss.item()); self.steps += 1; self.images += find_bs(self.learn.xb)
        if self.used >= self.stop_at: raise CancelFitException
    def before_validate(self): raise CancelValidException # validation is measured at the points, off the clock

def _clock(device:str):
    "The budget's clock: CPU seconds of this process (all threads) on a CPU, synchronised wall seconds on a GPU"
    if device == 'cuda': return lambda: (torch.cuda.synchronize(), time.perf_counter())[1]
    return time.process_time

def probe_set(path:Path, per_class:int, size:int, device:str) -> tuple:
    "The fixed labelled probe set: `per_class` training images per class and every validation image, as batches of tensors"
    n_classes = len([d for d in (path/'train').iterdir() if d.is_dir()])
    dls = subset_dls(path, n_per_class=per_class, size=size, bs=min(256, n_classes * per_class), num_workers=0, device=device)
    trn = dls.test_dl(dls.train_ds.items, with_labels=True, bs=256)
    grab = lambda dl: [(xb.as_subclass(Tensor), yb.as_subclass(Tensor)) for xb, yb in dl]
    return grab(trn), grab(dls.valid)

def probe(encoder, batches:tuple, patch_size:int|None) -> dict:
    "kNN (k=20) and linear-probe accuracy of a frozen encoder on the probe set: a CPC encoder on patches, or (`patch_size=None`) a peer's backbone on whole images"
    train, valid = ((embed(encoder, b, patch_size) if patch_size else embed_images(encoder, b)) for b in batches)
    return dict(knn=knn_score(train, valid, k=20), linear=linear_score(train, valid, epochs=20, device=batches[0][0][0].device))

def sanity(c:dict, v:dict, xb:Tensor, steps:int) -> dict:
    "Train a fresh model of the variant on one fixed, un-augmented batch: the loss must fall far below chance"
    set_seed(0)
    model = create_cpc_model(c['arch'], **{k: v[k] for k in _learner_args if k in v and k != 'temperature'}).to(xb.device)
    lf = CPCLoss(v.get('offsets', (3,)), temperature=v.get('temperature'))
    opt = torch.optim.Adam(model.parameters(), v['lr'])
    losses = []
    for _ in range(steps):
        with torch.autocast(xb.device.type, torch.bfloat16, enabled=c['bf16']): loss = lf(model(xb))
        loss.backward(); opt.step(); opt.zero_grad(); losses.append(loss.item())
    B, G = xb.shape[:2]
    return dict(steps=steps, chance=math.log(B*G*G), first=losses[0], last=float(np.mean(losses[-10:])), accuracy=loss.accuracy.item())

def pretrain(name:str, v:dict, c:dict, path:Path, minutes:float, every:float, probes:tuple, val_files:L, out:Path, on_point=noop) -> dict:
    "Pre-train one variant for the budget, recording a point every `every` minutes"
    set_seed(0)
    aug, peer = augmentation(v.get('aug')), v.get('method')
    kw = dict(size=c['size'], patch_size=c['patch_size'], bs=v['bs'], aug=aug, device=c['device'])
    if peer: # lightly's per-image augmentation (on a CPU in this process, so its cost is in the budget, as fastai's path is for CPC)
        files = get_image_files(path/'train')
        dls = peer_dls(files, size=c['size'], bs=min(v['bs'], len(files)), valid_pct=0.001, device=c['device'],
                       num_workers=0 if c['device'] == 'cpu' else defaults.cpus)  # a GPU's budget is wall time: the peers' own data path in worker processes
        learn = (simclr_learner if peer == 'simclr' else byol_learner)(dls, v['arch'])
    else: # on a GPU the images are decoded once onto it (`on_device`), as the `gpu` run size does; on a CPU fastai's path, in-process
        dls = cpc_dls(path/'train', valid_pct=0.001, on_device=c['on_device'], **kw, **({} if c['on_device'] else dict(num_workers=0)))
        learn = cpc_learner(dls, arch=c['arch'], **{k: v[k] for k in _learner_args if k in v})
        vkw = dict(kw, bs=max(1, min(v['bs'], len(val_files) // 2)))
        vdl = cpc_dls(val_files, num_workers=0, **vkw).test_dl(val_files, bs=v['bs']) # un-augmented validation patches, on either path
    learn = bf16_if_asked(learn, AttrDict(c))  # fastai's on a GPU, `CPUMixedPrecision` on a CPU
    clock, scale = _clock(c['device']), 60 * (1 if c['device'] == 'cuda' else torch.get_num_threads())
    budget = ComputeBudget(clock, minutes * scale)
    cbs = [budget] + ([AugmentRamp(aug)] if v.get('aug') == 'ramp' else [])
    fit = dict(flat_cos=learn.fit_flat_cos, cos=partial(learn.fit_flat_cos, pct_start=0)).get(v.get('sched'), learn.fit_one_cycle)
    points, wall0 = [], time.perf_counter()
    chance = {None: math.log(v['bs'] * grid_size(c['size'], c['patch_size'])**2), 'simclr': math.log(2 * v['bs'] - 1), 'byol': None}[peer]
    summary = dict(settings=v, n_train=len(dls.train_ds), chance=chance, gflops_per_image=flops_per_image(learn) / 1e9)
    for stop in sorted(set([*np.arange(every, minutes, every), minutes])):
        budget.stop_at = stop * scale
        with learn.no_bar(), learn.no_logging(): fit(10**6, v['lr'], wd=v.get('wd'), cbs=cbs)
        if peer: val_loss = cpc_acc = None
        else:
            with learn.no_bar(): val_loss, cpc_acc = map(float, learn.validate(dl=vdl))
        p = dict(minutes=budget.used / scale, wall_minutes=(time.perf_counter() - wall0) / 60, steps=budget.steps, images=budget.images,
                 train_loss=float(np.mean(budget.losses[-50:])), valid_loss=val_loss, cpc_accuracy=cpc_acc,
                 **probe(learn.model.backbone if peer else learn.model.encoder, probes, None if peer else c['patch_size']))
        points.append(p)
        on_point(dict(summary, points=points))
        print(f"  {name} @ {p['minutes']:.1f} min ({p['steps']} steps, {p['images']/len(dls.train_ds):.1f} epochs): loss {p['train_loss']:.3f}, "
              f"cpc acc {_f(p['cpc_accuracy'])}, kNN {p['knn']:.3f}, linear {p['linear']:.3f}", flush=True)
    enc_file = save_backbone(learn.model.backbone, out/f"{name}.safetensors", v['arch']) if peer else save_encoder(learn, out/f"{name}.safetensors")
    return dict(summary, points=points, encoder_file=str(enc_file))

def _f(x, fmt='.3f') -> str: return '-' if x is None else format(x, fmt)

def floor(res:dict, v:dict) -> dict:
    "The random-initialisation probes a variant is measured against: its own backbone's, for a peer"
    return res['random_peers'][v['settings']['arch']] if v['settings'].get('method') else res['random']

def report(res:dict) -> str:
    m, c = res['meta'], res['profile_settings']
    budget = 'CPU time of the process, all threads' if c['device'] == 'cpu' else 'synchronised wall time of the training steps'
    lines = [f"# Pre-training efficiency, `{res['profile']}` profile, {res['dataset']}", '',
             *[f"- {k}: `{v}`" if k in ('command', 'commit') else f"- {k}: {v}" for k, v in m.items()],
             f"- data: {res['n_train']} training images (all of them, labels unused), {c['size']} px, {c['patch_size']} px patches, encoder `{c['arch']}`{', bf16' if c['bf16'] else ''}",
             f"- budget: {res['minutes']} minutes per variant ({budget}, divided by the threads on a CPU), one-cycle schedule over the budget",
             f"- probes: frozen encoder, mean-pooled latents; {res['per_class']} training images per class against all {res['n_valid']} validation images; "
             "kNN: k=20 cosine vote; linear: `linear_score`, 20 epochs one-cycle at 3e-3 on standardised features; "
             f"contrastive accuracy on {res['n_valid_cpc']} validation images, un-augmented",
             f"- the variant with today's defaults (`cpc_learner` and the `fastai-cpc` run size `{res['profile']}`): `{res['default_variant']}`", '',
             '| variant | settings | minutes | epochs | train loss (chance) | contrastive acc. | kNN | linear | kNN - random | linear - random |',
             '|---|---|---|---|---|---|---|---|---|---|']
    for name, v in res['variants'].items():
        s, r = ', '.join(f"{k}={v2}" for k, v2 in v['settings'].items()), floor(res, v)
        for p in v['points']:
            lines.append(f"| {name} | {s} | {p['minutes']:.1f} | {p['images']/v['n_train']:.1f} | {p['train_loss']:.3f} ({_f(v['chance'], '.2f')}) | {_f(p['cpc_accuracy'])} | "
                         f"{p['knn']:.3f} | {p['linear']:.3f} | {p['knn']-r['knn']:+.3f} | {p['linear']-r['linear']:+.3f} |")
            s = ''
    r = res['random']
    lines += ['', f"Random encoder (same preset, untrained): kNN {r['knn']:.3f}, linear {r['linear']:.3f}."]
    if rp := res.get('random_peers'):
        lines[-1] += ' The peers\' own backbones, untrained, on whole images (their floor in the last two columns): ' + '; '.join(
            f"{a} kNN {o['knn']:.3f}, linear {o['linear']:.3f}" for a, o in rp.items()) + '.'
    if fl := {n: v['gflops_per_image'] for n, v in res['variants'].items() if 'gflops_per_image' in v}:
        lines += ['', 'FLOPs of one training step per image (forward and backward, `flops_per_image`; a peer sees each image twice): ' +
                  ', '.join(f"{n} {g:.2f} GFLOP" for n, g in fl.items()) + '.']
    if any(v['settings'].get('method') for v in res['variants'].values()):
        lines += ['', "Peers: lightly's SimCLR and BYOL (`fastai_cpc.peers`, lightly " + res['meta'].get('lightly', '?') + "), at the settings of lightly's CIFAR-10 benchmark "
                  "(`docs/source/getting_started/benchmarks/cifar10_benchmark.py`): batch 128, SGD at 0.06 with momentum 0.9 and weight decay 5e-4, cosine schedule (here over the budget), "
                  "`SimCLRTransform` without blur at the profile's size; `resnet18` is lightly's CIFAR ResNet-18, the other backbone our encoder preset over the whole image. "
                  "Nothing of theirs or ours is tuned on validation images."]
    if not res['sanity']: return '\n'.join(lines) + '\n'
    lines += ['', f"Sanity check, one fixed un-augmented batch of {res['sanity_bs']} images, each variant's optimiser and learning rate:", '',
              '| variant | steps | chance ln(B G²) | first loss | last loss | contrastive acc. |', '|---|---|---|---|---|---|']
    lines += [f"| {n} | {s['steps']} | {s['chance']:.2f} | {s['first']:.3f} | {s['last']:.3f} | {s['accuracy']:.3f} |" for n, s in res['sanity'].items()]
    return '\n'.join(lines) + '\n'

def plot(res:dict, fname:Path):
    fig, axs = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key in zip(axs, ('linear', 'knn')):
        for name, v in res['variants'].items():
            ax.plot([0] + [p['minutes'] for p in v['points']], [floor(res, v)[key]] + [p[key] for p in v['points']], marker='o', label=name,
                    lw=3 if name == res['default_variant'] else 1.5, ls='--' if v['settings'].get('method') else '-')
        ax.axhline(res['random'][key], color='grey', ls=':', label='random encoder (CPC preset)')
        ax.set(xlabel='minutes of pre-training (compute budget)', ylabel=f'{key} accuracy', title=f"{res['dataset']}: frozen-encoder {key} probe")
        ax.grid(alpha=.3)
    axs[0].legend(fontsize='small')
    fig.tight_layout(); fig.savefig(fname, dpi=90); plt.close(fig)

def finished_variants(f:Path, table:dict, c:dict, minutes:float, per_class:int, n_valid_cpc:int) -> dict:
    """The variants (and their sanity checks) that the results file `f` has finished with the same budget, profile and probes: a variant
    of `table` only at the same settings, one not named this time whatever its settings; an interrupted variant is trained again"""
    old = json.loads(f.read_text()) if f.exists() else {}
    same = lambda a, b: json.loads(json.dumps(a, default=str)) == json.loads(json.dumps(b, default=str))
    if not old or not same((old.get('minutes'), old.get('per_class'), old.get('n_valid_cpc'), old.get('profile_settings')), (minutes, per_class, n_valid_cpc, c)): return {}
    done = {n: v for n, v in old['variants'].items() if Path(v.get('encoder_file', '')).exists() and (n not in table or same(v['settings'], table[n]))}
    return dict(variants=done, sanity={n: s for n, s in old.get('sanity', {}).items() if n in done}, **({'n_train': old['n_train']} if done else {}))

def _write(res:dict, out:Path, stem:str):
    out.mkdir(parents=True, exist_ok=True)
    (out/f'{stem}.json').write_text(json.dumps(res, indent=1, default=str))
    (out/f'{stem}.md').write_text(report(res))
    plot(res, out/f'{stem}.png')

@call_parse
def main(data:str='imagenette', # data set name (imagenette, imagenette-96, cifar10, ...) or a folder with train/ and val/
         variants:str='default', # comma-separated variants to run (see `VARIANTS` in this file), or 'all'
         minutes:float=30., # compute budget per variant, in minutes on this machine's threads (CPU) or GPU wall minutes
         every:float=5., # record a point every this many minutes of the budget
         profile:str='cpu', # 'cpu' or 'gpu': image size, encoder and precision
         per_class:int=100, # labelled probe images per class, from the training split
         n_valid_cpc:int=500, # validation images for the contrastive accuracy
         sanity_steps:int=200, # steps of the one-batch sanity check (0 to skip)
         out:str=str(here/'results'), # folder of the results files
         tag:str='', # suffix of the results files
         size:int=None, # image side, instead of the profile's (a resolution study: its own files, with --tag)
         patch_size:int=None, # patch side, instead of the profile's
         bf16:bool_arg=None, # bf16 mixed precision instead of the profile's (on a CPU, `CPUMixedPrecision`: fast where the CPU has AMX)
         fresh:store_true=False, # train every named variant again, even those the results file already has finished at these settings
        ):
    "Pre-train each variant for the same compute budget and record what its frozen encoder knows along the way"
    if profile not in profiles: sys.exit(f"unknown profile {profile!r}: use one of {', '.join(profiles)}")
    c = {**profiles[profile], **{k: v for k, v in dict(size=size, patch_size=patch_size, bf16=bf16).items() if v is not None}}
    if c['device'] == 'cuda' and not torch.cuda.is_available(): sys.exit("--profile gpu needs a CUDA GPU; none is visible here")
    table = dict(VARIANTS, default=default_variant(profile))
    table.update({k: dict(table['default'], **d) for k, d in DEFAULT_DELTAS.items()})
    table.update(peer_variants(c['arch']))
    names = list(table) if variants == 'all' else variants.split(',')
    if unknown := [n for n in names if n not in table]: sys.exit(f"unknown variant(s) {unknown}: choose from {', '.join(table)}")
    if minutes <= 0 or every <= 0: sys.exit("--minutes and --every must be positive")
    path = resolve_data(data)
    dname = data if not Path(data).exists() else Path(data).name
    cache = Path('models')/'pretrain'/f"{profile}-{dname}-{minutes:g}min"; cache.mkdir(parents=True, exist_ok=True)
    probes = probe_set(path, per_class, c['size'], c['device'])
    val_files = get_image_files(path/valid_folder(path))
    val_files = val_files[np.random.default_rng(0).permutation(len(val_files))[:n_valid_cpc]]
    stem = f"pretrain-{'' if profile == 'cpu' else profile + '-'}{dname}{tag}"
    kept = finished_variants(Path(out)/f'{stem}.json', {n: table[n] for n in names}, c, minutes, per_class, len(val_files)) if not fresh else {}
    set_seed(0)
    res = dict(meta=provenance(profiles[profile]['device']), profile=profile, profile_settings=c, dataset=dname, minutes=minutes, per_class=per_class,
               n_valid=sum(len(y) for _, y in probes[1]), n_valid_cpc=len(val_files), default_variant=first(n for n in [*names, *kept.get('variants', {})] if table.get(n) == table['default']),
               random=probe(cpc_encoder(c['arch']).to(c['device']), probes, c['patch_size']), variants=kept.get('variants', {}), sanity=kept.get('sanity', {}),
               **({'n_train': kept['n_train']} if 'n_train' in kept else {}))
    print(f"random encoder: kNN {res['random']['knn']:.3f}, linear {res['random']['linear']:.3f}", flush=True)
    if peer_archs := sorted({v['arch'] for v in [*(table[n] for n in names), *(v['settings'] for v in res['variants'].values())] if v.get('method')}):
        import lightly; res['meta']['lightly'] = lightly.__version__
        set_seed(0); res['random_peers'] = {a: probe(peer_backbone(a).to(c['device']), probes, None) for a in peer_archs}
        print(f"random peer backbones: {res['random_peers']}", flush=True)
    if sanity_steps:
        xb = cpc_dls(path/'train', size=c['size'], patch_size=c['patch_size'], bs=32, augment=False, num_workers=0, device=c['device']).valid.one_batch()[0]
        res['sanity_bs'] = len(xb)
        for n in [n for n in names if not table[n].get('method') and n not in res['sanity']]: # CPC's check: the peers' losses have other chance levels
            res['sanity'][n] = sanity(c, table[n], xb.as_subclass(Tensor), sanity_steps)
            print(f"sanity {n}: loss {res['sanity'][n]['first']:.3f} -> {res['sanity'][n]['last']:.3f} (chance {res['sanity'][n]['chance']:.3f})", flush=True)
    for n in names:
        if n in kept.get('variants', {}): print(f"{n}: finished in {Path(out)/stem}.json at these settings, kept (--fresh trains it again)", flush=True); continue
        def on_point(v, n=n): # after every point: an interrupted study keeps what it measured
            res['variants'][n], res['n_train'] = v, v['n_train']
            _write(res, Path(out), stem)
        res['variants'][n] = pretrain(n, table[n], c, path, minutes, every, probes, val_files, cache, on_point)
        _write(res, Path(out), stem)
    print(f"wrote {Path(out)}/{stem}.md, .json and .png")
