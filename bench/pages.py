"""Page timings: every page of the real app in a real browser, on a large embedded store.

    python bench/pages.py                      # a copy of /tmp/million-fresh.duckdb
    python bench/pages.py --db STORE.duckdb    # a copy of another store
    python bench/run.py pages                  # the same, from the benchmark runner

Goals (issue 4), at 1,000,000 loans × 36 months on the embedded store: the first render of
a page after the server starts ≤ 3 s; a rerun after a filter or slider change ≤ 1 s (warm
caches); the app's peak memory < 3 GB.

How it measures. The store is copied into a temporary folder first (the app writes to its
store: migrations, alert evaluation); with no store to copy, one is generated as
``bench/run.py`` does. The app is the real one: ``streamlit run app.py`` headless on a free
loopback port (``DAIHOU_DB_URL`` = the copy, ``DAIHOU_CACHE_DIR`` = an empty temporary
folder), driven through Debian's Chromium by Playwright with the helpers of the end-to-end
test (``tests/e2e/streamlit_driver.py``). A page is "done" when Streamlit's script state
is ``notRunning`` and no spinner or skeleton is shown (the browser may still be drawing a
chart); each time runs from the user's action (a click, a key press) to that moment.

1. Cold session: a fresh server on the fresh copy with empty disk caches; the heaviest page
   (``--cold-page``) opened by its address, then every page, each with the same changes as
   below. Its first line is the fully cold start; the session fills the disk caches (PD
   model, customer values for each month and filter) and the store's alert runs, as the
   first ever start of the app does. Its peak memory is read at the end.
2. Per page, warm disk caches: a fresh server process (nothing in Streamlit's memory
   caches), the page opened by its address (``/<page>``) and signed in: "login" is the
   address until the sign-in form is ready, "first render" the click on Sign in until the
   page is done. Then the reruns: the as-of month moved one month back in the sidebar
   (bound to the URL), a region chosen in the sidebar's region filter, and on the stress
   page first a slider moved one step with the keyboard.
3. Warm session: a fresh server, every page in one session with the same changes; its
   peak memory is read at the end.

Peak memory is the server process's ``VmHWM`` (peak resident set) from
``/proc/<pid>/status``, plus its child processes' if any. The load average is printed
before and after: the machine is shared, so the times are noisy under load.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "e2e")]

from streamlit_driver import (  # noqa: E402  (after the path setup)
    AppServer,
    PageInfo,
    app_environment,
    chromium_missing,
    click_menu_link,
    exception_texts,
    fill_sign_in,
    launch_chromium,
    new_tab,
    registered_pages,
    signed_in_check,
    timed_run,
    wait_idle,
)

DEFAULT_SOURCE = Path(os.environ.get("DAIHOU_BENCH_DB", "/tmp/million-fresh.duckdb"))
FIRST_GOAL_S, RERUN_GOAL_S, MEMORY_GOAL_MB = 3.0, 1.0, 3 * 1024
CHANGES = ("slider", "as_of", "region")  # in the order they are made on a page


@dataclass
class PageTimes:
    """Seconds for one page in one server session (None: not measured)."""

    page: str
    login: float | None = None
    first: float | None = None
    reruns: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def over_goal(self) -> bool:
        return (self.first is not None and self.first > FIRST_GOAL_S) or any(
            v > RERUN_GOAL_S for v in self.reruns.values()
        )


# --- memory -------------------------------------------------------------------------------------

def _status_kb(pid: int, field_name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids = [int(k) for k in (task / "children").read_text().split()]
        except OSError:
            continue
        for kid in kids:
            out += [kid, *_descendants(kid)]
    return out


def peak_memory_mb(pid: int) -> tuple[float, int]:
    """(peak resident MB of the process plus its children, number of children): VmHWM."""
    kids = _descendants(pid)
    return sum(_status_kb(p, "VmHWM") for p in [pid, *kids]) / 1024, len(kids)


# --- the store ----------------------------------------------------------------------------------

def prepare_store(source: Path | None, work: Path, loans: int, months: int, in_place: bool) -> tuple[Path, str]:
    """The store the app will use, and where it came from (never writes to ``source``)."""
    if source is not None and in_place:
        return source, f"{source} (in place)"
    if source is not None and source.is_file():
        dest = work / "store.duckdb"
        t0 = time.perf_counter()
        shutil.copyfile(source, dest)
        wal = source.with_name(source.name + ".wal")
        if wal.is_file():
            shutil.copyfile(wal, dest.with_name(dest.name + ".wal"))
        return dest, f"a copy of {source} ({dest.stat().st_size / 2**30:.2f} GB, copied in {time.perf_counter() - t0:.0f} s)"
    from bench.run import run_task  # no store to copy: generate one, as bench/run.py does

    dest = work / "store.duckdb"
    print(f"no store at {source}: generating {loans:,} loans × {months} months into {dest} …", flush=True)
    f = run_task("generate_and_load", loans, months, f"duckdb:///{dest}")
    return dest, f"generated here ({loans:,} × {months}, {f['seconds']:.0f} s)"


def store_size(url_path: Path) -> tuple[int, int]:
    """(loans, months) in the store, read-only."""
    import duckdb

    with duckdb.connect(str(url_path), read_only=True) as con:
        loans = con.execute("SELECT count(*) FROM loans").fetchone()[0]
        months = con.execute("SELECT count(DISTINCT as_of) FROM performance").fetchone()[0]
    return int(loans), int(months)


# --- actions in the page ------------------------------------------------------------------------

def _sidebar(tab):
    return tab.locator('[data-testid="stSidebar"]')


def _combobox(tab, key: str):
    """The text input of a sidebar selectbox / multiselect (a react-aria combobox)."""
    return _sidebar(tab).locator(f".st-key-{key}").get_by_role("combobox")


def _month_before(label: str) -> str:
    year, month = map(int, label.split("-"))
    return f"{year - (month == 1)}-{(month - 2) % 12 + 1:02d}"


def _pick(tab, key: str, text: str, exact: bool) -> float:
    """Type ``text`` into a sidebar combobox and click the option it leaves; seconds until done."""
    box = _combobox(tab, key)
    box.click()
    box.fill(text)
    listbox = tab.locator(f'[role="listbox"][aria-label="{box.get_attribute("aria-label")}"]')
    option = listbox.get_by_role("option", name=text, exact=exact).first
    option.wait_for()
    return timed_run(tab, option.click)


def change_as_of(tab) -> float:
    """Move the sidebar's as-of month one month back; seconds until the page is done."""
    before = _combobox(tab, "as_of").input_value()
    target = _month_before(before)
    seconds = _pick(tab, "as_of", target, exact=True)
    after = _combobox(tab, "as_of").input_value()
    if after != target:
        raise AssertionError(f"as-of month is {after!r} after choosing {target!r} (was {before!r})")
    return seconds


def change_region(tab, region: str) -> float:
    """Choose a region (the first option containing ``region``) in the sidebar's region filter."""
    seconds = _pick(tab, "region", region, exact=False)
    tab.keyboard.press("Escape")
    tags = _sidebar(tab).locator('.st-key-region [data-testid="stMultiSelectTagsContainer"]').inner_text()
    if region not in tags:
        raise AssertionError(f"region {region!r} not shown as chosen after the click ({tags!r})")
    return seconds


def move_stress_slider(tab) -> float:
    """Move the stress page's unemployment shock one step up with the keyboard."""
    main = tab.locator('[data-testid="stMain"]')
    thumb = main.locator(".st-key-stress_unemployment").get_by_role("slider").first
    start = thumb.input_value()  # a visually hidden <input type="range"> takes the keys
    thumb.focus()
    seconds = timed_run(tab, lambda: thumb.press("ArrowRight"))
    now = thumb.input_value()
    if now == start:
        raise AssertionError(f"the slider stayed at {start}")
    return seconds


def reset_filters(tab, as_of: str) -> None:
    """Back to the as-of month ``as_of`` and no region (untimed), so the next page in a
    session starts from the same filters as the first render of every page."""
    remove = _sidebar(tab).locator('.st-key-region button[aria-label^="Remove "]')
    while remove.count():
        timed_run(tab, remove.first.click)
    if _combobox(tab, "as_of").input_value() != as_of:
        _pick(tab, "as_of", as_of, exact=True)


def make_changes(tab, times: PageTimes, region: str, reset: bool = False) -> None:
    """The page's reruns, in order; a failed change is noted, the others still run.
    With ``reset``, the sidebar filters are put back afterwards."""
    as_of = _combobox(tab, "as_of").input_value()
    for change in CHANGES:
        if change == "slider" and times.page != "stress":
            continue
        try:
            if change == "slider":
                times.reruns[change] = move_stress_slider(tab)
            elif change == "as_of":
                times.reruns[change] = change_as_of(tab)
            else:
                times.reruns[change] = change_region(tab, region)
        except Exception as exc:  # noqa: BLE001 - report it in the table, go on measuring
            times.problems.append(f"{change}: {str(exc).splitlines()[0][:160]}")
        times.problems += [f"exception after {change}: {t[:200]}" for t in exception_texts(tab)]
    if reset:
        reset_filters(tab, as_of)


def open_signed_in(tab, server: AppServer, info: PageInfo, times: PageTimes) -> None:
    """Open a page by its address on a new session, sign in; time both."""
    t0 = time.monotonic()
    tab.goto(f"{server.url}/{'' if info.default else info.url_path}", wait_until="domcontentloaded")
    button = fill_sign_in(tab)  # waits until the form is ready and idle
    times.login = wait_idle(tab, poll=0.05) - t0
    times.first = timed_run(tab, button.click)
    signed_in_check(tab, button)
    path = tab.evaluate("() => window.location.pathname").rstrip("/").split("/")[-1]
    if path not in (("", info.url_path) if info.default else (info.url_path,)):
        times.problems.append(f"after the sign-in the address is {tab.url}")
    times.problems += [f"exception: {t[:200]}" for t in exception_texts(tab)]


def visit(tab, info: PageInfo) -> float:
    """Open a page from the sidebar menu; seconds until it is done."""
    return timed_run(tab, lambda: click_menu_link(tab, info))


def session_through_pages(browser, server: AppServer, pages: list[PageInfo], first: PageInfo, region: str) -> list[PageTimes]:
    """One session: ``first`` by its address and signed in, then the others from the menu;
    each page with its changes."""
    tab = new_tab(browser)
    try:
        out = [PageTimes(first.url_path)]
        open_signed_in(tab, server, first, out[0])
        make_changes(tab, out[0], region, reset=True)
        for info in pages:
            if info == first:
                continue
            times = PageTimes(info.url_path)
            try:
                times.first = visit(tab, info)
            except Exception as exc:  # noqa: BLE001
                times.problems.append(str(exc).splitlines()[0][:160])
            times.problems += [f"exception: {t[:200]}" for t in exception_texts(tab)]
            make_changes(tab, times, region, reset=True)
            out.append(times)
        return out
    finally:
        tab.close()


# --- output -------------------------------------------------------------------------------------

def _s(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}"


def table(rows: list[PageTimes]) -> str:
    head = ("page", "login s", "first render s", "rerun as-of s", "rerun region s", "rerun slider s", "goal", "")
    lines = [head]
    for r in rows:
        verdict = "over" if r.over_goal() else "ok"
        if r.problems:
            verdict += " (problems below)"
        lines.append((
            r.page, _s(r.login), _s(r.first), _s(r.reruns.get("as_of")), _s(r.reruns.get("region")),
            _s(r.reruns.get("slider")), f"≤ {FIRST_GOAL_S:g} s / ≤ {RERUN_GOAL_S:g} s", verdict,
        ))
    widths = [max(len(r[i]) for r in lines) for i in range(len(head))]
    fmt = [f"{{:<{w}}}" if i in (0, 6, 7) else f"{{:>{w}}}" for i, w in enumerate(widths)]
    out = ["  ".join(f.format(c) for f, c in zip(fmt, row)).rstrip() for row in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def problems(rows: list[PageTimes], what: str) -> list[str]:
    return [f"  {what} {r.page}: {p}" for r in rows for p in r.problems]


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --- main ---------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", type=Path, default=DEFAULT_SOURCE,
                    help="the store to measure (a DuckDB file); copied into a temporary folder first "
                         f"(default {DEFAULT_SOURCE}; generated when missing)")
    ap.add_argument("--in-place", action="store_true", help="use --db itself (the app writes to it)")
    ap.add_argument("--loans", type=int, default=1_000_000, help="loans to generate when there is no store")
    ap.add_argument("--months", type=int, default=36, help="months to generate when there is no store")
    ap.add_argument("--pages", default="", help="comma-separated url paths (default: every page of app.py)")
    ap.add_argument("--cold-page", default="customers", help="the page of the fully cold start")
    ap.add_argument("--region", default="广东", help="text of the region option chosen in the region filter")
    ap.add_argument("--skip-cold", action="store_true", help="no cold session (the disk caches stay cold!)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (store copy, caches, logs)")
    args = ap.parse_args(argv)

    why = chromium_missing()
    if why:
        print(f"cannot run the page benchmark: {why}", file=sys.stderr)
        return 2
    registered = registered_pages()
    wanted = [p for p in args.pages.split(",") if p]
    pages = [p for p in registered if not wanted or p.url_path in wanted]
    unknown = set(wanted) - {p.url_path for p in registered}
    if unknown:
        print(f"no such page in app.py: {sorted(unknown)}", file=sys.stderr)
        return 2
    cold_page = next((p for p in registered if p.url_path == args.cold_page), pages[0])

    load_before = _load()
    work = Path(tempfile.mkdtemp(prefix="daihou-bench-pages-"))
    try:
        store, origin = prepare_store(args.db, work, args.loans, args.months, args.in_place)
        loans, months = store_size(store)
        cache = work / "cache"
        env = app_environment(f"duckdb:///{store}", cache, work / "no-secrets.toml")
        print(f"store: {loans:,} loans × {months} months, {origin}", flush=True)
        print(f"load average before: {load_before} ({os.cpu_count()} CPUs)", flush=True)
        server = AppServer(env, work / "streamlit.log")
        cold: list[PageTimes] = []
        per_page: list[PageTimes] = []
        with launch_chromium() as browser:
            try:
                if not args.skip_cold:
                    print("cold session (empty disk caches, fresh store copy) …", flush=True)
                    server.start()
                    cold = session_through_pages(browser, server, pages, cold_page, args.region)
                    cold_mem = peak_memory_mb(server.pid)
                    server.stop()
                for info in pages:
                    print(f"page {info.url_path}: fresh server, warm disk caches …", flush=True)
                    server.start()
                    times = PageTimes(info.url_path)
                    tab = new_tab(browser)
                    try:
                        open_signed_in(tab, server, info, times)
                        make_changes(tab, times, args.region)
                    except Exception as exc:  # noqa: BLE001 - one page's failure is reported, not fatal
                        times.problems.append(str(exc).splitlines()[0][:200])
                    finally:
                        tab.close()
                        server.stop()
                    per_page.append(times)
                print("warm session (every page in one session) …", flush=True)
                server.start()
                warm = session_through_pages(browser, server, pages, pages[0], args.region)
                warm_mem = peak_memory_mb(server.pid)
            finally:
                server.stop()

        print()
        print(f"Page timings: {loans:,} loans × {months} months, embedded DuckDB store; "
              "the first render after a fresh server start, disk caches (PD model, customer values) warm")
        print(table(per_page))
        if cold:
            c = cold[0]
            print(f"fully cold start ({c.page}: fresh store copy, empty disk caches, fresh server): "
                  f"login {_s(c.login)} s, first render {_s(c.first)} s")
            print("cold session, every page after it from the menu (the time to open each, disk caches filling):")
            print("  " + ", ".join(f"{r.page} {_s(r.first)} s" for r in cold))
            print(f"peak memory of the server, cold session through every page: {cold_mem[0]:,.0f} MB"
                  f"{f' (with {cold_mem[1]} child processes)' if cold_mem[1] else ''}")
        print(f"peak memory of the server, warm session through every page: {warm_mem[0]:,.0f} MB"
              f"{f' (with {warm_mem[1]} child processes)' if warm_mem[1] else ''} (goal < {MEMORY_GOAL_MB / 1024:g} GB)")
        print(f"load average before: {load_before}, after: {_load()} ({os.cpu_count()} CPUs)")
        notes = problems(per_page, "page") + problems(cold, "cold session,") + problems(warm, "warm session,")
        if notes:
            print("problems:")
            print("\n".join(notes))
        if args.keep:
            print(f"kept: {work}")
        return 1 if notes else 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
