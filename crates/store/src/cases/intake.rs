//! Intake: a request from any channel is checked, placed in its grid and
//! written by group commit, with its timeline, audit entry and rollup delta.

use chrono::{DateTime, Utc};
use linli_core::case::{self, Action, Facts};
use linli_core::deadline::{self, Terms};
use linli_core::intake::{Channel, RequestText};
use linli_core::{mask, validate};

use super::{CaseRow, CaseView, NewRequest, ms, step_error, view};
use crate::db::{BeginWrite, now_ms};
use crate::rates::{CaseFigures, RateCounts, RollupKey, rollup_change, rollup_in_tx};
use crate::vault::Field;
use crate::{Result, Scope, Store, StoreError, with_db};

/// A checked request, ready to be written.
#[derive(Debug, Clone)]
pub(crate) struct NewCase {
    channel: Channel,
    external_id: Option<String>,
    category: Option<String>,
    category_name: Option<String>,
    title: String,
    description: String,
    address: String,
    lon: Option<f64>,
    lat: Option<f64>,
    grid: Option<i64>,
    grid_name: Option<String>,
    scope_path: String,
    /// The reporter's name masked (张**), as the case shows it.
    reporter: Option<String>,
    /// The name as given, sealed.
    reporter_enc: Option<Vec<u8>>,
    /// The resident account that reported it through the portal.
    reporter_account: Option<i64>,
    phone_enc: Option<Vec<u8>>,
    phone_idx: Option<Vec<u8>>,
    phone_masked: Option<String>,
    facts: Facts,
    response_due: Option<i64>,
    created: i64,
    /// Originals of free text in which ID numbers or phones were masked,
    /// and contact details beyond a mobile: (field, sealed original).
    sealed: Vec<(&'static str, Vec<u8>)>,
    /// The channel's extra facts (see [`NewRequest::details`]).
    details: std::collections::BTreeMap<String, String>,
}

/// The register event's data: the channel, its id for the request and
/// any extra facts it sent.
fn register_data(p: &NewCase) -> String {
    let mut data = serde_json::json!({"channel": p.channel.code(), "external_id": p.external_id});
    if !p.details.is_empty() {
        data["details"] = serde_json::json!(p.details);
    }
    data.to_string()
}

impl NewCase {
    /// The row as written, once it has its id.
    fn row(&self, id: i64) -> CaseRow {
        CaseRow {
            id,
            code: String::new(),
            channel: self.channel.code().to_string(),
            external_id: self.external_id.clone(),
            category_code: self.category.clone(),
            category_name: self.category_name.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            address: self.address.clone(),
            lon: self.lon,
            lat: self.lat,
            grid_id: self.grid,
            grid_name: self.grid_name.clone(),
            scope_path: self.scope_path.clone(),
            reporter_name: self.reporter.clone(),
            reporter_account: self.reporter_account,
            reporter_phone_masked: self.phone_masked.clone(),
            state: self.facts.state.code().to_string(),
            level: self.facts.level.code().to_string(),
            unit_id: None,
            unit_name: None,
            parent_id: None,
            resolution: None,
            rating: None,
            extension_pending: None,
            rework_count: 0,
            reopen_count: 0,
            supervision_count: 0,
            extension_count: 0,
            escalation_count: 0,
            response_due: self.response_due,
            due_at: None,
            responded_at: None,
            closed_at: None,
            overdue_at: None,
            version: 1,
            created_at: self.created,
            updated_at: self.created,
        }
    }

    fn figures(&self) -> CaseFigures<'_> {
        CaseFigures {
            state: self.facts.state.code(),
            resolution: None,
            rating: None,
            unit_id: self.facts.unit,
            category: self.category.as_deref(),
            scope_path: &self.scope_path,
            created_at: self.created,
            response_due: self.response_due,
            responded_at: None,
            due_at: None,
            closed_at: None,
            rework_count: 0,
            extension_count: 0,
        }
    }
}

/// One request waiting for the group commit.
pub(crate) struct IntakeJob {
    actor: String,
    case: Box<NewCase>,
    done: tokio::sync::oneshot::Sender<Result<i64>>,
}

/// Requests waiting to be written, and the writer's turn.
#[derive(Default)]
pub(crate) struct IntakeQueue {
    jobs: std::sync::Mutex<Vec<IntakeJob>>,
    turn: tokio::sync::Mutex<()>,
}

impl IntakeQueue {
    fn push(&self, job: IntakeJob) {
        match self.jobs.lock() {
            Ok(mut q) => q.push(job),
            Err(poisoned) => poisoned.into_inner().push(job),
        }
    }

    fn take(&self) -> Vec<IntakeJob> {
        match self.jobs.lock() {
            Ok(mut q) => std::mem::take(&mut *q),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }
}

pub(crate) enum Prepared {
    /// Already received (same channel and external id).
    Known(i64),
    New(Box<NewCase>),
}

impl Store {
    /// Registers a request from any channel; with a category it is also
    /// classified. A point is placed in its grid. A request already
    /// received with the same channel and external id is returned as it is.
    pub async fn intake(&self, scope: &Scope, actor: &str, req: &NewRequest) -> Result<CaseView> {
        self.intake_at(scope, actor, req, Utc::now()).await
    }

    pub async fn intake_at(
        &self,
        scope: &Scope,
        actor: &str,
        req: &NewRequest,
        now: DateTime<Utc>,
    ) -> Result<CaseView> {
        let p = match self.prepare_intake(scope, req, now).await? {
            Prepared::Known(id) => return self.known_case(scope, id).await,
            Prepared::New(p) => p,
        };
        let id = match self.write_intake(actor, &p).await {
            Ok(id) => id,
            // Sent twice at once: the other copy won the unique index.
            Err(StoreError::Db(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                let ext = p.external_id.as_deref().unwrap_or("");
                match self.case_by_external_id(p.channel, ext).await? {
                    Some(id) => return self.known_case(scope, id).await,
                    None => {
                        return Err(StoreError::conflict(
                            "external_id: sent twice at once; send it again",
                            "同一外部编号同时提交了两次，请重新提交",
                        ));
                    }
                }
            }
            Err(e) => return Err(e),
        };
        // The stored row is known without reading it back; the grid's
        // staff come with a read of the case (GET), not with every intake.
        view(p.row(id), ms(now))
    }

    /// The id of the case received under (channel, external id), if any.
    async fn case_by_external_id(
        &self,
        channel: Channel,
        external_id: &str,
    ) -> Result<Option<i64>> {
        Ok(with_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT id FROM service_case WHERE channel = $1 AND external_id = $2")
                .bind(channel.code()).bind(external_id).fetch_optional(pool).await?
        }))
    }

    /// The case already received under a request's (channel, external id).
    /// One outside the caller's area is a clash, reported without its id,
    /// so that an external id cannot be used to find other areas' cases.
    async fn known_case(&self, scope: &Scope, id: i64) -> Result<CaseView> {
        self.case(scope, id).await.map_err(|e| {
            e.when_missing(|| {
                StoreError::conflict(
                    "external_id: this channel already has a request with this external id, outside your area",
                    "该渠道已有相同外部编号的诉求（不在您的范围内）",
                )
            })
        })
    }

    /// Checks a request and works out everything to be written, without
    /// writing: used by intake and to check a whole batch first.
    pub(crate) async fn prepare_intake(
        &self,
        scope: &Scope,
        req: &NewRequest,
        now: DateTime<Utc>,
    ) -> Result<Prepared> {
        // A resident reports for themself, through the portal; their
        // report may lie anywhere in the district.
        let (channel, reporter_account) = match scope {
            Scope::Reporter(a) => (Channel::SelfReport, Some(*a)),
            _ => (
                Channel::parse(&req.channel).map_err(|e| StoreError::invalid_msg("channel", e))?,
                None,
            ),
        };
        let tree = scope.tree_for_lookup();
        // ID numbers and phones typed into the text are masked before a
        // title is cut from it (a cut could leave a fragment no longer
        // recognisable as a number); the originals are sealed below.
        let description_found = mask::redact(&req.description);
        let title_found = req.title.as_deref().map(mask::redact);
        let RequestText { title, description } = RequestText::check(
            &description_found.text,
            title_found.as_ref().map(|t| t.text.as_str()),
        )
        .map_err(|(field, message)| StoreError::invalid_msg(field, message))?;
        let external_id = linli_core::intake::short_field(
            "external_id",
            req.external_id.as_deref(),
            linli_core::intake::MAX_EXTERNAL_ID_CHARS,
        )
        .map_err(|(f, m)| StoreError::invalid_msg(f, m))?;
        if let Some(ext) = &external_id
            && let Some(id) = self.case_by_external_id(channel, ext).await?
        {
            return Ok(Prepared::Known(id));
        }
        let category = match req
            .category
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            Some(c) => Some(self.leaf_category(c).await?),
            None => None,
        };
        let phone = match req
            .reporter_phone
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            Some(p) => Some(
                validate::mobile_phone(p)
                    .map_err(|e| StoreError::invalid_msg("reporter_phone", e))?,
            ),
            None => None,
        };
        // Where it belongs: the grid holding the point, else the named org unit.
        let (grid, place) = match (req.lon, req.lat) {
            (Some(lon), Some(lat)) => match self.locate_grid(&tree, lon, lat).await? {
                Some(g) => (Some(g.id), g),
                None => {
                    return Err(StoreError::invalid(
                        "lon",
                        format!("({lon}, {lat}) lies in no grid of your area"),
                        "这个位置不在您辖区的任何网格内，请在地图上重新标出",
                    ));
                }
            },
            (None, None) => match req
                .org_code
                .as_deref()
                .map(str::trim)
                .filter(|c| !c.is_empty())
            {
                Some(code) => {
                    let u = self.org_by_code(&tree, code).await.map_err(|e| {
                        e.when_missing(|| {
                            StoreError::invalid(
                                "org_code",
                                format!("no org unit {code} in your area"),
                                format!("您的范围内没有编码为 {code} 的网格或组织"),
                            )
                        })
                    })?;
                    ((u.kind == "grid").then_some(u.id), u)
                }
                None => {
                    return Err(StoreError::invalid(
                        "lon",
                        "give lon and lat, or org_code, to say where the problem is",
                        "请在地图上标出位置（或填写经纬度、选择网格），说明问题在哪里",
                    ));
                }
            },
            _ => {
                return Err(StoreError::invalid(
                    "lat",
                    "lon and lat go together",
                    "经度和纬度要一起填写",
                ));
            }
        };
        let short = |field, value: Option<&String>, max| {
            linli_core::intake::short_field(field, value.map(String::as_str), max)
                .map_err(|(f, m)| StoreError::invalid_msg(f, m))
        };
        // A resident's own report carries their account's name, whatever
        // the form said.
        let reporter_name = match reporter_account {
            Some(_) => None,
            None => short(
                "reporter_name",
                req.reporter_name.as_ref(),
                linli_core::intake::MAX_REPORTER_NAME_CHARS,
            )?,
        };
        let address = short(
            "address",
            req.address.as_ref(),
            linli_core::intake::MAX_ADDRESS_CHARS,
        )?
        .unwrap_or_default();
        let response_due = deadline::response_due(
            &self.calendar(),
            ms(now),
            Terms {
                response_hours: category.as_ref().and_then(|c| c.response_hours),
                limit: None,
                given_due: None,
            },
        );
        let mut facts = Facts::new();
        if let Some(c) = &category {
            facts = case::apply(
                &facts,
                &Action::Classify {
                    category: c.code.clone(),
                },
            )
            .map_err(step_error)?
            .facts;
        }
        let vault = self.vault();
        // ID numbers and phones typed into free text are masked in the
        // stored text; the original is sealed for those who may unmask.
        let mut sealed = Vec::new();
        if description_found.found > 0 {
            sealed.push((
                "description",
                vault.seal(Field::FreeText, req.description.trim()),
            ));
        }
        if let (Some(t), Some(original)) = (&title_found, &req.title)
            && t.found > 0
        {
            sealed.push(("title", vault.seal(Field::FreeText, original.trim())));
        }
        let address_found = mask::redact(&address);
        if address_found.found > 0 {
            sealed.push(("address", vault.seal(Field::FreeText, &address)));
        }
        let address = address_found.text;
        if let Some(contact) = short(
            "other_contact",
            req.other_contact.as_ref(),
            linli_core::intake::MAX_CONTACT_CHARS,
        )? {
            sealed.push(("reporter_contact", vault.seal(Field::FreeText, &contact)));
        }
        linli_core::intake::check_details(&req.details)
            .map_err(|(f, m)| StoreError::invalid_msg(f, m))?;
        let reporter = match (reporter_name, reporter_account) {
            (Some(n), _) => Some(n),
            // A resident's own report carries their account's name.
            (None, Some(a)) => Some(self.account(a).await?.display_name),
            (None, None) => None,
        };
        Ok(Prepared::New(Box::new(NewCase {
            sealed,
            details: req.details.clone(),
            channel,
            external_id,
            category_name: category.as_ref().map(|c| c.name.clone()),
            category: category.map(|c| c.code),
            grid_name: grid.map(|_| place.name.clone()),
            title,
            description,
            address,
            lon: req.lon,
            lat: req.lat,
            grid,
            scope_path: place.path,
            reporter: reporter.as_deref().map(mask::name),
            reporter_enc: reporter
                .as_deref()
                .map(|n| vault.seal(Field::ReporterName, n)),
            reporter_account,
            phone_enc: phone.as_deref().map(|p| vault.seal(Field::Phone, p)),
            phone_idx: phone.as_deref().map(|p| vault.blind_index(Field::Phone, p)),
            phone_masked: phone.as_deref().map(mask::phone),
            facts,
            response_due,
            created: ms(now),
        })))
    }

    /// Writes a prepared request; returns its id once it is committed.
    ///
    /// Group commit: requests arriving together are written in one
    /// transaction by whichever of them holds the writer's turn, so one
    /// durable commit (one fsync) serves many. The batch is written on a
    /// spawned task, so a caller that goes away cannot cut it short.
    pub(crate) async fn write_intake(&self, actor: &str, p: &NewCase) -> Result<i64> {
        let (done, mut rx) = tokio::sync::oneshot::channel();
        self.intake_queue.push(IntakeJob {
            actor: actor.to_string(),
            case: Box::new(p.clone()),
            done,
        });
        let turn = self.intake_queue.turn.lock().await;
        if let Ok(r) = rx.try_recv() {
            return r;
        }
        let batch = self.intake_queue.take();
        if !batch.is_empty() {
            let store = self.clone();
            let _ = tokio::spawn(async move { store.write_intake_batch(batch).await }).await;
        }
        drop(turn);
        rx.await.map_err(|e| {
            StoreError::Config(format!("the intake writer stopped ({e}); try again"))
        })?
    }

    /// Writes a batch together; if that fails, each on its own, so one
    /// bad request does not fail the others.
    async fn write_intake_batch(&self, batch: Vec<IntakeJob>) {
        let items: Vec<(&str, &NewCase)> =
            batch.iter().map(|j| (j.actor.as_str(), &*j.case)).collect();
        match self.write_intakes(&items).await {
            Ok(ids) => {
                for (job, id) in batch.into_iter().zip(ids) {
                    let _ = job.done.send(Ok(id));
                }
            }
            Err(e) if batch.len() == 1 => {
                if let Some(job) = batch.into_iter().next() {
                    let _ = job.done.send(Err(e));
                }
            }
            Err(_) => {
                for job in batch {
                    let r = self
                        .write_intakes(&[(job.actor.as_str(), &*job.case)])
                        .await
                        .map(|ids| ids.first().copied().unwrap_or_default());
                    let _ = job.done.send(r);
                }
            }
        }
    }

    /// Writes prepared requests in one transaction: all or none. Returns
    /// their ids in order. Each table gets one multi-row INSERT per chunk,
    /// so a batch costs a handful of statements, not four per request.
    pub(crate) async fn write_intakes(&self, items: &[(&str, &NewCase)]) -> Result<Vec<i64>> {
        // 20 parameters a case: well under SQLite's 32,766 per statement.
        const CHUNK: usize = 500;
        let mut ids = Vec::with_capacity(items.len());
        with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            for chunk in items.chunks(CHUNK) {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO service_case (channel, external_id, category_code, title, description, address, lon, lat, grid_id, scope_path,
                        reporter_name, reporter_name_enc, reporter_account, reporter_phone_enc, reporter_phone_idx, reporter_phone_masked, state, level, response_due, created_at, updated_at) ",
                );
                qb.push_values(chunk, |mut b, (_, p)| {
                    b.push_bind(p.channel.code()).push_bind(&p.external_id)
                        .push_bind(&p.category).push_bind(&p.title).push_bind(&p.description).push_bind(&p.address)
                        .push_bind(p.lon).push_bind(p.lat).push_bind(p.grid).push_bind(&p.scope_path)
                        .push_bind(&p.reporter).push_bind(&p.reporter_enc).push_bind(p.reporter_account).push_bind(&p.phone_enc).push_bind(&p.phone_idx).push_bind(&p.phone_masked)
                        .push_bind(p.facts.state.code()).push_bind(p.facts.level.code()).push_bind(p.response_due)
                        .push_bind(p.created).push_bind(p.created);
                });
                qb.push(" RETURNING id");
                let mut new_ids: Vec<i64> = qb.build_query_scalar().fetch_all(&mut *tx).await?;
                // Ids are handed out in the order of the rows; RETURNING
                // need not list them in that order.
                new_ids.sort_unstable();
                if new_ids.len() != chunk.len() {
                    return Err(StoreError::Config("intake: fewer ids than rows".into()));
                }
                let mut events = sqlx::QueryBuilder::new("INSERT INTO case_event (case_id, action, from_state, to_state, actor, note, data, at) ");
                let rows: Vec<(i64, &str, &NewCase, &'static str)> = chunk
                    .iter()
                    .zip(&new_ids)
                    .flat_map(|((actor, p), id)| {
                        let classify = p.category.is_some().then_some((*id, *actor, *p, "classify"));
                        std::iter::once((*id, *actor, *p, "register")).chain(classify)
                    })
                    .collect();
                events.push_values(&rows, |mut b, (id, actor, p, action)| {
                    let (from, to, note, data) = if *action == "register" {
                        ("", "registered", p.title.clone(),
                         register_data(p))
                    } else {
                        ("registered", "classified", p.category.clone().unwrap_or_default(), "{}".to_string())
                    };
                    b.push_bind(*id).push_bind(*action).push_bind(from).push_bind(to).push_bind(*actor)
                        .push_bind(note).push_bind(data).push_bind(p.created);
                });
                events.build().execute(&mut *tx).await?;
                for ((_, p), id) in chunk.iter().zip(&new_ids) {
                    for (field, blob) in &p.sealed {
                        sqlx::query("INSERT INTO sealed_text (case_id, field, sealed) VALUES ($1, $2, $3)")
                            .bind(id).bind(*field).bind(blob).execute(&mut *tx).await?;
                    }
                }
                let now = now_ms();
                let audit_ids = crate::audit::counted_ids!(tx, self.backend(), chunk.len() as i64);
                let mut audit = sqlx::QueryBuilder::new(if audit_ids.is_some() {
                    "INSERT INTO audit_pending (id, at, actor, action, object, detail, mac) "
                } else {
                    "INSERT INTO audit_pending (at, actor, action, object, detail, mac) "
                });
                audit.push_values(chunk.iter().zip(&new_ids).enumerate(), |mut b, (n, ((actor, p), id))| {
                    let object = format!("case:{id}");
                    let mac = crate::audit::pending_mac(self.vault(), now, actor, "case.register", &object, p.channel.code());
                    if let Some(ids) = &audit_ids {
                        b.push_bind(ids[n]);
                    }
                    b.push_bind(now).push_bind(*actor).push_bind("case.register")
                        .push_bind(object).push_bind(p.channel.code()).push_bind(mac);
                });
                audit.build().execute(&mut *tx).await?;
                let mut rollup: Vec<(RollupKey, RateCounts)> = Vec::new();
                for (_, p) in chunk {
                    for (key, c) in rollup_change(None, Some(&p.figures())) {
                        match rollup.iter_mut().find(|(k, _)| *k == key) {
                            Some((_, acc)) => acc.add(&c, 1),
                            None => rollup.push((key, c)),
                        }
                    }
                }
                rollup_in_tx!(tx, rollup.iter());
                ids.extend(new_ids);
            }
            tx.commit().await?;
        });
        Ok(ids)
    }

    /// Cases written before migration 19 keep their reporter's name in
    /// clear: it is sealed and replaced by its mask, a batch per
    /// transaction, found through a partial index that is empty once done
    /// (so this is free at every later start). `linli serve` runs it in the
    /// background; returns how many cases it changed.
    pub async fn seal_legacy_cases(&self) -> Result<u64> {
        let mut changed = 0u64;
        loop {
            let batch: Vec<(i64, String)> = with_db!(&self.db, pool => {
                sqlx::query_as(
                    "SELECT id, reporter_name FROM service_case
                     WHERE reporter_name IS NOT NULL AND reporter_name_enc IS NULL ORDER BY id LIMIT 2000",
                )
                .fetch_all(pool)
                .await?
            });
            if batch.is_empty() {
                return Ok(changed);
            }
            let vault = self.vault();
            with_db!(&self.db, pool => {
                let mut tx = pool.begin_write().await?;
                for (id, name) in &batch {
                    // Only if still clear: an intake or another server may
                    // have written it meanwhile.
                    sqlx::query(
                        "UPDATE service_case SET reporter_name = $1, reporter_name_enc = $2 WHERE id = $3 AND reporter_name_enc IS NULL",
                    )
                    .bind(mask::name(name))
                    .bind(vault.seal(Field::ReporterName, name))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
            });
            changed += batch.len() as u64;
            if changed % 100_000 < batch.len() as u64 {
                tracing::info!(cases = changed, "sealing legacy reporter names");
            }
        }
    }
}
