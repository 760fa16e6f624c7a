//! What generated requests say (诉求内容): a channel as the channels are
//! used, a title and description in a resident's words for each category,
//! an address in the compound, a reporter, and the texts of the steps that
//! follow (answers, reports, return visits). Pure and seeded, so the same
//! seed gives the same demo district.

use crate::intake::Channel;
use crate::rng::SplitMix64;

/// The content of one generated request.
#[derive(Debug, Clone, PartialEq)]
pub struct Story {
    pub channel: Channel,
    pub title: String,
    pub description: String,
    pub address: String,
    /// None for a grid member's own patrol report.
    pub reporter_name: Option<String>,
    pub reporter_phone: Option<String>,
}

/// Channels roughly as a Chinese city's requests arrive: most through the
/// 12345 hotline, then residents' own reports, grid patrols, the counter.
pub fn channel(rng: &mut SplitMix64) -> Channel {
    match rng.below(100) {
        0..45 => Channel::Hotline12345,
        45..65 => Channel::SelfReport,
        65..80 => Channel::GridPatrol,
        80..90 => Channel::Counter,
        90..95 => Channel::LivelihoodStation,
        _ => Channel::Api,
    }
}

const SURNAMES: [&str; 24] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "罗", "高", "郑", "梁", "谢", "唐",
];
const GIVEN: [&str; 24] = [
    "秀英", "桂兰", "建国", "志强", "丽华", "伟", "芳", "敏", "静", "磊", "军", "洋", "勇", "艳",
    "杰", "娟", "涛", "明", "超", "霞", "平", "刚", "玉兰", "春梅",
];
const WHEN: [&str; 8] = [
    "这几天",
    "昨天晚上开始",
    "已经一个多星期了",
    "今天早上",
    "最近一个月",
    "每天晚上",
    "从上周起",
    "反映过一次还没解决，",
];
const ASK: [&str; 6] = [
    "希望尽快处理。",
    "请相关部门来看看。",
    "麻烦尽快安排人处理，谢谢。",
    "影响居民正常生活，请尽快解决。",
    "老人小孩进出很不安全，请重视。",
    "希望有个答复。",
];

/// (short title, what the resident says) for a leaf category; `{p}` is
/// the place within the compound.
fn complaint(code: &str) -> &'static [(&'static str, &'static str)] {
    match code {
        "0101" | "0102" => &[
            (
                "垃圾没人清运",
                "{p}旁边的垃圾堆了好几天没人清运，天热有味道，还招苍蝇。",
            ),
            (
                "建筑垃圾乱倒",
                "有人把装修的建筑垃圾倒在{p}路边，堵了一半的路。",
            ),
        ],
        "0103" | "0105" => &[
            ("路面脏乱", "{p}门口的路面很脏，落叶和垃圾一直没人扫。"),
            ("绿化带脏乱", "{p}边上的绿化带里全是塑料袋和烟头。"),
        ],
        "0104" | "0201" | "0202" => &[
            ("小广告乱贴", "{p}的墙面和楼道贴满了开锁、办证的小广告。"),
            ("墙面乱涂乱画", "{p}外墙被人用油漆乱写乱画，很难看。"),
        ],
        "0301" => &[(
            "夜间施工扰民",
            "{p}附近工地晚上十点以后还在施工，机器声音很大，睡不着觉。",
        )],
        "0302" | "0303" => &[(
            "工地扬尘大",
            "{p}对面工地没有围挡洒水，风一吹全是灰，窗户都不敢开。",
        )],
        "0401" => &[(
            "路面塌陷",
            "{p}出口的路面塌了一个坑，有半米深，晚上很危险。",
        )],
        "0402" | "1601" => &[
            ("自来水管漏水", "{p}楼下的自来水管破了，水一直往外冒。"),
            (
                "突然停水",
                "{p}突然停水，没有看到任何通知，家里老人做不了饭。",
            ),
        ],
        "0403" | "1603" => &[("闻到燃气味", "{p}楼道里有很重的燃气味，担心是管道泄漏。")],
        "0404" => &[(
            "楼道堆放杂物有火灾隐患",
            "{p}楼道里堆了纸箱和旧家具，还有人在楼道给电动车充电，有火灾隐患。",
        )],
        "0501" | "0502" | "0503" => &[
            (
                "占道经营",
                "{p}门口每天傍晚都有摊贩占道经营，人车都过不去。",
            ),
            (
                "店外经营",
                "{p}临街的饭店把桌子摆到人行道上，油烟和噪音很大。",
            ),
        ],
        "0601" => &[(
            "路灯不亮",
            "{p}旁边的路灯坏了，晚上一片漆黑，老人出门不方便。",
        )],
        "0602" => &[(
            "井盖缺失",
            "{p}附近有个井盖不见了，只用一根树枝插着，很危险。",
        )],
        "0603" => &[("道路破损", "{p}门口的路面坑坑洼洼，下雨天全是积水。")],
        "1001" => &[("停车难", "{p}车位太少，晚上回来根本没地方停车。")],
        "1002" => &[("消防通道被堵", "{p}的消防通道经常停满私家车，物业也不管。")],
        "1003" => &[(
            "电动车没地方充电",
            "{p}没有电动车充电桩，很多人从楼上拉电线下来充电。",
        )],
        "1101" | "1102" => &[
            (
                "楼上噪音扰民",
                "{p}楼上每天晚上很晚还在拖椅子、跳绳，影响休息。",
            ),
            (
                "广场舞噪音",
                "{p}旁边广场舞音响开得太大，一直到晚上九点多。",
            ),
        ],
        "1201" | "1203" => &[
            (
                "物业服务差",
                "{p}的物业不作为，公共区域的灯坏了报修一个月都没人修。",
            ),
            ("单元门禁坏了", "{p}的单元门禁坏了很久，陌生人随便进出。"),
        ],
        "1202" => &[(
            "电梯故障",
            "{p}的电梯三天两头坏，今天又停了，家里有老人上下楼很困难。",
        )],
        "1204" => &[(
            "维修资金使用不公开",
            "{p}用维修资金换了水泵，但一直没有公示花了多少钱。",
        )],
        "1301" | "1302" | "1303" => &[
            (
                "独居老人需要照顾",
                "{p}住着一位八十多岁的独居老人，子女在外地，最近身体不好，希望社区常去看看。",
            ),
            (
                "老人助餐",
                "家里老人腿脚不便，想问问{p}附近有没有社区食堂可以送餐。",
            ),
        ],
        "1401" => &[("楼道堆物", "{p}楼道里堆满了邻居的杂物，进出都要侧着身子。")],
        "1402" => &[(
            "垃圾分类不到位",
            "{p}的垃圾桶没有分类，厨余垃圾和其他垃圾混在一起。",
        )],
        "1403" => &[("老鼠多", "{p}附近老鼠很多，晚上在垃圾桶周围乱窜。")],
        "1501" => &[(
            "楼上漏水",
            "楼上卫生间漏水，{p}我家天花板都泡坏了，楼上不肯修，希望社区帮忙调解。",
        )],
        "1502" => &[(
            "装修纠纷",
            "{p}楼上装修周末一大早就开始砸墙，沟通过没用，希望社区出面协调。",
        )],
        "1503" => &[("宠物扰民", "{p}有邻居养的狗不拴绳，还经常叫，小孩很害怕。")],
        "1602" => &[("频繁停电", "{p}这个月已经停了三次电，每次都没有提前通知。")],
        "1604" => &[(
            "暖气不热",
            "{p}家里暖气一直不热，室内只有十四五度，老人孩子受不了。",
        )],
        "9001" => &[
            (
                "咨询社保政策",
                "想咨询一下灵活就业人员社保怎么缴，住在{p}。",
            ),
            (
                "咨询居住证办理",
                "租住在{p}，想问问居住证需要什么材料、去哪里办。",
            ),
        ],
        _ => &[("其他问题", "{p}有问题需要反映，具体情况请电话联系我。")],
    }
}

/// A mobile number of the kind residents give (valid prefixes).
fn mobile(rng: &mut SplitMix64) -> String {
    const PREFIXES: [&str; 12] = [
        "130", "131", "135", "136", "137", "138", "139", "150", "158", "180", "186", "189",
    ];
    format!("{}{:08}", rng.pick(&PREFIXES), rng.below(100_000_000))
}

/// A request about a leaf category at a compound.
pub fn story(rng: &mut SplitMix64, category: &str, compound: &str) -> Story {
    let channel = channel(rng);
    let (short, says) = *rng.pick(complaint(category));
    let building = 1 + rng.below(18);
    let place = format!("{compound}{building}栋");
    let address = if rng.below(3) == 0 {
        format!("{compound}{building}栋附近")
    } else {
        format!(
            "{compound}{building}栋{}单元{}{:02}室",
            1 + rng.below(4),
            1 + rng.below(18),
            1 + rng.below(4)
        )
    };
    let description = format!(
        "{}{}{}",
        rng.pick(&WHEN),
        says.replace("{p}", &place),
        rng.pick(&ASK)
    );
    let patrol = channel == Channel::GridPatrol;
    Story {
        channel,
        title: format!("{place}{short}"),
        description,
        address,
        reporter_name: (!patrol).then(|| {
            let given = if rng.below(3) == 0 {
                if rng.below(2) == 0 {
                    "先生"
                } else {
                    "女士"
                }
            } else {
                rng.pick(&GIVEN)
            };
            format!("{}{given}", rng.pick(&SURNAMES))
        }),
        reporter_phone: (!patrol).then(|| mobile(rng)),
    }
}

/// What a handling unit reports back (处置情况).
const REPORT_BACK_TEXTS: [&str; 5] = [
    "已安排人员到现场处理，问题已解决，现场已拍照留存。",
    "已联系责任单位整改完毕，并向反映人电话说明。",
    "工作人员当天到场核实，已完成维修，恢复正常。",
    "已约谈相关当事人，达成一致并签订调解协议。",
    "已清理完毕，并安排保洁人员每日巡查。",
];

pub fn report_back(rng: &mut SplitMix64) -> &'static str {
    REPORT_BACK_TEXTS[rng.index(REPORT_BACK_TEXTS.len())]
}

/// Answers given on the spot to a question (咨询).
const POLICY_ANSWERS: [&str; 3] = [
    "已电话答复：携带身份证和租房合同到社区党群服务中心一窗受理办理。",
    "已答复办理流程和所需材料，并告知可在政务服务网上预约。",
    "已告知相关政策规定和咨询电话，反映人表示清楚。",
];

/// Answers given on the spot to a report that needs no dispatch (it is
/// handled already, or planned).
const STATUS_ANSWERS: [&str; 3] = [
    "已电话答复：该问题已有工单在办理，告知反映人处理进度和预计完成时间。",
    "已电话答复：该处已纳入本月整治计划，反映人表示理解。",
    "经核实已由责任单位当天处理完毕，已告知反映人。",
];

/// An answer given on the spot (当场答复) to a request of a category.
pub fn answer(rng: &mut SplitMix64, category: &str) -> &'static str {
    let list: &[&'static str] = if category.starts_with("90") {
        &POLICY_ANSWERS
    } else {
        &STATUS_ANSWERS
    };
    list[rng.index(list.len())]
}

/// Why a request was not taken (不予受理).
const REFUSAL_TEXTS: [&str; 3] = [
    "属于司法诉讼程序事项，已告知反映人通过法律途径解决。",
    "反映人联系电话无法接通，且诉求内容不清，无法核实。",
    "重复反映，已在原工单中办理。",
];

pub fn refusal(rng: &mut SplitMix64) -> &'static str {
    REFUSAL_TEXTS[rng.index(REFUSAL_TEXTS.len())]
}

/// What a return visit found when the resident stayed unsatisfied.
const EXPLANATION_TEXTS: [&str; 2] = [
    "回访：已向反映人解释该问题受规划限制暂无法解决，已纳入明年改造计划。",
    "回访：反映人诉求超出政策规定，已耐心解释相关政策。",
];

pub fn explanation(rng: &mut SplitMix64) -> &'static str {
    EXPLANATION_TEXTS[rng.index(EXPLANATION_TEXTS.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stories_read_like_requests_and_are_seeded() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        let mut channels: Vec<Channel> = Vec::new();
        for i in 0..2_000 {
            let code = ["0101", "1202", "1501", "9001", "0601", "x"][i % 6];
            let s = story(&mut a, code, "桃叶渡小区");
            assert_eq!(s, story(&mut b, code, "桃叶渡小区"));
            assert!(s.title.starts_with("桃叶渡小区") && !s.title.contains("{p}"));
            assert!(s.description.contains("桃叶渡小区") && !s.description.contains("{p}"));
            assert!(s.address.starts_with("桃叶渡小区"));
            assert_ne!(s.title, s.description);
            if let Some(p) = &s.reporter_phone {
                assert_eq!(crate::validate::mobile_phone(p).unwrap(), *p);
            }
            assert_eq!(s.reporter_name.is_none(), s.channel == Channel::GridPatrol);
            if !channels.contains(&s.channel) {
                channels.push(s.channel);
            }
        }
        assert_eq!(channels.len(), Channel::ALL.len(), "every channel is used");
    }
}
