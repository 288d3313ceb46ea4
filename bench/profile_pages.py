"""Where a page's time goes: its data calls, timed, and a cProfile of its runs (AppTest).

    python bench/profile_pages.py --db STORE.duckdb [--cache DIR] customers stress …

For each page, in a fresh process (so Streamlit's memory caches are empty, as after a
server start): the app is run in ``streamlit.testing`` (AppTest), signed in as ``admin``,
switched to the page, then rerun after the as-of month is moved one month back and after a
region is chosen (the same changes as ``bench/pages.py``). Each of the three runs prints

* every data call that ran (``components.query.query`` / ``query_resource`` misses: the
  function and its seconds), longest first, and
* the top functions of a cProfile of the run by cumulative time (``--top``).

Use the store copy and cache folder of a ``bench/pages.py --keep`` run (warm disk caches),
or any store: ``--db`` is opened by the app, which writes to it (migrations, alert runs).
AppTest does not draw in a browser, so this is the server's side of a page's time only.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _timed_calls(calls: list[tuple[str, float]]):
    """Wrap ``components.query._resolve`` so each data call (a cache miss) is timed."""
    import components.query as q

    original = q._resolve

    def resolve(path: str):
        fn = original(path)

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                calls.append((path, time.perf_counter() - t0))

        return timed

    q._resolve = resolve


_PROFILES: list[cProfile.Profile] = []


def _profile_script_runs() -> None:
    """cProfile each script run in AppTest's script thread (a profile is per thread)."""
    from streamlit.runtime.scriptrunner.script_runner import ScriptRunner

    original = ScriptRunner._run_script

    def run_script(self, rerun_data):
        prof = cProfile.Profile()
        prof.enable()
        try:
            return original(self, rerun_data)
        finally:
            prof.disable()
            _PROFILES.append(prof)

    ScriptRunner._run_script = run_script


def _month_before(label: str) -> str:
    year, month = map(int, label.split("-"))
    return f"{year - (month == 1)}-{(month - 2) % 12 + 1:02d}"


def profile_page(url_path: str, region: str, top: int) -> None:
    """Run one page three times in AppTest and print its data calls and profiles."""
    sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
    from app_helpers import app_test, widget

    calls: list[tuple[str, float]] = []
    _timed_calls(calls)
    _profile_script_runs()
    t0 = time.perf_counter()
    at = app_test(timeout=900)
    if url_path != "overview":
        at.switch_page(f"pages/{url_path}.py")  # as a shared link /<page>: the sign-in run draws it
    at.run()
    assert not at.exception, at.exception
    at.text_input[0].input("admin")
    at.text_input[1].input("daihou")
    at.button[0].click()
    print(f"== {url_path}: login form run {time.perf_counter() - t0:.2f} s")

    def run(what: str, step) -> None:
        calls.clear()
        _PROFILES.clear()
        t = time.perf_counter()
        step()
        wall = time.perf_counter() - t
        print(f"\n-- {url_path}, {what}: {wall:.2f} s in AppTest"
              f"{'; EXCEPTION: ' + str(at.exception[0].message)[:200] if at.exception else ''}")
        for path, sec in sorted(calls, key=lambda c: -c[1]):
            print(f"   data call {sec:7.2f} s  {path}")
        if not _PROFILES:
            return
        out = io.StringIO()
        stats = pstats.Stats(_PROFILES[0], stream=out)
        for prof in _PROFILES[1:]:  # a run that reruns itself (st.rerun, switch_page) is several
            stats.add(prof)
        stats.sort_stats("cumulative").print_stats(top)
        body = out.getvalue().split("ncalls", 1)[-1]
        print("   cProfile, by cumulative time:\n   ncalls" + body.replace("\n", "\n   ").rstrip())

    run("first render (the sign-in run)", at.run)
    print(f"   page title: {at.title[0].value if len(at.title) else '(none)'}")
    as_of = widget(at.selectbox, "as_of")
    run("rerun after as-of one month back", lambda: as_of.select(_month_before(as_of.value)).run())
    regions = widget(at.multiselect, "region")
    code = next(o for o in regions.options if region in str(o))
    run(f"rerun after choosing region {region}", lambda: regions.select(code).run())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pages", nargs="+")
    ap.add_argument("--db", type=Path, required=True, help="the store (the app writes to it)")
    ap.add_argument("--cache", type=Path, help="DAIHOU_CACHE_DIR (default: a fresh temporary folder)")
    ap.add_argument("--region", default="广东")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--one", help=argparse.SUPPRESS)  # the child's page
    args = ap.parse_args(argv)
    if args.one:
        profile_page(args.one, args.region, args.top)
        return 0
    import tempfile

    env = dict(os.environ, DAIHOU_DB_URL=f"duckdb:///{args.db}", DAIHOU_SECRETS_FILE=str(args.db.parent / "no-secrets.toml"))
    env["DAIHOU_CACHE_DIR"] = str(args.cache or tempfile.mkdtemp(prefix="daihou-profile-cache-"))
    for page in args.pages:  # one process per page: empty memory caches, as after a server start
        cmd = [sys.executable, __file__, "--db", str(args.db), "--region", args.region, "--top", str(args.top), "--one", page, page]
        subprocess.run(cmd, cwd=ROOT, env=env, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
