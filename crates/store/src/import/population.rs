//! The registry (人口台账) from a ledger: every row checked and
//! normalised (each change noted), then written in one transaction;
//! people matched by record key, ID number, or name within the household.

use std::collections::{HashMap, HashSet};

use chrono::{Datelike, NaiveDate};
use linli_core::ledger;
use linli_core::mask;
use linli_core::registry::{self, ManagementMode, Relation};
use linli_core::validate::{self, Gender};

use crate::audit::append_in_tx;
use crate::caches::{Cached, changed_in_tx};
use crate::db::BeginWrite;
use crate::db::{now_ms, placeholders};
use crate::vault::Field;
use crate::{Result, Scope, Store, StoreError, with_db};

use super::*;

/// Notes each change a normaliser made to a row's values.
struct Changes<'a> {
    row: usize,
    out: &'a mut Vec<ValueChange>,
}

impl Changes<'_> {
    /// Keeps a normalised value and notes its change; `mask` hides a
    /// personal value on both sides.
    fn take<T>(
        &mut self,
        field: &'static str,
        n: ledger::Normalised<T>,
        mask: Option<fn(&str) -> String>,
    ) -> T {
        if let Some(c) = n.change {
            let show = |v: &str| mask.map_or_else(|| v.to_string(), |m| m(v));
            self.out.push(ValueChange {
                row: self.row,
                field,
                from: show(&c.from),
                to: show(&c.to),
                why: c.why_en,
                why_zh: c.why_zh,
            });
        }
        n.value
    }
    fn note(
        &mut self,
        field: &'static str,
        from: &str,
        to: &str,
        why: &'static str,
        why_zh: &'static str,
    ) {
        self.out.push(ValueChange {
            row: self.row,
            field,
            from: from.to_string(),
            to: to.to_string(),
            why,
            why_zh,
        });
    }
}

/// Why a blank compound or building took the value above it.
const FILLED_DOWN: (&str, &str) = (
    "blank under a filled cell: taken from the row above (a merged cell saved as CSV)",
    "空白，按上一行填写（合并单元格另存为 CSV 后只保留第一格）",
);

const GRID_FROM_COMPOUND: (&str, &str) = (
    "blank: the grid of this compound in the compound ledger",
    "空白，按小区台账中该小区所在网格填写",
);
const GRID_OF_AREA: (&str, &str) = (
    "blank: the only grid of your area",
    "空白，按您辖区唯一的网格填写",
);

/// Cells that mean "nothing here" in ledgers.
fn is_blank(v: &str) -> bool {
    matches!(
        v.trim(),
        "" | "无" | "暂无" | "/" | "-" | "—" | "——" | "--" | "／" | "－"
    )
}

/// The refusal of an identifier that Excel stored as a number and rounded.
fn rounded_error(c: &mut RowCheck, field: &str, shown: &str) {
    c.fail(
        field,
        format!("stored by Excel as a number and rounded to {shown}: the digits after the 15th are lost. Format the column as text, type the numbers again (or take them from the source) and import again"),
        format!("该单元格在 Excel 中是数字格式，已被舍入为 {shown}，第 15 位以后的数字已丢失。请把该列设为“文本”格式，重新录入（或从原始资料复制）后再导入"),
    );
}

#[derive(Debug, Clone)]
struct PersonRow {
    name: String,
    gender: Option<Gender>,
    birth_date: Option<NaiveDate>,
    id_number: Option<String>,
    phone: Option<String>,
    landline: Option<String>,
    relation: Relation,
    head_relation: Option<String>,
    /// Built-in tags by code, others as written.
    tags: Vec<String>,
    /// The person this row updates, named by its record key.
    record: Option<i64>,
}

#[derive(Debug, Clone)]
struct RegistryRow {
    /// The row number as the spreadsheet shows it.
    line: usize,
    grid: usize,
    compound: String,
    building: String,
    unit: String,
    room: String,
    floor_area: Option<f64>,
    household_no: String,
    mode: Option<ManagementMode>,
    person: Option<PersonRow>,
}

/// Ownership or tenancy in the words ledgers use.
fn ownership(raw: &str) -> Option<Relation> {
    match ledger::half_width(raw.trim()).as_ref() {
        "业主" | "产权人" | "房主" | "自住" | "自有" | "owner" => Some(Relation::Owner),
        "租户" | "租住" | "租赁" | "承租" | "承租人" | "出租" | "tenant" => {
            Some(Relation::Tenant)
        }
        "居住" | "借住" | "寄住" | "居民" | "resident" => Some(Relation::Resident),
        _ => None,
    }
}

/// A person named by a record key, as stored: the masks an export wrote
/// and the values they stand for.
#[derive(Debug, Default)]
struct Keyed {
    /// field → (mask, clear value)
    masked: HashMap<&'static str, (String, String)>,
    birth: Option<NaiveDate>,
}

struct RowCtx<'a> {
    layout: &'a Layout,
    table: &'a Table,
    cells: &'a [String],
    today: NaiveDate,
    keyed: Option<&'a Keyed>,
}

impl RowCtx<'_> {
    fn get(&self, key: &str) -> &str {
        self.layout.get(self.cells, key)
    }
    /// A cell as the worker means it: a masked value left as the export
    /// wrote it stands for the record's stored value (so an edited export
    /// imports back); any other masked value is refused.
    fn value(&self, c: &mut RowCheck, key: &'static str) -> String {
        let v = self.get(key).trim();
        if !v.contains('*') {
            return v.to_string();
        }
        match self.keyed.and_then(|k| k.masked.get(key)) {
            Some((mask, clear)) if mask == v => clear.clone(),
            Some(_) => {
                c.fail(
                    key,
                    "is masked but not as this record's stored value: type the full value, or leave the masked one as exported",
                    "为脱敏值，但与该记录存储的值不符：请填写完整号码，或保留导出时的脱敏值不改",
                );
                String::new()
            }
            None => {
                c.fail(
                    key,
                    "is masked: a masked value can be kept only on a row exported with its record key (记录编号)",
                    "为脱敏值：只有带“记录编号”的导出行才能保留脱敏值；请填写完整号码",
                );
                String::new()
            }
        }
    }
    /// The cell of `key` when Excel rounded it, as the file shows it.
    fn rounded(&self, row: usize, key: &str) -> Option<&str> {
        let col = *self.layout.pos.get(key)?;
        self.table.is_rounded(row, col).then(|| self.get(key))
    }
}

fn validate_person(c: &mut RowCheck, ch: &mut Changes, r: &RowCtx) -> Option<PersonRow> {
    let name_raw = r.get("name");
    if is_blank(name_raw) {
        for f in ["id_number", "phone", "gender", "birth_date", "tags"] {
            if !is_blank(r.get(f)) {
                c.fail(
                    "name",
                    format!("is required when {f} is given"),
                    "填写了身份证号、电话、性别、出生日期或标签时，姓名必填",
                );
                return None;
            }
        }
        return None;
    }
    let name = ch.take("name", ledger::person_name(name_raw), None);
    if name.chars().count() > 50 {
        c.fail("name", "is longer than 50 characters", "姓名超过 50 个字");
    }
    let id_cell = r.value(c, "id_number");
    let id = match id_cell.as_str() {
        v if is_blank(v) => None,
        v => match r.rounded(c.row, "id_number") {
            Some(shown) => {
                rounded_error(c, "id_number", &mask::id_number(shown));
                None
            }
            None => {
                let cleaned = ch.take("id_number", ledger::id_number(v), Some(mask::id_number));
                c.check("id_number", validate::resident_id(&cleaned, r.today))
            }
        },
    };
    let gender = match r.get("gender") {
        v if is_blank(v) => id.as_ref().map(|i| i.gender),
        g => match ledger::gender(g) {
            Some(x) => {
                let word = if x == Gender::Male { "男" } else { "女" };
                if g.trim() != word {
                    ch.note(
                        "gender",
                        g.trim(),
                        word,
                        "gender written as 男/女",
                        "性别统一写作 男/女",
                    );
                }
                Some(x)
            }
            None => {
                c.fail(
                    "gender",
                    format!("unknown gender '{g}' (expected 男/女)"),
                    format!("性别“{g}”无法识别（应为 男 或 女）"),
                );
                None
            }
        },
    };
    let birth_date = match r.get("birth_date") {
        // Without a birth date column (a masked export has an age band
        // instead), a known record keeps its stored date.
        v if is_blank(v) => id.as_ref().map(|i| i.birth_date).or_else(|| {
            r.keyed
                .filter(|_| !r.layout.pos.contains_key("birth_date"))
                .and_then(|k| k.birth)
        }),
        d => match ledger::date(d) {
            Some(x) => {
                let iso = x.format("%Y-%m-%d").to_string();
                if d.trim() != iso {
                    ch.note(
                        "birth_date",
                        d.trim(),
                        &iso,
                        "date written as YYYY-MM-DD",
                        "日期统一写作 年-月-日",
                    );
                }
                Some(x)
            }
            None => {
                c.fail(
                    "birth_date",
                    format!("'{d}' is not a date (1962-04-14, 1962/4/14 or 1962年4月14日)"),
                    format!("“{d}”不是日期（可写 1962-04-14、1962/4/14 或 1962年4月14日）"),
                );
                None
            }
        },
    };
    if let Some(i) = &id {
        if gender.is_some_and(|g| g != i.gender) {
            c.fail(
                "gender",
                "does not match the ID number",
                "与身份证号中的性别不一致",
            );
        }
        if birth_date.is_some_and(|b| b != i.birth_date) {
            c.fail(
                "birth_date",
                "does not match the ID number",
                "与身份证号中的出生日期不一致",
            );
        }
    }
    let (mut phone, mut landline) = (None, None);
    let phone_cell = r.value(c, "phone");
    match phone_cell.as_str() {
        v if is_blank(v) => {}
        v => match r.rounded(c.row, "phone") {
            Some(shown) => rounded_error(c, "phone", shown),
            None => {
                let p = ledger::phones(v);
                for bad in &p.unreadable {
                    // Shown masked: the report must not spell out numbers.
                    let bad = mask::phone(bad);
                    c.fail(
                        "phone",
                        format!("'{bad}' is neither a mobile number nor a landline"),
                        format!("“{bad}”既不是手机号也不是固定电话"),
                    );
                }
                if p.extra.len()
                    + usize::from(p.landline.is_some())
                    + usize::from(p.mobile.is_some())
                    > 1
                {
                    let kept: Vec<String> = p
                        .mobile
                        .iter()
                        .map(|m| mask::phone(m))
                        .chain(p.landline.iter().map(|l| mask::landline(l)))
                        .collect();
                    ch.note(
                        "phone",
                        &mask::phone(v),
                        &kept.join(" / "),
                        "several numbers in one cell: the first mobile and the first landline kept, the rest dropped",
                        "一格多个号码：保留第一个手机号和第一个固定电话，其余未导入",
                    );
                } else if let Some(one) = p.mobile.as_deref()
                    && one != v.trim()
                {
                    let masked = if p.mobile.is_some() {
                        mask::phone(one)
                    } else {
                        mask::landline(one)
                    };
                    ch.note(
                        "phone",
                        &mask::phone(v.trim()),
                        &masked,
                        "full-width digits, spaces or dashes removed",
                        "去除全角数字、空格或连字符",
                    );
                }
                if p.mobile.is_none()
                    && p.extra.is_empty()
                    && let Some(l) = &p.landline
                {
                    ch.note(
                        "landline",
                        "",
                        &mask::landline(l),
                        "a landline in the phone column is kept as the landline",
                        "联系电话列中的固定电话存为固定电话",
                    );
                }
                phone = p.mobile;
                landline = p.landline;
            }
        },
    }
    let landline_cell = r.value(c, "landline");
    match landline_cell.as_str() {
        v if is_blank(v) => {}
        v => {
            let p = ledger::phones(v);
            for bad in &p.unreadable {
                let bad = mask::phone(bad);
                c.fail(
                    "landline",
                    format!("'{bad}' is not a landline number"),
                    format!("“{bad}”不是固定电话号码"),
                );
            }
            match (p.landline, p.mobile) {
                (Some(l), _) if landline.is_none() => {
                    if l != v.trim() {
                        ch.note(
                            "landline",
                            &mask::landline(v.trim()),
                            &mask::landline(&l),
                            "spaces or dashes put in order",
                            "整理空格或连字符",
                        );
                    }
                    landline = Some(l);
                }
                (Some(l), _) if landline.as_deref() != Some(l.as_str()) => c.fail(
                    "landline",
                    "differs from the landline in the phone column",
                    "与“联系电话”列中的固定电话不一致",
                ),
                (None, Some(m)) if phone.is_none() => {
                    ch.note(
                        "phone",
                        "",
                        &mask::phone(&m),
                        "a mobile number in the landline column is kept as the mobile",
                        "固定电话列中的手机号按手机号保存",
                    );
                    phone = Some(m);
                }
                _ => {}
            }
        }
    }
    let relation = match r.get("relation") {
        v if is_blank(v) => Some(Relation::Resident),
        v => match ownership(v) {
            Some(x) => {
                if v.trim() != x.label_zh() {
                    ch.note(
                        "relation",
                        v.trim(),
                        x.label_zh(),
                        "written as 业主/租户/居住",
                        "统一写作 业主/租户/居住",
                    );
                }
                Some(x)
            }
            None => {
                c.fail(
                    "relation",
                    format!("'{v}' is not 业主, 租户 or 居住"),
                    format!("与房屋关系“{v}”无法识别（应为 业主、租户 或 居住）"),
                );
                None
            }
        },
    };
    let head_relation = match r.get("head_relation") {
        v if is_blank(v) => None,
        v => Some(ledger::half_width(v.trim()).into_owned()),
    };
    let mut tags: Vec<String> = Vec::new();
    for part in r
        .get("tags")
        .split([',', ';', '，', '；', '、', ' ', '|', '/'])
        .map(str::trim)
        .filter(|p| !is_blank(p))
    {
        let t = match registry::Tag::parse(part) {
            Ok(t) => t.code().to_string(),
            Err(_) if part.chars().count() <= 20 => ledger::half_width(part).into_owned(),
            Err(_) => {
                c.fail(
                    "tags",
                    format!("tag '{part}' is longer than 20 characters"),
                    format!("标签“{part}”超过 20 个字"),
                );
                continue;
            }
        };
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    Some(PersonRow {
        name,
        gender,
        birth_date,
        id_number: id.map(|i| i.as_str().to_string()),
        phone,
        landline,
        relation: relation?,
        head_relation,
        tags,
        record: None,
    })
}

/// Inserts the people gathered so far with multi-row INSERTs and queues
/// their tags (inside `with_db!`, so for either database).
macro_rules! insert_people {
    ($tx:ident, $people:ident, $tags:ident) => {
        for chunk in $people.chunks(500) {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO person (household_id, scope_path, name, gender, birth_year, birth_enc, id_enc, id_idx, id_masked, phone_enc, phone_idx, phone_masked, relation, created_at, updated_at, landline_enc, landline_masked, head_relation) ",
            );
            qb.push_values(chunk, |mut q, x: &NewPerson| {
                let s = &x.sealed;
                q.push_bind(x.household_id).push_bind(&x.path).push_bind(&x.name).push_bind(x.gender)
                    .push_bind(s.birth_year).push_bind(&s.birth_enc).push_bind(&s.id_enc).push_bind(&s.id_idx).push_bind(&s.id_masked)
                    .push_bind(&s.phone_enc).push_bind(&s.phone_idx).push_bind(&s.phone_masked).push_bind(x.relation)
                    .push_bind(x.created).push_bind(x.created).push_bind(&s.landline_enc).push_bind(&s.landline_masked).push_bind(&x.head_relation);
            });
            qb.push(" RETURNING id");
            let ids = in_row_order(qb.build_query_scalar().fetch_all(&mut *$tx).await?, chunk.len())?;
            for (x, id) in chunk.iter().zip(ids) {
                $tags.extend(x.tags.iter().map(|t| (id, t.clone())));
            }
        }
        $people.clear();
    };
}

/// A person's personal data, sealed, masked and indexed for writing.
struct SealedPerson {
    id_enc: Option<Vec<u8>>,
    id_idx: Option<Vec<u8>>,
    id_masked: Option<String>,
    phone_enc: Option<Vec<u8>>,
    phone_idx: Option<Vec<u8>>,
    phone_masked: Option<String>,
    landline_enc: Option<Vec<u8>>,
    landline_masked: Option<String>,
    birth_year: Option<i32>,
    birth_enc: Option<Vec<u8>>,
}

impl SealedPerson {
    fn of(
        vault: &crate::vault::Vault,
        p: &PersonRow,
        id_idx: Option<Vec<u8>>,
        phone_idx: Option<Vec<u8>>,
        birth: Option<&str>,
    ) -> Self {
        SealedPerson {
            id_enc: p
                .id_number
                .as_deref()
                .map(|i| vault.seal(Field::IdNumber, i)),
            id_idx,
            id_masked: p.id_number.as_deref().map(mask::id_number),
            phone_enc: p.phone.as_deref().map(|x| vault.seal(Field::Phone, x)),
            phone_idx,
            phone_masked: p.phone.as_deref().map(mask::phone),
            landline_enc: p.landline.as_deref().map(|x| vault.seal(Field::Phone, x)),
            landline_masked: p.landline.as_deref().map(mask::landline),
            birth_year: p.birth_date.map(|d| d.year()),
            birth_enc: birth.map(|d| vault.seal(Field::BirthDate, d)),
        }
    }
}

/// A person to insert, once the rows are checked.
struct NewPerson {
    household_id: i64,
    created: i64,
    path: String,
    name: String,
    gender: Option<&'static str>,
    relation: &'static str,
    head_relation: Option<String>,
    tags: Vec<String>,
    sealed: SealedPerson,
}

/// The distinct values, in the order first met.
fn distinct(values: impl IntoIterator<Item = i64>) -> Vec<i64> {
    let mut seen = HashSet::new();
    values.into_iter().filter(|v| seen.insert(*v)).collect()
}

/// The ids a multi-row INSERT … RETURNING gave, in the order of its rows:
/// ids are handed out in row order, but RETURNING need not list them so.
fn in_row_order(mut ids: Vec<i64>, rows: usize) -> Result<Vec<i64>> {
    ids.sort_unstable();
    if ids.len() != rows {
        return Err(StoreError::Config(format!(
            "import: {} ids for {rows} rows",
            ids.len()
        )));
    }
    Ok(ids)
}

/// (grid slot, compound, building, unit, room): one dwelling in a file.
type DwellingKey = (usize, String, String, String, String);

/// A person as stored, to tell an unchanged row from an update and to
/// show what an update changes: (id, name, gender, birth_enc, phone_idx,
/// landline_enc, relation, head_relation, id_idx, household_id,
/// id_masked, phone_masked, landline_masked).
type StoredPerson = (
    i64,
    String,
    Option<String>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<String>,
    Option<String>,
    Option<Vec<u8>>,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
);

impl Store {
    /// The people an edited export names by record key, within scope, with
    /// the clear values behind their masks.
    async fn keyed_people(&self, scope: &Scope, ids: &[i64]) -> Result<HashMap<i64, Keyed>> {
        type Row = (
            i64,
            Option<String>,
            Option<Vec<u8>>,
            Option<String>,
            Option<Vec<u8>>,
            Option<String>,
            Option<Vec<u8>>,
            Option<Vec<u8>>,
        );
        let (lo, hi) = scope.bounds();
        let vault = self.vault();
        let mut out = HashMap::new();
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT id, id_masked, id_enc, phone_masked, phone_enc, landline_masked, landline_enc, birth_enc FROM person WHERE scope_path >= $1 AND scope_path < $2 AND id IN ({})",
                placeholders(3, chunk.len())
            );
            let rows: Vec<Row> = with_db!(&self.db, pool => {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(&lo).bind(&hi);
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(pool).await?
            });
            for (
                id,
                id_masked,
                id_enc,
                phone_masked,
                phone_enc,
                landline_masked,
                landline_enc,
                birth_enc,
            ) in rows
            {
                let mut k = Keyed::default();
                for (key, mask, sealed, field) in [
                    ("id_number", id_masked, id_enc, Field::IdNumber),
                    ("phone", phone_masked, phone_enc, Field::Phone),
                    ("landline", landline_masked, landline_enc, Field::Phone),
                ] {
                    if let (Some(mask), Some(sealed)) = (mask, sealed) {
                        k.masked.insert(key, (mask, vault.open(field, &sealed)?));
                    }
                }
                k.birth = birth_enc
                    .map(|b| vault.open(Field::BirthDate, &b))
                    .transpose()?
                    .and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok());
                out.insert(id, k);
            }
        }
        Ok(out)
    }

    /// Imports registry rows: validates all, then writes all in one
    /// transaction. Re-importing the same file updates rather than
    /// duplicates: places are matched by name, people by ID number (or by
    /// name within the household when no ID number is given).
    pub async fn import_registry(
        &self,
        scope: &Scope,
        actor: &str,
        table: &Table,
        progress: &(dyn Fn(u64, u64) + Send + Sync),
    ) -> Result<ImportReport> {
        self.import_registry_with(scope, actor, table, &ImportOptions::default(), progress)
            .await
    }

    /// [`Store::import_registry`] with options: a preview (dry run) and a
    /// grid for rows that name none.
    pub async fn import_registry_with(
        &self,
        scope: &Scope,
        actor: &str,
        table: &Table,
        options: &ImportOptions,
        progress: &(dyn Fn(u64, u64) + Send + Sync),
    ) -> Result<ImportReport> {
        let layout = match Layout::new(&table.headers, REGISTRY_COLUMNS) {
            Ok(l) => l,
            Err(e) => return Ok(ImportReport::refused(table, e)),
        };
        let grids = self.grids_by_code(scope).await?;
        let file_grid = options
            .grid
            .as_deref()
            .map(str::trim)
            .filter(|g| !g.is_empty());
        if let Some(g) = file_grid
            && !grids.contains_key(g)
        {
            return Err(StoreError::invalid(
                "grid",
                format!("no grid {g} in your area"),
                format!("您的范围内没有网格 {g}"),
            ));
        }
        let mut grid_list: Vec<GridRef> = Vec::new();
        let mut grid_slot: HashMap<String, usize> = HashMap::new();
        let today = chrono::Local::now().date_naive();
        let mut errors = Vec::new();
        let mut changes = Vec::new();
        let mut rows = Vec::with_capacity(table.rows.len());
        let mut seen_ids: HashMap<String, usize> = HashMap::new();
        let mut dwelling_area: HashMap<DwellingKey, (f64, usize)> = HashMap::new();
        // Households within a dwelling, by the heads met so far, when the
        // file has no household number but says who is the head.
        let mut heads: HashMap<DwellingKey, usize> = HashMap::new();
        let by_head =
            !layout.pos.contains_key("household_no") && layout.pos.contains_key("head_relation");
        let mut above = (String::new(), String::new(), 0usize);
        let mut new_tags: HashMap<String, usize> = HashMap::new();
        let keys: Vec<i64> = table
            .rows
            .iter()
            .filter_map(|(_, cells)| parse_record_key(layout.get(cells, "record_key")))
            .collect();
        let keyed = self.keyed_people(scope, &keys).await?;
        // Compound name → the grids that have a compound of that name, for
        // rows without a grid code.
        let compound_grids = if file_grid.is_none() {
            self.compound_grids(scope).await?
        } else {
            HashMap::new()
        };
        let mut seen_keys: HashMap<i64, usize> = HashMap::new();
        for (line, cells) in &table.rows {
            let mut c = RowCheck {
                row: *line,
                errors: &mut errors,
            };
            let mut ch = Changes {
                row: *line,
                out: &mut changes,
            };
            let record = match layout.get(cells, "record_key").trim() {
                "" => None,
                k => {
                    match parse_record_key(k) {
                        Some(id) if !keyed.contains_key(&id) => {
                            c.fail(
                            "record_key",
                            format!("no person {k} in your area (removed, or exported from elsewhere)"),
                            format!("您的辖区内没有记录 {k}（已删除，或是从其他辖区导出的）"),
                        );
                            None
                        }
                        Some(id) => {
                            if let Some(first) = seen_keys.insert(id, *line) {
                                c.fail(
                                    "record_key",
                                    format!("record {k} is also on row {first}"),
                                    format!("记录编号 {k} 与第 {first} 行重复"),
                                );
                            }
                            Some(id)
                        }
                        None => {
                            c.fail(
                                "record_key",
                                format!("'{k}' is not a record key linli wrote (P and a number)"),
                                format!("“{k}”不是系统导出的记录编号（P 加数字）"),
                            );
                            None
                        }
                    }
                }
            };
            let r = RowCtx {
                layout: &layout,
                table,
                cells,
                today,
                keyed: record.and_then(|id| keyed.get(&id)),
            };
            // A compound or building left blank under the row above is a
            // merged cell that lost its merge (CSV keeps only the first).
            let place = |c: &mut RowCheck, ch: &mut Changes, key: &'static str, prev: &str| {
                let v = r.get(key);
                if is_blank(v) && !prev.is_empty() {
                    ch.note(key, v, prev, FILLED_DOWN.0, FILLED_DOWN.1);
                    prev.to_string()
                } else {
                    c.required(key, v.trim())
                }
            };
            let compound_raw = place(&mut c, &mut ch, "compound", &above.0);
            let compound = ch.take("compound", ledger::plain(&compound_raw), None);
            let grid_code = match (r.get("grid_code"), file_grid) {
                (v, Some(g)) if is_blank(v) => g.to_string(),
                (v, None) if is_blank(v) => {
                    match compound_grids.get(compound.as_str()).map(Vec::as_slice) {
                        // Without a grid code, the compound ledger (or an area
                        // of one grid) says where the row belongs.
                        Some([only]) => {
                            ch.note(
                                "grid_code",
                                v,
                                only,
                                GRID_FROM_COMPOUND.0,
                                GRID_FROM_COMPOUND.1,
                            );
                            only.clone()
                        }
                        Some(several) => {
                            c.fail(
                            "grid_code",
                            format!("is blank, and compound {compound} is in several grids ({}); give the grid code", several.join(", ")),
                            format!("网格编码为空，且小区“{compound}”分属多个网格（{}），请填写网格编码", several.join("、")),
                        );
                            String::new()
                        }
                        None if grids.len() == 1 => {
                            let only = grids.keys().next().cloned().unwrap_or_default();
                            ch.note("grid_code", v, &only, GRID_OF_AREA.0, GRID_OF_AREA.1);
                            only
                        }
                        None => String::new(),
                    }
                }
                (v, _) => ch.take("grid_code", ledger::plain(v), None),
            };
            let grid = if grid_code.is_empty() {
                if compound.is_empty() {
                    c.fail(
                        "grid_code",
                        "is required (or choose one grid for the whole file)",
                        "网格编码必填（或为整个文件选择一个网格）",
                    );
                } else if !c.has_error_in("grid_code") {
                    c.fail(
                        "grid_code",
                        format!("is required: compound {compound} is not in the compound ledger of your area (or choose one grid for the whole file)"),
                        format!("网格编码必填：小区“{compound}”不在您辖区的小区台账中（或为整个文件选择一个网格）"),
                    );
                }
                None
            } else if let Some(&slot) = grid_slot.get(&grid_code) {
                Some(slot)
            } else if let Some(g) = grids.get(&grid_code) {
                grid_list.push(g.clone());
                grid_slot.insert(grid_code.clone(), grid_list.len() - 1);
                Some(grid_list.len() - 1)
            } else {
                c.fail(
                    "grid_code",
                    format!("no grid {grid_code} in your area"),
                    format!("您的辖区内没有网格 {grid_code}"),
                );
                None
            };
            let building_raw = place(&mut c, &mut ch, "building", &above.1);
            let building = ch.take("building", ledger::building(&building_raw), None);
            above = (compound_raw, building_raw, *line);
            let unit = ch.take("unit", ledger::unit(r.get("unit")), None);
            let room_raw = c.required("room", r.get("room").trim());
            let room = ch.take("room", ledger::room(&room_raw), None);
            let floor_area = match r.get("floor_area") {
                v if is_blank(v) => None,
                a => c.check("floor_area", registry::floor_area(&ledger::half_width(a))),
            };
            let person = validate_person(&mut c, &mut ch, &r).map(|p| PersonRow { record, ..p });
            let key = grid.map(|g| {
                (
                    g,
                    compound.clone(),
                    building.clone(),
                    unit.clone(),
                    room.clone(),
                )
            });
            let household_no = match (r.get("household_no"), &key) {
                (h, _) if !is_blank(h) => ledger::half_width(h.trim()).into_owned(),
                (_, Some(key)) if by_head => {
                    let n = heads.entry(key.clone()).or_default();
                    if person
                        .as_ref()
                        .and_then(|p| p.head_relation.as_deref())
                        .is_some_and(ledger::is_household_head)
                    {
                        *n += 1;
                    }
                    (*n).max(1).to_string()
                }
                _ => "1".to_string(),
            };
            if let Some(p) = &person {
                for t in &p.tags {
                    if registry::Tag::parse(t).is_err() {
                        *new_tags.entry(t.clone()).or_default() += 1;
                    }
                }
            }
            if let Some(id) = person.as_ref().and_then(|p| p.id_number.clone()) {
                if let Some(first) = seen_ids.get(&id) {
                    c.fail(
                        "id_number",
                        format!("the same ID number is already on row {first}"),
                        format!("与第 {first} 行的身份证号重复"),
                    );
                } else {
                    seen_ids.insert(id, *line);
                }
            }
            if let (Some(key), Some(a)) = (&key, floor_area) {
                match dwelling_area.get(key) {
                    Some((other, first)) if (other - a).abs() > 1e-6 => c.fail(
                        "floor_area",
                        format!(
                            "{a} differs from {other} given for the same dwelling on row {first}"
                        ),
                        format!("{a} 与第 {first} 行同一房屋的面积 {other} 不一致"),
                    ),
                    Some(_) => {}
                    None => {
                        dwelling_area.insert(key.clone(), (a, *line));
                    }
                }
            }
            if let Some(g) = grid {
                rows.push(RegistryRow {
                    line: *line,
                    grid: g,
                    compound,
                    building,
                    unit,
                    room,
                    floor_area,
                    household_no,
                    mode: None,
                    person,
                });
            }
        }
        let mut notices = table.notices.clone();
        let listed = self.district_tags().await?;
        let mut new_tags: Vec<_> = new_tags
            .into_iter()
            .filter(|(t, _)| !listed.contains(t))
            .collect();
        new_tags.sort();
        for (tag, n) in new_tags {
            notices.push(Notice::new(
                None,
                format!(
                    "tag '{tag}' ({n} people) is in neither the built-in nor the district's tag list; it is kept as written (an administrator can add it to the list)"
                ),
                format!("标签“{tag}”（{n} 人）既不是内置标签，也不在本区标签清单中，按原文保存（管理员可将其加入清单）"),
            ));
        }
        if !errors.is_empty() {
            let mut report = ImportReport::refused(table, errors);
            report.notices = notices;
            report.changes = changes;
            report.dry_run = options.dry_run;
            return Ok(report);
        }
        let total = rows.len() as u64;
        let mut report = ImportReport {
            rows: table.rows.len(),
            committed: !options.dry_run,
            dry_run: options.dry_run,
            mapping: table.mapping.clone(),
            notices,
            changes,
            ..Default::default()
        };
        let vault = self.vault();
        let now = now_ms();
        // A column the file does not have leaves that field as stored: a
        // party members' list of names and ID numbers must not wipe phones.
        let has = |k: &str| layout.pos.contains_key(k);
        let (lo, hi) = scope.bounds();
        // People already registered under the file's ID numbers, anywhere
        // in the caller's area: they are updated (and moved), not doubled.
        let id_idx_of: Vec<Option<Vec<u8>>> = rows
            .iter()
            .map(|r| {
                r.person
                    .as_ref()?
                    .id_number
                    .as_deref()
                    .map(|i| vault.blind_index(Field::IdNumber, i))
            })
            .collect();
        let id_indexes: Vec<&[u8]> = id_idx_of.iter().flatten().map(Vec::as_slice).collect();
        // Rows per multi-row statement: 17 values a person, well under
        // SQLite's 32,766 parameters.
        const CHUNK: usize = 500;
        let count = |m: &mut HashMap<&'static str, u64>, k: &'static str, n: usize| {
            if n > 0 {
                *m.entry(k).or_default() += n as u64;
            }
        };
        with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let mut by_id: HashMap<Vec<u8>, i64> = HashMap::new();
            for chunk in id_indexes.chunks(CHUNK) {
                let sql = format!(
                    "SELECT id_idx, id FROM person WHERE scope_path >= $1 AND scope_path < $2 AND id_idx IN ({})",
                    placeholders(3, chunk.len())
                );
                let mut q = sqlx::query_as::<_, (Vec<u8>, i64)>(sqlx::AssertSqlSafe(sql)).bind(&lo).bind(&hi);
                for idx in chunk {
                    q = q.bind(*idx);
                }
                by_id.extend(q.fetch_all(&mut *tx).await?);
            }
            // Compounds and buildings are few: found or made one at a time.
            let mut compounds: HashMap<(i64, String), i64> = HashMap::new();
            let mut buildings: HashMap<(i64, String), i64> = HashMap::new();
            // Places made by this import hold nothing yet: what lies in
            // them need not be looked for (most of a first import).
            let mut made_compounds: HashSet<i64> = HashSet::new();
            let mut made_buildings: HashSet<i64> = HashSet::new();
            let mut made_dwellings: HashSet<i64> = HashSet::new();
            let mut building_of: Vec<i64> = Vec::with_capacity(rows.len());
            for r in &rows {
                let g = &grid_list[r.grid];
                let key = (g.id, r.compound.clone());
                let compound_id = match compounds.get(&key) {
                    Some(id) => *id,
                    None => {
                        let found: Option<i64> = sqlx::query_scalar("SELECT id FROM compound WHERE grid_id = $1 AND name = $2")
                            .bind(g.id).bind(&r.compound).fetch_optional(&mut *tx).await?;
                        let id = match found {
                            Some(id) => id,
                            None => {
                                *report.created.entry("compounds").or_default() += 1;
                                let id: i64 = sqlx::query_scalar("INSERT INTO compound (grid_id, scope_path, name, management_mode, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id")
                                    .bind(g.id).bind(&g.path).bind(&r.compound)
                                    .bind(r.mode.unwrap_or(ManagementMode::None).code()).bind(now)
                                    .fetch_one(&mut *tx).await?;
                                made_compounds.insert(id);
                                id
                            }
                        };
                        compounds.insert(key, id);
                        id
                    }
                };
                let key = (compound_id, r.building.clone());
                let building_id = match buildings.get(&key) {
                    Some(id) => *id,
                    None => {
                        let found: Option<i64> = if made_compounds.contains(&compound_id) {
                            None
                        } else {
                            sqlx::query_scalar("SELECT id FROM building WHERE compound_id = $1 AND name = $2")
                                .bind(compound_id).bind(&r.building).fetch_optional(&mut *tx).await?
                        };
                        let id = match found {
                            Some(id) => id,
                            None => {
                                *report.created.entry("buildings").or_default() += 1;
                                let id: i64 = sqlx::query_scalar("INSERT INTO building (compound_id, scope_path, name) VALUES ($1, $2, $3) RETURNING id")
                                    .bind(compound_id).bind(&g.path).bind(&r.building)
                                    .fetch_one(&mut *tx).await?;
                                made_buildings.insert(id);
                                id
                            }
                        };
                        buildings.insert(key, id);
                        id
                    }
                };
                building_of.push(building_id);
            }

            // Dwellings: those of buildings that were there are read a
            // chunk of buildings at a time; new ones are made by multi-row
            // INSERTs.
            let old_buildings = distinct(building_of.iter().copied().filter(|b| !made_buildings.contains(b)));
            let mut dwellings: HashMap<(i64, String, String), (i64, Option<f64>)> = HashMap::new();
            for chunk in old_buildings.chunks(CHUNK) {
                let sql = format!(
                    "SELECT building_id, unit_no, room_no, id, floor_area FROM dwelling WHERE building_id IN ({})",
                    placeholders(1, chunk.len())
                );
                let mut q = sqlx::query_as::<_, (i64, String, String, i64, Option<f64>)>(sqlx::AssertSqlSafe(sql));
                for b in chunk {
                    q = q.bind(*b);
                }
                for (b, unit, room, id, area) in q.fetch_all(&mut *tx).await? {
                    dwellings.insert((b, unit, room), (id, area));
                }
            }
            let mut area_checked: HashSet<i64> = HashSet::new();
            let mut new_dwellings: Vec<(i64, &str, &str, Option<f64>, &str)> = Vec::new();
            let mut new_dwelling_keys: Vec<(i64, String, String)> = Vec::new();
            let mut pending: HashSet<(i64, String, String)> = HashSet::new();
            for (r, b) in rows.iter().zip(&building_of) {
                let key = (*b, r.unit.clone(), r.room.clone());
                if let Some(&(id, stored_area)) = dwellings.get(&key) {
                    if area_checked.insert(id) {
                        let same = match (r.floor_area, stored_area) {
                            (Some(a), Some(b)) => (a - b).abs() < 1e-6,
                            _ => false,
                        };
                        if r.floor_area.is_some() && !same {
                            count(&mut report.updated, "dwellings", 1);
                            sqlx::query("UPDATE dwelling SET floor_area = $1 WHERE id = $2")
                                .bind(r.floor_area).bind(id).execute(&mut *tx).await?;
                        }
                    }
                } else if pending.insert(key.clone()) {
                    new_dwellings.push((*b, r.unit.as_str(), r.room.as_str(), r.floor_area, grid_list[r.grid].path.as_str()));
                    new_dwelling_keys.push(key);
                }
            }
            count(&mut report.created, "dwellings", new_dwellings.len());
            let mut new_ids: Vec<i64> = Vec::with_capacity(new_dwellings.len());
            for chunk in new_dwellings.chunks(CHUNK) {
                let mut qb = sqlx::QueryBuilder::new("INSERT INTO dwelling (building_id, scope_path, unit_no, room_no, floor_area) ");
                qb.push_values(chunk, |mut q, d| {
                    q.push_bind(d.0).push_bind(d.4).push_bind(d.1).push_bind(d.2).push_bind(d.3);
                });
                qb.push(" RETURNING id");
                new_ids.extend(in_row_order(qb.build_query_scalar().fetch_all(&mut *tx).await?, chunk.len())?);
            }
            for (key, id) in new_dwelling_keys.into_iter().zip(new_ids) {
                made_dwellings.insert(id);
                dwellings.insert(key, (id, None));
            }
            let dwelling_of: Vec<i64> = rows
                .iter()
                .zip(&building_of)
                .map(|(r, b)| dwellings.get(&(*b, r.unit.clone(), r.room.clone())).map(|d| d.0).unwrap_or_default())
                .collect();

            // Households, the same way (only rows with a person have one).
            let old_flats = distinct(
                rows.iter().zip(&dwelling_of)
                    .filter(|(r, d)| r.person.is_some() && !made_dwellings.contains(*d))
                    .map(|(_, d)| *d),
            );
            let mut households: HashMap<(i64, String), i64> = HashMap::new();
            for chunk in old_flats.chunks(CHUNK) {
                let sql = format!(
                    "SELECT dwelling_id, household_no, id FROM household WHERE dwelling_id IN ({})",
                    placeholders(1, chunk.len())
                );
                let mut q = sqlx::query_as::<_, (i64, String, i64)>(sqlx::AssertSqlSafe(sql));
                for d in chunk {
                    q = q.bind(*d);
                }
                for (d, no, id) in q.fetch_all(&mut *tx).await? {
                    households.insert((d, no), id);
                }
            }
            let mut new_households: Vec<(i64, &str, &str)> = Vec::new();
            let mut pending: HashSet<(i64, String)> = HashSet::new();
            for (r, d) in rows.iter().zip(&dwelling_of) {
                let key = (*d, r.household_no.clone());
                if r.person.is_some() && !households.contains_key(&key) && pending.insert(key) {
                    new_households.push((*d, grid_list[r.grid].path.as_str(), r.household_no.as_str()));
                }
            }
            count(&mut report.created, "households", new_households.len());
            for chunk in new_households.chunks(CHUNK) {
                let mut qb = sqlx::QueryBuilder::new("INSERT INTO household (dwelling_id, scope_path, household_no) ");
                qb.push_values(chunk, |mut q, h| {
                    q.push_bind(h.0).push_bind(h.1).push_bind(h.2);
                });
                qb.push(" RETURNING id");
                let ids = in_row_order(qb.build_query_scalar().fetch_all(&mut *tx).await?, chunk.len())?;
                for (h, id) in chunk.iter().zip(ids) {
                    households.insert((h.0, h.2.to_string()), id);
                }
            }

            // The people as stored that the file may update: by record key
            // or ID number, and in flats that were there, those without an
            // ID number (matched by name).
            const STORED: &str = "SELECT p.id, p.name, p.gender, p.birth_enc, p.phone_idx, p.landline_enc, p.relation, p.head_relation, p.id_idx, p.household_id, p.id_masked, p.phone_masked, p.landline_masked FROM person p";
            let known_of: Vec<Option<i64>> = rows
                .iter()
                .zip(&id_idx_of)
                .map(|(r, idx)| {
                    let p = r.person.as_ref()?;
                    p.record.or_else(|| idx.as_ref().and_then(|i| by_id.get(i).copied()))
                })
                .collect();
            let mut stored: HashMap<i64, StoredPerson> = HashMap::new();
            for chunk in distinct(known_of.iter().flatten().copied()).chunks(CHUNK) {
                let sql = format!("{STORED} WHERE p.id IN ({})", placeholders(1, chunk.len()));
                let mut q = sqlx::query_as::<_, StoredPerson>(sqlx::AssertSqlSafe(sql));
                for id in chunk {
                    q = q.bind(*id);
                }
                for e in q.fetch_all(&mut *tx).await? {
                    stored.insert(e.0, e);
                }
            }
            let unnumbered_flats = distinct(
                rows.iter().zip(&known_of).zip(&id_idx_of).zip(&dwelling_of)
                    .filter(|(((r, k), i), d)| r.person.is_some() && k.is_none() && i.is_none() && !made_dwellings.contains(*d))
                    .map(|(_, d)| *d),
            );
            let mut by_name: HashMap<(i64, String), StoredPerson> = HashMap::new();
            for chunk in unnumbered_flats.chunks(CHUNK) {
                let sql = format!(
                    "SELECT p.id, p.name, p.gender, p.birth_enc, p.phone_idx, p.landline_enc, p.relation, p.head_relation, p.id_idx, p.household_id, p.id_masked, p.phone_masked, p.landline_masked, h.dwelling_id
                     FROM person p JOIN household h ON h.id = p.household_id
                     WHERE h.dwelling_id IN ({}) AND p.id_idx IS NULL ORDER BY p.id",
                    placeholders(1, chunk.len())
                );
                type Found = (i64, String, Option<String>, Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>, Option<String>, Option<String>, Option<Vec<u8>>, i64, Option<String>, Option<String>, Option<String>, i64);
                let mut q = sqlx::query_as::<_, Found>(sqlx::AssertSqlSafe(sql));
                for d in chunk {
                    q = q.bind(*d);
                }
                for f in q.fetch_all(&mut *tx).await? {
                    by_name.entry((f.13, f.1.clone())).or_insert((f.0, f.1, f.2, f.3, f.4, f.5, f.6, f.7, f.8, f.9, f.10, f.11, f.12));
                }
            }
            let mut tags_of: HashMap<i64, Vec<String>> = HashMap::new();
            let matched = distinct(stored.keys().chain(by_name.values().map(|e| &e.0)).copied());
            for chunk in matched.chunks(CHUNK) {
                let sql = format!("SELECT person_id, tag FROM person_tag WHERE person_id IN ({}) ORDER BY tag", placeholders(1, chunk.len()));
                let mut q = sqlx::query_as::<_, (i64, String)>(sqlx::AssertSqlSafe(sql));
                for id in chunk {
                    q = q.bind(*id);
                }
                for (id, tag) in q.fetch_all(&mut *tx).await? {
                    tags_of.entry(id).or_default().push(tag);
                }
            }

            // Each row: unchanged, an update (one statement), or a new
            // person (written together below).
            let mut new_people: Vec<NewPerson> = Vec::with_capacity(CHUNK);
            let mut tag_rows: Vec<(i64, String)> = Vec::new();
            // Tags written after: of a person updated (the last row for
            // them wins), and of each new person by its place in new_people.
            let mut retagged: HashMap<i64, Vec<String>> = HashMap::new();
            for (n, r) in rows.iter().enumerate() {
                let g = &grid_list[r.grid];
                let Some(p) = &r.person else {
                    if n % 100 == 99 || n + 1 == rows.len() {
                        progress(n as u64 + 1, total);
                    }
                    continue;
                };
                let dwelling_id = dwelling_of[n];
                let household_id = households.get(&(dwelling_id, r.household_no.clone())).copied().unwrap_or_default();
                let id_idx = id_idx_of[n].clone();
                let existing: Option<&StoredPerson> = match (known_of[n], &id_idx) {
                    (Some(id), _) => stored.get(&id),
                    (None, Some(_)) => None,
                    (None, None) if made_dwellings.contains(&dwelling_id) => None,
                    (None, None) => by_name.get(&(dwelling_id, p.name.clone())),
                };
                let phone_idx = p.phone.as_deref().map(|x| vault.blind_index(Field::Phone, x));
                let gender = p.gender.map(|g| g.code());
                let birth = p.birth_date.map(|d| d.format("%Y-%m-%d").to_string());
                // What this row sets: the fields whose columns the file has
                // (an ID number also gives the gender and birth date).
                let set_id = has("id_number");
                let set_birth = has("birth_date") || p.id_number.is_some();
                let set_gender = has("gender") || p.id_number.is_some();
                let set_phone = has("phone");
                let set_landline = has("landline") || p.landline.is_some();
                let set_relation = has("relation");
                let set_head = has("head_relation");
                let set_tags = has("tags");
                if let Some(e) = existing {
                    let stored_tags = tags_of.get(&e.0).cloned().unwrap_or_default();
                    let mut file_tags = p.tags.clone();
                    file_tags.sort();
                    let open = |f: Field, v: &Option<Vec<u8>>| v.as_deref().and_then(|b| vault.open(f, b).ok());
                    let same = e.1 == p.name
                        && (!set_gender || e.2.as_deref() == gender)
                        && (!set_birth || open(Field::BirthDate, &e.3) == birth)
                        && (!set_phone || e.4 == phone_idx)
                        && (!set_landline || open(Field::Phone, &e.5) == p.landline)
                        && (!set_relation || e.6.as_deref() == Some(p.relation.code()))
                        && (!set_head || e.7 == p.head_relation)
                        && (!set_id || e.8 == id_idx)
                        && e.9 == household_id
                        && (!set_tags || stored_tags == file_tags);
                    if same {
                        count(&mut report.unchanged, "people", 1);
                        if n % 100 == 99 || n + 1 == rows.len() {
                            progress(n as u64 + 1, total);
                        }
                        continue;
                    }
                    // What the update changes, masked as lists show it.
                    let mut fields: Vec<FieldUpdate> = Vec::new();
                    let mut diff = |field: &'static str, from: Option<String>, to: Option<String>| {
                        let (from, to) = (from.unwrap_or_default(), to.unwrap_or_default());
                        if from != to || field == "birth_date" || field == "household" {
                            fields.push(FieldUpdate { field, from, to });
                        }
                    };
                    if e.1 != p.name {
                        diff("name", Some(e.1.clone()), Some(p.name.clone()));
                    }
                    if set_gender && e.2.as_deref() != gender {
                        diff("gender", e.2.clone(), gender.map(str::to_string));
                    }
                    if set_birth && open(Field::BirthDate, &e.3) != birth {
                        let year = |d: Option<String>| d.map(|d| format!("{}-**-**", d.get(..4).unwrap_or("")));
                        diff("birth_date", year(open(Field::BirthDate, &e.3)), year(birth.clone()));
                    }
                    if set_phone && e.4 != phone_idx {
                        diff("phone", e.11.clone(), p.phone.as_deref().map(mask::phone));
                    }
                    if set_landline && open(Field::Phone, &e.5) != p.landline {
                        diff("landline", e.12.clone(), p.landline.as_deref().map(mask::landline));
                    }
                    if set_relation && e.6.as_deref() != Some(p.relation.code()) {
                        diff("relation", e.6.clone(), Some(p.relation.code().to_string()));
                    }
                    if set_head && e.7 != p.head_relation {
                        diff("head_relation", e.7.clone(), p.head_relation.clone());
                    }
                    if set_id && e.8 != id_idx {
                        diff("id_number", e.10.clone(), p.id_number.as_deref().map(mask::id_number));
                    }
                    if set_tags && stored_tags != file_tags {
                        diff("tags", Some(stored_tags.join("、")), Some(file_tags.join("、")));
                    }
                    if e.9 != household_id {
                        diff("household", None, None);
                    }
                    report.updates.push(PersonUpdate {
                        row: r.line,
                        name: p.name.clone(),
                        fields,
                    });
                    if e.9 != household_id {
                        let line = r.line;
                        report.notices.push(Notice::new(
                            Some(line),
                            format!("row {line}: {} was registered in another household or flat and moves here", p.name),
                            format!("第 {line} 行：{} 原登记在其他户或房屋，将迁入此处", p.name),
                        ));
                    }
                }
                let sealed = SealedPerson::of(vault, p, id_idx, phone_idx, birth.as_deref());
                match existing {
                    Some(e) => {
                        count(&mut report.updated, "people", 1);
                        let id = e.0;
                        // One statement per person, with the fields the file has.
                        let mut q = sqlx::QueryBuilder::new("UPDATE person SET name = ");
                        q.push_bind(&p.name).push(", household_id = ").push_bind(household_id)
                            .push(", scope_path = ").push_bind(&g.path).push(", updated_at = ").push_bind(now);
                        if set_id {
                            q.push(", id_enc = ").push_bind(&sealed.id_enc).push(", id_idx = ").push_bind(&sealed.id_idx)
                                .push(", id_masked = ").push_bind(&sealed.id_masked);
                        }
                        if set_birth {
                            q.push(", birth_year = ").push_bind(sealed.birth_year).push(", birth_enc = ").push_bind(&sealed.birth_enc);
                        }
                        if set_gender {
                            q.push(", gender = ").push_bind(gender);
                        }
                        if set_phone {
                            q.push(", phone_enc = ").push_bind(&sealed.phone_enc).push(", phone_idx = ").push_bind(&sealed.phone_idx)
                                .push(", phone_masked = ").push_bind(&sealed.phone_masked);
                        }
                        if set_landline {
                            q.push(", landline_enc = ").push_bind(&sealed.landline_enc).push(", landline_masked = ").push_bind(&sealed.landline_masked);
                        }
                        if set_relation {
                            q.push(", relation = ").push_bind(p.relation.code());
                        }
                        if set_head {
                            q.push(", head_relation = ").push_bind(&p.head_relation);
                        }
                        q.push(" WHERE id = ").push_bind(id);
                        q.build().execute(&mut *tx).await?;
                        // A known person keeps their tags when the file has no tag column.
                        if set_tags {
                            retagged.insert(id, p.tags.clone());
                        }
                    }
                    None => {
                        count(&mut report.created, "people", 1);
                        new_people.push(NewPerson {
                            household_id,
                            created: now,
                            path: g.path.clone(),
                            name: p.name.clone(),
                            gender,
                            relation: p.relation.code(),
                            head_relation: p.head_relation.clone(),
                            tags: p.tags.clone(),
                            sealed,
                        });
                        // Written a chunk at a time, so that memory holds
                        // one chunk of sealed people, not the whole file.
                        if new_people.len() >= CHUNK {
                            insert_people!(tx, new_people, tag_rows);
                        }
                    }
                }
                if n % 100 == 99 || n + 1 == rows.len() {
                    progress(n as u64 + 1, total);
                }
            }
            insert_people!(tx, new_people, tag_rows);
            let retag_ids: Vec<i64> = retagged.keys().copied().collect();
            for chunk in retag_ids.chunks(CHUNK) {
                let sql = format!("DELETE FROM person_tag WHERE person_id IN ({})", placeholders(1, chunk.len()));
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for id in chunk {
                    q = q.bind(*id);
                }
                q.execute(&mut *tx).await?;
            }
            for (id, tags) in retagged {
                tag_rows.extend(tags.into_iter().map(|t| (id, t)));
            }
            for chunk in tag_rows.chunks(CHUNK) {
                let mut qb = sqlx::QueryBuilder::new("INSERT INTO person_tag (person_id, tag) ");
                qb.push_values(chunk, |mut q, (id, tag)| {
                    q.push_bind(*id).push_bind(tag);
                });
                qb.build().execute(&mut *tx).await?;
            }
            let detail = serde_json::json!({"rows": report.rows, "created": report.created, "updated": report.updated}).to_string();
            if !has("relation") && report.created.get("people").is_some_and(|n| *n > 0) {
                report.notices.push(Notice::new(
                    None,
                    "the file has no 与房屋关系 column: new people are registered as 居住 (resident)",
                    "文件中没有“与房屋关系”列：新增人员按“居住”登记",
                ));
            }
            if options.dry_run {
                // A preview: the counts are real, the writes are undone.
                tx.rollback().await?;
            } else {
                append_in_tx!(tx, self.vault(), actor, "registry.import", "registry", &detail);
                changed_in_tx!(tx, Cached::RegistryCounts);
                tx.commit().await?;
            }
        });
        if options.dry_run {
            // A preview confirms which ID numbers are on record (as a count),
            // so it is a look-up: audited, though its writes were undone.
            let matched = report.updated.get("people").copied().unwrap_or(0)
                + report.unchanged.get("people").copied().unwrap_or(0);
            let detail = serde_json::json!({"rows": report.rows, "people_on_record": matched, "created": report.created}).to_string();
            self.audit(actor, "registry.import_preview", "registry", &detail)
                .await?;
        } else {
            self.changed_committed(Cached::RegistryCounts).await?;
        }
        Ok(report)
    }
}
