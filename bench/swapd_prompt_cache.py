"""Issue 4's prompt-cache measurement: prompt tokens evaluated again after a swap away and back,
with swapd keeping the slots (prompt_cache_max_mib > 0) and without (0), in one run.

Run:  .venv/bin/python bench/swapd_prompt_cache.py      (needs `make setup`; about a minute)
"""

import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))

from test_swapd_prompt_cache import Swapd, round_trip


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_dir:
        results = {}
        for label, cache_mib in (("kept", 512), ("off", 0)):
            tmp = Path(tmp_dir) / label
            tmp.mkdir()
            swapd = Swapd(tmp, cache_mib)
            try:
                started = time.monotonic()
                first, again = round_trip(swapd)
                results[label] = (first, again, time.monotonic() - started)
                log = swapd.log.read_text()
                saves = re.findall(r"cache\.saved tier=fast slot=\d+ tokens=(\d+) ms=([\d.]+)", log)
                restores = re.findall(r"cache\.restored tier=fast slot=\d+ tokens=(\d+) ms=([\d.]+)", log)
                files = list((tmp / "state" / "slots").glob("*/slot-*.bin"))
                size = sum(f.stat().st_size for f in files)
            finally:
                swapd.close()
            print(f"{label}: first prompt_n={first}, after fast->deep->fast prompt_n={again} "
                  f"({again / first:.1%}); saves {saves}; restores {restores}; "
                  f"slot files {len(files)} totalling {size / 2**20:.1f} MiB")  # fmt: skip
        print(f"ratio kept/off: {results['kept'][1] / results['off'][1]:.4f}")


if __name__ == "__main__":
    main()
