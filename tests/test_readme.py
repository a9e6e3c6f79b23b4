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
