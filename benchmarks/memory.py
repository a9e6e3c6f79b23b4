"""Peak memory of a command and all its processes (DataLoader workers included), sampled every second.

    python -m benchmarks.memory -- fastai-cpc pretrain --data imagenette --run-size cpu --n-train 3000 --epochs 4 --num-workers 2 --out /tmp/mem

Prints the command's output as it runs, then the peak resident memory of the whole process tree for each
quarter of the run, so a leak (memory that keeps growing from epoch to epoch) shows as a rising row.
"""
import subprocess, sys, time
import psutil

def tree_rss(p:psutil.Process) -> int:
    "Resident bytes of `p` and every descendant"
    total = 0
    for q in [p, *p.children(recursive=True)]:
        try: total += q.memory_info().rss
        except psutil.Error: pass
    return total

def main(cmd:list, every:float=1.0):
    t0, samples = time.time(), []
    proc = subprocess.Popen(cmd)
    p = psutil.Process(proc.pid)
    while proc.poll() is None:
        samples.append((time.time() - t0, tree_rss(p)))
        time.sleep(every)
    if not samples: sys.exit(f"the command ended before the first sample (exit {proc.returncode})")
    n = len(samples)
    print(f"\nexit status {proc.returncode}, {samples[-1][0]:.0f} s, {n} samples; peak resident memory of the process tree by quarter of the run:")
    for i in range(4):
        part = samples[i*n//4:(i+1)*n//4] or samples[-1:]
        print(f"  {part[0][0]:6.0f}-{part[-1][0]:6.0f} s: {max(s for _, s in part)/2**30:.2f} GiB")
    print(f"peak: {max(s for _, s in samples)/2**30:.2f} GiB")
    return proc.returncode

if __name__ == '__main__':
    args = sys.argv[1:]
    if args[:1] == ['--']: args = args[1:]
    if not args: sys.exit(__doc__)
    sys.exit(main(args))
