//! Real ledgers in (issue 14): a community population ledger as communities
//! keep it — a notes sheet first, a title and a date row, a two-row merged
//! header, vertically merged compound cells, footer rows, full-width
//! digits, spaces in ID numbers, a lower-case x, a 15-digit ID number,
//! two numbers in one cell, landlines, Chinese dates, 男性, 703室/７０３,
//! two families in one flat, tags outside the built-in list — in .xlsx and
//! as GBK CSV.

use linli_core::ledger::LedgerKind;
use linli_core::validate::resident_id_check_char;
use linli_store::import::{ImportOptions, read_ledger};
use rust_xlsxwriter::{Format, Workbook};

use super::*;

const GRID: &str = "320104001001001";

/// A valid ID number from its region, birth date and sequence.
fn id(region: &str, born: &str, seq: &str) -> String {
    let first17 = format!("{region}{born}{seq}");
    format!(
        "{first17}{}",
        resident_id_check_char(first17.as_bytes()).unwrap()
    )
}

/// A female ID number whose check character is X (written lower-case).
fn id_with_x() -> String {
    (100..999)
        .map(|n| id("110105", "19900101", &format!("{:03}", n * 2 % 1000)))
        .find(|i| i.ends_with('X'))
        .unwrap()
}

fn full_width(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_digit() {
                char::from_u32(c as u32 + 0xFEE0).unwrap()
            } else {
                c
            }
        })
        .collect()
}

struct Person {
    name: &'static str,
    gender: &'static str,
    nation: &'static str,
    id: String,
    born: &'static str,
    phone: &'static str,
    compound: &'static str,
    building: &'static str,
    unit: &'static str,
    room: &'static str,
    head: &'static str,
    kind: &'static str,
}

fn people() -> Vec<Person> {
    let zhang = id("110105", "19620414", "551");
    let spaced = format!("{} {} {}", &zhang[..6], &zhang[6..14], &zhang[14..]);
    let li = full_width(&id("110105", "19650301", "562"));
    vec![
        Person {
            name: "张 三",
            gender: "男性",
            nation: "汉",
            id: spaced,
            born: "1962年04月14日",
            phone: "13800138000/028-85551234",
            compound: "幸福里",
            building: "3号楼",
            unit: "1",
            room: "703室",
            head: "户主",
            kind: "党员",
        },
        Person {
            name: "李四",
            gender: "女",
            nation: "汉",
            id: li,
            born: "",
            phone: "１３９００１３９０００",
            compound: "幸福里",
            building: "3号楼",
            unit: "1",
            room: "７０３",
            head: "配偶",
            kind: "",
        },
        Person {
            name: "王芳",
            gender: "女",
            nation: "汉",
            id: id_with_x().to_lowercase(),
            born: "1990/1/1",
            phone: "",
            compound: "幸福里",
            building: "3号楼",
            unit: "1",
            room: "703",
            head: "户主",
            kind: "低保户、空巢老人",
        },
        Person {
            name: "赵六",
            gender: "女",
            nation: "回",
            id: "110105580203442".into(),
            born: "",
            phone: "0755 8888 6666",
            compound: "幸福里",
            building: "3号楼",
            unit: "2单元",
            room: "801",
            head: "户主",
            kind: "独居老人",
        },
        Person {
            name: "孙七",
            gender: "男",
            nation: "汉",
            id: id("320104", "19800808", "013"),
            born: "",
            phone: "",
            compound: "和平苑",
            building: "1栋",
            unit: "",
            room: "101",
            head: "户主",
            kind: "",
        },
    ]
}

/// The ledger as a community's workbook: a notes sheet, then the data.
/// With `rounded`, the first ID number is an Excel number.
fn workbook(rounded: bool) -> Vec<u8> {
    let mut wb = Workbook::new();
    let plain = Format::new();
    let notes = wb.add_worksheet();
    notes.set_name("填表说明").unwrap();
    notes
        .write_string(0, 0, "本表由网格员每季度更新，请勿修改表头。")
        .unwrap();
    let ws = wb.add_worksheet();
    ws.set_name("人口台账").unwrap();
    ws.merge_range(0, 0, 0, 13, "夫子庙社区人口信息台账", &plain)
        .unwrap();
    ws.merge_range(
        1,
        0,
        1,
        13,
        "填报单位：夫子庙社区    填报日期：2026年11月",
        &plain,
    )
    .unwrap();
    for (col, name) in [
        (0, "序号"),
        (11, "与户主关系"),
        (12, "人员类别"),
        (13, "户籍地址"),
    ] {
        ws.merge_range(2, col, 3, col, name, &plain).unwrap();
    }
    ws.merge_range(2, 1, 2, 5, "基本信息", &plain).unwrap();
    ws.write_string(2, 6, "联系方式").unwrap();
    ws.merge_range(2, 7, 2, 10, "居住信息", &plain).unwrap();
    for (col, name) in [
        "姓名",
        "性别",
        "民族",
        "身份证号码",
        "出生日期",
        "联系电话",
        "小区",
        "楼栋",
        "单元",
        "房号",
    ]
    .iter()
    .enumerate()
    {
        ws.write_string(3, u16::try_from(col + 1).unwrap(), *name)
            .unwrap();
    }
    let ps = people();
    for (i, p) in ps.iter().enumerate() {
        let r = 4 + u32::try_from(i).unwrap();
        ws.write_number(r, 0, (i + 1) as f64).unwrap();
        for (col, v) in [
            (1, p.name),
            (2, p.gender),
            (3, p.nation),
            (5, p.born),
            (6, p.phone),
            (8, p.building),
            (9, p.unit),
            (10, p.room),
            (11, p.head),
            (12, p.kind),
            (13, "北京市东城区"),
        ] {
            ws.write_string(r, col, v).unwrap();
        }
        if rounded && i == 0 {
            let digits: String = p.id.chars().filter(char::is_ascii_digit).collect();
            ws.write_number(r, 4, digits.parse::<f64>().unwrap())
                .unwrap();
        } else {
            ws.write_string(r, 4, &p.id).unwrap();
        }
        if p.compound == "和平苑" {
            ws.write_string(r, 7, p.compound).unwrap();
        }
    }
    // The first four live in 幸福里: one merged cell down the column.
    ws.merge_range(4, 7, 7, 7, "幸福里", &plain).unwrap();
    let end = 4 + u32::try_from(ps.len()).unwrap();
    ws.write_string(end, 0, "合计：5人").unwrap();
    ws.merge_range(
        end + 1,
        0,
        end + 1,
        13,
        "制表人：刘洋        审核人：陈静",
        &plain,
    )
    .unwrap();
    wb.save_to_buffer().unwrap()
}

/// The same ledger as Excel on a Chinese Windows saves it as CSV: GBK,
/// the title row kept, merged compound cells blank below their first row.
fn gbk_csv() -> Vec<u8> {
    let mut text = String::from(
        "夫子庙社区人口信息台账,,,,,,,,,,,,\n姓名,性别,民族,身份证号码,出生日期,联系电话,小区,楼栋,单元,房号,与户主关系,人员类别,户籍地址\n",
    );
    for p in people() {
        let compound = if p.name == "张 三" || p.compound == "和平苑" {
            p.compound
        } else {
            ""
        };
        text.push_str(&format!(
            "{},{},{},{},{},\"{}\",{},{},{},{},{},{},北京市东城区\n",
            p.name,
            p.gender,
            p.nation,
            p.id,
            p.born,
            p.phone,
            compound,
            p.building,
            p.unit,
            p.room,
            p.head,
            p.kind
        ));
    }
    text.push_str("合计：5人,,,,,,,,,,,,\n");
    let (bytes, _, bad) = encoding_rs::GBK.encode(&text);
    assert!(!bad);
    bytes.into_owned()
}

fn options(dry_run: bool) -> ImportOptions {
    ImportOptions {
        dry_run,
        grid: Some(GRID.into()),
    }
}

async fn person(store: &Store, name: &str) -> linli_store::registry::PersonView {
    let found = store
        .people(
            &Scope::Everything,
            &PeopleFilter {
                name_contains: Some(name.into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "{name}: {found:?}");
    found.into_iter().next().unwrap()
}

#[tokio::test]
async fn a_community_workbook_goes_in_as_it_is() {
    each(|store, be| async move {
        store
            .import_grids(&Scope::Everything, "test", GRIDS)
            .await
            .unwrap();
        let t = read_ledger(
            &workbook(false),
            TableFormat::Xlsx,
            LedgerKind::Registry,
            None,
        )
        .unwrap();
        let zh = |r: &linli_store::import::ImportReport| {
            r.notices
                .iter()
                .map(|n| n.message_zh.clone())
                .collect::<Vec<_>>()
                .join("\n")
        };

        // The preview counts everything and writes nothing.
        let preview = store
            .import_registry_with(&Scope::Everything, "test", &t, &options(true), &|_, _| {})
            .await
            .unwrap();
        assert!(preview.errors.is_empty(), "{be}: {:?}", preview.errors);
        assert!(preview.dry_run && !preview.committed);
        assert_eq!(preview.created["people"], 5, "{:?}", preview.created);
        assert_eq!(
            store.scope_stats(&Scope::Everything).await.unwrap().people,
            0,
            "a preview writes nothing"
        );
        // ... but is audited: it tells how many of the file's ID numbers
        // are on record, which is a look-up.
        store.chain_audit().await.unwrap();
        let audited = store
            .audit_entries(20)
            .await
            .unwrap()
            .into_iter()
            .find(|e| e.action == "registry.import_preview")
            .expect("a preview is an audit entry");
        assert!(
            audited.detail.contains("\"people_on_record\":0"),
            "{}",
            audited.detail
        );

        // What was read and what was set aside is named.
        let notes = zh(&preview);
        assert!(
            notes.contains("工作表“人口台账”") && notes.contains("表头在第 4 行"),
            "{notes}"
        );
        for unused in ["序号", "民族", "户籍地址"] {
            assert!(
                notes.contains(unused),
                "{unused} must be named as not imported:\n{notes}"
            );
        }
        assert!(
            notes.contains("合计：5人") && notes.contains("制表人"),
            "{notes}"
        );
        assert!(notes.contains("合并单元格"), "{notes}");
        assert!(
            notes.contains("低保户") && notes.contains("空巢老人"),
            "{notes}"
        );
        let mapped: Vec<_> = preview.mapping.iter().filter_map(|c| c.field).collect();
        for f in [
            "name",
            "gender",
            "id_number",
            "birth_date",
            "phone",
            "compound",
            "building",
            "unit",
            "room",
            "head_relation",
            "tags",
        ] {
            assert!(mapped.contains(&f), "{f} not mapped: {:?}", preview.mapping);
        }

        // Every value changed on the way in is reported, personal ones masked.
        let changed = |field: &str, from: &str, to: &str| {
            preview
                .changes
                .iter()
                .any(|c| c.field == field && c.from == from && c.to == to)
        };
        assert!(changed("name", "张 三", "张三"), "{:?}", preview.changes);
        assert!(changed("room", "703室", "703") && changed("room", "７０３", "703"));
        assert!(changed("building", "3号楼", "3栋") && changed("unit", "1", "1单元"));
        let ids: Vec<_> = preview
            .changes
            .iter()
            .filter(|c| c.field == "id_number")
            .collect();
        assert_eq!(
            ids.len(),
            4,
            "spaces, full width, lower-case x, 15 digits: {ids:?}"
        );
        assert!(
            ids.iter()
                .all(|c| c.to.contains('*') && !c.to.contains("19620414")),
            "masked: {ids:?}"
        );
        assert!(ids.iter().any(|c| c.why_zh.contains("15 位")));
        assert!(
            preview
                .changes
                .iter()
                .any(|c| c.field == "phone" && c.why_zh.contains("一格多个号码"))
        );

        // The import itself.
        let r = store
            .import_registry_with(&Scope::Everything, "test", &t, &options(false), &|_, _| {})
            .await
            .unwrap();
        assert!(r.committed, "{be}: {:?}", r.errors);
        assert_eq!(r.created["people"], 5);
        let stats = store.scope_stats(&Scope::Everything).await.unwrap();
        // 703室, ７０３ and 703 are one flat; its two heads make two households.
        assert_eq!(
            (
                stats.compounds,
                stats.dwellings,
                stats.households,
                stats.people
            ),
            (2, 3, 4, 5),
            "{be}"
        );

        let zhang = person(&store, "张三").await;
        assert_eq!(
            (
                zhang.building.as_str(),
                zhang.unit_no.as_str(),
                zhang.room_no.as_str()
            ),
            ("3栋", "1单元", "703")
        );
        assert_eq!(zhang.phone_masked.as_deref(), Some("138****8000"));
        assert_eq!(zhang.landline_masked.as_deref(), Some("028-****1234"));
        assert_eq!(zhang.head_relation.as_deref(), Some("户主"));
        assert_eq!(zhang.tags, "party_member");
        assert_eq!(zhang.gender.as_deref(), Some("male"));
        let wang = person(&store, "王芳").await;
        assert_ne!(
            wang.household_id, zhang.household_id,
            "a second head in the flat is a second household"
        );
        assert_eq!(
            person(&store, "李四").await.household_id,
            zhang.household_id
        );
        assert!(
            wang.tags.contains("低保户") && wang.tags.contains("空巢老人"),
            "{}",
            wang.tags
        );
        let zhao = person(&store, "赵六").await;
        assert_eq!(zhao.landline_masked.as_deref(), Some("0755-****6666"));
        let full = store
            .person_unmasked(&Scope::Everything, zhao.id, "test", "核对台账")
            .await
            .unwrap();
        assert_eq!(
            full.id_number.as_deref(),
            Some(id("110105", "19580203", "442").as_str()),
            "15 digits upgraded"
        );
        assert_eq!(full.landline.as_deref(), Some("0755-88886666"));

        // The same file again: nothing to change.
        let again = store
            .import_registry_with(&Scope::Everything, "test", &t, &options(false), &|_, _| {})
            .await
            .unwrap();
        assert!(again.committed);
        assert_eq!(
            again.unchanged["people"], 5,
            "{:?} {:?}",
            again.updated, again.created
        );
        assert!(again.created.is_empty() || !again.created.contains_key("people"));
    })
    .await;
}

#[tokio::test]
async fn an_id_number_excel_rounded_is_refused_never_stored() {
    each(|store, be| async move {
        store
            .import_grids(&Scope::Everything, "test", GRIDS)
            .await
            .unwrap();
        let t = read_ledger(
            &workbook(true),
            TableFormat::Xlsx,
            LedgerKind::Registry,
            None,
        )
        .unwrap();
        let r = store
            .import_registry_with(&Scope::Everything, "test", &t, &options(false), &|_, _| {})
            .await
            .unwrap();
        assert!(!r.committed, "{be}");
        let e = r.errors.iter().find(|e| e.field == "id_number").unwrap();
        assert_eq!(e.row, 5, "{e:?}");
        assert!(
            e.message_zh.contains("舍入") && e.message_zh.contains("文本"),
            "{e:?}"
        );
        assert!(
            !e.message_zh.contains("19620414"),
            "the error shows the number masked: {e:?}"
        );
        assert_eq!(
            store.scope_stats(&Scope::Everything).await.unwrap().people,
            0
        );
    })
    .await;
}

#[tokio::test]
async fn a_gbk_csv_saved_from_excel_goes_in_too() {
    each(|store, be| async move {
        store
            .import_grids(&Scope::Everything, "test", GRIDS)
            .await
            .unwrap();
        let t = read_ledger(&gbk_csv(), TableFormat::Csv, LedgerKind::Registry, None).unwrap();
        let r = store
            .import_registry_with(&Scope::Everything, "test", &t, &options(false), &|_, _| {})
            .await
            .unwrap();
        assert!(r.committed, "{be}: {:?}", r.errors);
        // The compound cells that lost their merge are filled from above, and said so.
        let filled: Vec<_> = r
            .changes
            .iter()
            .filter(|c| c.field == "compound" && c.to == "幸福里")
            .collect();
        assert_eq!(filled.len(), 3, "{:?}", r.changes);
        assert!(
            r.notices.iter().any(|n| n.message_zh.contains("GBK")),
            "{:?}",
            r.notices
        );
        let stats = store.scope_stats(&Scope::Everything).await.unwrap();
        assert_eq!(
            (
                stats.compounds,
                stats.dwellings,
                stats.households,
                stats.people
            ),
            (2, 3, 4, 5),
            "{be}"
        );
    })
    .await;
}

/// Export (masked), correct in Excel, import again: the way ledgers are
/// kept. Masked cells left as exported keep the stored values; rows are
/// matched by their record key.
#[tokio::test]
async fn a_masked_export_edited_imports_back_as_updates() {
    each(|store, be| async move {
        store
            .import_grids(&Scope::Everything, "test", GRIDS)
            .await
            .unwrap();
        let t = read_ledger(
            &workbook(false),
            TableFormat::Xlsx,
            LedgerKind::Registry,
            None,
        )
        .unwrap();
        assert!(
            store
                .import_registry_with(&Scope::Everything, "test", &t, &options(false), &|_, _| {})
                .await
                .unwrap()
                .committed
        );
        let zhang = person(&store, "张三").await;
        let (csv, rows) = store
            .export_registry(&Scope::Everything, TableFormat::Csv, None)
            .await
            .unwrap();
        assert_eq!(rows, 5);
        let text = String::from_utf8(csv).unwrap();
        assert!(!text.contains("19620414"), "the export is masked");

        // Unchanged, it imports back as unchanged.
        let back = read_ledger(
            text.as_bytes(),
            TableFormat::Csv,
            LedgerKind::Registry,
            None,
        )
        .unwrap();
        let r = store
            .import_registry(&Scope::Everything, "test", &back, &|_, _| {})
            .await
            .unwrap();
        assert!(r.committed, "{be}: {:?}", r.errors);
        assert_eq!(
            r.unchanged["people"], 5,
            "{be}: {:?} {:?}",
            r.updated, r.changes
        );

        // A new mobile typed over the mask and a corrected name: two updates.
        let edited = text
            .replace("138****8000", "13700001111")
            .replace("孙七", "孙启");
        let back = read_ledger(
            edited.as_bytes(),
            TableFormat::Csv,
            LedgerKind::Registry,
            None,
        )
        .unwrap();
        let r = store
            .import_registry(&Scope::Everything, "test", &back, &|_, _| {})
            .await
            .unwrap();
        assert!(r.committed, "{be}: {:?}", r.errors);
        assert_eq!((r.updated["people"], r.unchanged["people"]), (2, 3), "{be}");
        assert!(!r.created.contains_key("people"), "{:?}", r.created);
        // The report says what each update changes, masked.
        let what: Vec<(String, &str, &str, &str)> = r
            .updates
            .iter()
            .flat_map(|u| {
                u.fields
                    .iter()
                    .map(move |f| (u.name.clone(), f.field, f.from.as_str(), f.to.as_str()))
            })
            .collect();
        assert_eq!(
            what,
            [
                ("张三".to_string(), "phone", "138****8000", "137****1111"),
                ("孙启".to_string(), "name", "孙七", "孙启"),
            ],
            "{be}"
        );
        let after = person(&store, "张三").await;
        assert_eq!(after.id, zhang.id);
        assert_eq!(after.phone_masked.as_deref(), Some("137****1111"));
        let full = store
            .person_unmasked(&Scope::Everything, after.id, "test", "核对")
            .await
            .unwrap();
        assert_eq!(
            full.id_number.as_deref(),
            Some(id("110105", "19620414", "551").as_str()),
            "the masked ID kept its value"
        );
        assert_eq!(full.birth_date.as_deref(), Some("1962-04-14"));
        person(&store, "孙启").await;

        // A mask that is not the record's, or a masked cell without a record key: refused.
        let line = edited.lines().find(|l| l.contains("张三")).unwrap();
        let wrong = edited.replace(line, &line.replacen("110105", "110106", 1));
        let back = read_ledger(
            wrong.as_bytes(),
            TableFormat::Csv,
            LedgerKind::Registry,
            None,
        )
        .unwrap();
        let r = store
            .import_registry(&Scope::Everything, "test", &back, &|_, _| {})
            .await
            .unwrap();
        assert!(
            !r.committed
                && r.errors
                    .iter()
                    .any(|e| e.field == "id_number" && e.message_zh.contains("脱敏")),
            "{be}: {:?}",
            r.errors
        );
        let key = format!(",{}", linli_store::import::record_key(zhang.id));
        let unkeyed = edited.replace(&key, ",");
        let back = read_ledger(
            unkeyed.as_bytes(),
            TableFormat::Csv,
            LedgerKind::Registry,
            None,
        )
        .unwrap();
        let r = store
            .import_registry(&Scope::Everything, "test", &back, &|_, _| {})
            .await
            .unwrap();
        assert!(
            !r.committed
                && r.errors
                    .iter()
                    .any(|e| e.field == "id_number" && e.message_zh.contains("记录编号")),
            "{be}: {:?}",
            r.errors
        );
    })
    .await;
}

/// A 12345 batch as the platform exports it: Chinese headers, GBK,
/// categories by name or path, the call time, a masked caller number, a
/// landline, a handling unit and time limit.
fn hotline_gbk(second_text: &str) -> Vec<u8> {
    let text = format!(
        "工单编号,来电时间,诉求人,联系电话,诉求内容,诉求地址,问题分类,承办单位,办理时限,经度,纬度\n\
         2026110200001,2026-11-02 09:15:00,张先生,138****8000,楼下商铺夜间噪声扰民，凌晨两点仍有音响声,秦淮区夫子庙街道平江府路12号,噪声扰民/生活噪声,秦淮区生态环境局,2026-11-09 18:00,118.785,32.025\n\
         2026110200002,2026/11/2 10:30,李女士,025-84451234,{second_text},平江府路8号2单元,楼道堆物,,,118.786,32.026\n"
    );
    let (bytes, _, bad) = encoding_rs::GBK.encode(&text);
    assert!(!bad);
    bytes.into_owned()
}

#[tokio::test]
async fn a_12345_export_goes_in_in_its_own_format() {
    each(|store, be| async move {
        store
            .import_grids(&Scope::Everything, "test", GRIDS)
            .await
            .unwrap();
        let batch = |text: &str| {
            read_ledger(
                &hotline_gbk(text),
                TableFormat::Csv,
                LedgerKind::Hotline,
                None,
            )
            .unwrap()
        };
        // The 承办单位 of the first ticket is a handling unit here.
        let grid = store
            .org_by_code(&Scope::Everything, GRID)
            .await
            .unwrap();
        store
            .create_unit(
                &Scope::Everything,
                grid.parent_id.unwrap(),
                "秦淮区生态环境局",
                "urban_management",
                None,
            )
            .await
            .unwrap();
        let r = store
            .import_hotline_table(
                &Scope::Everything,
                "test",
                &batch("楼道堆放纸箱杂物，堵塞消防通道"),
            )
            .await
            .unwrap();
        assert!(r.committed, "{be}: {:?}", r.errors);
        assert_eq!(r.created["cases"], 2);
        let notes: String = r
            .notices
            .iter()
            .map(|n| n.message_zh.clone())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            notes.contains("脱敏") && notes.contains("固定电话") && notes.contains("承办单位"),
            "{notes}"
        );
        let f = linli_store::cases::CaseFilter {
            channel: Some("hotline_12345".into()),
            limit: 10,
            ..Default::default()
        };
        let mut cases = store.cases(&Scope::Everything, &f).await.unwrap();
        cases.sort_by_key(|c| c.row.external_id.clone());
        assert_eq!(cases[0].row.external_id.as_deref(), Some("2026110200001"));
        // 来电时间 is the registration time: 09:15 Beijing = 01:15 UTC.
        let called = chrono::NaiveDate::from_ymd_opt(2026, 11, 2)
            .unwrap()
            .and_hms_opt(1, 15, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis();
        assert_eq!(cases[0].row.created_at, called, "{be}");
        assert_eq!(
            cases[0].row.category_code.as_deref(),
            Some("1101"),
            "by its path of names"
        );
        assert_eq!(
            cases[1].row.category_code.as_deref(),
            Some("1401"),
            "by its leaf name"
        );
        assert_eq!(
            cases[0].row.reporter_phone_masked, None,
            "a masked number is not a number"
        );
        // 承办单位 and 办理时限 applied: opened with the ticket's deadline
        // (18:00 Beijing = 10:00 UTC) and dispatched to the unit it names;
        // the ticket without them waits for dispatch here.
        let due = chrono::NaiveDate::from_ymd_opt(2026, 11, 9)
            .unwrap()
            .and_hms_opt(10, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis();
        assert_eq!(cases[0].row.state, "dispatched", "{be}: {notes}");
        assert_eq!(cases[0].row.unit_name.as_deref(), Some("秦淮区生态环境局"));
        assert_eq!(cases[0].row.due_at, Some(due));
        assert_eq!(cases[1].row.state, "classified");
        assert!(
            notes.contains("1 件按工单所列承办单位派遣；1 件按工单的办理时限立案"),
            "{notes}"
        );
        // The landline is kept as another contact, sealed.
        let o = store
            .case_originals(&Scope::Everything, cases[1].row.id, "test", "回电核实")
            .await
            .unwrap();
        assert!(
            o.texts
                .iter()
                .any(|t| t.field == "reporter_contact" && t.text == "landline: 025-84451234"),
            "{:?}",
            o.texts
        );

        // Sent again: the same ticket is skipped, a changed one is a conflict.
        let r = store
            .import_hotline_table(
                &Scope::Everything,
                "test",
                &batch("楼道堆放纸箱，已清理一半"),
            )
            .await
            .unwrap();
        assert!(r.committed, "{be}: {:?}", r.errors);
        assert!(
            !r.created.contains_key("cases") || r.created["cases"] == 0,
            "{:?}",
            r.created
        );
        assert_eq!(
            (r.unchanged["already_received"], r.unchanged["conflicts"]),
            (1, 1),
            "{be}"
        );
        assert!(
            r.notices.iter().any(
                |n| n.message_zh.contains("2026110200002") && n.message_zh.contains("内容不同")
            ),
            "{:?}",
            r.notices
        );

        // Every problem of a row at once; a ticket number Excel rounded is refused.
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        for (col, h) in [
            "工单编号",
            "来电时间",
            "诉求内容",
            "问题分类",
            "经度",
            "纬度",
        ]
        .iter()
        .enumerate()
        {
            ws.write_string(0, u16::try_from(col).unwrap(), *h).unwrap();
        }
        ws.write_number(1, 0, 12345202611020000001.0).unwrap();
        for (col, v) in [
            "2026-11-02 11:00",
            "路灯不亮",
            "生活噪声",
            "118.785",
            "32.025",
        ]
        .iter()
        .enumerate()
        {
            ws.write_string(1, u16::try_from(col + 1).unwrap(), *v)
                .unwrap();
        }
        for (col, v) in ["", "昨天下午", "井盖缺失", "生活噪声", "118.785", "32.025"]
            .iter()
            .enumerate()
        {
            ws.write_string(2, u16::try_from(col).unwrap(), *v).unwrap();
        }
        let t = read_ledger(
            &wb.save_to_buffer().unwrap(),
            TableFormat::Xlsx,
            LedgerKind::Hotline,
            None,
        )
        .unwrap();
        let r = store
            .import_hotline_table(&Scope::Everything, "test", &t)
            .await
            .unwrap();
        assert!(!r.committed);
        let on =
            |row: usize, field: &str| r.errors.iter().any(|e| e.row == row && e.field == field);
        assert!(
            on(2, "external_id") && r.errors.iter().any(|e| e.message_zh.contains("舍入")),
            "{:?}",
            r.errors
        );
        assert!(
            on(3, "external_id") && on(3, "called_at"),
            "both problems of row 3: {:?}",
            r.errors
        );

        // A platform's own category text: refused with the way out, then
        // taken through the mapping staff keep.
        let own = "工单编号,来电时间,诉求内容,问题分类,经度,纬度\nQ1,2026-11-02 11:00,门口堆满建筑垃圾,城乡建设/市容环境/乱堆乱放,118.785,32.025\n";
        let t = read_ledger(own.as_bytes(), TableFormat::Csv, LedgerKind::Hotline, None).unwrap();
        let r = store
            .import_hotline_table(&Scope::Everything, "test", &t)
            .await
            .unwrap();
        assert!(
            !r.committed && r.errors.iter().any(|e| e.field == "category" && e.message_zh.contains("对照表")),
            "{:?}",
            r.errors
        );
        let mut map = std::collections::BTreeMap::new();
        map.insert("城乡建设/市容环境/乱堆乱放".to_string(), "9999".to_string());
        let e = store.save_hotline_categories("test", &map).await.unwrap_err();
        assert!(e.to_string().contains("城乡建设/市容环境/乱堆乱放"), "{e}");
        map.insert("城乡建设/市容环境/乱堆乱放".to_string(), "1401".to_string());
        store.save_hotline_categories("test", &map).await.unwrap();
        let r = store
            .import_hotline_table(&Scope::Everything, "test", &t)
            .await
            .unwrap();
        assert!(r.committed, "{be}: {:?}", r.errors);
        let c = store
            .cases(&Scope::Everything, &linli_store::cases::CaseFilter { limit: 50, ..Default::default() })
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.row.external_id.as_deref() == Some("Q1"))
            .unwrap();
        assert_eq!(c.row.category_code.as_deref(), Some("1401"));
    })
    .await;
}

/// What the first independent check found: a list with fewer columns must
/// not wipe the others, a person met again elsewhere is moved (not
/// doubled), families listed in another order are the same people, and
/// 一单元 is 1单元.
#[tokio::test]
async fn a_partial_or_reordered_ledger_updates_without_loss() {
    each(|store, be| async move {
        store.import_grids(&Scope::Everything, "test", GRIDS).await.unwrap();
        let t = read_ledger(&workbook(false), TableFormat::Xlsx, LedgerKind::Registry, None).unwrap();
        assert!(store.import_registry_with(&Scope::Everything, "test", &t, &options(false), &|_, _| {}).await.unwrap().committed);
        let before = person(&store, "张三").await;
        let zhang_id = id("110105", "19620414", "551");
        let import = |text: String| {
            let store = store.clone();
            async move {
                let t = read_ledger(text.as_bytes(), TableFormat::Csv, LedgerKind::Registry, None).unwrap();
                store.import_registry_with(&Scope::Everything, "test", &t, &options(false), &|_, _| {}).await.unwrap()
            }
        };

        // A party members' list: name, ID number, flat. Phones, landline,
        // relation to the head stay as they were.
        let r = import(format!("党员信息台账\n姓名,身份证号码,小区,楼栋,单元,房号\n张三,{zhang_id},幸福里,3栋,一单元,703\n")).await;
        assert!(r.committed, "{be}: {:?}", r.errors);
        assert_eq!(r.unchanged.get("people"), Some(&1), "{be}: {:?} {:?}", r.updated, r.changes);
        let after = person(&store, "张三").await;
        assert_eq!((after.phone_masked, after.landline_masked, after.head_relation, after.tags), (before.phone_masked.clone(), before.landline_masked.clone(), before.head_relation.clone(), before.tags.clone()), "{be}");
        assert_eq!(after.dwelling_id, before.dwelling_id, "一单元 is 1单元: {be}");

        // Met again in another flat: moved, not doubled, and said so.
        let r = import(format!("姓名,身份证号码,小区,楼栋,单元,房号\n张三,{zhang_id},幸福里,3栋,2单元,801\n")).await;
        assert!(r.committed, "{be}: {:?}", r.errors);
        assert_eq!((r.created.get("people"), r.updated.get("people")), (None, Some(&1)), "{be}");
        assert!(r.notices.iter().any(|n| n.message_zh.contains("迁入")), "{:?}", r.notices);
        let moved = person(&store, "张三").await;
        assert_eq!(moved.id, before.id);
        assert_eq!(moved.room_no, "801");
        assert_eq!(store.scope_stats(&Scope::Everything).await.unwrap().people, 5, "{be}");

        // Two families without ID numbers, then the same flat listed the other way round.
        let families = |first: &[(&str, &str)], second: &[(&str, &str)]| {
            let mut s = String::from("姓名,小区,楼栋,单元,房号,与户主关系\n");
            for (n, h) in first.iter().chain(second) {
                s.push_str(&format!("{n},和平苑,2栋,1单元,301,{h}\n"));
            }
            s
        };
        let a = [("周一", "户主"), ("吴二", "配偶")];
        let b = [("郑三", "户主"), ("冯四", "子女")];
        assert!(import(families(&a, &b)).await.committed);
        let r = import(families(&b, &a)).await;
        assert!(r.committed, "{be}: {:?}", r.errors);
        assert_eq!(r.created.get("people"), None, "{be}: the same four people");
        assert_eq!(store.scope_stats(&Scope::Everything).await.unwrap().people, 9, "{be}");
    })
    .await;
}

/// A ledger without grid codes: each row's grid comes from the compound
/// ledger (and is reported); a compound not on it, or on it in several
/// grids, is named in the row's error.
#[tokio::test]
async fn rows_without_a_grid_code_take_their_compounds_grid() {
    each(|store, be| async move {
        let all = Scope::Everything;
        store.import_grids(&all, "test", GRIDS).await.unwrap();
        let compounds = linli_store::import::read_csv(
            "小区,管理模式,物业公司,物业公司信用代码,经度,纬度,存在问题
桃叶渡小区,无物业,,,118.785,32.025,
乌衣巷院落,无物业,,,118.805,32.025,
同名苑,无物业,,,118.785,32.026,
同名苑,无物业,,,118.795,32.026,
"
            .as_bytes(),
        )
        .unwrap();
        let r = store
            .import_compounds(&all, "test", &compounds)
            .await
            .unwrap();
        assert!(r.committed, "{be}: {:?}", r.errors);
        let ledger = |extra: &str| {
            let csv = format!(
                "小区,楼栋,房号,姓名\n桃叶渡小区,1栋,101,王秀英\n乌衣巷院落,1栋,1,赵敏\n{extra}"
            );
            read_ledger(csv.as_bytes(), TableFormat::Csv, LedgerKind::Registry, None).unwrap()
        };
        let r = store
            .import_registry_with(
                &all,
                "test",
                &ledger("无名院,1栋,1,张三\n同名苑,2栋,2,李四\n"),
                &ImportOptions::default(),
                &|_, _| {},
            )
            .await
            .unwrap();
        assert!(!r.committed, "{be}: {:?} {:?}", r.created, r.changes);
        let zh: Vec<_> = r
            .errors
            .iter()
            .map(|e| (e.row, e.field.as_str(), e.message_zh.as_str()))
            .collect();
        assert!(
            zh.contains(&(
                4,
                "grid_code",
                "网格编码必填：小区“无名院”不在您辖区的小区台账中（或为整个文件选择一个网格）"
            )),
            "{zh:?}"
        );
        assert!(
            zh.iter()
                .any(|(row, f, m)| *row == 5 && *f == "grid_code" && m.contains("分属多个网格")),
            "{zh:?}"
        );
        assert_eq!(r.errors.len(), 2, "{zh:?}");

        let r = store
            .import_registry_with(
                &all,
                "test",
                &ledger(""),
                &ImportOptions::default(),
                &|_, _| {},
            )
            .await
            .unwrap();
        assert!(r.committed, "{be}: {:?}", r.errors);
        let placed: Vec<_> = r
            .changes
            .iter()
            .filter(|c| c.field == "grid_code")
            .map(|c| (c.row, c.to.as_str(), c.why_zh))
            .collect();
        assert_eq!(
            placed,
            [
                (2, "320104001001001", "空白，按小区台账中该小区所在网格填写"),
                (3, "320104001002001", "空白，按小区台账中该小区所在网格填写"),
            ]
        );
        let grid3 = store.org_by_code(&all, "320104001002001").await.unwrap();
        let there = store
            .people(
                &Scope::Subtree(linli_core::org::OrgPath::parse(&grid3.path).unwrap()),
                &Default::default(),
            )
            .await
            .unwrap();
        assert_eq!(
            there.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["赵敏"]
        );
    })
    .await;
}

/// Grids drawn over each other are kept but named with the area they
/// share; a grid written latitude first is refused with that reason.
#[tokio::test]
async fn grids_that_overlap_or_lie_outside_the_city_are_named() {
    each(|store, be| async move {
        let square = |code: &str, x: f64, y: f64| {
            format!(
                r#"{{"type":"Feature","properties":{{"code":"{code}"}},"geometry":{{"type":"Polygon","coordinates":[[[{x},{y}],[{},{y}],[{},{}],[{x},{}],[{x},{y}]]]}}}}"#,
                x + 0.01, x + 0.01, y + 0.01, y + 0.01
            )
        };
        let file = |features: &[String]| format!(r#"{{"type":"FeatureCollection","features":[{}]}}"#, features.join(","));
        // Chengdu written latitude first is out of WGS-84's ranges.
        let swapped = file(&[square("510104001001001", 30.6, 104.0)]);
        let r = store.import_grids(&Scope::Everything, "test", &swapped).await.unwrap();
        assert!(!r.committed);
        assert!(r.errors[0].message_zh.contains("纬度写在了前面"), "{be}: {:?}", r.errors);
        // New York written latitude first is in range, but not in the city.
        let elsewhere = file(&[square("510104001001001", 40.7, -74.0)]);
        let r = store.import_grids(&Scope::Everything, "test", &elsewhere).await.unwrap();
        assert!(!r.committed);
        assert!(r.errors[0].message_zh.contains("不在城市范围内"), "{be}: {:?}", r.errors);
        let overlapping = file(&[
            square("510104001001001", 104.0, 30.6),
            square("510104001001002", 104.0075, 30.6),
            square("510104001001003", 104.0175, 30.6),
        ]);
        let r = store.import_grids(&Scope::Everything, "test", &overlapping).await.unwrap();
        assert!(r.committed, "{be}: {:?}", r.errors);
        let named: Vec<_> = r.notices.iter().filter(|n| n.message_zh.contains("重叠")).collect();
        assert_eq!(named.len(), 1, "{:?}", r.notices);
        assert!(named[0].message_zh.contains("510104001001001 与 510104001001002"), "{}", named[0].message_zh);
        // With a tolerance above the shared area, nothing is named.
        let r = store
            .import_grids_with(&Scope::Everything, "test", &overlapping, 1e9)
            .await
            .unwrap();
        assert!(r.notices.iter().all(|n| !n.message_zh.contains("重叠")), "{:?}", r.notices);
        // A later file's grid drawn over a stored one is named with it;
        // the stored grids the file replaces (same code) are not.
        let later = file(&[square("510104001001004", 104.0225, 30.6), square("510104001001001", 104.0, 30.6)]);
        let r = store.import_grids(&Scope::Everything, "test", &later).await.unwrap();
        assert!(r.committed, "{be}: {:?}", r.errors);
        let named: Vec<_> = r.notices.iter().filter(|n| n.message_zh.contains("重叠")).collect();
        assert_eq!(named.len(), 2, "{be}: {:?}", r.notices);
        assert!(named[0].message_zh.contains("网格 510104001001004）与已有网格 510104001001003"), "{}", named[0].message_zh);
        assert_eq!(named[0].row, Some(1));
        assert!(named[1].message_zh.contains("网格 510104001001001）与已有网格 510104001001002"), "{}", named[1].message_zh);
    })
    .await;
}

/// More rows than one multi-row statement holds: every person and tag
/// arrives once, and a second import of the same file changes nothing.
#[tokio::test]
async fn a_ledger_larger_than_a_chunk_goes_in_whole() {
    each(|store, be| async move {
        store
            .import_grids(&Scope::Everything, "test", GRIDS)
            .await
            .unwrap();
        let mut csv = String::from("网格编码,小区,楼栋,房号,姓名,身份证号,人员类别\n");
        for n in 0..1234 {
            let born = format!("19{:02}0101", 30 + n % 60);
            let tag = if n % 2 == 0 { "党员" } else { "" };
            csv.push_str(&format!(
                "{GRID},大院,{}栋,{},居民{n},{},{tag}\n",
                n / 100 + 1,
                n % 100 + 101,
                id("510104", &born, &format!("{:03}", n % 1000))
            ));
        }
        let t = read_ledger(csv.as_bytes(), TableFormat::Csv, LedgerKind::Registry, None).unwrap();
        let r = store
            .import_registry_with(
                &Scope::Everything,
                "test",
                &t,
                &ImportOptions::default(),
                &|_, _| {},
            )
            .await
            .unwrap();
        assert!(r.committed, "{be}: {:?}", r.errors.first());
        assert_eq!(
            (
                r.created["people"],
                r.created["dwellings"],
                r.created["households"]
            ),
            (1234, 1234, 1234)
        );
        let stats = store.scope_stats(&Scope::Everything).await.unwrap();
        assert_eq!(stats.people, 1234, "{be}");
        let members = store
            .people(
                &Scope::Everything,
                &linli_store::registry::PeopleFilter {
                    tag: Some(linli_core::registry::Tag::PartyMember),
                    limit: 1000,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(members.len(), 617, "{be}");
        let again = store
            .import_registry_with(
                &Scope::Everything,
                "test",
                &t,
                &ImportOptions::default(),
                &|_, _| {},
            )
            .await
            .unwrap();
        assert_eq!(again.unchanged["people"], 1234, "{be}: {:?}", again.updated);
        assert!(again.created.is_empty(), "{:?}", again.created);
    })
    .await;
}

/// Tags outside the built-in list: once on the district's list they are
/// no longer reported as unknown, and people can be found by them.
#[tokio::test]
async fn a_districts_own_tags_are_listed_and_searchable() {
    each(|store, be| async move {
        store.import_grids(&Scope::Everything, "test", GRIDS).await.unwrap();
        let e = store
            .save_district_tags("admin", &["党员".to_string()])
            .await
            .unwrap_err();
        assert!(e.to_string().contains("built-in"), "{e}");
        let listed = store
            .save_district_tags("admin", &[" 低保户".to_string(), "低保户".to_string(), "空巢老人".to_string()])
            .await
            .unwrap();
        assert_eq!(listed, ["低保户", "空巢老人"]);
        assert_eq!(store.district_tags().await.unwrap(), listed);
        let csv = format!("网格编码,小区,楼栋,房号,姓名,人员类别\n{GRID},大院,1栋,101,甲,低保户\n{GRID},大院,1栋,102,乙,特困人员、党员\n");
        let t = read_ledger(csv.as_bytes(), TableFormat::Csv, LedgerKind::Registry, None).unwrap();
        let r = store
            .import_registry_with(&Scope::Everything, "test", &t, &ImportOptions::default(), &|_, _| {})
            .await
            .unwrap();
        assert!(r.committed, "{be}: {:?}", r.errors);
        let notes: Vec<&str> = r.notices.iter().map(|n| n.message_zh.as_str()).collect();
        assert!(notes.iter().any(|n| n.contains("特困人员")), "{notes:?}");
        assert!(!notes.iter().any(|n| n.contains("低保户")), "{notes:?}");
        let found = store
            .people(
                &Scope::Everything,
                &linli_store::registry::PeopleFilter { district_tag: Some("低保户".into()), ..Default::default() },
            )
            .await
            .unwrap();
        assert_eq!(found.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["甲"], "{be}");
    })
    .await;
}
