//! Synthetic handling units and case history for demos and benchmarks:
//! a year of requests (a Beijing 12345 year is 20–24 million) with the
//! outcomes seen in practice, written as rows straight into the case table
//! and the rates rollup. The rows follow the loop's rules (deadlines on
//! the working-day calendar, states and timestamps that agree), with what
//! residents write (texts, addresses, reporters, every channel: see
//! [`linli_core::synth_cases`]) and, for a demo-sized year or the last 60
//! days of a larger one, the timeline of their steps as the case machine
//! takes them, so that a case page reads like a real one.

use std::collections::HashMap;
use std::io::Write;

use chrono::{DateTime, TimeZone, Utc};
use linli_core::calendar::Limit;
use linli_core::category::Category;
use linli_core::org::OrgKind;
use linli_core::rng::SplitMix64;

use crate::db::BeginWrite;
use crate::db::now_ms;
use crate::rates::{CaseFigures, RateCounts, RollupKey, upsert_rollup_in_tx};
use crate::{Result, Scope, Store, StoreError, with_db};

/// The units of a generated city: (kind, name suffix, level it serves).
const DISTRICT_UNITS: [(&str, &str); 10] = [
    ("urban_management", "城市管理和综合执法局"),
    ("housing", "住房和城乡建设局"),
    ("ecology_environment", "生态环境分局"),
    ("emergency", "应急管理局"),
    ("transport", "交通运输局"),
    ("civil_affairs", "民政局"),
    ("water", "自来水公司营业所"),
    ("power", "供电服务中心"),
    ("gas", "燃气公司服务站"),
    ("heating", "供热服务站"),
];
const COMMUNITY_UNITS: [(&str, &str); 2] = [("community", "居委会"), ("property", "物业服务中心")];

/// One generated row: the columns of `service_case` the generator fills.
struct Row {
    category: String,
    channel: &'static str,
    external_id: Option<String>,
    title: String,
    description: String,
    address: String,
    reporter_name: Option<String>,
    /// In clear until written (sealed, masked and indexed then).
    reporter_phone: Option<String>,
    /// The timeline after registration, when the row has one.
    steps: Vec<Step>,
    /// Whether the row gets a timeline at all.
    timeline: bool,
    lon: Option<f64>,
    lat: Option<f64>,
    grid: i64,
    path: String,
    state: &'static str,
    level: &'static str,
    unit: Option<i64>,
    resolution: Option<&'static str>,
    rating: Option<&'static str>,
    rework: i32,
    extension: i32,
    response_due: Option<i64>,
    due_at: Option<i64>,
    responded_at: Option<i64>,
    closed_at: Option<i64>,
    created: i64,
}

/// One step of a generated case's timeline.
struct Step {
    action: &'static str,
    from: &'static str,
    to: &'static str,
    actor: String,
    note: String,
    data: String,
    at: i64,
}

/// Rows of this many cases or fewer (a demo district) all get timelines;
/// larger years only the cases of their last 60 days.
const ALL_TIMELINES_UP_TO: u64 = 200_000;
const RECENT_TIMELINES_MS: i64 = 60 * 86_400_000;

impl Row {
    /// The timeline of the row's outcome: the actions a case with these
    /// facts went through, each taken by the case machine (so states
    /// follow its rules) at times between registration and closing.
    fn play(&mut self, rng: &mut SplitMix64, unit_name: &str, until_ms: i64) {
        use linli_core::case::{Action, Rating};
        use linli_core::synth_cases as say;
        let staff = if self.level == "community" {
            "社区工作人员"
        } else {
            "区派单中心"
        };
        let mut plan: Vec<(Action, i64, String)> = Vec::new();
        let c = self.created;
        // Classify, open and dispatch fall between registration and the
        // first response (at most four minutes in).
        let lead = (self.responded_at.unwrap_or(c + 240_000) - c).clamp(4_000, 240_000);
        plan.push((
            Action::Classify {
                category: self.category.clone(),
            },
            c + lead / 4,
            staff.into(),
        ));
        // Answered on the spot: closed, with no unit (its rating may have
        // had a return visit since).
        let answered = self.unit.is_none() && self.closed_at.is_some();
        match self.state {
            _ if answered => {
                let at = self.closed_at.unwrap_or(c + 300_000);
                plan.push((
                    Action::AnswerOnSpot {
                        answer: say::answer(rng, &self.category).into(),
                    },
                    at,
                    "社区窗口".into(),
                ));
            }
            "refused" => {
                let at = self.responded_at.unwrap_or(c + 600_000);
                plan.push((
                    Action::Refuse {
                        reason: say::refusal(rng).into(),
                    },
                    at,
                    staff.into(),
                ));
            }
            _ => {
                let Some(unit) = self.unit else {
                    return self.steps_from(plan);
                };
                plan.push((Action::Open, c + lead / 2, staff.into()));
                plan.push((Action::Dispatch { unit }, c + lead * 3 / 4, staff.into()));
                if let Some(accepted) = self.responded_at {
                    plan.push((Action::Accept, accepted, unit_name.into()));
                    let end = self.closed_at.unwrap_or(until_ms - 1);
                    let span = (end - accepted).max(4 * 60_000);
                    if self.extension > 0 {
                        plan.push((
                            Action::RequestExtension {
                                working_days: 3,
                                reason: "需协调多个部门并采购配件，申请延期3个工作日。".into(),
                            },
                            accepted + span / 4,
                            unit_name.into(),
                        ));
                        plan.push((
                            Action::DecideExtension {
                                approve: true,
                                note: "同意延期，请按期办结。".into(),
                            },
                            accepted + span / 4 + 60_000,
                            "街道工作人员".into(),
                        ));
                    }
                    if let Some(closed) = self.closed_at {
                        if self.rework > 0 {
                            plan.push((
                                Action::ReportBack {
                                    text: say::report_back(rng).into(),
                                    photos: vec![],
                                },
                                accepted + span / 2,
                                unit_name.into(),
                            ));
                            plan.push((
                                Action::Verify {
                                    passed: false,
                                    note: "现场核查问题仍然存在，退回重办。".into(),
                                },
                                accepted + span / 2 + 60_000,
                                "网格员".into(),
                            ));
                        }
                        plan.push((
                            Action::ReportBack {
                                text: say::report_back(rng).into(),
                                photos: vec![],
                            },
                            closed - 60_000,
                            unit_name.into(),
                        ));
                        plan.push((
                            Action::Verify {
                                passed: true,
                                note: "现场核查已解决。".into(),
                            },
                            closed,
                            "网格员".into(),
                        ));
                    }
                }
            }
        }
        if let (Some(r), Some(closed)) = (self.rating.and_then(Rating::parse), self.closed_at) {
            let rated = (closed + 86_400_000 + rng.below(2 * 86_400_000) as i64).min(until_ms - 1);
            let comment = match r {
                Rating::Unsatisfied => "问题没有根本解决。",
                _ => "",
            };
            plan.push((
                Action::Rate {
                    rating: r,
                    comment: comment.into(),
                },
                rated,
                "居民".into(),
            ));
            if self.resolution == Some("explained") {
                plan.push((
                    Action::ReturnVisit {
                        rating: r,
                        rework: false,
                        note: say::explanation(rng).into(),
                    },
                    (rated + 7 * 86_400_000).min(until_ms - 1),
                    staff.into(),
                ));
            }
        }
        self.steps_from(plan);
    }

    /// The plan taken by the machine from a registered case: a step it
    /// refuses ends the timeline there (the generator and the machine
    /// disagree, which the tests catch).
    fn steps_from(&mut self, plan: Vec<(linli_core::case::Action, i64, String)>) {
        let mut facts = linli_core::case::Facts::new();
        // Each step a little after the one before (a quick answer may come
        // before the planned minutes of dispatch).
        let mut last = self.created;
        for (a, at, actor) in plan {
            let at = at.max(last + 1_000);
            last = at;
            let Ok(out) = linli_core::case::apply(&facts, &a) else {
                break;
            };
            self.steps.push(Step {
                action: a.kind().code(),
                from: facts.state.code(),
                to: out.facts.state.code(),
                actor,
                note: a.note().to_string(),
                data: serde_json::to_string(&a).unwrap_or_else(|_| "{}".into()),
                at,
            });
            facts = out.facts;
        }
    }

    fn figures(&self) -> CaseFigures<'_> {
        CaseFigures {
            state: self.state,
            resolution: self.resolution,
            rating: self.rating,
            unit_id: self.unit,
            category: Some(self.category.as_str()).filter(|c| !c.is_empty()),
            scope_path: &self.path,
            created_at: self.created,
            response_due: self.response_due,
            responded_at: self.responded_at,
            due_at: self.due_at,
            closed_at: self.closed_at,
            rework_count: self.rework as i64,
            extension_count: self.extension as i64,
        }
    }
}

/// The header of the CSV the generator can write beside the database: the
/// columns the rates read, for peers that compute the same rates.
pub const RATES_CSV_HEADER: &str = "state,resolution,rating,unit_id,scope_path,created_at,response_due,responded_at,due_at,closed_at,rework_count,extension_count";

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

impl Store {
    /// Gives every district its departments and utilities and every
    /// community its residents' committee and property service centre,
    /// unless the tree already has units. Returns how many were made.
    pub async fn ensure_synth_units(&self) -> Result<u64> {
        let all = Scope::Everything;
        if !self.units(&all).await?.is_empty() {
            return Ok(0);
        }
        let mut rows: Vec<(String, &str, i64, String)> = Vec::new();
        for d in self.org_units(&all, Some(OrgKind::District)).await? {
            for (kind, suffix) in DISTRICT_UNITS {
                rows.push((format!("{}{suffix}", d.name), kind, d.id, d.path.clone()));
            }
        }
        for c in self.org_units(&all, Some(OrgKind::Community)).await? {
            for (kind, suffix) in COMMUNITY_UNITS {
                rows.push((format!("{}{suffix}", c.name), kind, c.id, c.path.clone()));
            }
        }
        let now = now_ms();
        with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            for chunk in rows.chunks(1_000) {
                let mut qb = sqlx::QueryBuilder::new("INSERT INTO handling_unit (name, kind, org_id, scope_path, created_at) ");
                qb.push_values(chunk, |mut b, r| {
                    b.push_bind(&r.0).push_bind(r.1).push_bind(r.2).push_bind(&r.3).push_bind(now);
                });
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(rows.len() as u64)
    }

    /// Generates `count` cases registered over the 365 days before
    /// `until`, spread over the grids, and writes them with their rollup.
    /// With `csv`, the rates columns of every row are written there too.
    pub async fn load_synth_cases(
        &self,
        count: u64,
        seed: u64,
        until: DateTime<Utc>,
        mut csv: Option<&mut (dyn Write + Send)>,
        progress: &(dyn Fn(u64, u64) + Send + Sync),
    ) -> Result<u64> {
        let all = Scope::Everything;
        let grids = self.org_units(&all, Some(OrgKind::Grid)).await?;
        if grids.is_empty() {
            return Err(StoreError::conflict(
                "the database has no grids; generate a city first (linli gen --people N)",
                "数据库中没有网格，请先生成城市数据（linli gen --people N）",
            ));
        }
        self.ensure_synth_units().await?;
        let units = self.units(&all).await?;
        let cats: Vec<Category> = self
            .categories()
            .await?
            .into_iter()
            .filter(|c| c.is_leaf() && c.limit.is_some())
            .collect();
        if cats.is_empty() {
            return Err(StoreError::conflict(
                "no categories with a time limit",
                "没有带办理时限的问题类别",
            ));
        }
        // Places to put cases at: the compounds of each grid.
        let places: Vec<(i64, String, Option<f64>, Option<f64>)> = with_db!(&self.db, pool => {
            sqlx::query_as("SELECT grid_id, name, lon, lat FROM compound ORDER BY id").fetch_all(pool).await?
        });
        let mut points: HashMap<i64, Vec<Place>> = HashMap::new();
        for (g, name, lon, lat) in places {
            if let (Some(lon), Some(lat)) = (lon, lat) {
                points.entry(g).or_default().push((name, lon, lat));
            }
        }
        let cal = self.calendar();
        let until_ms = ms(until);
        // Rows are made on a thread of their own while this task writes.
        let (tx_rows, mut rx_rows) = tokio::sync::mpsc::channel::<Vec<Row>>(4);
        let producer = tokio::task::spawn_blocking(move || {
            make_rows(
                count, seed, until_ms, &grids, &units, &cats, &points, &cal, tx_rows,
            )
        });
        let mut written = 0u64;
        while let Some(batch) = rx_rows.recv().await {
            if let Some(w) = csv.as_deref_mut() {
                for row in &batch {
                    write_csv_row(w, row).map_err(|e| {
                        StoreError::file(format!("rates CSV: {e}"), format!("满意率表格有误：{e}"))
                    })?;
                }
            }
            self.write_case_rows(&batch).await?;
            written += batch.len() as u64;
            progress(written, count);
        }
        let sums = producer
            .await
            .map_err(|e| StoreError::Config(format!("case generator failed: {e}")))?;
        with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            upsert_rollup_in_tx!(tx, sums.iter());
            tx.commit().await?;
        });
        self.audit(
            "system",
            "cases.generate",
            "service_case",
            &serde_json::json!({"cases": count, "seed": seed, "until": until_ms}).to_string(),
        )
        .await?;
        self.analyze().await?;
        Ok(written)
    }

    async fn write_case_rows(&self, rows: &[Row]) -> Result<()> {
        // Phones sealed, masked and indexed, names sealed and masked, as
        // intake does.
        type SealedReporter = (
            Option<Vec<u8>>,
            Option<Vec<u8>>,
            Option<String>,
            Option<Vec<u8>>,
            Option<String>,
        );
        let phones: Vec<SealedReporter> = rows
            .iter()
            .map(|r| {
                let (enc, idx, masked) = match &r.reporter_phone {
                    Some(p) => (
                        Some(self.vault().seal(crate::vault::Field::Phone, p)),
                        Some(self.vault().blind_index(crate::vault::Field::Phone, p)),
                        Some(linli_core::mask::phone(p)),
                    ),
                    None => (None, None, None),
                };
                let name = r.reporter_name.as_deref();
                (
                    enc,
                    idx,
                    masked,
                    name.map(|n| self.vault().seal(crate::vault::Field::ReporterName, n)),
                    name.map(linli_core::mask::name),
                )
            })
            .collect();
        with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            for (chunk, sealed) in rows.chunks(1_000).zip(phones.chunks(1_000)) {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO service_case (channel, external_id, category_code, title, description, address, reporter_name, reporter_name_enc, reporter_phone_enc, reporter_phone_idx, reporter_phone_masked,
                        lon, lat, grid_id, scope_path, state, level, unit_id,
                        resolution, rating, rework_count, extension_count, response_due, due_at, responded_at, closed_at, created_at, updated_at) ",
                );
                qb.push_values(chunk.iter().zip(sealed), |mut b, (r, p)| {
                    b.push_bind(r.channel).push_bind(&r.external_id).push_bind(&r.category).push_bind(&r.title).push_bind(&r.description)
                        .push_bind(&r.address).push_bind(&p.4).push_bind(&p.3).push_bind(&p.0).push_bind(&p.1).push_bind(&p.2)
                        .push_bind(r.lon).push_bind(r.lat).push_bind(r.grid).push_bind(&r.path)
                        .push_bind(r.state).push_bind(r.level).push_bind(r.unit).push_bind(r.resolution).push_bind(r.rating)
                        .push_bind(r.rework).push_bind(r.extension).push_bind(r.response_due).push_bind(r.due_at)
                        .push_bind(r.responded_at).push_bind(r.closed_at).push_bind(r.created)
                        .push_bind(r.steps.last().map_or(r.closed_at.unwrap_or(r.created), |s| s.at));
                });
                let with_timeline = chunk.iter().any(|r| r.timeline);
                if !with_timeline {
                    qb.build().execute(&mut *tx).await?;
                    continue;
                }
                qb.push(" RETURNING id");
                let mut ids: Vec<i64> = qb.build_query_scalar().fetch_all(&mut *tx).await?;
                // Ids are handed out in the order of the rows.
                ids.sort_unstable();
                if ids.len() != chunk.len() {
                    return Err(StoreError::Config("generator: fewer ids than rows".into()));
                }
                // Registration, then the steps (40 rows of 8 a statement
                // at most, well under either database's parameter limit).
                let events: Vec<(i64, &Row, Option<&Step>)> = chunk
                    .iter()
                    .zip(&ids)
                    .filter(|(r, _)| r.timeline)
                    .flat_map(|(r, id)| std::iter::once((*id, r, None)).chain(r.steps.iter().map(move |s| (*id, r, Some(s)))))
                    .collect();
                for part in events.chunks(2_000) {
                    let mut qe = sqlx::QueryBuilder::new("INSERT INTO case_event (case_id, action, from_state, to_state, actor, note, data, at) ");
                    qe.push_values(part, |mut b, (id, r, step)| {
                        match step {
                            None => {
                                let data = serde_json::json!({"channel": r.channel, "external_id": r.external_id}).to_string();
                                b.push_bind(*id).push_bind("register").push_bind("").push_bind("registered")
                                    .push_bind(register_actor(r.channel)).push_bind(&r.title).push_bind(data).push_bind(r.created);
                            }
                            Some(s) => {
                                b.push_bind(*id).push_bind(s.action).push_bind(s.from).push_bind(s.to)
                                    .push_bind(&s.actor).push_bind(&s.note).push_bind(&s.data).push_bind(s.at);
                            }
                        }
                    });
                    qe.build().execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
        });
        Ok(())
    }
}

/// Who registered a generated request, by its channel.
fn register_actor(channel: &str) -> &'static str {
    match channel {
        "hotline_12345" => "apikey:12345",
        "self_report" => "居民",
        "grid_patrol" => "网格员",
        "counter" => "社区窗口",
        "livelihood_station" => "民生工作站",
        _ => "apikey:城市运行平台",
    }
}

/// A compound to put cases at: (name, lon, lat).
type Place = (String, f64, f64);

/// Makes `count` rows in chunks and sends them; returns the rollup of all.
#[allow(clippy::too_many_arguments)]
fn make_rows(
    count: u64,
    seed: u64,
    until_ms: i64,
    grids: &[crate::org::OrgUnit],
    units: &[crate::cases::HandlingUnit],
    cats: &[Category],
    points: &HashMap<i64, Vec<Place>>,
    cal: &linli_core::calendar::Calendar,
    out: tokio::sync::mpsc::Sender<Vec<Row>>,
) -> HashMap<RollupKey, RateCounts> {
    // The unit of each kind nearest above a grid.
    let mut unit_for: HashMap<(usize, String), Option<i64>> = HashMap::new();
    let mut nearest = |gi: usize, kind: &str| -> Option<i64> {
        *unit_for.entry((gi, kind.to_string())).or_insert_with(|| {
            units
                .iter()
                .filter(|u| u.kind == kind && grids[gi].path.starts_with(&u.scope_path))
                .max_by_key(|u| u.scope_path.len())
                .map(|u| u.id)
        })
    };
    let mut rng = SplitMix64::new(seed ^ 0xCA5E);
    let unit_names: HashMap<i64, &str> = units.iter().map(|u| (u.id, u.name.as_str())).collect();
    // Ticket numbers of generated 12345 cases: unique for a seed and a
    // start, so that a second year generated later does not collide.
    let ticket_prefix = format!("12345-{seed}-{}", until_ms / 86_400_000);
    let start = until_ms - 365 * 86_400_000;
    let mut sums: HashMap<RollupKey, RateCounts> = HashMap::new();
    const CHUNK: usize = 20_000;
    let mut batch: Vec<Row> = Vec::with_capacity(CHUNK);
    for n in 0..count {
        let gi = rng.index(grids.len());
        let g = &grids[gi];
        let cat = &cats[rng.index(cats.len())];
        // Day by day in time order, as cases arrive (which also keeps
        // every index insert near the end of its range); registered
        // 07:00–22:00 Beijing.
        let day_no = i64::try_from(n as u128 * 365 / count as u128).unwrap_or(364);
        let day = start + day_no * 86_400_000;
        let created = day - (day + 8 * 3_600_000).rem_euclid(86_400_000)
            + (7 * 3_600_000 + rng.below(15 * 3_600_000) as i64);
        let created = created.clamp(start, until_ms - 1);
        let t0 = Utc
            .timestamp_millis_opt(created)
            .single()
            .unwrap_or_default();
        let (compound, lon, lat) = match points.get(&g.id) {
            Some(p) if !p.is_empty() => {
                let (name, a, b) = &p[rng.index(p.len())];
                (name.as_str(), Some(*a), Some(*b))
            }
            _ => (g.name.as_str(), None, None),
        };
        let story = linli_core::synth_cases::story(&mut rng, &cat.code, compound);
        let response_due = cat
            .response_hours
            .map(|h| ms(cal.add_working_minutes(t0, h * 60)));
        let mut row = Row {
            category: cat.code.clone(),
            channel: story.channel.code(),
            external_id: (story.channel == linli_core::intake::Channel::Hotline12345)
                .then(|| format!("{ticket_prefix}-{n}")),
            title: story.title,
            description: story.description,
            address: story.address,
            reporter_name: story.reporter_name,
            reporter_phone: story.reporter_phone,
            steps: Vec::new(),
            timeline: count <= ALL_TIMELINES_UP_TO || created >= until_ms - RECENT_TIMELINES_MS,
            lon,
            lat,
            grid: g.id,
            path: g.path.clone(),
            state: "classified",
            level: "community",
            unit: None,
            resolution: None,
            rating: None,
            rework: 0,
            extension: 0,
            response_due,
            due_at: None,
            responded_at: None,
            closed_at: None,
            created,
        };
        // Response: mostly within the response time.
        let resp_span = response_due
            .map(|d| d - created)
            .unwrap_or(3_600_000)
            .max(60_000);
        let late = rng.below(100) < 7;
        let responded = created
            + if late {
                resp_span + rng.below(resp_span as u64) as i64
            } else {
                (rng.below(resp_span as u64) as i64).max(60_000)
            };
        let roll = rng.below(1000);
        if roll < 90 {
            // A question answered on the spot (咨询).
            row.state = "closed";
            row.resolution = Some("answered");
            row.responded_at = Some(created + 300_000);
            row.closed_at = Some(created + 300_000);
            if rng.below(4) != 0 {
                row.state = "rated";
                row.rating = Some(rate(&mut rng));
                visited(&mut row, until_ms);
            }
        } else if roll < 120 {
            row.state = "refused";
            row.responded_at = Some(responded.min(until_ms - 1));
        } else {
            let limit = cat.limit.unwrap_or(Limit::WorkingDays(5));
            let mut due = ms(cal.deadline(t0, limit));
            // Only a case its unit accepted asks for more time.
            if rng.below(100) < 4 && responded < until_ms {
                row.extension = 1;
                due = ms(cal.add_working_days(
                    Utc.timestamp_millis_opt(due).single().unwrap_or_default(),
                    3,
                ));
            }
            row.due_at = Some(due);
            let kind = cat.default_unit_kind.as_deref().unwrap_or("community");
            row.unit = nearest(gi, kind);
            row.level = if kind == "community" || kind == "property" {
                "community"
            } else {
                "district"
            };
            if responded < until_ms {
                row.responded_at = Some(responded);
            }
            // Handling takes part of the allowed time; some run over.
            let span = (due - created).max(3_600_000);
            let took = span / 10 + rng.below((span as u64) * 115 / 100) as i64;
            // Closed at least an hour after it was accepted.
            let closed = (created + took).max(responded + 3_600_000);
            if row.responded_at.is_none() {
                row.state = "dispatched";
            } else if closed >= until_ms {
                row.state = "handling";
            } else {
                row.state = "closed";
                row.resolution = Some("resolved");
                row.closed_at = Some(closed);
                if rng.below(100) < 6 {
                    row.rework = 1;
                }
                if closed + 3 * 86_400_000 < until_ms && rng.below(100) < 75 {
                    row.state = "rated";
                    row.rating = Some(rate(&mut rng));
                    visited(&mut row, until_ms);
                }
            }
        }
        if row.timeline {
            let unit = row
                .unit
                .and_then(|u| unit_names.get(&u).copied())
                .unwrap_or("承办单位");
            row.play(&mut rng, unit, until_ms);
        }
        for (k, c) in row.figures().tallies() {
            sums.entry(k).or_default().add(&c, 1);
        }
        batch.push(row);
        if batch.len() == CHUNK || n + 1 == count {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(CHUNK));
            if out.blocking_send(full).is_err() {
                break;
            }
        }
    }
    sums
}

/// An unsatisfied case closed more than two weeks ago had its return
/// visit (回访) long since: closed with an explanation. Recent ones still
/// wait for theirs.
fn visited(row: &mut Row, until_ms: i64) {
    if row.rating == Some("unsatisfied")
        && row
            .closed_at
            .is_some_and(|c| c + 14 * 86_400_000 < until_ms)
    {
        row.resolution = Some("explained");
    }
}

fn rate(rng: &mut SplitMix64) -> &'static str {
    match rng.below(100) {
        0..82 => "satisfied",
        82..93 => "basically_satisfied",
        _ => "unsatisfied",
    }
}

fn write_csv_row(w: &mut (dyn Write + Send), r: &Row) -> std::io::Result<()> {
    fn o<T: std::fmt::Display>(x: Option<T>) -> String {
        x.map(|v| v.to_string()).unwrap_or_default()
    }
    writeln!(
        w,
        "{},{},{},{},{},{},{},{},{},{},{},{}",
        r.state,
        o(r.resolution),
        o(r.rating),
        o(r.unit),
        r.path,
        r.created,
        o(r.response_due),
        o(r.responded_at),
        o(r.due_at),
        o(r.closed_at),
        r.rework,
        r.extension
    )
}

/// An account made for the demo, to sign in with.
#[derive(Debug, Clone)]
pub struct DemoAccount {
    pub username: String,
    pub role: linli_core::access::Role,
    /// Where it belongs: an org unit or a handling unit, by name.
    pub place: String,
}

impl Store {
    /// Accounts of every role for trying the demo, all with `password`,
    /// in the first community of the generated district: its secretary,
    /// worker and grid member (of its first grid), the subdistrict's staff,
    /// the community's property company as a handling unit, a resident,
    /// a district administrator and an auditor. Made once; later calls
    /// return the same list.
    pub async fn ensure_demo_accounts(&self, password: &str) -> Result<Vec<DemoAccount>> {
        use crate::accounts::NewAccount;
        use linli_core::access::Role;
        let all = Scope::Everything;
        let community = self
            .org_units(&all, Some(OrgKind::Community))
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| {
                StoreError::conflict("the demo district has no community", "示范区没有社区")
            })?;
        let grid = self
            .org_units(&community.scope()?, Some(OrgKind::Grid))
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| {
                StoreError::conflict("the demo community has no grid", "示范社区没有网格")
            })?;
        let subdistrict = self
            .org_unit(&all, community.parent_id.unwrap_or_default())
            .await?;
        self.ensure_synth_units().await?;
        let unit = self
            .units(&all)
            .await?
            .into_iter()
            .find(|u| u.org_id == community.id && u.kind == "property")
            .ok_or_else(|| {
                StoreError::conflict(
                    "the demo community has no property unit",
                    "示范社区没有物业单位",
                )
            })?;
        // (user name, role, org code, handling unit, where it belongs)
        type Planned<'a> = (&'a str, Role, Option<&'a str>, Option<i64>, String);
        let plan: Vec<Planned> = vec![
            (
                "demo.admin",
                Role::DistrictAdmin,
                None,
                None,
                "区 · district".into(),
            ),
            (
                "demo.auditor",
                Role::Auditor,
                None,
                None,
                "区 · district".into(),
            ),
            (
                "demo.street",
                Role::SubdistrictStaff,
                Some(subdistrict.code.as_str()),
                None,
                subdistrict.name.clone(),
            ),
            (
                "demo.secretary",
                Role::CommunitySecretary,
                Some(community.code.as_str()),
                None,
                community.name.clone(),
            ),
            (
                "demo.worker",
                Role::CommunityWorker,
                Some(community.code.as_str()),
                None,
                community.name.clone(),
            ),
            (
                "demo.grid",
                Role::GridMember,
                Some(grid.code.as_str()),
                None,
                format!("{} {}", community.name, grid.name),
            ),
            (
                "demo.handler",
                Role::UnitHandler,
                None,
                Some(unit.id),
                unit.name.clone(),
            ),
            ("demo.resident", Role::Resident, None, None, "—".into()),
        ];
        let mut made = Vec::new();
        for (username, role, org, unit_id, place) in plan {
            let exists: Option<i64> = with_db!(&self.db, pool => {
                sqlx::query_scalar("SELECT id FROM account WHERE username = $1").bind(username).fetch_optional(pool).await?
            });
            if exists.is_none() {
                self.create_account(
                    "demo",
                    &NewAccount {
                        username: username.into(),
                        display_name: format!("{} ({})", role.label_zh(), username),
                        role: role.code().into(),
                        password: password.into(),
                        org_code: org.map(String::from),
                        unit_id,
                    },
                )
                .await?;
            }
            made.push(DemoAccount {
                username: username.into(),
                role,
                place,
            });
        }
        Ok(made)
    }
}
