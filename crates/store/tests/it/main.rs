//! Storage tests, one module a capability (org tree and grids, registry,
//! generated data, cases and rates, accounts). Every test runs on SQLite
//! and, when LINLI_TEST_PG_URL is set (as .ci/run does), on PostgreSQL in a
//! schema of its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod cases;
mod faults;
mod generate;
mod ledgers;
mod lists;
mod org;
mod privacy;
mod registry;

use linli_core::org::{OrgKind, OrgPath};

use linli_core::registry::Tag;

use linli_store::import::{RowError, TableFormat, read_csv, read_xlsx};

use linli_store::registry::PeopleFilter;

use linli_store::{Scope, Store, StoreError, migrate};

use linli_store::testkit::each_backend as each;

/// (id_enc, phone_enc) of one person row.
type SealedPair = (Option<Vec<u8>>, Option<Vec<u8>>);

const GRIDS: &str = r#"{"type":"FeatureCollection","features":[
 {"type":"Feature","properties":{"code":"320104001001001","name":"一网格","community_name":"夫子庙社区","subdistrict_name":"夫子庙街道","district_name":"秦淮区","city_name":"南京市"},
  "geometry":{"type":"Polygon","coordinates":[[[118.78,32.02],[118.79,32.02],[118.79,32.03],[118.78,32.03],[118.78,32.02]]]}},
 {"type":"Feature","properties":{"code":"320104001001002","name":"二网格","zone":"东片区"},
  "geometry":{"type":"Polygon","coordinates":[[[118.79,32.02],[118.80,32.02],[118.80,32.03],[118.79,32.03],[118.79,32.02]]]}},
 {"type":"Feature","properties":{"code":"320104001002001","name":"三网格","community_name":"乌衣巷社区"},
  "geometry":{"type":"Polygon","coordinates":[[[118.80,32.02],[118.81,32.02],[118.81,32.03],[118.80,32.03],[118.80,32.02]]]}}
]}"#;

const REGISTRY_CSV: &str = "\u{feff}网格编码,小区,楼栋,单元,房号,建筑面积,户号,姓名,性别,出生日期,身份证号,手机号,与房屋关系,标签
320104001001001,桃叶渡小区,1栋,1单元,101,89.5,1,王秀英,,,11010519491231002X,13800138000,业主,独居老人、党员
320104001001001,桃叶渡小区,1栋,1单元,102,76,1,李强,男,1985-03-01,,139 1234 5678,租户,流动人口
320104001001001,桃叶渡小区,1栋,1单元,102,76,1,李小明,,,,,居住,
320104001001001,桃叶渡小区,2栋,,201,120,,,,,,,,
320104001002001,乌衣巷院落,1栋,,1,60,1,赵敏,女,,,,业主,困难家庭
";

async fn setup_registry(store: &Store) {
    let r = store
        .import_grids(&Scope::Everything, "test", GRIDS)
        .await
        .unwrap();
    assert!(r.committed, "{:?}", r.errors);
    let t = read_csv(REGISTRY_CSV.as_bytes()).unwrap();
    let r = store
        .import_registry(&Scope::Everything, "test", &t, &|_, _| {})
        .await
        .unwrap();
    assert!(r.committed, "{:?}", r.errors);
}

async fn community_scope(store: &Store, code: &str) -> Scope {
    store
        .org_by_code(&Scope::Everything, code)
        .await
        .unwrap()
        .scope()
        .unwrap()
}
