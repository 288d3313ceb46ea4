"""The command line, run as a user runs it: ``python -m cli ...`` in a subprocess."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from data.engine import make_engine

ROOT = Path(__file__).resolve().parent.parent


def _cli(args, url, tmp_path):
    env = {"DAIHOU_DB_URL": url, "DAIHOU_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin",
           "DAIHOU_SECRETS_FILE": str(tmp_path / "none.toml")}
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def _counts(url):
    with make_engine(url).connect() as c:
        return {t: c.execute(sa.text(f"select count(*) from {t}")).scalar()
                for t in ("loans", "performance", "import_batches")}


@pytest.fixture
def tape(tmp_path):
    d = tmp_path / "tape"
    d.mkdir()
    (d / "loans.csv").write_text(
        "loan_id,customer_id,region_code,product,disbursement_date,maturity_date,principal,interest_rate\n"
        "L1,C1,广东,consumer,2024-01-15,2026-01-15,10000,0.06\n"
        "L2,C2,440000,mortgage,2024-02-01,2054-02-01,800000,0.041\n",
        encoding="utf-8",
    )
    (d / "performance.csv").write_text(
        "loan_id,as_of,outstanding_principal,dpd\nL1,2024-03-10,9000,0\nL2,2024-03-31,795000,35\n",
        encoding="utf-8",
    )
    return d


def test_load_then_report_json(tmp_path, tape):
    url = f"duckdb:///{tmp_path / 'store.duckdb'}"
    out = _cli(["load", "--loans", tape / "loans.csv", "--performance", tape / "performance.csv"], url, tmp_path)
    assert out.returncode == 0, out.stderr
    rep = json.loads(_cli(["report", "--json"], url, tmp_path).stdout)
    assert rep["currency"] == "CNY" and rep["region_set"] == "cn_provinces"
    (m,) = rep["months"]
    assert m["as_of"] == "2024-03-31" and m["loans"] == 2 and m["balance"] == 804000.0
    assert m["overdue_rate_30_balance"] == pytest.approx(795000 / 804000)
    assert m["npl_ratio"] == 0.0 and m["provision_coverage"] is None
    # 1% general + 2% of the 关注 (special mention) balance
    assert m["provisions"] == pytest.approx(8040 + 15900)
    assert m["regions"] == [{"region_code": "440000", "balance": 804000.0, "loans": 2,
                             "overdue_rate_30_balance": pytest.approx(795000 / 804000), "npl_ratio": 0.0}]
    assert _cli(["report", "--json", "--as-of", "2023-01"], url, tmp_path).stdout.count('"as_of"') == 0


def test_broken_tape_exits_1_names_every_bad_row_and_changes_nothing(tmp_path, tape):
    url = f"duckdb:///{tmp_path / 'store.duckdb'}"
    assert _cli(["load", "--loans", tape / "loans.csv"], url, tmp_path).returncode == 0
    before = _counts(url)
    bad = tape / "bad_perf.csv"
    bad.write_text("loan_id,as_of,outstanding_principal,dpd\nL1,2024-04-30,-5,0\nL9,2024-04-30,100,0\n"
                   "L2,2024-04-31,100,-3\n", encoding="utf-8")
    report_csv = tmp_path / "rej.csv"
    out = _cli(["load", "--performance", bad, "--rejections", report_csv], url, tmp_path)
    assert out.returncode == 1
    text = out.stderr
    for needle in ("outstanding_principal", "L9", "as_of", "dpd"):
        assert needle in text
    rows = report_csv.read_text(encoding="utf-8-sig").splitlines()
    assert rows[0] == "file,row,column,value,reason"
    assert {r.split(",")[1] for r in rows[1:]} == {"2", "3", "4"}
    assert _counts(url) == before


def test_load_without_tables_exits_1(tmp_path):
    out = _cli(["load", "--rejections", tmp_path / "r.csv"], f"duckdb:///{tmp_path / 's.duckdb'}", tmp_path)
    assert out.returncode == 1
    assert "no table" in (out.stdout + out.stderr).lower()


def test_generate_refuses_a_full_store_without_replace(tmp_path, tape):
    url = f"duckdb:///{tmp_path / 'store.duckdb'}"
    assert _cli(["load", "--loans", tape / "loans.csv"], url, tmp_path).returncode == 0
    out = _cli(["generate", "--loans", "50", "--months", "6"], url, tmp_path)
    assert out.returncode == 1 and "--replace" in out.stderr
    out = _cli(["generate", "--loans", "50", "--months", "6", "--replace"], url, tmp_path)
    assert out.returncode == 0, out.stderr
    assert _counts(url)["loans"] == 50
