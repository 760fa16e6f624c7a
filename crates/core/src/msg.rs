//! Messages for people, in both interface languages.
//!
//! Every error a page or an import report can show is a [`Msg`] with its
//! English and its Chinese text, so that no English developer text reaches
//! a Chinese page; [`field_label`] names the fields those errors point at.

use serde::Serialize;

/// A message in English and Chinese: short enough to show beside a form
/// field or in a per-row import report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{en}")]
pub struct Msg {
    pub en: String,
    pub zh: String,
}

impl Msg {
    pub fn new(en: impl Into<String>, zh: impl Into<String>) -> Self {
        Msg {
            en: en.into(),
            zh: zh.into(),
        }
    }

    /// A required value that is missing.
    pub fn required() -> Self {
        Msg::new("is required", "必填，不能为空")
    }

    /// A text longer than `max` characters, with how long it was.
    pub fn too_long(max: usize, found: usize) -> Self {
        Msg::new(
            format!("is longer than {max} characters ({found})"),
            format!("不能超过{max}个字（现有{found}个字）"),
        )
    }

    /// The message in the reader's language.
    pub fn text(&self, zh: bool) -> &str {
        if zh { &self.zh } else { &self.en }
    }
}

/// The Chinese and English label of a form or API field, for messages
/// that point at it. Unknown names give `None`; callers then show the name.
pub fn field_label(field: &str) -> Option<(&'static str, &'static str)> {
    Some(match field {
        "channel" => ("来源渠道", "channel"),
        "category" => ("问题类别", "category"),
        "title" => ("标题", "title"),
        "description" => ("问题描述", "description"),
        "address" => ("详细地址", "address"),
        "lon" => ("经度", "longitude"),
        "lat" => ("纬度", "latitude"),
        "lon/lat" => ("经纬度", "position"),
        "place" => ("位置", "place"),
        "org_code" => ("网格", "grid"),
        "reporter_name" => ("反映人", "reporter"),
        "reporter_phone" => ("联系电话", "phone"),
        "photo" | "media" => ("照片", "photo"),
        "unit" => ("承办单位", "handling unit"),
        "parent" => ("主工单", "parent case"),
        "working_days" => ("延期工作日数", "working days"),
        "reason" => ("理由", "reason"),
        "answer" => ("答复内容", "answer"),
        "text" => ("处置情况", "report"),
        "note" => ("意见", "note"),
        "rating" => ("评价", "rating"),
        "rework" => ("退回重办", "rework"),
        "comment" => ("意见", "comment"),
        "version" => ("版本", "version"),
        "action" => ("操作", "action"),
        "passed" => ("核查结果", "verification"),
        "approve" => ("审批结果", "decision"),
        "username" => ("用户名", "user name"),
        "password" => ("密码", "password"),
        "display_name" => ("姓名", "name"),
        "phone" => ("手机号码", "phone"),
        "name" => ("名称", "name"),
        "kind" => ("类型", "kind"),
        "code" => ("编码", "code"),
        "level" => ("层级", "level"),
        "role" => ("角色", "role"),
        "geometry" => ("边界", "boundary"),
        "webhook_url" => ("通知地址", "webhook URL"),
        "id_number" => ("身份证号", "ID number"),
        "tags" => ("人员标签", "tags"),
        "file" => ("文件", "file"),
        "period" => ("统计期", "period"),
        "calendar" => ("工作日历", "calendar"),
        "categories" => ("问题分类", "categories"),
        "limit" => ("每页条数", "page size"),
        "page" => ("页码", "page"),
        "q" => ("搜索", "search"),
        "keyword" => ("关键词", "keyword"),
        "sort" => ("排序", "order"),
        "relation" => ("居住关系", "relation to the dwelling"),
        "head_relation" => ("与户主关系", "relation to the head"),
        "day" => ("日期", "day"),
        "hotline" => ("12345分类对照", "12345 category mapping"),
        "mapping" => ("列对应关系", "column mapping"),
        "sheet" => ("工作表", "worksheet"),
        "token" => ("导入预览", "import preview"),
        "template" => ("导入模板", "import template"),
        "grid" => ("网格", "grid"),
        "grid_id" => ("网格", "grid"),
        "tag" => ("标签", "tag"),
        "unit_id" => ("承办单位", "handling unit"),
        "org_id" => ("所属组织", "org unit"),
        "before" => ("翻页位置", "page position"),
        "todo" => ("待办", "to-do"),
        "from" => ("起始时间", "from"),
        "to" => ("截止时间", "to"),
        "url" => ("网关地址", "gateway URL"),
        "response_hours" => ("响应时限", "response time"),
        "limit_value" => ("办理时限", "time limit"),
        "unit_kind" => ("承办单位类型", "unit kind"),
        _ => return None,
    })
}

/// A message led by its field's label ("联系电话：…"), unless the message
/// already names it ("问题分类：…" of the field `categories`).
pub fn with_label(field: &str, text: &str, en: bool) -> String {
    let label = field_label(field).map_or(field, |(zh, e)| if en { e } else { zh });
    if text.starts_with(label) {
        text.to_string()
    } else if en {
        format!("{label}: {text}")
    } else {
        format!("{label}：{text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_follows_the_language() {
        let m = Msg::new("must not be empty", "不能为空");
        assert_eq!(m.text(true), "不能为空");
        assert_eq!(m.text(false), "must not be empty");
        assert_eq!(m.to_string(), "must not be empty");
    }

    #[test]
    fn a_message_is_labelled_once() {
        assert_eq!(
            with_label("reporter_phone", "不能为空", false),
            "联系电话：不能为空"
        );
        assert_eq!(
            with_label("categories", "问题分类：编码 1 重复", false),
            "问题分类：编码 1 重复"
        );
        assert_eq!(
            with_label("reporter_phone", "must not be empty", true),
            "phone: must not be empty"
        );
    }

    #[test]
    fn labels_name_fields_in_chinese() {
        assert_eq!(field_label("reporter_phone").map(|l| l.0), Some("联系电话"));
        assert_eq!(field_label("no_such_field"), None);
    }
}
