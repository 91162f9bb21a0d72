"""Print branch coverage per package from coverage.py's JSON report and fail under the floors.

Used by ``scripts/test`` after the suite: the primitives and the governance core must stay at
or above 95% (lines and branches together, as coverage.py counts them).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

FLOORS = {"seawall.limit": 95.0, "seawall.load": 95.0, "seawall.governance": 95.0}


def main(report: str) -> int:
    files = json.loads(Path(report).read_text())["files"]
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for name, data in files.items():
        parts = Path(name).with_suffix("").parts
        if "seawall" not in parts:
            continue
        module = ".".join(parts[parts.index("seawall") :])
        package = ".".join(module.split(".")[:2])
        s = data["summary"]
        covered = s["covered_lines"] + s.get("covered_branches", 0)
        total = s["num_statements"] + s.get("num_branches", 0)
        totals[package][0] += covered
        totals[package][1] += total
    failed = False
    print("branch coverage by package (lines + branches):")
    for package, (covered, total) in sorted(totals.items()):
        pct = 100.0 * covered / total if total else 100.0
        floor = FLOORS.get(package)
        mark = ""
        if floor is not None:
            ok = pct >= floor
            failed |= not ok
            mark = f"  (floor {floor:.0f}%: {'ok' if ok else 'BELOW'})"
        print(f"  {package:<24} {pct:6.2f}%{mark}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "coverage.json"))
