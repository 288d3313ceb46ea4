"""Data (数据管理): load a loan tape (administrators), the import history, the data quality, settings.

Administrators upload the five tables, see a preview, validate (the whole import is run and
rolled back, so nothing is written), read the full rejection report, and confirm the load
(all or nothing, with progress). Everyone sees the import history and the data-quality
summary of the tables in their own regions, and under Settings (设置) the store's provision
policy, which administrators can change (``components.policy``). The role is checked again
by ``data.admin`` / ``data.policy``.
"""

import streamlit as st

from components import upload as up
from components.auth import current_user
from components.charts import show_chart
from components.charts_data import missing_figure, monthly_rows_figure
from components.downloads import download_buttons, table_with_downloads
from components.filters import current_filters
from components.i18n import lang, lang_tabs, tr
from components.query import query
from components.policy import policy_settings
from components.store import data_changed, engine
from data import quality
from data.admin import can_load, load_as, validate_as
from data.importer import TABLES

user = current_user()
flt = current_filters()
admin = can_load(user)

_VALIDATION = "data_validation"  # (upload signature, report) of the last validation
_LOADED = "data_load_result"  # the last load's report, shown once after the rerun

st.title(tr("Data", "数据管理"))

if not admin:
    st.caption(tr("Only administrators can load data; here you see the import history and the data quality "
                  "of your regions.", "只有管理员可以导入数据；此处可查看导入记录和本人权限地区的数据质量。"))
sections = (["upload"] if admin else []) + ["history", "quality", "settings"]
names = {"upload": ("Load a tape", "导入数据"), "history": ("Import history", "导入记录"),
         "quality": ("Data quality", "数据质量"), "settings": ("Settings", "设置")}
tabs = lang_tabs("data_tab", {s: names[s] for s in sections})

# --------------------------------------------------------------------------- load a tape (admin)
if admin and tabs["upload"].open:
    with tabs["upload"]:
        loaded = st.session_state.pop(_LOADED, None)
        if loaded is not None:
            if loaded.ok:
                st.success(
                    tr("Loaded as batch {b}. Every page now shows the new data.", "已导入，批次 {b}。各页面已显示新数据。").format(
                        b=loaded.batch_id),
                    icon=":material/check_circle:",
                )
                up.show_counts(loaded, would=False)
            else:
                st.error(tr("The load was rejected; nothing was written.", "导入被拒绝，未写入任何数据。"))
                up.show_rejections(loaded, {}, key="load-rejections")

        st.caption(tr(
            "CSV (UTF-8, UTF-8 with BOM or GBK) or Parquet, one file per table, columns as in the loan-tape "
            "specification. A first load needs loans and performance; later loads may send any table. "
            "Up to 1 GB a file; a bigger tape loads faster with `python -m cli load`.",
            "CSV（UTF-8、带BOM的UTF-8或GBK）或Parquet，每张表一个文件，列名按贷款数据规范。"
            "首次导入需要贷款和月度表现表；之后可只导入任意表。单个文件最大1 GB；更大的数据用 `python -m cli load` 导入更快。",
        ))
        files = {}
        grid = st.columns(3) + st.columns(3)
        for col, table in zip(grid, TABLES):
            files[table] = col.file_uploader(
                up.table_label(table) + f" ({table})", type=["csv", "parquet", "pq"], key=f"upload_{table}",
                help=tr(*up.TABLE_HELP[table]), max_upload_size=up.MAX_UPLOAD_MB,
            )
        tables = up.prepare_uploads(files)
        signature = up.upload_signature(tables)

        if tables:
            st.subheader(tr("Preview", "预览"))
            up.show_preview(tables)

        st.subheader(tr("Validate and load", "校验与导入"))
        c1, c2, _ = st.columns([1, 1, 3])
        if c1.button(tr("Validate", "校验"), key="validate", icon=":material/fact_check:", disabled=not tables,
                     help=tr("Runs the whole import and rolls it back: nothing is written.",
                             "完整试运行导入后回滚：不写入任何数据。")):
            bar = st.progress(0.0, text=tr("Validating…", "正在校验…"))
            report = validate_as(engine(), user, {k: u.raw for k, u in tables.items()},
                                 progress=lambda f, m: bar.progress(f, text=m))
            bar.empty()
            st.session_state[_VALIDATION] = (signature, report)

        checked = st.session_state.get(_VALIDATION)
        report = checked[1] if checked and checked[0] == signature and tables else None
        ready = report is not None and report.ok
        if c2.button(tr("Confirm and load", "确认导入"), key="confirm_load", type="primary", icon=":material/upload:",
                     disabled=not ready,
                     help=tr("Enabled once the files passed validation. All or nothing.", "校验通过后可用。全部成功或全部不导入。")) and ready:
            bar = st.progress(0.0, text=tr("Loading…", "正在导入…"))
            result = load_as(engine(), user, {k: u.path for k, u in tables.items()},
                             progress=lambda f, m: bar.progress(f, text=m))
            st.session_state.pop(_VALIDATION, None)
            st.session_state[_LOADED] = result
            data_changed()
            st.rerun()  # the whole app, sidebar included, now reads the new data version

        if report is not None:
            if report.ok:
                st.success(tr("Validation passed: nothing rejected. A load would write:",
                              "校验通过，没有被拒绝的行。导入将写入："), icon=":material/task_alt:")
                up.show_counts(report, would=True)
            else:
                up.show_rejections(report, tables, key="rejections")
            for file, cols in report.ignored_columns.items():
                st.caption(tr("Ignored columns in {f}: ", "{f} 中忽略的列：").format(f=file) + ", ".join(cols))
        elif tables:
            st.info(tr("Validate the files to see what a load would do.", "请先校验文件，查看导入结果预估。"),
                    icon=":material/info:")

# --------------------------------------------------------------------------- import history
if tabs["history"].open:
    with tabs["history"]:
        history = query(quality.import_history, user.scope)
        if history.empty:
            st.info(tr("No import yet.", "尚无导入记录。"))
        else:
            if user.scope.regions is not None:
                st.caption(tr("Counts are store-wide and are shown to users of all regions only.",
                              "各批次数量为全库口径，仅对全部地区权限的用户显示。"))
            n = "%d"
            table_with_downloads(
                history, "import_history", key="history_table", hide_index=True,
                column_config={
                    "batch_id": st.column_config.NumberColumn(tr("Batch", "批次"), format=n,
                                                              help=tr("Import batch id; the newest is the data version.", "导入批次号；最新批次即数据版本。")),
                    "started_at": st.column_config.DatetimeColumn(tr("Started", "开始"), format="YYYY-MM-DD HH:mm:ss"),
                    "finished_at": st.column_config.DatetimeColumn(tr("Finished", "完成"), format="YYYY-MM-DD HH:mm:ss"),
                    "seconds": st.column_config.NumberColumn(tr("Seconds", "耗时(秒)"), format="%.1f"),
                    "username": st.column_config.TextColumn(tr("By", "操作人"), help=tr("Blank for a command-line or demo load.", "命令行或演示数据导入为空。")),
                    "files": st.column_config.TextColumn(tr("Files", "文件")),
                    "region_set": st.column_config.TextColumn(tr("Region set", "地区体系")),
                    "months": st.column_config.TextColumn(tr("Months", "月份")),
                    "month_count": st.column_config.NumberColumn(tr("Months (n)", "月数"), format=n),
                    "loans_new": st.column_config.NumberColumn(tr("New loans", "新增贷款"), format=n),
                    "loans_unchanged": st.column_config.NumberColumn(tr("Unchanged loans", "未变化贷款"), format=n,
                                                                     help=tr("Stored loans sent again, identical: skipped.", "重复发送且相同的已有贷款：跳过。")),
                    "performance_rows": st.column_config.NumberColumn(tr("Performance rows", "表现行"), format=n),
                    "performance_replaced": st.column_config.NumberColumn(
                        tr("Replaced rows", "替换行"), format=n,
                        help=tr("Performance rows of a month already stored that the import replaced.", "导入时替换的已有月份表现行。")),
                    "customers_rows": st.column_config.NumberColumn(tr("Customers", "客户"), format=n),
                    "collections_rows": st.column_config.NumberColumn(tr("Collections", "催收"), format=n),
                    "inspections_rows": st.column_config.NumberColumn(tr("Inspections", "检查"), format=n),
                    "note": st.column_config.TextColumn(tr("Notes", "备注")),
                },
            )

@st.fragment
def _quality_detail(scope, f, checks, missing):
    """One table's checks and blank values (a fragment: switching the table reruns only this)."""
    table = st.segmented_control(
        tr("Table", "数据表"), list(TABLES), default="loans", format_func=up.table_label, key="dq_table",
        required=True,
    )
    st.table(up.checks_table(checks, table, lang()))
    download_buttons(checks[checks["table"] == table], f"data_quality_{table}", key="dq_checks")
    left, right = st.columns(2)
    with left:
        show_chart(missing_figure(missing, table, lang()), key="dq_missing")
    if table == "performance":
        monthly = query(quality.monthly_rows, scope, f)
        if not monthly.empty:
            with right:
                show_chart(monthly_rows_figure(monthly, lang()), key="dq_monthly")
    st.caption(tr("Blank values of every column (all tables):", "全部表各列空值明细："))
    download_buttons(missing, "data_quality_blanks", key="dq_missing_dl")


# --------------------------------------------------------------------------- data quality
if tabs["quality"].open:
    with tabs["quality"]:
        f = flt.history()
        with st.spinner(tr("Checking the data…", "正在检查数据…")):
            summary, missing = query(quality.table_profile, user.scope, f)
            checks = query(quality.quality_checks, user.scope, f)
        st.caption(tr(
            "Every stored month, in your regions and under the sidebar's region, product and segment filters. "
            "The importer rejects impossible values; these checks count what is possible but odd.",
            "覆盖全部已存月份，限于本人权限地区及侧栏的地区、产品、客群筛选。导入时已拒绝不可能的取值；以下检查统计可能但异常的情况。",
        ))
        overview = quality.flag_summary(summary, checks)
        overview.insert(1, "name", overview["table"].map(up.table_label))
        n = "%d"
        table_with_downloads(
            overview, "data_quality_tables", key="dq_summary", hide_index=True,
            column_config={
                "table": st.column_config.TextColumn(tr("Table", "表")),
                "name": st.column_config.TextColumn(tr("Name", "名称")),
                "rows": st.column_config.NumberColumn(tr("Rows", "行数"), format=n),
                "date_column": st.column_config.TextColumn(tr("Date", "日期列"), help=tr("The date months are counted on.", "统计月份所依据的日期列。")),
                "first": st.column_config.DateColumn(tr("First", "最早"), format="YYYY-MM-DD"),
                "last": st.column_config.DateColumn(tr("Last", "最晚"), format="YYYY-MM-DD"),
                "months": st.column_config.NumberColumn(tr("Months", "月数"), format=n, help=tr("Distinct months of the date.", "日期列覆盖的不同月份数。")),
                "missing_months": st.column_config.NumberColumn(
                    tr("Missing months", "缺失月份"), format=n,
                    help=tr("Months between the first and last performance month with no row at all (performance only).",
                            "首末表现月份之间完全没有记录的月份数（仅月度表现表）。")),
                "last_batch": st.column_config.NumberColumn(tr("Last batch", "最近批次"), format=n,
                                                            help=tr("The newest import batch that wrote a row of this table.", "最近写入该表的导入批次。")),
                "checks": st.column_config.NumberColumn(tr("Checks", "检查项"), format=n),
                "flagged": st.column_config.NumberColumn(tr("Flagged", "有发现"), format=n,
                                                         help=tr("Checks that found at least one row.", "至少发现一行的检查项数。")),
            },
        )

        _quality_detail(user.scope, f, checks, missing)

# --------------------------------------------------------------------------- settings
if tabs["settings"].open:
    with tabs["settings"]:
        policy_settings(user)
