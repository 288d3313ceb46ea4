"""The demo book generator (data/generate.py): determinism, a valid tape, and a book with
something true to show on every page (downturn, bad and improving provinces, early-warning
scores, classification exceptions, agencies, inspections)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from analytics.classification import CLASSES, floor_class
from data.generate import (
    AGENCIES,
    BAD_PROVINCES,
    BLOCK_LOANS,
    IMPROVING_PROVINCES,
    PRODUCTS,
    SCORE_RANGE,
    TABLE_COLUMNS,
    downturn_window,
    generate_into,
    generate_tape,
    write_tape,
)
from data.regions import mainland_codes

N_LOANS, N_MONTHS, SEED = 3_000, 36, 7
TABLES = ("loans", "performance", "customers", "collections", "inspections")

SPEC_COLUMNS = {
    "loans": [
        "loan_id", "customer_id", "region_code", "branch_id", "product", "segment", "disbursement_date",
        "maturity_date", "principal", "interest_rate", "origination_score", "collateral_type",
        "collateral_value", "purpose", "industry",
    ],
    "performance": [
        "loan_id", "as_of", "outstanding_principal", "dpd", "credit_score", "collateral_value", "status",
        "classification", "principal_paid", "interest_paid", "recovered_amount",
    ],
    "customers": ["customer_id", "name", "id_number", "phone", "segment", "industry", "annual_income", "debt_ratio"],
    "collections": [
        "case_id", "loan_id", "opened_on", "closed_on", "stage", "agency", "amount_due", "amount_recovered",
        "complaints",
    ],
    "inspections": ["inspection_id", "loan_id", "kind", "due_on", "done_on", "result"],
}


def _concat(n_loans: int, n_months: int, seed: int, **kw) -> dict[str, pd.DataFrame]:
    chunks = list(generate_tape(n_loans, n_months, seed, **kw))
    return {t: pd.concat([getattr(c, t) for c in chunks], ignore_index=True) for t in TABLES}


@pytest.fixture(scope="module")
def tape() -> dict[str, pd.DataFrame]:
    return _concat(N_LOANS, N_MONTHS, SEED)


@pytest.fixture(scope="module")
def perf(tape) -> pd.DataFrame:
    """Performance rows with the loan's fixed columns and the window month index ``m``."""
    loans = tape["loans"][["loan_id", "region_code", "product", "disbursement_date", "origination_score", "principal"]]
    p = tape["performance"].merge(loans, on="loan_id", how="left")
    months = np.sort(p["as_of"].unique())
    p["m"] = np.searchsorted(months, p["as_of"].to_numpy())
    return p


@pytest.fixture(scope="module")
def book(perf) -> pd.DataFrame:
    """The book: active rows."""
    return perf[perf["status"] == "active"]


def _rate30(rows: pd.DataFrame) -> pd.Series:
    """30+ DPD rate by balance per window month."""
    bal = rows["outstanding_principal"]
    num = bal.where(rows["dpd"] > 30, 0.0).groupby(rows["m"]).sum()
    return num / bal.groupby(rows["m"]).sum()


# ---------------------------------------------------------------------------------------
# Determinism and chunking
# ---------------------------------------------------------------------------------------


def test_same_seed_same_tape_other_seed_other_tape() -> None:
    a = _concat(1_500, 12, 3)
    b = _concat(1_500, 12, 3)
    c = _concat(1_500, 12, 4)
    for t in TABLES:
        pd.testing.assert_frame_equal(a[t], b[t])
    assert not a["loans"]["principal"].equals(c["loans"]["principal"])
    assert not a["customers"]["name"].equals(c["customers"]["name"])
    assert len(a["performance"]) != len(c["performance"]) or not a["performance"].equals(c["performance"])


def test_tape_does_not_depend_on_chunk_size() -> None:
    n = 2 * BLOCK_LOANS + 500  # a partial last block too
    whole = _concat(n, 14, 11, chunk_loans=50_000)
    for chunk_loans in (1, BLOCK_LOANS, 1_700):  # rounded up to whole blocks
        parts = _concat(n, 14, 11, chunk_loans=chunk_loans)
        for t in TABLES:
            a, b = whole[t], parts[t]
            if t == "performance":  # month-major inside each chunk: the same rows, in chunk order
                key = ["loan_id", "as_of"]
                a, b = (x.sort_values(key, ignore_index=True) for x in (a, b))
            pd.testing.assert_frame_equal(a, b, obj=f"{t} with chunk_loans={chunk_loans}")


def test_performance_rows_are_month_major_in_each_chunk() -> None:
    """Each chunk's performance rows come month by month (then by loan), so the stored table
    is nearly sorted by as_of and a one-month read can skip most of it."""
    for chunk in generate_tape(1_200, 8, 3, chunk_loans=600):
        perf = chunk.performance
        assert perf["as_of"].is_monotonic_increasing
        for _, month in perf.groupby("as_of", sort=False):
            assert month["loan_id"].is_monotonic_increasing


def test_chunks_are_disjoint_with_their_customers() -> None:
    chunks = list(generate_tape(2_500, 6, 5, chunk_loans=1_000))
    assert [c.loan_range for c in chunks] == [(0, 1000), (1000, 2000), (2000, 2500)]
    seen_loans: set[str] = set()
    seen_customers: set[str] = set()
    for c in chunks:
        loans = set(c.loans["loan_id"])
        customers = set(c.customers["customer_id"])
        assert len(loans) == len(c.loans)
        assert not loans & seen_loans and not customers & seen_customers
        assert set(c.loans["customer_id"]) == customers  # each chunk holds its loans' customers
        assert set(c.performance["loan_id"]) <= loans
        assert set(c.collections["loan_id"]) <= loans and set(c.inspections["loan_id"]) <= loans
        seen_loans |= loans
        seen_customers |= customers
    assert len(seen_loans) == 2_500


def test_end_month_sets_the_window() -> None:
    import datetime as dt

    t = _concat(300, 5, 1, end_month=dt.date(2024, 2, 10))
    months = sorted(t["performance"]["as_of"].unique())
    assert [pd.Timestamp(m).date() for m in months] == [
        dt.date(2023, 10, 31), dt.date(2023, 11, 30), dt.date(2023, 12, 31), dt.date(2024, 1, 31), dt.date(2024, 2, 29),
    ]


# ---------------------------------------------------------------------------------------
# A valid tape
# ---------------------------------------------------------------------------------------


def test_columns_are_the_spec_columns(tape) -> None:
    for t in TABLES:
        assert list(tape[t].columns) == SPEC_COLUMNS[t] == list(TABLE_COLUMNS[t])
    for t, cols in TABLE_COLUMNS.items():
        for col, dtype in cols.items():
            if dtype.startswith("datetime64"):
                assert pd.api.types.is_datetime64_any_dtype(tape[t][col]), (t, col)
            elif dtype in ("float64", "int64"):
                assert str(tape[t][col].dtype) == dtype, (t, col)


def test_enumerations(tape) -> None:
    loans, perf, cust, coll, insp = (tape[t] for t in TABLES)
    assert set(loans["product"]) == set(PRODUCTS)
    assert set(loans["segment"]) == {"retail", "sme", "corporate"}
    assert set(cust["segment"]) == {"retail", "sme", "corporate"}
    assert set(loans["collateral_type"]) <= {
        "none", "real_estate", "vehicle", "equipment", "inventory", "receivables", "deposit", "guarantee",
    }
    assert set(perf["status"]) == {"active", "closed", "written_off"}
    assert set(perf["classification"]) == set(CLASSES)
    assert set(coll["stage"]) == {"early", "mid", "late", "legal"}
    assert set(insp["kind"]) == {"first", "routine", "special"}
    assert set(insp["result"].dropna()) == {"ok", "issue"}


def test_loans_are_valid(tape) -> None:
    loans = tape["loans"]
    assert loans["loan_id"].is_unique
    assert (loans["maturity_date"] >= loans["disbursement_date"]).all()
    assert (loans["principal"] > 0).all()
    assert loans["interest_rate"].between(0, 1, inclusive="left").all()
    assert (loans["collateral_value"].dropna() >= 0).all()
    assert loans["origination_score"].between(*SCORE_RANGE).all()
    assert set(loans["region_code"]) <= set(mainland_codes())
    assert loans["branch_id"].str.fullmatch(r"BR\d{6}-0[1-8]").all()
    assert (loans["branch_id"].str[2:8] == loans["region_code"]).all()
    assert np.allclose(loans["principal"], loans["principal"].round(2))


def test_performance_is_valid(tape, perf) -> None:
    p = tape["performance"]
    assert not p.duplicated(["loan_id", "as_of"]).any()  # one row per loan and month
    assert set(p["loan_id"]) <= set(tape["loans"]["loan_id"])
    assert p["as_of"].nunique() == N_MONTHS
    assert p["as_of"].max() == pd.Timestamp("2026-10-31")
    assert p["as_of"].dt.is_month_end.all()
    assert (p["outstanding_principal"] >= 0).all() and (p["dpd"] >= 0).all()
    assert p["credit_score"].between(*SCORE_RANGE).all()
    for col in ("outstanding_principal", "principal_paid", "interest_paid", "recovered_amount"):
        assert (p[col] >= 0).all(), col
        assert np.allclose(p[col], p[col].round(2)), col
    # no row before the loan's disbursement month
    assert (perf["as_of"] >= perf["disbursement_date"]).all()
    # closed rows are paid off and current; nothing follows a closure
    closed = p[p["status"] == "closed"]
    assert (closed["outstanding_principal"] == 0).all() and (closed["dpd"] == 0).all()
    last = p.groupby("loan_id")["as_of"].transform("max")
    assert (closed["as_of"] == last[closed.index]).all()
    # days past due grow at most a month at a time: one more missed instalment a month
    s = p.sort_values(["loan_id", "as_of"])
    same = s["loan_id"].eq(s["loan_id"].shift())
    step = (s["dpd"] - s["dpd"].shift()).where(same)
    assert step.max() <= 31
    assert set(step.dropna().unique()) >= {30}  # a loan missing payments accumulates 30 days a month


def test_every_reference_resolves(tape) -> None:
    loans = set(tape["loans"]["loan_id"])
    assert set(tape["loans"]["customer_id"]) == set(tape["customers"]["customer_id"])
    assert tape["customers"]["customer_id"].is_unique
    assert set(tape["collections"]["loan_id"]) <= loans
    assert set(tape["inspections"]["loan_id"]) <= loans
    assert tape["collections"]["case_id"].is_unique
    assert tape["inspections"]["inspection_id"].is_unique


def test_customers_have_plausible_personal_data(tape) -> None:
    cust = tape["customers"]
    people = cust[cust["segment"] == "retail"]
    assert people["name"].str.fullmatch(r"[\u4e00-\u9fff]{2,4}").all()
    ids = people["id_number"]
    assert ids.str.fullmatch(r"\d{17}[\dX]").all()
    # ISO 7064 MOD 11-2 check digit of a resident identity number
    w = np.array([2 ** (17 - i) % 11 for i in range(17)])
    digits = np.array([[int(ch) for ch in s[:17]] for s in ids])
    check = np.array(list("10X98765432"))[(digits * w).sum(axis=1) % 11]
    assert (check == ids.str[17].to_numpy()).all()
    assert cust["phone"].str.fullmatch(r"1\d{10}").all()
    assert cust["debt_ratio"].between(0, 1).all() and (cust["annual_income"] > 0).all()
    # the id number's region is the customer's province
    region = tape["loans"].drop_duplicates("customer_id").set_index("customer_id")["region_code"]
    assert (people["id_number"].str[:2].to_numpy() == region[people["customer_id"]].str[:2].to_numpy()).all()


def test_collections_are_consistent(tape, perf) -> None:
    coll = tape["collections"]
    closed = coll.dropna(subset=["closed_on"])
    assert (closed["closed_on"] >= closed["opened_on"]).all()
    assert (coll["opened_on"] <= pd.Timestamp("2026-10-31")).all()
    assert (coll["amount_recovered"] <= coll["amount_due"]).all() and (coll["amount_recovered"] >= 0).all()
    assert (coll["complaints"] >= 0).all()
    # a case opens only on a loan that reached 31+ DPD, and its stage matches the worst DPD
    worst = perf.groupby("loan_id")["dpd"].max()
    assert (worst[coll["loan_id"]].to_numpy() > 30).all()
    legal = coll[coll["stage"] == "legal"]
    assert (worst[legal["loan_id"]].to_numpy() > 180).all()


def test_inspections_are_consistent(tape) -> None:
    insp = tape["inspections"].merge(tape["loans"][["loan_id", "disbursement_date"]], on="loan_id")
    end = pd.Timestamp("2026-10-31")
    assert (insp["done_on"].dropna() <= end).all()
    assert (insp["result"].isna() == insp["done_on"].isna()).all()
    first = insp[insp["kind"] == "first"]
    assert ((first["due_on"] - first["disbursement_date"]).dt.days == 30).all()
    assert first["loan_id"].is_unique


# ---------------------------------------------------------------------------------------
# Realism: every page has something true to show
# ---------------------------------------------------------------------------------------


def test_all_31_mainland_provinces(tape) -> None:
    assert set(tape["loans"]["region_code"]) == set(mainland_codes())
    branches = tape["loans"].groupby("region_code")["branch_id"].nunique()
    assert branches.min() >= 1 and branches.max() >= 5


def test_downturn_raises_30_plus_rate(book) -> None:
    rate = _rate30(book)
    first, last = downturn_window(N_MONTHS)
    before = rate.loc[: first - 1]
    during = rate.loc[first:last]
    assert during.mean() > 1.4 * before.mean()
    assert during.max() > before.max()
    assert rate.idxmax() >= first  # the peak is in (or just after) the downturn
    assert rate.iloc[-1] < rate.max() * 0.85  # and there is a recovery


def test_bad_provinces_worse_in_every_downturn_month(book) -> None:
    national = _rate30(book)
    bad = _rate30(book[book["region_code"].isin(BAD_PROVINCES)])
    first, last = downturn_window(N_MONTHS)
    assert (bad.loc[first:last] > national.loc[first:last]).all()
    assert bad.mean() > 1.5 * national.mean()


def test_improving_provinces_improve_relative_to_the_nation(book) -> None:
    # by count (robust on a small book; the slow test checks 30+ by balance on a larger one)
    rate1 = (book["dpd"] > 0).groupby(book["m"]).mean()
    imp = book[book["region_code"].isin(IMPROVING_PROVINCES)]
    ratio = (imp["dpd"] > 0).groupby(imp["m"]).mean() / rate1
    assert ratio.iloc[:12].mean() > 1.2  # worse than the nation at first
    assert ratio.iloc[:12].mean() > 1.4 * ratio.iloc[-12:].mean()  # and much less so at the end


def test_scores_fall_before_90_plus(perf) -> None:
    p = perf.sort_values(["loan_id", "m"])
    first90 = p[p["dpd"] > 90].groupby("loan_id")["m"].min()
    first90 = first90[first90 >= 7]  # observed 6 months before
    rows = p[p["loan_id"].isin(first90.index)].join(first90.rename("m90"), on="loan_id")
    rows["k"] = rows["m"] - rows["m90"]
    mean = rows.groupby("k")["credit_score"].mean()
    assert len(first90) >= 50
    assert mean[-6] > mean[-5] > mean[-4] > mean[-3]  # drifting down months before 90+
    assert mean[-6] - mean[-3] >= 30
    # ...and before the very first missed payment, already
    cur = p[p["dpd"] > 0].groupby("loan_id")["m"].min()
    clean_start = p[(p["m"] == 0)].set_index("loan_id")["dpd"].eq(0)
    cur = cur[(cur >= 6) & cur.index.isin(clean_start[clean_start].index) & cur.index.isin(first90.index)]
    rows = p[p["loan_id"].isin(cur.index)].join(cur.rename("m1"), on="loan_id")
    before = rows[rows["m"] - rows["m1"] == -5]["credit_score"].mean()
    just_before = rows[rows["m"] - rows["m1"] == -1]["credit_score"].mean()
    assert just_before < before - 15


def _psi(base: np.ndarray, cur: np.ndarray) -> float:
    edges = np.quantile(base, np.arange(1, 10) / 10)
    e = np.maximum(np.bincount(np.searchsorted(edges, base, side="left"), minlength=10) / len(base), 1e-4)
    a = np.maximum(np.bincount(np.searchsorted(edges, cur, side="left"), minlength=10) / len(cur), 1e-4)
    return float(((a - e) * np.log(a / e)).sum())


def test_score_distribution_shifts_in_the_downturn(book) -> None:
    base = book.loc[book["m"] == 0, "credit_score"].to_numpy()
    psi = {m: _psi(base, g["credit_score"].to_numpy()) for m, g in book.groupby("m")}
    first, last = downturn_window(N_MONTHS)
    assert max(psi[m] for m in range(1, 6)) < 0.05  # stable before
    assert max(psi[m] for m in range(first, last + 1)) > 0.10  # shifting in the downturn
    mean = book.groupby("m")["credit_score"].mean()
    assert mean.loc[first:last].min() < mean.loc[: first - 1].mean() - 10


def test_products_have_their_own_terms_rates_sizes_and_collateral(tape) -> None:
    loans = tape["loans"]
    term_m = (loans["maturity_date"].dt.year - loans["disbursement_date"].dt.year) * 12 + (
        loans["maturity_date"].dt.month - loans["disbursement_date"].dt.month
    )
    g = loans.assign(term=term_m).groupby("product")
    expect = {  # (term months, rate, principal)
        "mortgage": ((240, 360), (0.035, 0.049), (500_000, 3_000_000)),
        "consumer": ((12, 36), (0.06, 0.18), (10_000, 200_000)),
        "business": ((12, 60), (0.04, 0.08), (200_000, 5_000_000)),
        "credit_card": ((12, 36), (0.15, 0.24), (5_000, 100_000)),
        "auto": ((36, 60), (0.05, 0.09), (80_000, 400_000)),
    }
    for product, (term, rate, size) in expect.items():
        x = g.get_group(product)
        assert x["term"].between(*term).all(), product
        assert x["interest_rate"].between(*rate).all(), product
        assert x["principal"].between(*size).all(), product
    med_rate = g["interest_rate"].median()
    assert med_rate["mortgage"] < med_rate["business"] < med_rate["auto"] < med_rate["consumer"] < med_rate["credit_card"]
    med_size = g["principal"].median()
    assert med_size["credit_card"] < med_size["consumer"] < med_size["auto"] < med_size["business"] < med_size["mortgage"]
    coll = g["collateral_type"].agg(set)
    assert coll["mortgage"] == {"real_estate"} and coll["auto"] == {"vehicle"}
    assert coll["consumer"] == {"none"} and coll["credit_card"] == {"none"}
    assert {"real_estate", "equipment", "inventory", "receivables", "guarantee"} <= coll["business"]
    mort = g.get_group("mortgage")
    assert (mort["principal"] / mort["collateral_value"]).between(0.49, 0.81).all()  # LTV 50-80 %
    assert loans.loc[loans["collateral_type"] == "none", "collateral_value"].isna().all()
    assert set(g.get_group("business")["segment"]) == {"sme", "corporate"}
    assert set(loans.loc[loans["product"] != "business", "segment"]) == {"retail"}


def test_house_prices_fall_and_vehicles_depreciate(perf) -> None:
    loans = perf.drop_duplicates("loan_id").set_index("loan_id")
    orig = perf["loan_id"].map(perf.groupby("loan_id")["collateral_value"].first())
    first, last = downturn_window(N_MONTHS)
    re_ = perf[(perf["product"] == "mortgage") & (perf["disbursement_date"] < perf["as_of"].min())]
    rel = (re_["collateral_value"] / orig[re_.index]).groupby(re_["m"]).median()
    assert rel.loc[last] < 0.93 * rel.loc[first - 2]  # revalued with the regional house-price index
    auto = perf[perf["product"] == "auto"]
    rel_a = (auto["collateral_value"] / orig[auto.index]).groupby(auto["m"]).median()
    assert rel_a.iloc[-1] < 0.9
    assert len(loans) > 0


def test_book_has_seasoned_and_new_loans_and_closures(tape, perf) -> None:
    start = perf["as_of"].min() - pd.offsets.MonthBegin(1)
    seasoned = (tape["loans"]["disbursement_date"] < start).mean()
    assert 0.25 < seasoned < 0.75
    p = tape["performance"]
    closed = perf[perf["status"] == "closed"]
    loans = tape["loans"].set_index("loan_id")
    early = closed["as_of"] < loans.loc[closed["loan_id"], "maturity_date"].to_numpy() - pd.Timedelta(days=40)
    assert early.sum() > 50  # prepaid in full
    assert (p["status"] == "written_off").any()
    wo = p[p["status"] == "written_off"]
    assert (wo["recovered_amount"] > 0).sum() > 10
    assert (p["principal_paid"] > 0).mean() > 0.8 and (p["interest_paid"] > 0).mean() > 0.8


def test_every_dpd_bucket_and_class_is_populated(book) -> None:
    buckets = pd.cut(book["dpd"], [-1, 0, 30, 60, 90, 180, 360, 10**6])
    assert (buckets.value_counts() > 0).all()
    last = book[book["m"] == N_MONTHS - 1]
    assert set(last["classification"]) == set(CLASSES)


def test_customers_hold_several_loans(tape) -> None:
    per = tape["loans"].groupby("customer_id").size()
    assert 1.3 <= per.mean() <= 1.8
    assert (per >= 3).sum() > 20


def test_some_reported_classes_are_exceptions(book) -> None:
    rank = {c: i for i, c in enumerate(CLASSES)}
    floor = pd.Series(floor_class(book["dpd"]), index=book.index).map(rank)
    reported = book["classification"].map(rank)
    delinquent = book["dpd"] > 0
    better = (reported < floor) & delinquent
    share = better.sum() / delinquent.sum()
    assert 0.005 <= share <= 0.03  # about 1-2 % of delinquent rows reported better than the floor
    worse = reported > floor
    assert 0 < worse.sum() < better.sum() * 5
    assert (reported[~delinquent] <= 1).all()


def test_agencies_differ_in_recovery_and_complaints() -> None:
    coll = _concat(8_000, 24, 13)["collections"]  # enough cases per agency
    names = {a[0] for a in AGENCIES}
    assert set(coll["agency"].dropna()) == names and coll["agency"].isna().any()  # blank = in-house
    by = coll.dropna(subset=["agency"]).groupby("agency")
    rr = by["amount_recovered"].sum() / by["amount_due"].sum()
    assert rr.max() > 1.6 * rr.min()
    best = max(AGENCIES, key=lambda a: a[1])[0]
    worst = min(AGENCIES, key=lambda a: a[1])[0]
    assert rr[best] > rr[worst]
    complaints = by["complaints"].mean()
    assert complaints.max() > 4 * complaints.min()


def test_first_inspections_mostly_within_30_days(tape) -> None:
    insp = tape["inspections"].merge(tape["loans"][["loan_id", "disbursement_date"]], on="loan_id")
    first = insp[(insp["kind"] == "first") & (insp["due_on"] < pd.Timestamp("2026-09-01"))]
    lag = (first["done_on"] - first["disbursement_date"]).dt.days
    assert (lag <= 30).mean() > 0.8
    assert 0.03 < (lag > 30).mean() < 0.15
    assert 0 < first["done_on"].isna().mean() < 0.1
    special = insp[insp["kind"] == "special"].dropna(subset=["result"])
    routine = insp[insp["kind"] == "routine"].dropna(subset=["result"])
    assert (special["result"] == "issue").mean() > 0.5 > (routine["result"] == "issue").mean()


# ---------------------------------------------------------------------------------------
# Files and the store
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_write_tape_writes_the_same_tape(tmp_path, fmt) -> None:
    paths = write_tape(tmp_path, 2_300, 8, 21, fmt=fmt, chunk_loans=1_000)
    ref = _concat(2_300, 8, 21, chunk_loans=1_000)  # the same chunks, so the same row order
    for t in TABLES:
        assert paths[t].name == f"{t}.{fmt}"
        got = pd.read_csv(paths[t], dtype=str) if fmt == "csv" else pd.read_parquet(paths[t])
        assert list(got.columns) == SPEC_COLUMNS[t]
        assert len(got) == len(ref[t])
        assert (got.iloc[:, 0].astype(str).to_numpy() == ref[t].iloc[:, 0].astype(str).to_numpy()).all()
    if fmt == "csv":
        perf = pd.read_csv(paths["performance"], dtype=str)
        assert perf["as_of"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()


def test_written_csv_tape_loads(tmp_path, duckdb_engine) -> None:
    from data.importer import load_files

    paths = write_tape(tmp_path, 400, 6, 2)
    report = load_files(duckdb_engine, paths, region_set="cn_provinces")
    assert report.ok, report.summary()


def _count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_generate_into_duckdb(duckdb_engine) -> None:
    seen: list[tuple[float, str]] = []
    res = generate_into(duckdb_engine, 2_300, 12, 5, chunk_loans=1_000, progress=lambda f, m: seen.append((f, m)))
    assert res.chunks == 3
    assert res.loans == 2_300 == _count(duckdb_engine, "loans")
    assert res.performance == _count(duckdb_engine, "performance")
    assert res.customers == _count(duckdb_engine, "customers")
    assert res.collections == _count(duckdb_engine, "collections")
    assert res.inspections == _count(duckdb_engine, "inspections")
    assert all(r.ok for r in res.reports)
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(seen) == 4
    assert res.total_seconds >= res.generate_seconds + res.load_seconds * 0.99
    with duckdb_engine.connect() as conn:
        regions = conn.execute(sa.text("SELECT count(DISTINCT region_code) FROM loans")).scalar_one()
        months = conn.execute(sa.text("SELECT count(DISTINCT as_of) FROM performance")).scalar_one()
    assert regions == 31 and months == 12


def test_generate_into_both_back_ends(engine) -> None:
    res = generate_into(engine, 300, 12, 9)
    assert all(r.ok for r in res.reports)
    assert _count(engine, "loans") == 300
    assert _count(engine, "performance") == res.performance > 0


def test_generate_into_raises_on_a_rejected_chunk(duckdb_engine) -> None:
    generate_into(duckdb_engine, 300, 6, 1)
    with pytest.raises(RuntimeError, match="rejected"):
        generate_into(duckdb_engine, 300, 6, 1, region_set="us_states")
    assert _count(duckdb_engine, "loans") == 300  # the failed chunk left nothing behind


@pytest.mark.slow
def test_larger_book_regional_stories_by_balance() -> None:
    t = _concat(20_000, N_MONTHS, 1)
    p = t["performance"].merge(t["loans"][["loan_id", "region_code"]], on="loan_id")
    months = np.sort(p["as_of"].unique())
    p["m"] = np.searchsorted(months, p["as_of"].to_numpy())
    book = p[p["status"] == "active"]
    first, last = downturn_window(N_MONTHS)
    national = _rate30(book)
    for code in BAD_PROVINCES:  # each bad province, not only the group
        own = _rate30(book[book["region_code"] == code])
        assert own.loc[first:last].mean() > 1.5 * national.loc[first:last].mean(), code
    ratio = _rate30(book[book["region_code"].isin(IMPROVING_PROVINCES)]) / national
    assert ratio.iloc[:6].mean() > 1.5 * ratio.iloc[-6:].mean()
