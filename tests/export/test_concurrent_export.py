"""Two real processes export to the same name/version at the same moment: exactly one wins; the export is
readable by other users (0755 directories, 0644 files under umask 022)."""

import os
import stat
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _modes(root: Path):
    return {p: stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}


def test_two_processes_one_version_exactly_one_wins(tmp_path):
    root, ready = tmp_path / "saved_models", tmp_path / "ready"
    ready.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    procs = [subprocess.Popen([sys.executable, "-m", "tests.export.race_worker", str(root), str(ready), f"w{i}",
                               "2"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    results = [p.communicate(timeout=600) + (p.returncode,) for p in procs]
    codes = sorted(rc for _, _, rc in results)
    assert codes == [0, 3], [(rc, out, err[-3000:]) for out, err, rc in results]
    assert len(list(ready.iterdir())) == 2  # both had verified their export before either claimed the version
    loser = next(out for out, _, rc in results if rc == 3)
    assert "created by another export" in loser
    assert sorted(p.name for p in (root / "tiny").iterdir()) == ["1"]  # no temporary directories left
    final = root / "tiny" / "1"
    assert (final / "saved_model.pb").is_file()
    for path, mode in _modes(final).items():
        assert mode == (0o755 if path.is_dir() else 0o644), (path, oct(mode))


def test_export_is_readable_by_others(tiny_export):
    umask = os.umask(0)
    os.umask(umask)
    for path, mode in _modes(tiny_export.path).items():
        want = (0o777 if path.is_dir() else 0o666) & ~umask
        assert mode == want, (path, oct(mode), oct(want))
