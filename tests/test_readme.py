"README.md is generated from nbs/index.ipynb: the two must not drift."
import subprocess, sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent

def test_readme_matches_index_notebook():
    r = subprocess.run([sys.executable, str(root/'tools'/'docs.py'), '--check'], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr

def test_workflows_run_the_readme_test_command():
    "nbdev's two workflows: tests on every push with the command CI runs, and the docs built and published"
    import yaml
    wf = Path(__file__).parents[1]/'.github'/'workflows'
    runs = lambda f: [s.get('run', '') for s in yaml.safe_load((wf/f).read_text())['jobs'][next(iter(yaml.safe_load((wf/f).read_text())['jobs']))]['steps']]
    command = 'bash tools/setup.sh && bash tools/test.sh'
    assert command in (Path(__file__).parents[1]/'.ci'/'run').read_text() and command in (Path(__file__).parents[1]/'README.md').read_text()
    assert any(r.strip() == command for r in runs('test.yaml'))
    assert any('tools/docs.py' in r for r in runs('deploy.yaml'))
    deploy = yaml.safe_load((wf/'deploy.yaml').read_text())
    assert any(s.get('uses', '').startswith('actions/deploy-pages') for s in deploy['jobs']['deploy']['steps'])

def test_readme_is_a_front_door():
    "At most 12 KB, and no paragraph of prose over 600 characters: the narrative lives in benchmarks/findings.md"
    text = (root/'README.md').read_text()
    assert len(text.encode()) <= 12_000, f"README.md is {len(text.encode())} bytes: move detail to the chapters or benchmarks/findings.md"
    prose, fenced = [], False
    for block in text.split('\n\n'):
        if block.lstrip().startswith('```'): fenced = block.count('```') % 2 == 1
        elif not fenced and not block.lstrip().startswith(('|', '!', '#', '<!--', '>')): prose.append(block)
        elif fenced and '```' in block: fenced = False
    long = [p[:80] for p in prose if len(p) > 600]
    assert not long, f"paragraphs over 600 characters: {long}"
