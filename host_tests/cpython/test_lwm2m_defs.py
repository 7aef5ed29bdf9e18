"""lib/lwm2m/defs.py is what tools/gen_objects.py makes from the OMA XML."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_defs_is_current():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "gen_objects.py"),
                        "--check"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "current" in r.stdout
