//! Who did something, as the timeline and the audit log write it
//! (`account:wang.fang`, `apikey:12345-gateway`, `open311:app`, `system`),
//! and what the audit log's actions are called on screen.

use crate::case::action_label;

/// An actor string, read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor<'a> {
    /// A signed-in account: its user name, or (older entries) its id.
    Account(&'a str),
    /// A program with an API key.
    ApiKey(&'a str),
    /// An Open311 client.
    Open311(&'a str),
    /// linli itself (generation, scans).
    System,
    /// Anything else, shown as written.
    Other(&'a str),
}

impl<'a> Actor<'a> {
    pub fn parse(s: &'a str) -> Actor<'a> {
        match s.split_once(':') {
            Some(("account", a)) => Actor::Account(a),
            Some(("apikey", k)) => Actor::ApiKey(k),
            Some(("open311", k)) => Actor::Open311(k),
            // `linli` writes the audit log's own findings.
            None if s == "system" || s == "linli" => Actor::System,
            _ => Actor::Other(s),
        }
    }

    /// How it is shown when it is not an account (whose name and role
    /// come from the accounts): (Chinese, English).
    pub fn label(self) -> (String, String) {
        match self {
            Actor::Account(a) | Actor::Other(a) => (a.to_string(), a.to_string()),
            Actor::ApiKey(k) => (format!("接口 {k}"), format!("API key {k}")),
            Actor::Open311(k) => (format!("Open311 应用 {k}"), format!("Open311 app {k}")),
            Actor::System => ("系统".into(), "System".into()),
        }
    }
}

/// An audit log action by its name: (Chinese, English). A case step is
/// named by the step; an unknown action by its code.
pub fn audit_action_label(action: &str) -> (String, String) {
    let fixed = |zh: &str, en: &str| (zh.to_string(), en.to_string());
    match action {
        "account.create" => fixed("创建账号", "Account created"),
        "account.login" => fixed("登录", "Signed in"),
        "account.login_failed" => fixed("登录失败", "Sign-in failed"),
        "account.locked" => fixed("账号锁定", "Account locked"),
        "account.password" => fixed("修改密码", "Password changed"),
        "apikey.create" => fixed("创建接口密钥", "API key created"),
        "calendar.extend" => fixed("更新工作日历", "Calendar extended"),
        "categories.replace" => fixed("更新问题分类", "Categories replaced"),
        "hotline_categories.replace" => {
            fixed("更新12345分类对照", "12345 category mapping replaced")
        }
        "notify_gateway.set" => fixed("设置通知网关", "Notification gateway set"),
        "tags.replace" => fixed("更新人员类别", "Tag list replaced"),
        "import_template.save" => fixed("保存导入模板", "Import template saved"),
        "case.photo" => fixed("上传工单照片", "Case photo added"),
        "case.view_unmasked" => fixed("查看工单原文", "Case viewed in full"),
        "person.view_unmasked" => fixed("查看完整个人信息", "Person viewed in full"),
        "person.edit" => fixed("修改人员信息", "Person edited"),
        "case.lookup_phone" => fixed("按电话查工单", "Cases looked up by phone"),
        "audit.forged_entry" => fixed("发现伪造的审计记录", "Forged audit entry found"),
        "person.lookup_id_number" => fixed("按身份证号查人", "Look-up by ID number"),
        "person.lookup_phone" => fixed("按电话查人", "Look-up by phone"),
        "registry.import" => fixed("导入人口台账", "Registry imported"),
        "registry.import_preview" => fixed("预览台账导入", "Registry import previewed"),
        "registry.export_unmasked" => fixed("导出未脱敏台账", "Registry exported unmasked"),
        "registry.generate" => fixed("生成示范人口", "Demo registry generated"),
        "cases.generate" => fixed("生成示范工单", "Demo cases generated"),
        "grids.import" => fixed("导入网格", "Grids imported"),
        "compounds.import" => fixed("导入小区", "Compounds imported"),
        other => match other.strip_prefix("case.") {
            Some(step) if action_label(step).0 != "其他" => {
                let (zh, en) = action_label(step);
                (format!("工单：{zh}"), format!("Case: {en}"))
            }
            _ => fixed(other, other),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_are_read_by_kind() {
        assert_eq!(
            Actor::parse("account:wang.fang"),
            Actor::Account("wang.fang")
        );
        assert_eq!(Actor::parse("apikey:gw"), Actor::ApiKey("gw"));
        assert_eq!(Actor::parse("open311:app"), Actor::Open311("app"));
        assert_eq!(Actor::parse("system"), Actor::System);
        assert_eq!(Actor::parse("worker:1"), Actor::Other("worker:1"));
        assert_eq!(Actor::System.label().0, "系统");
    }

    #[test]
    fn audit_actions_are_named() {
        assert_eq!(
            audit_action_label("person.view_unmasked").0,
            "查看完整个人信息"
        );
        assert_eq!(audit_action_label("case.dispatch").0, "工单：派遣");
        assert_eq!(
            audit_action_label("case.return_visit").1,
            "Case: Return visit"
        );
        assert_eq!(audit_action_label("something.new").0, "something.new");
    }
}
