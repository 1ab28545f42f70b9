import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def test_log_then_broadcast_example():
    script = os.path.join(HERE, "..", "examples", "log_then_broadcast.py")
    subprocess.run([sys.executable, script, "2000"], check=True, timeout=120)
