"""Benchmark for ``bastion scan``: recall/precision vs detect-secrets, throughput, history.

Usage: ``python bench/scan/run.py [--files 300] [--mb 50] [--commits 10000] [--verbose]``
Prints a table. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import Plant, decoys, filler_lines, plant_factories, rnd

from bastion.tools.scan import scan_git_history, scan_paths

GIT = shutil.which("git") or "git"


def build_corpus(root: Path, n_files: int, seed: int) -> dict[tuple[str, int], str]:
    """Write files with planted keys and decoys; return {(path, line): detector}."""
    rng = random.Random(seed)
    filler = filler_lines(n_files * 6000)
    factories = plant_factories(rng)
    kinds = sorted(factories)
    planted: dict[tuple[str, int], str] = {}
    for i in range(n_files):
        start = rng.randrange(0, max(1, len(filler) - 120))
        lines = filler[start : start + rng.randint(40, 120)]
        inserts: list[list[str] | Plant] = []
        for _ in range(rng.randint(1, 3)):
            inserts.append(factories[kinds[(i * 3 + len(inserts)) % len(kinds)]]())
        for _ in range(rng.randint(1, 4)):
            inserts.append([rng.choice(decoys(rng))])
        for item in inserts:
            pos = rng.randrange(0, len(lines) + 1)
            block = item.lines if isinstance(item, Plant) else item
            lines[pos:pos] = ["", *block, ""]
        path = root / f"src/mod_{i:04d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = "\n".join(lines) + "\n"
        path.write_text(text)
        for item in inserts:
            if isinstance(item, Plant):
                first = item.lines[0]
                lineno = text.split("\n").index(first) + 1
                planted[(str(path), lineno)] = item.detector
    return planted


def score(found: set[tuple[str, int]], planted: dict[tuple[str, int], str]) -> tuple[float, float]:
    tp = len(found & planted.keys())
    recall = tp / len(planted) if planted else 1.0
    precision = tp / len(found) if found else 1.0
    return recall, precision


def run_detect_secrets(root: Path) -> tuple[set[tuple[str, int]], float]:
    exe = Path(sys.executable).parent / "detect-secrets"
    t0 = time.perf_counter()
    proc = subprocess.run(  # noqa: S603 - fixed argv
        [str(exe), "scan", "--all-files", "."], cwd=root, capture_output=True, text=True,
        check=True,
    )
    elapsed = time.perf_counter() - t0
    results = json.loads(proc.stdout)["results"]
    found = {(str(root / name), item["line_number"]) for name, items in results.items()
             for item in items}
    return found, elapsed


def throughput(mb: int) -> tuple[float, float, float]:
    """Scan real Python sources in one process; return (MB, wall MB/s, CPU MB/s), best of 3."""
    import sysconfig

    site = Path(sysconfig.get_paths()["purelib"])
    files: list[Path] = []
    total = 0
    for path in sorted(site.rglob("*.py")):
        files.append(path)
        total += path.stat().st_size
        if total >= mb * 1_000_000:
            break
    for path in files:  # warm the page cache
        path.read_bytes()
    best_wall = best_cpu = float("inf")
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        scan_paths(files, use_gitignore=False, jobs=1)
        best_wall = min(best_wall, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return total / 1e6, total / 1e6 / best_wall, total / 1e6 / best_cpu


def history_repo(root: Path, commits: int, seed: int) -> int:
    """Create a repo with ``commits`` commits via fast-import; return planted key count."""
    rng = random.Random(seed)
    subprocess.run([GIT, "init", "-q", str(root)], check=True)  # noqa: S603 - fixed git argv
    files = [f"pkg/m{i:03d}.py" for i in range(200)]
    content = {f: [f"# module {f}", "import os", ""] for f in files}
    plant_at = set(rng.sample(range(1, commits), 20))
    planted = 0
    chunks: list[bytes] = []
    for c in range(1, commits + 1):
        f = rng.choice(files)
        body = content[f]
        body.append(f"def f{c}(x):\n    return x * {c}")
        if c in plant_at:
            body.append(f'GROQ_API_KEY = "gs{"k_"}{rnd(rng, 52)}"')
            planted += 1
        elif len(body) > 40:
            del body[3:10]
        data = ("\n".join(body) + "\n").encode()
        msg = f"commit {c}\n".encode()
        chunks.append(
            b"commit refs/heads/main\n"
            + f"committer Bench <b@example.com> {1_700_000_000 + c} +0000\n".encode()
            + f"data {len(msg)}\n".encode() + msg
            + f"M 100644 inline {f}\ndata {len(data)}\n".encode() + data + b"\n"
        )
    subprocess.run(  # noqa: S603 - fixed git argv
        [GIT, "-C", str(root), "fast-import", "--quiet"], input=b"".join(chunks), check=True
    )
    return planted


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--mb", type=int, default=50)
    ap.add_argument("--commits", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bastion-scan-bench-"))
    try:
        corpus = tmp / "corpus"
        planted = build_corpus(corpus, args.files, args.seed)
        size_mb = sum(p.stat().st_size for p in corpus.rglob("*") if p.is_file()) / 1e6

        t0 = time.perf_counter()
        findings = scan_paths([corpus], use_gitignore=False, jobs=1)
        ours_t = time.perf_counter() - t0
        ours = {(f.path, f.line) for f in findings}
        exact = sum(1 for f in findings if planted.get((f.path, f.line)) == f.detector)
        r_ours, p_ours = score(ours, planted)
        by_kind: dict[str, list[int]] = {}
        for loc, det in planted.items():
            by_kind.setdefault(det, [0, 0])[1] += 1
            by_kind[det][0] += loc in ours
        ds, ds_t = run_detect_secrets(corpus)
        r_ds, p_ds = score(ds, planted)

        mb, mbps, cpu_mbps = throughput(args.mb)
        repo = tmp / "history"
        n_keys = history_repo(repo, args.commits, args.seed)
        t0 = time.perf_counter()
        hist = scan_git_history(repo)
        hist_t = time.perf_counter() - t0

        print(f"\nCorpus: {args.files} files, {size_mb:.1f} MB, {len(planted)} planted keys, "
              f"{len(by_kind)} formats, decoys in every file\n")
        print(f"{'tool':<16}{'recall':>9}{'precision':>11}{'time (s)':>10}")
        print(f"{'bastion scan':<16}{r_ours:>9.1%}{p_ours:>11.1%}{ours_t:>10.2f}")
        print(f"{'detect-secrets':<16}{r_ds:>9.1%}{p_ds:>11.1%}{ds_t:>10.2f}")
        print(f"\nbastion scan named the right detector for {exact}/{len(planted)} planted keys")
        print("\nRecall per format (bastion scan):")
        for det, (hit, total) in sorted(by_kind.items()):
            print(f"  {det:<28}{hit:>4}/{total:<4}")
        print(f"\nThroughput, one process (--jobs 1): {mb:.0f} MB of Python source at "
              f"{mbps:.0f} MB/s wall-clock, {cpu_mbps:.0f} MB per CPU-second")
        found_keys = sum(1 for f in hist if f.detector == "groq-api-key")
        print(f"History: {args.commits} commits scanned in {hist_t:.1f} s "
              f"({found_keys}/{n_keys} planted keys found)")
        if args.verbose:
            for f in findings:
                if (f.path, f.line) not in planted:
                    print("FP:", f.detector, f.location, f.masked)
            for loc, det in planted.items():
                if loc not in ours:
                    print("MISS:", det, loc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
