"""dbt/target/ keeps the newest invocation folders and never removes one a running build may use."""

import os
import time

from pipelines.defs.warehouse.assets import _prune_invocation_dirs


def test_prunes_only_old_invocation_folders_beyond_the_newest(tmp_path):
    now = time.time()
    ages_h = {"run_a": 30, "run_b": 20, "run_c": 10, "recent_1": 2, "recent_2": 1, "newest": 0}
    for name, age in ages_h.items():
        (tmp_path / name).mkdir()
        os.utime(tmp_path / name, (now - age * 3600, now - age * 3600))
    (tmp_path / "compiled").mkdir()
    os.utime(tmp_path / "compiled", (now - 99 * 3600, now - 99 * 3600))

    _prune_invocation_dirs(tmp_path, keep=2, min_age_s=6 * 3600)

    # beyond the newest two, only folders older than six hours go; a two-hour-old one may be a long build's
    assert sorted(p.name for p in tmp_path.iterdir()) == ["compiled", "newest", "recent_1", "recent_2"]
