"""Run by tests/test_distributed.py in each of two processes, `accelerate launch --multi_gpu --num_processes 2 tests/ddp_worker.py OUT DATA`:
the CPC loss and its gradients on half a batch per process (with and without global negatives), a CPC classifier
fine-tuned with FixMatch under fastai's `distrib_ctx`, and a pre-training epoch on the device data path. The first process saves what every process measured to OUT."""
import sys
from pathlib import Path
import torch, torch.distributed as dist
from accelerate import PartialState
from torch.nn.parallel import DistributedDataParallel
from fastai_cpc.all import *

def cpc_model():
    torch.manual_seed(0)
    return create_cpc_model('tiny', offsets=(2, 3), n_dirs=2, context_blocks=1)

def whole_batch(): return torch.randn(4, 5, 5, 3, 8, 8, generator=torch.Generator().manual_seed(1))

def loss_step(rank:int, global_negatives:bool) -> dict:
    "Half the batch through a DDP model, the loss, backward: the loss, accuracy and DDP's averaged gradients"
    model = DistributedDataParallel(cpc_model())
    lf = CPCLoss((2, 3), global_negatives=global_negatives)
    loss = lf(model(whole_batch()[2*rank:2*rank + 2]))
    loss.backward()
    return dict(loss=loss.item(), accuracy=loss.accuracy.item(), grads={k: p.grad for k, p in model.module.named_parameters()})

def finetune_fixmatch(folder:Path) -> dict:
    "A CPC classifier fine-tuned with FixMatch under `distrib_ctx`: its weights and the unlabelled DataLoader it drew from"
    dls = labelled_dls(get_image_files(folder/'train'), get_image_files(folder/'val'), size=16, bs=8, num_workers=0)
    fm = FixMatch(unlabelled_dl(folder/'train', dls, mu=2, num_workers=0), threshold=0.5)
    seen = []
    class _Seen(Callback):
        def after_epoch(self): seen.append((type(fm.unlabelled).__name__, len(fm.unlabelled)))
    learn = cpc_classifier(dls, 'tiny', patch_size=4, cbs=[fm, _Seen()])
    with learn.distrib_ctx(cpu=True, sync_bn=False): learn.fine_tune(1, 1e-3)
    return dict(weights=torch.cat([p.detach().flatten() for p in learn.model.parameters()]), seen=seen, full=len(fm.unlabelled))

def device_data(folder:Path) -> dict:
    "Pre-training DataLoaders on the device path (here the CPU): what this process decoded, and one epoch under `distrib_ctx`"
    dls = cpc_dls(get_image_files(folder), size=16, patch_size=4, bs=4, on_device=True, device='cpu')
    learn = cpc_learner(dls, 'tiny', n_dirs=1)
    with learn.distrib_ctx(cpu=True): learn.fit(1, 1e-3)
    return dict(types=[type(dl).__name__ for dl in dls.loaders], n=[len(dl.dataset) for dl in dls.loaders],
                images=dls.train.dataset.images.float().flatten(1).sum(1), loss=learn.recorder.values[-1][0])

if __name__ == '__main__':
    out, folder = Path(sys.argv[1]), Path(sys.argv[2])
    rank = PartialState(cpu=True).process_index  # the gloo process group
    set_seed(rank)
    res = dict(rank=rank, world=dist.get_world_size(), global_=loss_step(rank, True), local=loss_step(rank, False), finetune=finetune_fixmatch(folder), device=device_data(folder))
    dist.all_gather_object(every := [None] * dist.get_world_size(), res)
    if rank == 0: torch.save(every, out)
    end_distributed()  # no gloo thread left running at exit (it would abort the process at random)
