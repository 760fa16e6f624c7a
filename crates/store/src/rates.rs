//! Rates of the closed loop by handling unit and period: the counts in
//! SQL (the formulas are [`linli_core::rates`]'s), the rollup that keeps
//! them per month, area and unit, and the queries over both.

use linli_core::period::{self, Month};

use crate::db::BeginWrite;
pub use linli_core::rates::{
    CaseFigures, FINE_DEPTH, ROLLUP_DEPTH, RateCounts, Rates, RollupKey, UNCLASSIFIED, cut_path,
    is_fine_area, path_depth, rollup_area, rollup_change,
};

/// What a stored case adds to the rates.
pub fn figures_of(r: &crate::cases::CaseRow) -> CaseFigures<'_> {
    CaseFigures {
        state: &r.state,
        resolution: r.resolution.as_deref(),
        rating: r.rating.as_deref(),
        unit_id: r.unit_id,
        category: r.category_code.as_deref(),
        scope_path: &r.scope_path,
        created_at: r.created_at,
        response_due: r.response_due,
        responded_at: r.responded_at,
        due_at: r.due_at,
        closed_at: r.closed_at,
        rework_count: r.rework_count as i64,
        extension_count: r.extension_count as i64,
    }
}
use crate::{Result, Scope, Store, StoreError, with_db};

/// The rollup tables (folded rows, pending deltas) a scope reads; none for
/// a scope below a community.
fn rollup_tables(scope: &Scope) -> Option<(&'static str, &'static str)> {
    match scope_depth(scope) {
        d if d <= ROLLUP_DEPTH => Some(("case_rollup", "case_rollup_delta")),
        FINE_DEPTH => Some(("case_rollup_fine", "case_rollup_fine_delta")),
        _ => None,
    }
}

const TALLY_COLS: &str = "requests, responded_in_time, refused, resolved, rated, satisfied, opened, closed_on_time, closed, reworked, extended";

/// Appends rollup deltas inside the caller's transaction.
macro_rules! rollup_in_tx {
    ($tx:expr, $changes:expr) => {{
        for ((month, area, unit, category), c) in $changes {
            let f = c.fields();
            let sql = if $crate::rates::is_fine_area(area) {
                "INSERT INTO case_rollup_fine_delta (month, area, unit_id, category, requests, responded_in_time, refused, resolved, rated, satisfied, opened, closed_on_time, closed, reworked, extended)
                 VALUES ($1, $2, $3, $15, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
            } else {
                "INSERT INTO case_rollup_delta (month, area, unit_id, category, requests, responded_in_time, refused, resolved, rated, satisfied, opened, closed_on_time, closed, reworked, extended)
                 VALUES ($1, $2, $3, $15, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
            };
            sqlx::query(sql)
            .bind(*month).bind(area.as_str()).bind(*unit)
            .bind(f[0]).bind(f[1]).bind(f[2]).bind(f[3]).bind(f[4]).bind(f[5]).bind(f[6]).bind(f[7]).bind(f[8]).bind(f[9]).bind(f[10])
            .bind(category.as_str())
            .execute(&mut *$tx)
            .await?;
        }
    }};
}
pub(crate) use rollup_in_tx;

/// The upsert of a rollup row into `table` (`case_rollup` or
/// `case_rollup_fine`).
pub(crate) fn upsert_sql(table: &str) -> String {
    let sums: Vec<String> = TALLY_COLS
        .split(", ")
        .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO {table} (month, area, unit_id, category, {TALLY_COLS})
         VALUES ($1, $2, $3, $15, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
         ON CONFLICT (month, area, unit_id, category) DO UPDATE SET {}",
        sums.join(", ")
    )
}

/// Adds rollup rows into `case_rollup` or, for fine areas,
/// `case_rollup_fine` (upsert), inside a transaction.
macro_rules! upsert_rollup_in_tx {
    ($tx:expr, $rows:expr) => {{
        let coarse = $crate::rates::upsert_sql("case_rollup");
        let fine = $crate::rates::upsert_sql("case_rollup_fine");
        for ((month, area, unit, category), c) in $rows {
            let f = c.fields();
            let sql = if $crate::rates::is_fine_area(area) {
                &fine
            } else {
                &coarse
            };
            sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(*month)
                .bind(area.as_str())
                .bind(*unit)
                .bind(f[0])
                .bind(f[1])
                .bind(f[2])
                .bind(f[3])
                .bind(f[4])
                .bind(f[5])
                .bind(f[6])
                .bind(f[7])
                .bind(f[8])
                .bind(f[9])
                .bind(f[10])
                .bind(category.as_str())
                .execute(&mut *$tx)
                .await?;
        }
    }};
}
pub(crate) use upsert_rollup_in_tx;

/// The aggregate over the cases themselves, one row per unit; `$4` (now)
/// bounds "deadline has passed". The reference definition of the rates:
/// [`CaseFigures::tally`] must agree with it row for row.
const COUNTS: &str = "SELECT unit_id,
    COUNT(*) AS requests,
    SUM(CASE WHEN responded_at IS NOT NULL AND (response_due IS NULL OR responded_at <= response_due) THEN 1 ELSE 0 END) AS responded_in_time,
    SUM(CASE WHEN state = 'refused' THEN 1 ELSE 0 END) AS refused,
    SUM(CASE WHEN resolution IN ('answered', 'resolved') THEN 1 ELSE 0 END) AS resolved,
    SUM(CASE WHEN rating IS NOT NULL THEN 1 ELSE 0 END) AS rated,
    SUM(CASE WHEN rating IN ('satisfied', 'basically_satisfied') THEN 1 ELSE 0 END) AS satisfied,
    SUM(CASE WHEN due_at IS NOT NULL THEN 1 ELSE 0 END) AS opened,
    SUM(CASE WHEN due_at IS NOT NULL AND (due_at < $4 OR closed_at IS NOT NULL) THEN 1 ELSE 0 END) AS due,
    SUM(CASE WHEN due_at IS NOT NULL AND closed_at IS NOT NULL AND closed_at <= due_at THEN 1 ELSE 0 END) AS closed_on_time,
    SUM(CASE WHEN due_at IS NOT NULL AND closed_at IS NOT NULL THEN 1 ELSE 0 END) AS closed,
    SUM(CASE WHEN due_at IS NOT NULL AND closed_at IS NOT NULL AND rework_count > 0 THEN 1 ELSE 0 END) AS reworked,
    SUM(CASE WHEN extension_count > 0 THEN 1 ELSE 0 END) AS extended
 FROM service_case
 WHERE scope_path >= $1 AND scope_path < $2 AND created_at >= $3 AND created_at < $5 AND state <> 'merged'
 GROUP BY unit_id ORDER BY unit_id";

/// The rollup (folded rows and pending deltas) of whole months, one row per unit.
const ROLLUP_COUNTS: &str = "SELECT unit_id,
    CAST(SUM(requests) AS BIGINT) AS requests, CAST(SUM(responded_in_time) AS BIGINT) AS responded_in_time,
    CAST(SUM(refused) AS BIGINT) AS refused, CAST(SUM(resolved) AS BIGINT) AS resolved,
    CAST(SUM(rated) AS BIGINT) AS rated, CAST(SUM(satisfied) AS BIGINT) AS satisfied,
    CAST(SUM(opened) AS BIGINT) AS opened, CAST(0 AS BIGINT) AS due,
    CAST(SUM(closed_on_time) AS BIGINT) AS closed_on_time, CAST(SUM(closed) AS BIGINT) AS closed,
    CAST(SUM(reworked) AS BIGINT) AS reworked, CAST(SUM(extended) AS BIGINT) AS extended
 FROM (SELECT unit_id, {TALLY} FROM {ROLLUP} WHERE area >= $1 AND area < $2 AND month >= $3 AND month < $4 AND category = ''
       UNION ALL
       SELECT unit_id, {TALLY} FROM {DELTA} WHERE area >= $1 AND area < $2 AND month >= $3 AND month < $4 AND category = '') t
 GROUP BY unit_id";

/// Open cases past their deadline, by unit: the clock-dependent part of
/// "cases due" for the months read from the rollup. Read from the partial
/// index of open cases by area (`{HINT}`: SQLite is told so), so an area
/// reads its own open cases only.
const OPEN_PAST_DUE: &str = "SELECT unit_id, COUNT(*) FROM service_case{HINT}
 WHERE due_at IS NOT NULL AND closed_at IS NULL AND due_at < $1
   AND created_at >= $2 AND created_at < $3 AND scope_path >= $4 AND scope_path < $5 AND state <> 'merged'
 GROUP BY unit_id";

/// A unit's scope as the whole tree narrowed to the unit; any other scope
/// as itself.
fn unit_view(scope: &Scope) -> (&Scope, Option<i64>) {
    match scope {
        Scope::Unit(u) => (&Scope::Everything, Some(*u)),
        s => (s, None),
    }
}

/// How `[from, to)` is read: whole months from the rollup and the partial
/// ends from the cases, or (`cases_only`) all of it from the cases.
fn rollup_split(cases_only: bool, from: i64, to: i64) -> period::MonthSplit {
    if cases_only {
        period::MonthSplit {
            head: (from < to).then_some((from, to)),
            months: None,
            tail: None,
        }
    } else {
        period::split_months(from, to)
    }
}

/// How deep an area lies in the org tree (0 for the whole tree and for
/// record-level scopes): what chooses a rollup and a list's index.
pub(crate) fn scope_depth(scope: &Scope) -> usize {
    match scope {
        Scope::Everything => 0,
        Scope::Subtree(p) => p.ids().len(),
        Scope::Reporter(_) | Scope::Unit(_) => 0,
    }
}

impl Store {
    /// Rates by unit for cases registered in `[from, to)` (ms), plus a
    /// total row (unit_id null in `total`). Cases not yet dispatched count
    /// under unit null. Whole Beijing months come from the rollup when the
    /// scope is a subdistrict or wider; the rest from the cases.
    pub async fn rates(&self, scope: &Scope, from: i64, to: i64) -> Result<(Vec<Rates>, Rates)> {
        let now = crate::db::now_ms().min(to);
        // A unit's staff see their own unit's rates, counted over the
        // whole tree.
        let (scope, only_unit) = unit_view(scope);
        let split = rollup_split(rollup_tables(scope).is_none(), from, to);
        let mut by_unit: std::collections::BTreeMap<Option<i64>, RateCounts> = Default::default();
        let mut merge = |rows: Vec<RateCounts>| {
            for r in rows {
                let unit = r.unit_id.filter(|u| *u != 0);
                if only_unit.is_some() && unit != only_unit {
                    continue;
                }
                let acc = by_unit.entry(unit).or_insert_with(|| RateCounts {
                    unit_id: unit,
                    ..Default::default()
                });
                acc.add(&r, 1);
            }
        };
        for (a, b) in [split.head, split.tail].into_iter().flatten() {
            merge(self.rate_counts_of_cases(scope, a, b, now).await?);
        }
        if let Some((m1, m2)) = split.months {
            merge(self.rate_counts_of_rollup(scope, m1, m2, now).await?);
        }
        let ids: Vec<i64> = by_unit.keys().flatten().copied().collect();
        let units = self.units_by_id(&ids).await?;
        let mut total = RateCounts::default();
        for r in by_unit.values() {
            total.add(r, 1);
        }
        let by_unit = by_unit
            .into_values()
            .filter(|c| c.requests != 0)
            .map(|c| {
                let name = c
                    .unit_id
                    .and_then(|u| units.iter().find(|x| x.id == u))
                    .map(|u| u.name.clone());
                Rates::from_counts(c, name)
            })
            .collect();
        Ok((by_unit, Rates::from_counts(total, None)))
    }

    /// The counts of `[from, to)` straight from the cases.
    pub async fn rate_counts_of_cases(
        &self,
        scope: &Scope,
        from: i64,
        to: i64,
        now: i64,
    ) -> Result<Vec<RateCounts>> {
        let (lo, hi) = scope.bounds();
        Ok(with_db!(&self.db, pool => {
            sqlx::query_as(COUNTS).bind(&lo).bind(&hi).bind(from).bind(now).bind(to).fetch_all(pool).await?
        }))
    }

    /// The counts of months `[m1, m2)` from the rollup, with cases due at `now`.
    async fn rate_counts_of_rollup(
        &self,
        scope: &Scope,
        m1: Month,
        m2: Month,
        now: i64,
    ) -> Result<Vec<RateCounts>> {
        let (lo, hi) = scope.bounds();
        let past_due_sql = OPEN_PAST_DUE.replace(
            "{HINT}",
            match self.backend() {
                crate::Backend::Sqlite => " INDEXED BY service_case_open_due_scope",
                crate::Backend::Postgres => "",
            },
        );
        let (rollup, delta) = rollup_tables(scope).ok_or_else(no_rollup)?;
        let sql = ROLLUP_COUNTS
            .replace("{TALLY}", TALLY_COLS)
            .replace("{ROLLUP}", rollup)
            .replace("{DELTA}", delta);
        let (from, to) = (period::month_start(m1), period::month_start(m2));
        let (mut rows, past_due): (Vec<RateCounts>, Vec<(Option<i64>, i64)>) = with_db!(&self.db, pool => {
            let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(&lo).bind(&hi).bind(m1).bind(m2).fetch_all(pool).await?;
            let past = sqlx::query_as(sqlx::AssertSqlSafe(past_due_sql.clone())).bind(now).bind(from).bind(to).bind(&lo).bind(&hi).fetch_all(pool).await?;
            (rows, past)
        });
        for r in &mut rows {
            r.due = r.closed;
        }
        for (unit, n) in past_due {
            let unit = unit.unwrap_or(0);
            match rows.iter_mut().find(|r| r.unit_id.unwrap_or(0) == unit) {
                Some(r) => r.due += n,
                None => rows.push(RateCounts {
                    unit_id: Some(unit),
                    due: n,
                    ..Default::default()
                }),
            }
        }
        Ok(rows)
    }

    /// Folds pending rollup deltas into the rollup; returns how many.
    /// Rows are deleted and returned by one statement, so a delta
    /// committed meanwhile is neither lost nor counted twice.
    pub async fn fold_rollup(&self) -> Result<usize> {
        #[derive(sqlx::FromRow)]
        struct Delta {
            month: Month,
            area: String,
            #[sqlx(rename = "unit_id")]
            unit: i64,
            category: String,
            #[sqlx(flatten)]
            counts: RateCounts,
        }
        // A bounded batch per table and round, so that one fold after a
        // burst never holds the write lock for long (the next round takes
        // the rest).
        let sqls = ["case_rollup_delta", "case_rollup_fine_delta"].map(|t| {
            format!(
                "DELETE FROM {t} WHERE id IN (SELECT id FROM {t} ORDER BY id LIMIT {FOLD_BATCH}) RETURNING month, area, unit_id, category, {TALLY_COLS}"
            )
        });
        Ok(with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            // Two servers folding at once take turns (SQLite's write lock
            // at BEGIN does the same there).
            if self.backend() == crate::Backend::Postgres {
                sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(FOLD_LOCK).execute(&mut *tx).await?;
            }
            let mut rows: Vec<Delta> = Vec::new();
            for sql in &sqls {
                rows.extend(sqlx::query_as::<_, Delta>(sqlx::AssertSqlSafe(sql.as_str())).fetch_all(&mut *tx).await?);
            }
            let n = rows.len();
            // In key order, so that concurrent upserts lock rows in one order.
            let mut sums: std::collections::BTreeMap<RollupKey, RateCounts> = Default::default();
            for d in rows {
                let acc = sums.entry((d.month, d.area, d.unit, d.category)).or_default();
                acc.add(&RateCounts { unit_id: None, ..d.counts }, 1);
            }
            upsert_rollup_in_tx!(tx, sums.iter());
            tx.commit().await?;
            n
        }))
    }

    /// Rebuilds the rollup from the cases (after an upgrade or a bulk
    /// load, or by hand with `linli case rollup-rebuild`). Returns the rows.
    pub async fn rebuild_rollup(&self) -> Result<usize> {
        // On a task of its own: a caller that goes away mid-way must not
        // return a connection to the pool with the fold's lock still held.
        let store = self.clone();
        tokio::spawn(async move { store.rebuild_rollup_now().await })
            .await
            .map_err(|e| StoreError::Config(format!("the rollup rebuild stopped: {e}")))?
    }

    async fn rebuild_rollup_now(&self) -> Result<usize> {
        type Row = (
            i64,
            String,
            Option<String>,
            Option<String>,
            Option<i64>,
            String,
            i64,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            i32,
            i32,
            Option<String>,
        );
        const SQL: &str = "SELECT id, state, resolution, rating, unit_id, scope_path, created_at, response_due, responded_at, due_at, closed_at, rework_count, extension_count, category_code
             FROM service_case WHERE id > $1 ORDER BY id LIMIT 50000";
        let mut sums: std::collections::HashMap<RollupKey, RateCounts> = Default::default();
        let add = |sums: &mut std::collections::HashMap<RollupKey, RateCounts>, r: &Row| {
            let f = CaseFigures {
                state: &r.1,
                resolution: r.2.as_deref(),
                rating: r.3.as_deref(),
                unit_id: r.4,
                scope_path: &r.5,
                created_at: r.6,
                response_due: r.7,
                responded_at: r.8,
                due_at: r.9,
                closed_at: r.10,
                rework_count: r.11 as i64,
                extension_count: r.12 as i64,
                category: r.13.as_deref(),
            };
            for (k, c) in f.tallies() {
                sums.entry(k).or_default().add(&c, 1);
            }
        };
        // Scans every case and replaces the rollup with the sums, deleting
        // exactly the deltas the scan already counts.
        macro_rules! rebuild_in_tx {
            ($tx:expr) => {{
                let mut after = 0i64;
                loop {
                    let rows: Vec<Row> =
                        sqlx::query_as(SQL).bind(after).fetch_all(&mut *$tx).await?;
                    let Some(last) = rows.last() else { break };
                    after = last.0;
                    rows.iter().for_each(|r| add(&mut sums, r));
                }
                for table in [
                    "case_rollup_delta",
                    "case_rollup",
                    "case_rollup_fine_delta",
                    "case_rollup_fine",
                ] {
                    sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
                        .execute(&mut *$tx)
                        .await?;
                }
                upsert_rollup_in_tx!($tx, sums.iter());
            }};
        }
        match &self.db {
            // SQLite: the write lock taken at BEGIN keeps intake and the
            // fold out until the rebuild commits.
            crate::Db::Sqlite(pool) => {
                let mut tx = pool.begin_write().await?;
                rebuild_in_tx!(tx);
                tx.commit().await?;
            }
            // PostgreSQL: intake goes on meanwhile. The scan and the delete
            // of deltas must see the same cases, so they share one snapshot
            // (REPEATABLE READ): a case committed after it keeps its delta,
            // which is folded later. The fold, which deletes deltas and
            // changes the rollup, is kept out by its lock, taken on the
            // session before the snapshot (a lock taken inside the
            // transaction would come after its snapshot).
            crate::Db::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                sqlx::query("SELECT pg_advisory_lock($1)")
                    .bind(FOLD_LOCK)
                    .execute(&mut *conn)
                    .await?;
                let rebuilt: Result<()> = async {
                    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                        .execute(&mut *tx)
                        .await?;
                    rebuild_in_tx!(tx);
                    tx.commit().await?;
                    Ok(())
                }
                .await;
                let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(FOLD_LOCK)
                    .execute(&mut *conn)
                    .await;
                if unlocked.is_err() {
                    // Ending the session is the other way to release it.
                    conn.close_on_drop();
                }
                rebuilt?;
            }
        }
        Ok(sums.len())
    }
}

/// One month of the dashboard's trend.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonthTrend {
    pub month: Month,
    pub requests: i64,
    pub closed: i64,
    pub rated: i64,
    pub satisfied: i64,
}

impl Store {
    /// Requests, closed, rated and satisfied cases by the month they were
    /// registered, for the whole months `[m1, m2)`, from the rollup alone
    /// (one read for the whole trend, whatever the area). Months without
    /// cases are left out.
    pub async fn monthly_trend(
        &self,
        scope: &Scope,
        m1: Month,
        m2: Month,
    ) -> Result<Vec<MonthTrend>> {
        let (tree, unit) = unit_view(scope);
        let (lo, hi) = tree.bounds();
        let Some((rollup, delta)) = rollup_tables(tree) else {
            // Below a community: the area's own cases, month by month.
            let mut out = Vec::new();
            let mut m = m1;
            while m < m2 {
                let next = period::next_month(m);
                let (a, b) = (period::month_start(m), period::month_start(next));
                let now = crate::db::now_ms().min(b);
                let mut t = MonthTrend {
                    month: m,
                    ..Default::default()
                };
                for c in self.rate_counts_of_cases(tree, a, b, now).await? {
                    if unit.is_none() || c.unit_id == unit {
                        t.requests += c.requests;
                        t.closed += c.closed;
                        t.rated += c.rated;
                        t.satisfied += c.satisfied;
                    }
                }
                if t.requests > 0 {
                    out.push(t);
                }
                m = next;
            }
            return Ok(out);
        };
        // A unit's rows are its own; an area's are all its units'.
        let unit_only = unit
            .map(|u| format!(" AND unit_id = {u}"))
            .unwrap_or_default();
        let part = |table: &str| {
            format!("SELECT month, requests, closed, rated, satisfied FROM {table}
                      WHERE area >= $1 AND area < $2 AND month >= $3 AND month < $4 AND category = ''{unit_only}")
        };
        let sql = format!(
            "SELECT month, CAST(SUM(requests) AS BIGINT), CAST(SUM(closed) AS BIGINT), CAST(SUM(rated) AS BIGINT), CAST(SUM(satisfied) AS BIGINT)
               FROM ({} UNION ALL {}) t GROUP BY month ORDER BY month",
            part(rollup),
            part(delta)
        );
        let rows: Vec<(Month, i64, i64, i64, i64)> = with_db!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(&lo).bind(&hi).bind(m1).bind(m2).fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(|(month, requests, closed, rated, satisfied)| MonthTrend {
                month,
                requests,
                closed,
                rated,
                satisfied,
            })
            .collect())
    }
}

/// A read of the rollup for an area that has none (a logic error: such
/// areas are counted from their cases).
fn no_rollup() -> StoreError {
    StoreError::Config("no rollup covers this area".into())
}

/// Deltas folded per table in one round.
const FOLD_BATCH: i64 = 20_000;

/// One top-level category's share of the cases (the dashboard's mix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryShare {
    /// The top-level category's code; "" for unclassified cases.
    pub code: String,
    pub name: String,
    pub name_en: String,
    pub cases: i64,
}

/// Serialises folds of the rollup, and a rebuild with them (PostgreSQL).
const FOLD_LOCK: i64 = 0x6c69_6e6c_6931;

impl Store {
    /// Cases registered in `[from, to)` by top-level category (the mix of
    /// what people ask about), largest first; unclassified cases under
    /// code "". Whole Beijing months
    /// come from the rollup's category rows, as for the rates; a unit's
    /// staff see their unit's cases (from the cases).
    pub async fn category_mix(
        &self,
        scope: &Scope,
        from: i64,
        to: i64,
    ) -> Result<Vec<CategoryShare>> {
        let (tree, unit) = unit_view(scope);
        // Mix rows carry no unit: a unit's mix is counted from its cases.
        let split = rollup_split(unit.is_some() || rollup_tables(tree).is_none(), from, to);
        let mut by_leaf: std::collections::HashMap<String, i64> = Default::default();
        for (a, b) in [split.head, split.tail].into_iter().flatten() {
            for (leaf, n) in self.leaf_counts_of_cases(tree, unit, a, b).await? {
                *by_leaf.entry(leaf).or_default() += n;
            }
        }
        if let Some((m1, m2)) = split.months {
            let (lo, hi) = tree.bounds();
            let (rollup, delta) = rollup_tables(tree).ok_or_else(no_rollup)?;
            let sql = format!("SELECT category, CAST(SUM(requests) AS BIGINT) FROM (
                    SELECT category, requests FROM {rollup} WHERE area >= $1 AND area < $2 AND month >= $3 AND month < $4 AND category <> ''
                    UNION ALL
                    SELECT category, requests FROM {delta} WHERE area >= $1 AND area < $2 AND month >= $3 AND month < $4 AND category <> '') t
                 GROUP BY category");
            let rows: Vec<(String, i64)> = with_db!(&self.db, pool => {
                sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(&lo).bind(&hi).bind(m1).bind(m2).fetch_all(pool).await?
            });
            for (leaf, n) in rows {
                *by_leaf.entry(leaf).or_default() += n;
            }
        }
        self.mix_by_top_category(by_leaf).await
    }

    /// The same mix counted from the cases themselves: the reference the
    /// rollup must agree with.
    pub async fn category_mix_of_cases(
        &self,
        scope: &Scope,
        from: i64,
        to: i64,
    ) -> Result<Vec<CategoryShare>> {
        let (tree, unit) = unit_view(scope);
        let by_leaf = self
            .leaf_counts_of_cases(tree, unit, from, to)
            .await?
            .into_iter()
            .collect();
        self.mix_by_top_category(by_leaf).await
    }

    async fn leaf_counts_of_cases(
        &self,
        tree: &Scope,
        unit: Option<i64>,
        from: i64,
        to: i64,
    ) -> Result<Vec<(String, i64)>> {
        let (lo, hi) = tree.bounds();
        const SQL: &str = "SELECT COALESCE(category_code, '-'), COUNT(*) FROM service_case
             WHERE scope_path >= $1 AND scope_path < $2 AND created_at >= $3 AND created_at < $4
               AND state <> 'merged' AND ($5 = 0 OR unit_id = $5)
             GROUP BY 1";
        Ok(with_db!(&self.db, pool => {
            sqlx::query_as(SQL).bind(lo).bind(hi).bind(from).bind(to).bind(unit.unwrap_or(0)).fetch_all(pool).await?
        }))
    }

    async fn mix_by_top_category(
        &self,
        by_leaf: std::collections::HashMap<String, i64>,
    ) -> Result<Vec<CategoryShare>> {
        // Every category, deactivated ones too: old cases keep theirs.
        let cats: Vec<(String, Option<String>, String, String)> = with_db!(&self.db, pool => {
            sqlx::query_as("SELECT code, parent_code, name, name_en FROM category").fetch_all(pool).await?
        });
        let mut by_top: std::collections::BTreeMap<String, (String, String, i64)> =
            Default::default();
        for (leaf, n) in by_leaf {
            let top = cats
                .iter()
                .find(|c| c.0 == leaf)
                .map(|c| c.1.clone().unwrap_or_else(|| c.0.clone()));
            let (code, name, name_en) = match top.and_then(|t| cats.iter().find(|c| c.0 == t)) {
                Some(t) => (t.0.clone(), t.2.clone(), t.3.clone()),
                None => (
                    String::new(),
                    "未分类".to_string(),
                    "Unclassified".to_string(),
                ),
            };
            by_top.entry(code).or_insert((name, name_en, 0)).2 += n;
        }
        let mut out: Vec<_> = by_top
            .into_iter()
            .filter(|(_, (_, _, n))| *n != 0)
            .map(|(code, (name, name_en, cases))| CategoryShare {
                code,
                name,
                name_en,
                cases,
            })
            .collect();
        out.sort_by(|a, b| b.cases.cmp(&a.cases).then_with(|| a.code.cmp(&b.code)));
        Ok(out)
    }
}
