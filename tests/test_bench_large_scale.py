"""The large-scale benchmark's memory sampler and stage split, on a real process tree (not the large run)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from bench.large_scale import TreeRun, _build_stage, process_tree, tree_rss_bytes

MIB = 2**20

# A parent that starts a child holding `mib` MiB, announces it, and waits for a line on stdin.
_PARENT = textwrap.dedent(
    """
    import subprocess, sys
    child = subprocess.Popen([sys.executable, "-c", '''
    import sys
    block = bytearray({mib} * 2**20)
    for i in range(0, len(block), 4096):
        block[i] = 1  # touch every page: resident, not just reserved
    print("ready", flush=True)
    sys.stdin.readline()
    '''], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    child.stdout.readline()
    print("ready", flush=True)
    sys.stdin.readline()
    child.communicate("\\n")
    """
)


def test_tree_rss_counts_the_children_of_a_process():
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT.format(mib=200)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout.readline().strip() == "ready"
        tree = process_tree(parent.pid)
        assert tree[0] == parent.pid and len(tree) == 2  # the parent and its one child, no threads
        child_rss = tree_rss_bytes(tree[1])
        assert child_rss >= 200 * MIB
        assert tree_rss_bytes(parent.pid) >= child_rss + 5 * MIB  # plus the parent's own interpreter
    finally:
        parent.communicate("\n")
    assert tree_rss_bytes(parent.pid) == 0  # gone: nothing to count


def test_tree_run_splits_stages_by_progress_step_and_keeps_each_stage_peak(tmp_path):
    # Like `sfe build`: a tqdm bar on stderr names each step; memory grows in the dbt step (a child).
    script = textwrap.dedent(
        """
        import subprocess, sys, time
        def step(name):
            sys.stderr.write(f"\\rbuild:  10%|#  | 1/10 [00:01<00:09, 1.0s/step, {name}]")
            sys.stderr.flush()
        sys.stderr.write("\\rbuild:   0%|   | 0/10 [00:00<?, ?step/s]")
        step("ingest meter_readings")
        sys.stderr.write("\\rCalculating Metrics: 100%|###| 41/41 [00:00<00:00, 973.38it/s]\\n")
        time.sleep(1.0)
        step("ingest elexon_boalf")
        time.sleep(0.5)
        step("dbt build + publish")
        subprocess.run([sys.executable, "-c",
            "import time; b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(2)"])
        """
    )
    run = TreeRun(
        [sys.executable, "-c", script], {}, tmp_path / "run.log", interval=0.1, stage_of=_build_stage
    )
    run.run("ingest")
    assert run.returncode == 0
    assert list(run.stages) == ["ingest", "dbt build + publish"]
    ingest, dbt = run.stages["ingest"], run.stages["dbt build + publish"]
    assert dbt.peak_bytes >= 300 * MIB > ingest.peak_bytes > 0
    assert run.peak_bytes == dbt.peak_bytes
    assert ingest.seconds + dbt.seconds <= run.seconds + 1e-6  # the same clock, summed in parts
    assert ingest.seconds >= 1.0 and dbt.seconds >= 1.0  # time is charged to the step under way
    assert "elexon_boalf" in (tmp_path / "run.log").read_text()  # the output is kept in the log


def test_tree_run_without_stage_names_reports_one_stage_and_a_failure(tmp_path):
    run = TreeRun([sys.executable, "-c", "import sys; sys.exit(3)"], {}, tmp_path / "run.log", interval=0.1)
    run.run("generate")
    assert run.returncode == 3
    assert list(run.stages) == ["generate"]
