// The closed loop in a real browser: a resident reports with a photo, a
// community worker classifies, opens and dispatches, the unit's handler
// accepts and reports back with a photo, the grid member verifies, the
// case closes, the resident rates. Then the other pages a worker and the
// subdistrict use. Screenshots go to e2e/artifacts/.
//
//   node loop.mjs http://127.0.0.1:PORT
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import assert from "node:assert/strict";

const base = process.argv[2];
const password = process.env.LINLI_DEMO_PASSWORD || "linli-demo-2026";
const shots = new URL("./artifacts/", import.meta.url).pathname;
mkdirSync(shots, { recursive: true });
// A 1×1 PNG: the photo a resident and a handler attach.
const png = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==",
  "base64",
);
const hostile = `<script>window.__xss=1</script><img src=x onerror="window.__xss=2">`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
let step = 0;
const problems = [];
// Pages a test expects to refuse (a resident at the registry, a form sent
// back with its mistake).
const expectedRefusals = new Set(["/registry", "/intake", "/admin/city-extent"]);

async function signIn(user, phone = false) {
  const ctx = await browser.newContext(
    phone ? { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true } : {},
  );
  const page = await ctx.newPage();
  page.on("pageerror", (e) => problems.push(`${user}: ${e.message}`));
  // Every failed request counts, except the page a test expects to be refused.
  page.on("response", (r) => {
    if (r.status() >= 400 && !expectedRefusals.has(new URL(r.url()).pathname)) {
      problems.push(`${user}: ${r.status()} ${r.url()}`);
    }
  });
  await page.goto(`${base}/login`);
  await page.fill("#username", user);
  await page.fill("#password", password);
  await Promise.all([page.waitForNavigation(), page.click("#sign-in")]);
  assert.ok(!page.url().includes("/login"), `${user} signed in (at ${page.url()})`);
  return page;
}

async function shot(page, name) {
  step += 1;
  await page.screenshot({ path: `${shots}${String(step).padStart(2, "0")}-${name}.png`, fullPage: true });
}

async function state(page) {
  return (await page.textContent("#case-state")).trim();
}

async function take(page, action, fill = async () => {}) {
  const form = page.locator(`#step-${action}`);
  assert.equal(await form.count(), 1, `the step ${action} is offered at ${page.url()}`);
  await fill(form);
  await Promise.all([page.waitForNavigation(), form.locator("button[type=submit]").click()]);
  assert.ok(/\/cases\/\d+$/.test(new URL(page.url()).pathname), `after ${action}: ${page.url()}`);
}

// 1. The resident reports from a phone: category, description with
// hostile text, a place from the list (fills the point), a photo.
const resident = await signIn("demo.resident", true);
assert.ok(resident.url().endsWith("/my"), `a resident lands on their requests: ${resident.url()}`);
await resident.goto(`${base}/report`);
await resident.waitForFunction(() => document.querySelector("#pick-map .leaflet-interactive"));
const category = await resident.locator("#category option[value='0601']").count() ? "0601" : await resident.locator("#category option").nth(1).getAttribute("value");
await resident.selectOption("#category", category);
await resident.fill("#description", `楼道灯坏了，晚上看不见。${hostile}`);
const place = await resident.locator("#place option").nth(1).getAttribute("value");
await resident.selectOption("#place", place);
assert.equal(await resident.inputValue("#lon"), place.split(",")[0], "picking a place fills the point");
await resident.setInputFiles("#photo", { name: "lamp.png", mimeType: "image/png", buffer: png });
await shot(resident, "resident-report");
await Promise.all([resident.waitForNavigation(), resident.click("#submit-report")]);
const casePath = new URL(resident.url()).pathname;
assert.match(casePath, /^\/cases\/\d+$/, "the report opens its case page");
assert.equal(await resident.evaluate(() => window.__xss), undefined, "hostile text is not run");
assert.ok((await resident.textContent("main")).includes("<script>window.__xss=1</script>"), "hostile text is shown as text");
assert.equal(await resident.locator(".photos img").count(), 1, "the photo is on the case");
assert.ok((await resident.textContent("#confirmation")).includes("GD"), "the report is confirmed with its reference");
await resident.waitForFunction(() => document.querySelector("#case-point .leaflet-interactive"));
// While it is open the resident adds a detail (补充).
const before = await state(resident);
await take(resident, "supplement", async (f) => {
  await f.locator("textarea[name=text]").fill("灯在3单元门口，已经坏了一周。");
});
assert.equal(await state(resident), before, "a supplement changes nothing but the timeline");
assert.ok((await resident.textContent("#timeline")).includes("补充情况"), "the supplement is in the timeline");
await shot(resident, "resident-case");

// The header's to-do count (loaded after the page by htmx).
async function todoCount(page) {
  await page.waitForFunction(() => /\S/.test(document.querySelector("#todo-link")?.textContent || ""));
  await page.waitForLoadState("networkidle");
  const total = await page.locator("#todo-total").count() ? await page.textContent("#todo-total") : "0";
  return parseInt(total, 10);
}

// 2. The community worker lands on what waits for them; classify (if
// needed), open, dispatch to the community's property service centre. The
// unit's handler, signed in already, sees one more to accept.
const handler = await signIn("demo.handler");
assert.ok(handler.url().endsWith("/todo"), `a handler lands on their to-do list: ${handler.url()}`);
const handlerWaiting = await todoCount(handler);
const worker = await signIn("demo.worker");
assert.ok(worker.url().endsWith("/todo"), `a worker lands on their to-do list: ${worker.url()}`);
assert.ok(await worker.locator("#todo-to_open").count(), "the worker's to-dos include cases to open");
await worker.goto(`${base}/cases`);
await worker.selectOption("#f-state", "classified");
// htmx swaps the table in place and puts the filter in the address.
await worker.waitForURL(/state=classified/);
await worker.waitForFunction((p) => document.querySelector(`#case-table a[href='${p}']`), casePath);
const states = await worker.locator("#case-table .badge:not(.overdue)").allTextContents();
assert.ok(states.length > 0 && states.every((x) => x === "已分类"), `the filtered queue holds classified cases only: ${states}`);
assert.ok((await worker.getAttribute("#export-cases", "href")).includes("state=classified"), "the Excel export follows the filter");
await shot(worker, "worker-queue-filtered");
await worker.goto(base + casePath);
if (await worker.locator("#step-classify").count()) await take(worker, "classify");
await take(worker, "open");
await take(worker, "dispatch", async (f) => {
  const unit = f.locator("select[name=unit] option", { hasText: "物业服务中心" }).first();
  await f.locator("select[name=unit]").selectOption(await unit.getAttribute("value"));
});
assert.equal(await state(worker), "已派遣");
await shot(worker, "worker-dispatched");

// 3. The handler of that unit: one more to accept; accept, report back with a photo.
await handler.reload();
assert.equal(await todoCount(handler), handlerWaiting + 1, "the dispatch adds to the handler's to-do count");
assert.ok(parseInt(await handler.textContent("#unread"), 10) >= 1, "the bell tells the handler of the dispatch");
await handler.goto(`${base}/notifications`);
await Promise.all([handler.waitForNavigation(), handler.locator("#notices a").first().click()]);
assert.equal(new URL(handler.url()).pathname, casePath, "the newest notice opens the dispatched case");
await shot(handler, "handler-todo");
await handler.goto(`${base}/cases?todo=to_accept`);
assert.ok(await handler.locator(`#case-table a[href='${casePath}']`).count(), "the case is in the handler's to-accept list");
await handler.goto(`${base}/cases`);
assert.ok(await handler.locator(`#case-table a[href='${casePath}']`).count(), "the case is in the unit's queue");
await handler.goto(base + casePath);
await take(handler, "accept");
await take(handler, "report_back", async (f) => {
  await f.locator("textarea[name=text]").fill("已更换灯泡，恢复照明。");
  await f.locator("input[name=photo]").setInputFiles({ name: "fixed.png", mimeType: "image/png", buffer: png });
});
assert.equal(await state(handler), "已反馈");
assert.equal(await handler.locator(".photos img").count(), 2);
assert.deepEqual(await handler.locator(".photos figcaption").allTextContents(), ["反映时", "处置后"], "before and after photos are labelled");
await shot(handler, "handler-reported-back");

// 4. The grid member finds it waiting for their check and verifies it.
const member = await signIn("demo.grid", true);
assert.ok(member.url().endsWith("/grid"), `a grid member lands on their grid: ${member.url()}`);
assert.ok(await member.locator(`#to-verify a[href='${casePath}']`).count(), "the case waits for the grid member's check");
await shot(member, "grid-member");
await member.goto(base + casePath);
await take(member, "verify", async (f) => {
  await f.locator("input[name=note]").fill("现场核实，灯已亮。");
});
assert.equal(await state(member), "已结案");

// 5. The resident rates it: not satisfied (the lamp flickers). The rating
// has no default: it must be chosen.
await resident.goto(`${base}/my`);
await Promise.all([resident.waitForNavigation(), resident.click(`a[href='${casePath}']`)]);
assert.equal(await resident.inputValue("#step-rate select[name=rating]"), "", "no rating is chosen for the resident");
await take(resident, "rate", async (f) => {
  await f.locator("select[name=rating]").selectOption("unsatisfied");
  await f.locator("input[name=comment]").fill("灯还是一闪一闪的。");
});
assert.equal(await state(resident), "已评价");
assert.equal((await resident.textContent("#case-rating")).trim(), "不满意", "the rating by its label");
const timeline = await resident.locator("#timeline li").count();
assert.ok(timeline >= 8, `the timeline holds every step (${timeline})`);
await shot(resident, "resident-rated");

// 5b. The worker finds it among the unsatisfied awaiting a return visit,
// calls the resident and sends it back for rework.
await worker.goto(`${base}/todo`);
assert.ok(parseInt(await worker.textContent("#todo-unsatisfied b"), 10) >= 1, "the unsatisfied case waits for a return visit");
await worker.goto(`${base}/cases?todo=unsatisfied`);
assert.ok(await worker.locator(`#case-table a[href='${casePath}']`).count(), "listed among the unsatisfied");
await worker.goto(base + casePath);
await take(worker, "return_visit", async (f) => {
  await f.locator("select[name=rating]").selectOption("unsatisfied");
  await f.locator("input[name=rework]").check();
  await f.locator("textarea[name=note]").fill("电话回访：灯仍闪烁，退回物业重办。");
});
assert.equal(await state(worker), "处置中", "an unsatisfied return visit sends the case back to its unit");
await shot(worker, "worker-return-visit");

// 6. A resident cannot open the worker's pages.
const denied = await resident.goto(`${base}/registry`);
assert.equal(denied.status(), 403);

// 7. The worker's other pages: one-window intake (a mistake first: no
// place; the form comes back with everything kept and the message in
// Chinese beside the map), registry search, import with its per-row
// report, the English switch.
await worker.goto(`${base}/intake`);
await worker.fill("#reporter_name", "李大爷");
await worker.fill("#reporter_phone", "13800138000");
await worker.fill("#description", "小区门口占道经营。");
await Promise.all([worker.waitForNavigation(), worker.click("#submit-report")]);
assert.ok(worker.url().endsWith("/intake"), `the refused form stays on its page: ${worker.url()}`);
assert.equal(await worker.inputValue("#description"), "小区门口占道经营。", "the description is kept");
assert.equal(await worker.inputValue("#reporter_phone"), "13800138000", "the phone is kept");
assert.ok((await worker.textContent("#err-place")).includes("请在地图上标出位置"), "the place's mistake is said beside the map, in Chinese");
await shot(worker, "worker-intake-refused");
await worker.selectOption("#org_code", { index: 1 });
await Promise.all([worker.waitForNavigation(), worker.click("#submit-report")]);
assert.ok((await worker.textContent("main")).includes("138****8000"), "the phone is masked on the case");
await worker.goto(`${base}/registry?tag=elderly_alone`);
const people = await worker.locator("#people-table tr").count();
assert.ok(people > 1, "the registry lists the elderly living alone");
assert.ok(!/\d{17}[\dX]/.test(await worker.textContent("#people-table")), "no full ID number on screen");
await worker.goto(`${base}/registry`);
await Promise.all([worker.waitForNavigation(), worker.click("#next-page")]);
assert.ok(/after=\d+/.test(worker.url()) && worker.url().includes("row=51"), `the registry pages by 50, by key (${worker.url()})`);
assert.equal(await worker.locator("#people-table tr").count(), 51, "a page of 50 people");
assert.ok((await worker.textContent(".pager")).includes("51"), "the second page says it starts at row 51");
await worker.setInputFiles("input[name=file]", {
  name: "bad.csv",
  mimeType: "text/csv",
  buffer: Buffer.from("网格编码,小区,楼栋,单元,房号,建筑面积,姓名,身份证号,手机号,与房屋关系,标签\n999,X,1,1,101,-5,张三,123,139,业主,\n"),
});
await Promise.all([worker.waitForNavigation(), worker.click("form[action='/registry/import'] button")]);
const report = await worker.textContent("#import-report");
assert.ok(report.includes("floor_area") || report.includes("面积"), `the import names the bad field: ${report}`);
await shot(worker, "worker-import-report");
// A ledger as the community keeps it: a title row, other column names, a
// column linli does not keep, no grid column. Previewed, then confirmed.
await worker.setInputFiles("input[name=file]", {
  name: "台账.csv",
  mimeType: "text/csv",
  buffer: Buffer.from("某社区人口信息台账\n姓名,性别,民族,联系电话,小区,楼栋,单元,房号\n欧阳 小明,男性,汉,１３９１２３４５６７８,新苑小区,2号楼,1,1101室\n合计：1人,,,,,,,\n"),
});
await worker.selectOption("#imp-grid", { index: 1 });
await Promise.all([worker.waitForNavigation(), worker.click("form[action='/registry/import'] button")]);
const preview = await worker.textContent("#import-report");
assert.ok(preview.includes("导入预览") && preview.includes("民族") && preview.includes("1101室"), `the preview names the unused column and the changes: ${preview}`);
await shot(worker, "worker-import-preview");
await Promise.all([worker.waitForNavigation(), worker.click("#import-confirm button")]);
assert.ok((await worker.textContent("#import-report")).includes("导入成功"), "the confirmed import");
await worker.goto(`${base}/registry?name=${encodeURIComponent("欧阳小明")}`);
assert.ok((await worker.textContent("#people-table")).includes("欧阳小明"), "the imported person is in the registry");
await worker.click("#lang-switch");
await worker.waitForLoadState();
assert.ok((await worker.textContent("h1")).includes("Registry"), "the English switch");
await worker.click("#lang-switch");

// 8. The subdistrict's dashboard: rates, charts, the map of grids and cases.
const street = await signIn("demo.street");
assert.ok(street.url().endsWith("/todo"), `subdistrict staff land on their to-do list: ${street.url()}`);
await street.goto(`${base}/dashboard`);
await street.waitForFunction(() => document.querySelector("#trend canvas") && document.querySelector("#mix canvas"));
await street.waitForFunction(() => document.querySelectorAll("#case-map path.leaflet-interactive").length > 1);
assert.ok((await street.locator("#rates tr").count()) > 2, "rates by unit");
await shot(street, "subdistrict-dashboard");

// 9. A resident without an account signs up and lands on the report form.
{
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
  const page = await ctx.newPage();
  await page.goto(`${base}/login`);
  await Promise.all([page.waitForNavigation(), page.click("#to-signup")]);
  const name = `e2e.${Date.now()}`;
  await page.fill("#username", name);
  await page.fill("#display_name", "王阿姨");
  await page.fill("#password", "e2e-居民口令-2026");
  await page.fill("#password_again", "e2e-居民口令-2026");
  await Promise.all([page.waitForNavigation(), page.click("#sign-up")]);
  assert.ok(page.url().endsWith("/report"), `a new resident lands on the report form: ${page.url()}`);
  assert.ok((await page.textContent("#who")).includes("王阿姨"));
  // The same lamp: picking the place shows the open report of the same
  // kind nearby; she joins it (我也遇到) instead of reporting it again.
  await page.waitForFunction(() => document.querySelector("#pick-map .leaflet-interactive"));
  await page.selectOption("#category", category);
  await page.selectOption("#place", place);
  await page.waitForSelector(`#nearby form[action='${casePath}/join']`);
  await shot(page, "resident-nearby");
  await Promise.all([page.waitForNavigation(), page.click(`#nearby form[action='${casePath}/join'] button`)]);
  assert.equal(new URL(page.url()).pathname, casePath, "joining opens the existing case");
  assert.equal((await page.textContent("#followers")).trim(), "1 人", "one more resident affected");
}

// 9b. The worker's queue by the least time left: numbered pages under the
// total; a generated case reads like a real one (a resident's words, every
// step of its timeline).
{
  await worker.goto(`${base}/cases`);
  await worker.selectOption("#f-sort", "due");
  await worker.waitForURL(/sort=due/);
  await worker.waitForSelector("#page-numbers");
  assert.match(await worker.textContent("#total"), /共 \d+/, "the queue shows its total");
  const left = await worker.locator("#case-table td .late, #case-table td span").allTextContents();
  assert.ok(left.length > 0, "the time-left column is filled");
  await shot(worker, "worker-queue-by-deadline");
  await worker.goto(`${base}/cases?state=rated`);
  await Promise.all([worker.waitForNavigation(), worker.locator("#case-table a[href^='/cases/']").first().click()]);
  const timeline = await worker.locator("#timeline li").count();
  assert.ok(timeline >= 4, `a rated demo case shows its whole timeline (${timeline} steps)`);
  await shot(worker, "worker-demo-case");
}

// 9c. The worker keeps a person's record: a wrong phone comes back in
// place with the tags chosen; a right one is saved (and audited).
{
  await worker.goto(`${base}/registry`);
  await Promise.all([worker.waitForNavigation(), worker.locator("#people-table a").first().click()]);
  await worker.click("#person-edit summary");
  await worker.fill("#e-phone", "12345");
  await worker.check("input[name=tags][value=volunteer]");
  expectedRefusals.add(new URL(worker.url()).pathname + "/edit");
  await Promise.all([worker.waitForNavigation(), worker.click("#save-person")]);
  assert.match(await worker.textContent("#edit-error"), /手机号码/, "the phone's mistake, in Chinese");
  assert.ok(await worker.isChecked("input[name=tags][value=volunteer]"), "the tag chosen is kept");
  await worker.fill("#e-phone", "13700001234");
  await Promise.all([worker.waitForNavigation(), worker.click("#save-person")]);
  assert.ok(await worker.locator("#person-saved").count(), "saved");
  assert.match(await worker.textContent("#phone"), /137\*+1234/, "the new phone, masked");
  await shot(worker, "worker-person-edited");
}

// 10. The community secretary sees a person in full only with a reason.
const secretary = await signIn("demo.secretary");
await secretary.goto(`${base}/registry`);
await Promise.all([secretary.waitForNavigation(), secretary.locator("#people-table a").first().click()]);
assert.match(await secretary.textContent("#id-number"), /\*{6,}/, "masked until asked");
await secretary.fill("#reason", "入户走访核实身份");
await Promise.all([secretary.waitForNavigation(), secretary.click("#unmask")]);
assert.match((await secretary.textContent("#id-number")).trim(), /^\d{17}[\dX]$/, "the full ID number, after an audited view");
await shot(secretary, "secretary-unmasked");

// 10b. The district administrator makes a unit and a dispatch rule.
{
  const admin = await signIn("demo.admin");
  await admin.goto(`${base}/admin`);
  await admin.selectOption("#u-org", { index: 1 });
  await admin.fill("#u-name", "e2e 供水抢修队");
  await admin.selectOption("#u-kind", "water");
  await Promise.all([admin.waitForNavigation(), admin.click("#new-unit button")]);
  assert.ok((await admin.textContent("#unit-list")).includes("e2e 供水抢修队"), "the new unit is listed");
  await admin.selectOption("#r-org", { index: 1 });
  await admin.selectOption("#r-cat", { index: 1 });
  const unit = await admin.locator("#r-unit option", { hasText: "e2e 供水抢修队" }).getAttribute("value");
  await admin.selectOption("#r-unit", unit);
  await Promise.all([admin.waitForNavigation(), admin.click("#new-rule button")]);
  assert.ok((await admin.textContent("#rule-list")).includes("e2e 供水抢修队"), "the new rule is listed");
  await shot(admin, "admin-unit-and-rule");
  // The lists: a holiday on the calendar, a tag of the district's own.
  await Promise.all([admin.waitForNavigation(), admin.click("#to-settings")]);
  await admin.fill("#d-day", "2027-03-03");
  await admin.selectOption("#d-kind", "holiday");
  await admin.fill("#d-name", "e2e 临时假日");
  await Promise.all([admin.waitForNavigation(), admin.click("#day-form button")]);
  assert.ok((await admin.textContent("#day-list")).includes("e2e 临时假日"), "the day is on the calendar");
  await admin.fill("#t-tags", "低保户\n空巢老人");
  await Promise.all([admin.waitForNavigation(), admin.click("#tag-form button")]);
  assert.ok((await admin.textContent("#admin-done")).includes("空巢老人"), "the tags are saved");
  // The city's extent: a minimum after its maximum is refused in place,
  // in Chinese, with what was typed kept; a good one is saved.
  await admin.fill("#x-extent", "105，31.5，102.9，30");
  await Promise.all([admin.waitForNavigation(), admin.click("#extent-form button")]);
  assert.ok((await admin.textContent("#extent-form .field-error")).includes("须先写最小经度"), "a bad extent is refused beside its field");
  assert.equal(await admin.inputValue("#x-extent"), "105，31.5，102.9，30", "what was typed is kept");
  await admin.fill("#x-extent", "102.9, 30.0, 105.0, 31.5");
  await Promise.all([admin.waitForNavigation(), admin.click("#extent-form button")]);
  assert.equal(await admin.inputValue("#x-extent"), "102.9, 30, 105, 31.5", "the extent is saved");
  await shot(admin, "admin-settings");
}

// 11. Each role's first page on a phone, for the record.
for (const user of ["demo.resident", "demo.grid", "demo.worker", "demo.handler", "demo.street", "demo.secretary"]) {
  const page = await signIn(user, true);
  await page.waitForLoadState("networkidle");
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(wide <= 390 + 1, `${user}'s first page fits a phone (${wide}px wide)`);
  await shot(page, `phone-${user.replace("demo.", "")}`);
}

await browser.close();
if (problems.length) {
  console.error("browser errors:\n" + problems.join("\n"));
  process.exit(1);
}
console.log(`e2e: the loop closed in the browser (${casePath}); ${step} screenshots in e2e/artifacts/`);
