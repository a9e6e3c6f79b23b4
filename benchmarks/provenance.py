"""Where a benchmark's figures come from: the command that reproduces them, the device, the versions, the commit and the
date, written the same way into every results file (`provenance()`)."""
import datetime as dt, os, platform, shlex, subprocess, sys
from pathlib import Path
import torch

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
    "The command line as typed from the repository's root"
    script = Path(sys.argv[0]).resolve()
    script = script.relative_to(root).as_posix() if script.is_relative_to(root) else sys.argv[0]
    launcher = ['torchrun', f"--nproc_per_node {os.environ['LOCAL_WORLD_SIZE']}"] if 'TORCHELASTIC_RUN_ID' in os.environ else ['python']  # torchrun, accelerate launch
    return ' '.join(launcher + [script] + [shlex.quote(a) for a in sys.argv[1:]])

def provenance(device:str='cpu', **extra) -> dict:
    "Command, device, versions, commit and date of a run (plus `extra`), for its results file"
    import fastai, fastai_cpc
    versions = f"python {platform.python_version()}, torch {torch.__version__}, fastai {fastai.__version__}, fastai_cpc {fastai_cpc.__version__}"
    return dict(command=command(), **extra, device=device_name(device), versions=versions, commit=commit(),
                date=dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'))
