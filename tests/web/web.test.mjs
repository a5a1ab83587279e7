// web.test.mjs — end-to-end tests of kplane's web page in Debian's headless chromium, driven by playwright-core.
//
// Runs against a live `kplane serve --demo` at KPLANE_URL (three embedded clusters demo-a/b/c with one
// 10-partition topic each, a group over all three with parallelism 30, a steady message stream).
// Never downloads a browser: executablePath is Debian's chromium (CHROMIUM overrides it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const BASE = (process.env.KPLANE_URL || '').replace(/\/+$/, '');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const HERE = path.dirname(fileURLToPath(import.meta.url));
/* docs/screenshot.png is rewritten only on request, so a test run leaves the tree clean. */
const SCREENSHOT = process.env.KPLANE_SCREENSHOT ||
  (process.env.KPLANE_UPDATE_SCREENSHOT === '1' ? path.resolve(HERE, '../../docs/screenshot.png') : '');
const SHOTS = fs.mkdtempSync(path.join(os.tmpdir(), 'kplane-web-shots-'));
const T = { timeout: 60_000 };

if (!BASE) throw new Error('KPLANE_URL is not set (run tests/web/run.sh, which starts a server)');

let context, page, userDataDir;
const pageErrors = [];
let demoGroup = '';

async function apiGet(p) {
  const r = await fetch(BASE + '/api/v1' + p, { headers: { Accept: 'application/json' } });
  assert.equal(r.ok, true, `GET ${p} answered ${r.status}`);
  return r.json();
}

async function shot(name) {
  const file = path.join(SHOTS, name + '.png');
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

before(async () => {
  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kplane-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--disable-quic', '--no-first-run'],
    viewport: { width: 1440, height: 1000 },
  });
  page = context.pages()[0] || await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('dialog', (d) => d.accept());
  /* The demo seeds its clusters and group as it starts; give it a moment. */
  let groups = [], clusters = [];
  for (let i = 0; i < 60; i++) {
    groups = (await apiGet('/groups')).items;
    clusters = (await apiGet('/clusters')).items;
    if (groups.length && clusters.length >= 3) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.ok(clusters.length >= 3 && groups.length >= 1,
    `kplane serve --demo should have made clusters demo-a/b/c and a group; it has ${clusters.length} clusters and ${groups.length} groups`);
  demoGroup = groups.some((g) => g.name === 'analytics') ? 'analytics' : groups[0].name;
});

after(async () => {
  if (demoGroup) {
    /* Leave the server as the demo made it (its group running), whatever the tests did. */
    await fetch(BASE + '/api/v1/groups/' + encodeURIComponent(demoGroup) + '/start', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' }).catch(() => {});
  }
  if (context) await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
  console.log('# screenshots of each step: ' + SHOTS);
});

test('the page opens at / on the overview: the demo group runs with messages/s above zero', { timeout: 90_000 }, async () => {
  const res = await page.goto(BASE + '/');
  assert.equal(res.status(), 200);
  assert.match(res.headers()['content-type'] || '', /text\/html/);
  await page.locator('#view-overview:not([hidden])').waitFor();
  assert.equal(await page.locator('#nav-overview').getAttribute('aria-current'), 'page');
  const row = page.locator(`#ov-body tr[data-name="${demoGroup}"]`);
  await row.waitFor();
  /* the demo started its group: running, and consuming */
  await page.waitForFunction((name) => {
    const tr = document.querySelector('#ov-body tr[data-name="' + CSS.escape(name) + '"]');
    return tr && tr.cells[1].textContent === 'running' && Number(tr.cells[11].textContent.replace(/,/g, '')) > 0;
  }, demoGroup, { timeout: 60_000 });
  await page.waitForFunction(() => Number(document.getElementById('ov-rate').textContent.replace(/,/g, '')) > 0, null, { timeout: 30_000 });
  /* both demo groups run: the one reading the three clusters and the mirror copying to demo-b */
  await page.waitForFunction(() => /^2 of /.test(document.getElementById('ov-running').textContent), null, { timeout: 30_000 });
  /* Flink's column for the seed's topology: 4 of 30 tasks idle, even at 28 */
  const cells = await row.locator('td').allInnerTexts();
  assert.equal(cells[13], '4', 'Flink would leave 4 tasks idle');
  assert.equal(cells[14], '28', 'the nearest parallelism where Flink is even');
  /* the lag in time of a running group: an age (the demo keeps up: seconds at most) */
  assert.match(cells[8], /^\d+ s$/, 'the running group shows the age of its oldest unread message');
  /* every cluster, reachable (embedded, running) */
  for (const name of ['demo-a', 'demo-b', 'demo-c']) {
    const c = page.locator(`[data-testid=ov-cluster-row][data-name="${name}"]`);
    await c.waitFor();
    assert.match(await c.innerText(), /reachable/);
  }
  await shot('overview-demo');
});

test('the demo\'s lag moves on the overview: a lag figure, its age in seconds and a sparkline that is not flat', { timeout: 120_000 }, async () => {
  /* demo-b's broker is slow for 15 s of every 30 (server/app/demo.c): the mirror falls behind */
  await page.goto(BASE + '/#/overview');
  await page.waitForFunction(() => {
    const tr = document.querySelector('#ov-body tr[data-name="mirror"]');
    if (!tr) return false;
    const lag = Number(tr.cells[7].lastChild.textContent.replace(/,/g, ''));
    const pts = (tr.cells[7].querySelector('polyline').getAttribute('points') || '').split(' ').filter(Boolean);
    const heights = new Set(pts.map((p) => p.split(',')[1]));
    return lag > 0 && heights.size >= 3 && /^[1-9]\d* s$/.test(tr.cells[8].textContent);
  }, null, { timeout: 100_000, polling: 500 });
  const row = page.locator('#ov-body tr[data-name="mirror"]');
  const cells = await row.locator('td').allInnerTexts();
  console.log(`# the mirror on the overview: lag ${cells[7].trim()}, age ${cells[8]}, ${cells[10]}`);
  assert.match(await row.locator('td').nth(1).innerText(), /running/);
  await shot('overview-lag-moves');
});

test('the overview lists the service\'s instances: one process is its own leader', T, async () => {
  await page.goto(BASE + '/#/overview');
  const row = page.locator('[data-testid=ov-instance-row]');
  await row.first().waitFor();
  const fromApi = await apiGet('/instances');
  assert.equal(await row.count(), fromApi.items.length);
  assert.equal(await row.first().getAttribute('data-id'), fromApi.leader);
  await page.locator('[data-testid=ov-instance-leader]').waitFor();
  assert.match(await page.locator('[data-testid=ov-instances-mode]').innerText(), /One process/);
  // it runs every task of the demo's running groups, named by group under the count
  const tasks = (await apiGet('/instances')).items[0].tasks;
  assert.ok(tasks.length > 0, 'the demo runs tasks');
  const cell = page.locator('[data-testid=ov-instance-tasks]').first();
  await page.waitForFunction((n) => {
    const c = document.querySelector('[data-testid=ov-instance-tasks]');
    return c && c.textContent.startsWith(String(n));
  }, tasks.length, { timeout: 30_000, polling: 500 });
  assert.match(await cell.innerText(), new RegExp(tasks[0].group + ' 0, 1'));
});

test('the clusters view lists the demo\'s three clusters', T, async () => {
  await page.locator('#nav-clusters').click();
  for (const name of ['demo-a', 'demo-b', 'demo-c']) {
    await page.locator(`[data-testid=cluster-row][data-name="${name}"]`).waitFor();
  }
  const fromApi = (await apiGet('/clusters')).items.map((c) => c.name);
  const shown = await page.locator('[data-testid=cluster-row]').evaluateAll((els) => els.map((e) => e.dataset.name));
  assert.deepEqual(shown, fromApi, 'the page lists exactly what the API lists, in name order');
});

test('a cluster shows its registered topic and live metadata with partitions', T, async () => {
  await page.locator('[data-testid=cluster-row][data-name="demo-a"]').click();
  await page.locator('[data-testid=cluster-title]', { hasText: 'demo-a' }).waitFor();
  const topics = (await apiGet('/clusters/demo-a/topics')).items.filter((t) => t.name);
  assert.ok(topics.length >= 1);
  for (const t of topics) {
    const row = page.locator(`[data-testid=topic-row][data-name="${t.name}"]`);
    await row.waitFor();
    assert.match(await row.innerText(), new RegExp(`\\b${t.partitions}\\b`));
  }
  const meta = page.locator('[data-testid=metadata-topics]');
  await meta.waitFor({ timeout: 15_000 });
  assert.match(await meta.innerText(), new RegExp(topics[0].name));
  await shot('cluster');
});

test('the page lists the demo group', T, async () => {
  await page.locator('#nav-groups').click();
  await page.locator(`[data-testid=group-row][data-name="${demoGroup}"]`).waitFor();
  const fromApi = (await apiGet('/groups')).items.map((g) => g.name);
  const shown = await page.locator('[data-testid=group-row]').evaluateAll((els) => els.map((e) => e.dataset.name));
  assert.deepEqual(shown, fromApi);
});

async function submitCluster(fill) {
  await page.goto(BASE + '/#/clusters');
  await page.locator('[data-testid=cluster-row]').first().waitFor();
  if (!(await page.locator('#cluster-add').evaluate((d) => d.open))) await page.locator('#cluster-add > summary').click();
  await fill();
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/v1/clusters') && r.request().method() === 'POST'),
    page.locator('[data-testid=cluster-submit]').click(),
  ]);
  const body = await resp.json().catch(() => ({}));
  return { status: resp.status(), body };
}

test('a cluster name with a space shows the server\'s problem detail and marks the field', T, async () => {
  const { status, body } = await submitCluster(async () => {
    await page.locator('#cf-name').fill('bad name');
    await page.locator('#cf-bootstrap').fill('127.0.0.1:9');
  });
  assert.equal(status, 400, 'the server rejects the name');
  assert.ok(body.detail, 'the server explains');
  const box = page.locator('[data-testid=cluster-form-error]');
  await box.waitFor();
  const text = await box.innerText();
  assert.ok(text.includes(body.detail), `shown "${text}" carries the server's detail "${body.detail}"`);
  for (const e of body.errors || []) assert.ok(text.includes(e.message), 'each field error is shown');
  if ((body.errors || []).some((e) => e.field === 'name')) {
    assert.equal(await page.locator('#cf-name').getAttribute('aria-invalid'), 'true');
  }
});

test('an unknown client config property shows the server\'s error naming it', T, async () => {
  const name = 'webtest-' + Date.now();
  const { status, body } = await submitCluster(async () => {
    await page.locator('#cf-name').fill(name);
    await page.locator('#cf-bootstrap').fill('127.0.0.1:9');
    await page.locator('#cf-config').fill('no.such.property=1');
  });
  if (status < 300) await fetch(BASE + '/api/v1/clusters/' + name, { method: 'DELETE' });
  assert.equal(status, 400, 'the server rejects the property');
  const box = page.locator('[data-testid=cluster-form-error]');
  await box.waitFor();
  const text = await box.innerText();
  assert.ok(text.includes(body.detail), 'the server\'s detail is shown');
  assert.match(text, /no\.such\.property/, 'the property is named');
  await shot('cluster-error');
});

async function whatifGrid() {
  const g = page.locator('[data-testid=wi-grid]');
  await g.waitFor();
  return g;
}

test('moving the what-if slider re-plans the grid live', T, async () => {
  const planCalls = [];
  const onReq = (r) => { if (r.url().endsWith('/api/v1/plan') && r.method() === 'POST') planCalls.push(r.postDataJSON()); };
  page.on('request', onReq);
  await page.locator('#nav-whatif').click();
  await page.locator('[data-testid=wi-grid][data-tasks="30"]').waitFor();
  const total = Number(await page.locator('[data-testid=an-partitions]').innerText());
  assert.equal(total, 30, 'the demo\'s three 10-partition topics are loaded');
  const before30 = await (await whatifGrid()).innerHTML();

  const slider = page.locator('[data-testid=wi-slider]');
  await slider.focus();
  for (let i = 0; i < 7; i++) await page.keyboard.press('ArrowRight');
  await page.locator('[data-testid=wi-grid][data-tasks="37"]').waitFor();
  const grid = await whatifGrid();
  assert.notEqual(await grid.innerHTML(), before30, 'the grid changed');
  assert.equal(await grid.locator('.task').count(), 37, 'one tile per task');
  const idleShown = await grid.locator('.task.idle').count();
  const idle = Number(await page.locator('[data-testid=an-idle]').innerText());
  assert.ok(idle >= 7, '37 tasks over 30 partitions leave at least 7 idle');
  assert.equal(idleShown, idle, 'every idle task is drawn as idle');
  const last = planCalls.at(-1);
  assert.equal(last.parallelism, 37, 'the last request is for the slider\'s final value');
  assert.ok(planCalls.length <= 8, `coalesced: ${planCalls.length} requests for 7 slider steps`);

  /* The strategy picker re-plans too: balanced spreads 30 partitions over 30 tasks with none idle. */
  await slider.focus();
  for (let i = 0; i < 7; i++) await page.keyboard.press('ArrowLeft');
  await page.locator('[data-testid=wi-strategy]').selectOption('balanced');
  await page.waitForFunction(() => {
    const g = document.querySelector('[data-testid=wi-grid]');
    return g && g.dataset.tasks === '30' && document.querySelector('[data-testid=an-idle]').textContent === '0';
  });
  page.off('request', onReq);
});

test('the sweep chart draws busiest-task and idle-task lines for flink and balanced', T, async () => {
  for (const metric of ['max_partitions_per_task', 'idle_tasks']) {
    for (const s of ['flink', 'balanced']) {
      const p = page.locator(`[data-testid=line-${s}-${metric}]`);
      await p.waitFor();
      const d = await p.getAttribute('d');
      assert.ok((d.match(/L/g) || []).length >= 15, `${s} ${metric} has a point per parallelism`);
    }
  }
  /* At 30 tasks over 30 partitions, flink's idle line is above zero somewhere balanced's is not. */
  await page.locator('[data-testid=wi-strategy]').selectOption('flink');
  await page.locator('[data-testid=wi-grid][data-strategy=flink][data-tasks="30"]').waitFor();
  await page.locator('#wi-busy:empty').waitFor({ state: 'attached' });
  if (SCREENSHOT) {
    fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.evaluate(() => document.activeElement && document.activeElement.blur());
    await page.setViewportSize({ width: 1280, height: 600 }); /* full page then ends where the content does */
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    await page.setViewportSize({ width: 1440, height: 1000 });
    console.log('# screenshot saved to ' + SCREENSHOT);
  }
  await shot('whatif');
});

test('the what-if grid of 1,000 tasks renders in under a second', T, async () => {
  const value = page.locator('[data-testid=wi-value]');
  const t0 = Date.now();
  await value.fill('1000');
  await page.locator('[data-testid=wi-grid][data-tasks="1000"]').waitFor();
  const wall = Date.now() - t0;
  const grid = await whatifGrid();
  const renderMs = Number(await grid.getAttribute('data-render-ms'));
  const totalMs = Number(await grid.getAttribute('data-total-ms'));
  console.log(`# 1000 tasks: DOM render ${renderMs} ms, request+render ${totalMs} ms, input→grid ${wall} ms`);
  assert.equal(await grid.locator('.task').count(), 1000);
  assert.ok(renderMs < 1000, `render took ${renderMs} ms`);
  assert.ok(totalMs < 1000, `request and render took ${totalMs} ms`);
  assert.equal(await grid.locator('.task.idle').count(), 970, '970 of 1,000 tasks idle with 30 partitions');
  await shot('whatif-1000');
  await value.fill('30');
  await page.locator('[data-testid=wi-grid][data-tasks="30"]').waitFor();
});

test('the demo group runs on arrival and its throughput rises, updated in place', { timeout: 90_000 }, async () => {
  await page.goto(BASE + '/#/groups/' + encodeURIComponent(demoGroup));
  await page.locator('[data-testid=group-title]', { hasText: demoGroup }).waitFor();
  await page.waitForFunction(() => Number(document.getElementById('status').dataset.polls || 0) >= 1);
  /* `serve --demo` starts its group: nobody clicks Start. */
  assert.match(await page.locator('[data-testid=status-state]').innerText(), /running|starting/, 'the demo group runs on first sight');
  await page.waitForFunction(() => Number(document.getElementById('status').dataset.messages || 0) > 0, null, { timeout: 60_000 });
  assert.match(await page.locator('[data-testid=status-state]').innerText(), /running|starting/);
  /* A drawn bar, not only a style: its box must have a width. */
  await page.waitForFunction(() => [...document.querySelectorAll('#st-tasks .fill')].some((f) => f.getBoundingClientRect().width > 0), null, { timeout: 30_000 });
  const firstBusy = await page.evaluate(() => {
    const fills = [...document.querySelectorAll('#st-tasks .fill')];
    const i = fills.findIndex((f) => f.getBoundingClientRect().width > 0);
    window.__bar = fills[i].parentNode.parentNode;
    window.__lagRow = document.querySelector('#st-parts tbody tr');
    return i;
  });
  assert.ok(firstBusy >= 0);
  const m1 = Number(await page.locator('#status').getAttribute('data-messages'));
  const polls = Number(await page.locator('#status').getAttribute('data-polls'));
  await page.waitForFunction((p) => Number(document.getElementById('status').dataset.polls) >= p + 2, polls, { timeout: 15_000 });
  const m2 = Number(await page.locator('#status').getAttribute('data-messages'));
  assert.ok(m2 > m1, `messages rose from ${m1} to ${m2}`);
  const kept = await page.evaluate(() => window.__bar.isConnected && (!window.__lagRow || window.__lagRow.isConnected));
  assert.equal(kept, true, 'bars and lag rows are updated in place, not re-rendered');
  /* the lag state is judged after a few one-second samples; a healthy group reads ok */
  await page.waitForFunction(() => document.querySelector('[data-testid=status-lag-state]').textContent === 'ok', null, { timeout: 30_000 });
  const bars = await page.locator('#st-tasks .bar').count();
  const status = await apiGet('/groups/' + encodeURIComponent(demoGroup) + '/status');
  assert.equal(bars, status.tasks.length, 'one throughput bar per task');
  assert.equal(await page.locator('#st-parts tbody tr').count(), status.partitions.length, 'one lag row per partition');
  await shot('group-running');
});

test('the group page shows each task\'s sink counters, delivered rising live', { timeout: 90_000 }, async () => {
  await page.goto(BASE + '/#/groups/' + encodeURIComponent(demoGroup));
  await page.locator('[data-testid=group-title]', { hasText: demoGroup }).waitFor();
  await page.locator('[data-testid=status-sink] tbody tr').first().waitFor({ timeout: 30_000 });
  const status = await apiGet('/groups/' + encodeURIComponent(demoGroup) + '/status');
  assert.equal(await page.locator('[data-testid=status-sink] tbody tr').count(), status.tasks.length, 'one sink row per task');
  const delivered = () => page.evaluate(() => [...document.querySelectorAll('#st-sink tbody tr')]
    .reduce((sum, r) => sum + (Number(r.cells[2].textContent.replace(/,/g, '')) || 0), 0));
  /* the demo's tasks deliver: the counters come from each task's sink and rise while the page polls */
  await page.waitForFunction(() => [...document.querySelectorAll('#st-sink tbody tr')]
    .some((r) => Number(r.cells[2].textContent.replace(/,/g, '')) > 0), null, { timeout: 60_000 });
  const d1 = await delivered();
  const busy = status.tasks.find((t) => t.partitions > 0);
  const row = page.locator(`#st-sink tbody tr[data-task="${busy.task}"]`);
  assert.equal(await row.locator('td').nth(1).innerText(), busy.sink.type, 'the sink\'s kind');
  for (const i of [4, 5, 6]) assert.match(await row.locator('td').nth(i).innerText(), /^\d[\d,]*$/, 'retries, dead letters, paused are counts');
  await page.waitForFunction((d) => [...document.querySelectorAll('#st-sink tbody tr')]
    .reduce((sum, r) => sum + (Number(r.cells[2].textContent.replace(/,/g, '')) || 0), 0) > d, d1, { timeout: 30_000 });
  await shot('group-sink');
});

test('the group page draws the running group\'s lag over time and keeps it growing', { timeout: 90_000 }, async () => {
  await page.goto(BASE + '/#/groups/' + encodeURIComponent(demoGroup));
  await page.locator('[data-testid=group-title]', { hasText: demoGroup }).waitFor();
  /* the server samples once a second; a few polls later the chart has several points */
  await page.waitForFunction(() => Number(document.getElementById('lag-history').dataset.samples) >= 3, null, { timeout: 60_000 });
  const drawn = await page.evaluate(() => {
    const total = document.querySelector('[data-testid=lh-total]');
    const box = total.getBoundingClientRect();
    return { points: (total.getAttribute('d').match(/[ML]/g) || []).length, width: box.width,
      parts: document.querySelectorAll('[data-testid=lh-part]').length,
      legend: document.querySelectorAll('#lh-legend li').length,
      samples: Number(document.getElementById('lag-history').dataset.samples),
      label: document.getElementById('lh-svg').getAttribute('aria-label') };
  });
  assert.ok(drawn.points >= 3, `the total line has ${drawn.points} points`);
  assert.ok(drawn.width > 0, 'the total line is laid out');
  assert.equal(drawn.parts, 4, 'the four most lagging partitions are drawn beside the total');
  assert.equal(drawn.legend, 5, 'a legend entry per line');
  assert.match(drawn.label, /samples, total now/);
  const h = await apiGet('/groups/' + encodeURIComponent(demoGroup) + '/history');
  assert.equal(h.state, 'running');
  assert.ok(h.samples.t.length >= drawn.samples, 'the page draws what the server keeps');
  /* refreshed live: more samples a few polls later, without a reload */
  await page.waitForFunction((n) => Number(document.getElementById('lag-history').dataset.samples) > n, drawn.samples, { timeout: 30_000 });
  await shot('group-lag-history');
});

test('the group page shows Flink\'s grid beside kplane\'s plan: its idle tasks hatched', T, async () => {
  await page.goto(BASE + '/#/groups/' + encodeURIComponent(demoGroup));
  await page.locator('[data-testid=group-title]', { hasText: demoGroup }).waitFor();
  const mine = page.locator('[data-testid=plan-grid][data-tasks="30"]');
  const flink = page.locator('[data-testid=flink-grid][data-tasks="30"]');
  await mine.waitFor();
  await flink.waitFor();
  /* the seed at 30: balanced leaves none idle, Flink leaves 4 idle and doubles up others */
  assert.equal(await mine.locator('.task.idle').count(), 0);
  assert.equal(await flink.locator('.task.idle').count(), 4, 'Flink\'s idle tasks are drawn hatched');
  assert.ok(await flink.locator('.task.hot').count() > 0, 'Flink\'s overloaded tasks are outlined');
  const box = await page.locator('[data-testid=plan-flink]').boundingBox();
  const left = await page.locator('[data-testid=plan-view]').boundingBox();
  assert.ok(box.x > left.x + left.width - 1, 'side by side on a wide window');
  await shot('group-side-by-side');
});

test('making two plans and comparing them shows which partitions moved', T, async () => {
  const before = (await apiGet('/groups/' + encodeURIComponent(demoGroup) + '/plans')).items.length;
  async function makePlan(par, strategy) {
    await page.locator('#pf-parallelism').fill(String(par));
    await page.locator('#pf-strategy').selectOption(strategy);
    const [resp] = await Promise.all([
      page.waitForResponse((r) => /\/plans$/.test(r.url()) && r.request().method() === 'POST'),
      page.locator('[data-testid=plan-submit]').click(),
    ]);
    assert.equal(resp.status(), 201);
    const plan = await resp.json();
    await page.locator(`[data-testid=plan-grid][data-tasks="${par}"]`).waitFor();
    assert.equal(await page.locator('[data-testid=plan-version]').inputValue(), String(plan.version), 'the new version is shown');
    return plan;
  }
  const a = await makePlan(20, 'balanced');
  const b = await makePlan(30, 'balanced');
  assert.equal((await apiGet('/groups/' + encodeURIComponent(demoGroup) + '/plans')).items.length, before + 2);
  await page.locator('[data-testid=plan-compare]').selectOption(String(a.version));
  const summary = page.locator('[data-testid=compare-summary]');
  await summary.waitFor();
  /* Count what moved ourselves from the two documents. */
  const owner = (p) => new Map(p.tasks.flatMap((t) => t.partitions.map((q) => [`${q.cluster}/${q.topic}/${q.partition}`, t.task])));
  const oa = owner(a), ob = owner(b);
  const moved = [...ob].filter(([k, t]) => oa.has(k) && oa.get(k) !== t).length;
  assert.ok(moved > 0, '20 → 30 tasks must move some partitions');
  assert.match(await summary.innerText(), new RegExp(`^${moved} of`));
  assert.equal(await page.locator('[data-testid=plan-grid] .p.moved').count(), moved, 'moved partitions are outlined');
  assert.equal(await page.locator('[data-testid=compare-moved] li').count(), moved);
  await shot('plan-compare');
});

test('stopping the group stops it, and its committed offsets stay on view', T, async () => {
  await page.locator('[data-testid=group-stop]').click();
  await page.waitForFunction(() => /^stopped/.test(document.querySelector('[data-testid=status-state]').textContent), null, { timeout: 30_000 });
  /* A stopped group's status reads the committed offsets from the clusters: the table shows
   * them (the group ran and committed in the test above), and no cluster is in error. */
  const st = await apiGet('/groups/' + encodeURIComponent(demoGroup) + '/status');
  const committed = st.partitions.filter((p) => p.committed != null);
  assert.ok(committed.length > 0, 'the stopped status carries committed offsets');
  const p = committed[0];
  const key = `${p.cluster}/${p.topic}/${p.partition}`;
  const col = await page.evaluate(() => [...document.querySelectorAll('#st-parts thead th')].findIndex((th) => th.textContent === 'Committed'));
  assert.ok(col > 0, 'the lag table has a Committed column');
  await page.waitForFunction(([k, v, c]) => {
    const row = document.querySelector('#st-parts tbody tr[data-key="' + CSS.escape(k) + '"]');
    return row && Number(row.cells[c].textContent.replace(/[^0-9]/g, '')) === v;
  }, [key, p.committed, col], { timeout: 15_000 });
  assert.equal(await page.locator('[data-testid=status-clusters]').isHidden(), true, 'no cluster in error');
});

test('a group is created, edited and deleted through the form', T, async () => {
  const name = 'webgroup-' + Date.now();
  const topics = (await apiGet('/clusters/demo-a/topics')).items.filter((t) => t.name);
  await page.goto(BASE + '/#/groups');
  await page.locator('[data-testid=group-new]').click();
  await page.locator('#gf-name').fill(name);
  await page.locator(`#gf-topics input[data-cluster="demo-a"][data-topic="${topics[0].name}"]`).check();
  await page.locator('#gf-parallelism').fill('7');
  await page.locator('#gf-strategy').selectOption('flink');
  await page.locator('[data-testid=group-submit]').click();
  try {
    await page.locator('[data-testid=group-title]', { hasText: name }).waitFor();
    await page.locator(`[data-testid=group-row][data-name="${name}"]`).waitFor();
    let g = await apiGet('/groups/' + name);
    assert.equal(g.parallelism, 7);
    assert.equal(g.strategy, 'flink');
    assert.deepEqual(g.topics, [{ cluster: 'demo-a', topic: topics[0].name }]);

    await page.locator('#group-edit > summary').click();
    await page.locator('#gf-parallelism').fill('9');
    await page.locator('[data-testid=group-submit]').click();
    await page.locator(`[data-testid=group-row][data-name="${name}"]`, { hasText: '9 ×' }).waitFor();
    await page.locator('[data-testid=group-submit]:enabled').waitFor();
    g = await apiGet('/groups/' + name);
    assert.equal(g.parallelism, 9, 'the edit reached the server');

    /* A bad edit shows the server's field error. */
    await page.locator('#gf-parallelism').fill('0');
    await page.locator('[data-testid=group-submit]').click();
    const box = page.locator('[data-testid=group-form-error]');
    await box.waitFor();
    assert.match(await box.innerText(), /parallelism/);
    assert.equal(await page.locator('#gf-parallelism').getAttribute('aria-invalid'), 'true');

    await page.locator('[data-testid=group-delete]').click(); /* confirm() is accepted */
    await page.locator(`[data-testid=group-row][data-name="${name}"]`).waitFor({ state: 'detached' });
    const r = await fetch(BASE + '/api/v1/groups/' + name);
    assert.equal(r.status, 404, 'deleted on the server');
  } finally {
    await fetch(BASE + '/api/v1/groups/' + name, { method: 'DELETE' }).catch(() => {});
  }
});

test('the page is usable from the keyboard with a visible focus ring', T, async () => {
  await page.goto(BASE + '/#/clusters');
  await page.locator('[data-testid=cluster-row]').first().waitFor();
  let id = '';
  for (let i = 0; i < 6 && id !== 'nav-groups'; i++) {
    await page.keyboard.press('Tab');
    id = await page.evaluate(() => document.activeElement.id);
  }
  assert.equal(id, 'nav-groups', 'Tab reaches the navigation');
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none', 'focus is visible');
  await page.keyboard.press('Enter');
  await page.locator('#view-groups:not([hidden])').waitFor();
  /* A group opens from the keyboard: its row is a real button. */
  const row = page.locator(`[data-testid=group-row][data-name="${demoGroup}"]`);
  await row.focus();
  await page.keyboard.press('Enter');
  await page.locator('[data-testid=group-title]', { hasText: demoGroup }).waitFor();
});

test('a 401 asks once for the API token, keeps it, and sends it as a Bearer token', T, async () => {
  const TOKEN = 'web-test-token';
  let unauthorized = 0, authorized = 0;
  await page.goto(BASE + '/#/clusters');
  await page.evaluate(() => localStorage.clear());
  /* The demo server runs without a token; play the server's part for 401s in the browser. */
  await page.route('**/api/v1/**', (route) => {
    const auth = route.request().headers().authorization;
    if (auth !== 'Bearer ' + TOKEN) {
      unauthorized++;
      return route.fulfill({ status: 401, headers: { 'WWW-Authenticate': 'Bearer', 'Content-Type': 'application/problem+json' },
        body: JSON.stringify({ type: 'about:blank', title: 'Unauthorized', status: 401, detail: 'missing or wrong token' }) });
    }
    authorized++;
    return route.continue();
  });
  try {
    await page.reload();
    const dialog = page.locator('[data-testid=token-dialog]');
    await dialog.waitFor({ state: 'visible' });
    await page.locator('[data-testid=token-input]').fill(TOKEN);
    await page.keyboard.press('Enter');
    await page.locator('[data-testid=cluster-row][data-name="demo-a"]').waitFor();
    assert.equal(await dialog.isVisible(), false);
    assert.equal(await page.evaluate(() => localStorage.getItem('kplane.token')), TOKEN, 'kept in localStorage');
    assert.ok(unauthorized >= 1 && authorized >= 1);
    /* A reload uses the kept token without asking. */
    const before = unauthorized;
    await page.reload();
    await page.locator('[data-testid=cluster-row][data-name="demo-a"]').waitFor();
    assert.equal(unauthorized, before, 'no request went without the token after it was given');
    assert.equal(await dialog.isVisible(), false, 'not asked again');
  } finally {
    await page.unroute('**/api/v1/**');
    await page.evaluate(() => localStorage.clear());
  }
});

async function apiPost(p, body) {
  const r = await fetch(BASE + '/api/v1' + p, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  return r.status;
}

const ovNames = () => page.evaluate(() => [...document.querySelectorAll('#ov-body tr[data-name]')].map((tr) => tr.dataset.name));

test('the overview sorts by every column and filters by name; a click opens the group', T, async () => {
  /* a few stopped groups beside the running demo groups */
  for (const [name, par] of [['ov-b', 7], ['ov-a', 12], ['ov-c', 3]]) {
    assert.equal(await apiPost('/groups', { name, parallelism: par, topics: [{ cluster: 'demo-a', topic: 'orders' }] }), 201);
  }
  await page.goto(BASE + '/#/overview');
  await page.waitForFunction(() => ['ov-a', 'ov-b', 'ov-c'].every((n) => document.querySelector('#ov-body tr[data-name="' + n + '"]')));
  /* lag first: a running group (the demo's two are the only ones with a lag figure) leads */
  assert.equal(await page.locator('#ov-head th[data-key=lag]').getAttribute('aria-sort'), 'descending');
  assert.ok([demoGroup, 'mirror'].includes((await ovNames())[0]), 'a running group leads');
  /* by name: A to Z, then Z to A */
  await page.locator('[data-testid=ov-sort-name]').click();
  let names = await ovNames();
  assert.deepEqual(names, [...names].sort(), 'ascending by name');
  assert.equal(await page.locator('#ov-head th[data-key=name]').getAttribute('aria-sort'), 'ascending');
  await page.locator('[data-testid=ov-sort-name]').click();
  names = await ovNames();
  assert.deepEqual(names, [...names].sort().reverse(), 'descending by name');
  /* by parallelism, biggest first */
  await page.locator('[data-testid=ov-sort-parallelism]').click();
  const pars = await page.evaluate(() => [...document.querySelectorAll('#ov-body tr[data-name]')].map((tr) => Number(tr.cells[2].textContent)));
  assert.deepEqual(pars, [...pars].sort((a, b) => b - a));
  /* every column sorts (its header says so) */
  for (const key of await page.locator('#ov-head th').evaluateAll((ths) => ths.map((t) => t.dataset.key))) {
    await page.locator(`[data-testid=ov-sort-${key}]`).click();
    assert.notEqual(await page.locator(`#ov-head th[data-key=${key}]`).getAttribute('aria-sort'), 'none', key);
  }
  /* filter by name */
  await page.locator('[data-testid=ov-filter]').fill('ov-');
  await page.waitForFunction(() => document.getElementById('ov-table').dataset.count === '3');
  assert.deepEqual((await ovNames()).sort(), ['ov-a', 'ov-b', 'ov-c']);
  assert.match(await page.locator('[data-testid=ov-count]').innerText(), /^3 of /);
  /* the filter survives a refresh */
  const r0 = Number(await page.locator('#view-overview').getAttribute('data-refreshes'));
  await page.waitForFunction((r) => Number(document.getElementById('view-overview').dataset.refreshes) > r, r0);
  assert.equal(await page.locator('#ov-table').getAttribute('data-count'), '3');
  await page.locator('[data-testid=ov-filter]').fill('');
  /* a click on a row opens the group */
  await page.locator(`#ov-body tr[data-name="ov-a"] td:nth-child(3)`).click();
  await page.locator('[data-testid=group-title]', { hasText: 'ov-a' }).waitFor();
  for (const name of ['ov-a', 'ov-b', 'ov-c']) await fetch(BASE + '/api/v1/groups/' + name, { method: 'DELETE' });
});

test('the overview sorts and opens a group from the keyboard alone, focus kept across refreshes', T, async () => {
  for (const [name, par] of [['kb-b', 5], ['kb-a', 9]]) {
    assert.equal(await apiPost('/groups', { name, parallelism: par, topics: [{ cluster: 'demo-a', topic: 'orders' }] }), 201);
  }
  await page.goto(BASE + '/#/overview');
  await page.waitForFunction(() => ['kb-a', 'kb-b'].every((n) => document.querySelector('#ov-body tr[data-name="' + n + '"]')));
  const focused = () => page.evaluate(() => document.activeElement && (document.activeElement.dataset.testid || document.activeElement.id || document.activeElement.tagName));
  /* from the top of the page, Tab alone reaches the Group column's sort button */
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  let at = '';
  for (let i = 0; i < 40 && at !== 'ov-sort-name'; i++) {
    await page.keyboard.press('Tab');
    at = await focused();
  }
  assert.equal(at, 'ov-sort-name', 'Tab reaches the sort button of the Group column');
  assert.notEqual(await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle), 'none', 'its focus is visible');
  await page.keyboard.press('Enter');
  assert.equal(await page.locator('#ov-head th[data-key=name]').getAttribute('aria-sort'), 'ascending', 'Enter sorts A to Z');
  let names = await ovNames();
  assert.deepEqual(names, [...names].sort());
  await page.keyboard.press('Space');
  assert.equal(await page.locator('#ov-head th[data-key=name]').getAttribute('aria-sort'), 'descending', 'Space sorts the other way');
  names = await ovNames();
  assert.deepEqual(names, [...names].sort().reverse());
  /* a refresh redraws the rows in place: the focus stays on the button and the order holds */
  const r0 = Number(await page.locator('#view-overview').getAttribute('data-refreshes'));
  await page.waitForFunction((r) => Number(document.getElementById('view-overview').dataset.refreshes) > r, r0);
  assert.equal(await focused(), 'ov-sort-name', 'focus survives a refresh');
  assert.deepEqual(await ovNames(), [...names].sort().reverse());
  /* on through the table: the first group's link is reached by Tab and opened by Enter */
  const first = (await ovNames())[0];
  let inRow = null;
  for (let i = 0; i < 40 && inRow !== first; i++) {
    await page.keyboard.press('Tab');
    inRow = await page.evaluate(() => { const tr = document.activeElement.closest('#ov-body tr[data-name]'); return tr && document.activeElement.tagName === 'A' ? tr.dataset.name : null; });
  }
  assert.equal(inRow, first, 'Tab reaches the link of the first row');
  await page.keyboard.press('Enter');
  await page.locator('[data-testid=group-title]', { hasText: first }).waitFor();
  for (const name of ['kb-a', 'kb-b']) await fetch(BASE + '/api/v1/groups/' + name, { method: 'DELETE' });
});

/* Issue 16 item 4's scale: 1,000 groups reading 100,000 partitions in all. An embedded cluster
   holds ten topics of 55, 65, ..., 145 partitions (1,000 in all, within KP_EMBEDDED_*_MAX);
   group i reads topic i % 10, so each topic is read by 100 groups: 100 x 1,000 = 100,000. */
const SCALE_TOPICS = Array.from({ length: 10 }, (_, k) => ({ name: 'scale' + k, partitions: 55 + 10 * k }));
const SCALE_PARTITIONS = 100_000;

async function seedScale() {
  const have = new Set((await apiGet('/clusters')).items.map((c) => c.name));
  if (!have.has('scale')) {
    assert.equal(await apiPost('/clusters', { name: 'scale', embedded: { brokers: 1, topics: SCALE_TOPICS } }), 201);
  }
  const registered = new Set((await apiGet('/clusters/scale/topics')).items.map((t) => t.name));
  for (const t of SCALE_TOPICS) {
    if (!registered.has(t.name)) assert.equal(await apiPost('/clusters/scale/topics', { name: t.name }), 201);
  }
  const groups = new Set((await apiGet('/groups')).items.map((g) => g.name));
  const todo = [];
  for (let i = 0; i < 1000; i++) {
    const name = 'load' + String(i).padStart(4, '0');
    if (groups.has(name)) continue;
    todo.push(() => apiPost('/groups', { name, parallelism: 5 + (i % 40), strategy: ['balanced', 'flink', 'range'][i % 3],
      topics: [{ cluster: 'scale', topic: SCALE_TOPICS[i % 10].name }] }));
  }
  for (let i = 0; i < todo.length; i += 20) {
    const st = await Promise.all(todo.slice(i, i + 20).map((f) => f()));
    assert.ok(st.every((x) => x === 201), `created: ${st}`);
  }
}

/* How the page's main thread fares: every long task (over 50 ms, the browser's own measure of
   a frozen page) and how late a 50 ms timer fires at worst. Installed before the page's script. */
function responsivenessProbe() {
  window.__kpLong = [];
  window.__kpLate = 0;
  try {
    new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__kpLong.push(Math.round(e.duration)); })
      .observe({ type: 'longtask', buffered: true });
  } catch (e) { /* no longtask timing: the timer below still tells */ }
  let last = performance.now();
  setInterval(() => { const now = performance.now(); window.__kpLate = Math.max(window.__kpLate, now - last - 50); last = now; }, 50);
}

test('the overview of 1,000 groups and 100,000 partitions draws only the rows in view, fast, and refreshes in place', { timeout: 400_000 }, async () => {
  await seedScale();
  const ov = (await apiGet('/overview')).groups;
  const load = ov.filter((g) => g.name.startsWith('load'));
  const partitions = load.reduce((n, g) => n + g.partitions, 0);
  assert.equal(load.length, 1000);
  assert.equal(partitions, SCALE_PARTITIONS, 'the 1,000 groups read 100,000 partitions in all');
  const total = ov.length;
  await page.addInitScript(responsivenessProbe);
  const overviewCalls = [], otherCalls = [];
  const onReq = (r) => { if (r.url().includes('/api/v1/')) (r.url().endsWith('/api/v1/overview') ? overviewCalls : otherCalls).push(r.url()); };
  const bodies = [];
  const onResp = async (r) => { if (r.url().endsWith('/api/v1/overview')) bodies.push((await r.body().catch(() => Buffer.alloc(0))).length); };
  await page.goto('about:blank');
  page.on('request', onReq);
  page.on('response', onResp);
  await page.goto(BASE + '/#/overview');
  await page.waitForFunction((n) => document.getElementById('ov-table').dataset.count === String(n) && document.getElementById('view-overview').dataset.firstDrawMs, total, { timeout: 30_000 });
  const firstDraw = Number(await page.locator('#view-overview').getAttribute('data-first-draw-ms'));
  const drawn = await page.locator('#ov-body tr[data-name]').count();
  assert.ok(drawn < 100, `only the rows in view are drawn: ${drawn} of ${total}`);
  assert.equal(await page.locator('#ov-table').getAttribute('aria-rowcount'), String(total + 1));
  /* refreshes: fetch + render, three of them, each one request for every group's summary */
  const r0 = Number(await page.locator('#view-overview').getAttribute('data-refreshes'));
  const calls0 = overviewCalls.length, others0 = otherCalls.length;
  const refreshMs = [];
  for (let r = r0 + 1; r <= r0 + 3; r++) {
    await page.waitForFunction((n) => Number(document.getElementById('view-overview').dataset.refreshes) >= n, r, { timeout: 30_000 });
    refreshMs.push(Number(await page.locator('#view-overview').getAttribute('data-refresh-ms')));
  }
  const refreshCalls = overviewCalls.length - calls0, refreshOthers = otherCalls.length - others0;
  const { longTasks, late, nodes } = await page.evaluate(() => ({
    longTasks: window.__kpLong.slice(), late: Math.round(window.__kpLate), nodes: document.getElementsByTagName('*').length }));
  const longest = Math.max(0, ...longTasks);
  const bytes = Math.max(0, ...bodies);
  console.log(`# overview of ${total} groups (${SCALE_PARTITIONS.toLocaleString('en')} partitions in the 1,000 loaded): ` +
    `navigation to table drawn ${firstDraw} ms, one refresh (fetch + render) ${refreshMs.join(' / ')} ms, ` +
    `${drawn} rows and ${nodes} elements in the DOM, longest main-thread task ${longest} ms (${longTasks.length} over 50 ms), ` +
    `a 50 ms timer at worst ${late} ms late, ${refreshCalls} requests for 3 refreshes (${refreshOthers} others), overview answer ${Math.round(bytes / 1024)} KiB`);
  /* Bounds for a loaded 2-core box, and what they exclude. Measured on the shared box: this
     page drew the table 610 ms after navigation, refreshed in 100-300 ms, held 1,164 elements
     and its longest task was 140-180 ms. The same page made to draw every row (the scroll
     box's max-height lifted, so its window covers all 1,002) held 22,395 elements, froze for
     2,750 ms in one task, a 50 ms timer fired 6.4 s late and the table came after 3.1 s: the
     DOM and long-task bounds fail it; a page drawing every partition (100,000 cells at least)
     fails them further. Fetching partitions, not summaries, means 1,000 requests or an answer
     of megabytes (the request and size bounds; the summaries are ~570 bytes a group). */
  assert.ok(firstDraw < 5000, `navigation to table drawn took ${firstDraw} ms`);
  assert.ok(Math.min(...refreshMs) < 2000, `one refresh took ${refreshMs.join(' / ')} ms`);
  assert.ok(nodes < 3000, `${nodes} elements in the DOM: the page draws what is visible, not every row`);
  assert.ok(refreshCalls <= 4 && refreshOthers === 0, `${refreshCalls} overview requests and ${refreshOthers} others for 3 refreshes: one summary request each`);
  assert.ok(bytes < total * 2048, `the overview answer is ${bytes} bytes for ${total} groups: summaries, not partitions`);
  assert.ok(longest < 1000, `the page froze for ${longest} ms (long tasks: ${longTasks.join(', ')})`);
  page.off('request', onReq);
  page.off('response', onResp);
  /* scrolling draws the rows that come into view; the scroll position survives refreshes */
  await page.locator('#ov-scroll').evaluate((el) => { el.scrollTop = 500 * 33; });
  await page.waitForFunction(() => Number(document.getElementById('ov-body').dataset.first) > 400);
  const mid = await ovNames();
  assert.ok(mid.some((n) => /^load0[45]/.test(n)) || mid.length > 0, 'rows from the middle are drawn');
  const r1 = Number(await page.locator('#view-overview').getAttribute('data-refreshes'));
  await page.waitForFunction((r) => Number(document.getElementById('view-overview').dataset.refreshes) >= r + 2, r1, { timeout: 30_000 });
  assert.equal(await page.locator('#ov-scroll').evaluate((el) => el.scrollTop), 500 * 33, 'scroll kept across refreshes');
  /* focus kept across refreshes: a focused name link stays focused and in the DOM */
  const link = page.locator('#ov-body tr[data-name] td.name a').nth(10);
  await link.focus();
  const focusedName = await link.innerText();
  const r2 = Number(await page.locator('#view-overview').getAttribute('data-refreshes'));
  await page.waitForFunction((r) => Number(document.getElementById('view-overview').dataset.refreshes) >= r + 2, r2, { timeout: 30_000 });
  assert.equal(await page.evaluate(() => document.activeElement && document.activeElement.textContent), focusedName, 'focus kept across refreshes');
  await page.locator('#ov-scroll').evaluate((el) => { el.scrollTop = 0; });
  await shot('overview-1000');
});

test('the overview keeps refreshing for a minute without console errors', { timeout: 120_000 }, async () => {
  const errors = [];
  const onConsole = (m) => { if (m.type() === 'error') errors.push(m.text()); };
  page.on('console', onConsole);
  try {
    await page.goto(BASE + '/#/overview');
    await page.waitForFunction(() => Number(document.getElementById('view-overview').dataset.refreshes) >= 1);
    const r0 = Number(await page.locator('#view-overview').getAttribute('data-refreshes'));
    const t0 = Date.now();
    await page.waitForTimeout(60_000);
    const r1 = Number(await page.locator('#view-overview').getAttribute('data-refreshes'));
    console.log(`# ${r1 - r0} refreshes in ${Math.round((Date.now() - t0) / 1000)} s`);
    assert.ok(r1 - r0 >= 15, `kept refreshing: ${r1 - r0} refreshes in a minute`);
    assert.deepEqual(errors, []);
    assert.equal(await page.locator('#ov-error').isHidden(), true);
  } finally { page.off('console', onConsole); }
});

test('screenshots of the overview: desktop and phone width, light and dark', { timeout: 120_000 }, async () => {
  /* as a newcomer sees it: the demo group running (an earlier test stopped it) */
  await apiPost('/groups/' + encodeURIComponent(demoGroup) + '/start', {});
  const files = [];
  for (const [w, h, scheme] of [[1440, 900, 'light'], [1440, 900, 'dark'], [390, 844, 'light'], [390, 844, 'dark']]) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.setViewportSize({ width: w, height: h });
    await page.goto(BASE + '/#/overview');
    await page.waitForFunction(() => Number(document.getElementById('view-overview').dataset.refreshes) >= 2);
    await page.locator('[data-testid=ov-filter]').fill('');
    await page.waitForFunction(() => Number(document.getElementById('ov-rate').textContent.replace(/,/g, '')) > 0, null, { timeout: 30_000 });
    /* a few seconds after a start the lag state is judged: show it, not UNKNOWN */
    await page.waitForFunction((name) => {
      const tr = document.querySelector('#ov-body tr[data-name="' + CSS.escape(name) + '"]');
      return tr && tr.cells[10].textContent !== 'UNKNOWN';
    }, demoGroup, { timeout: 20_000 }).catch(() => {});
    await page.evaluate(() => document.activeElement && document.activeElement.blur());
    /* the page fits the width: no sideways scroll of the whole page at phone width */
    const over = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(over <= 1, `page wider than the window by ${over}px at ${w}px`);
    files.push(await shot(`overview-${w}-${scheme}`));
    if (w === 1440 && scheme === 'light' && process.env.KPLANE_UPDATE_SCREENSHOT === '1') {
      await page.setViewportSize({ width: 1280, height: 720 });
      await page.screenshot({ path: path.resolve(HERE, '../../docs/overview.png') });
      console.log('# overview screenshot saved to docs/overview.png');
    }
  }
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize({ width: 1440, height: 1000 });
  console.log('# overview screenshots: ' + files.join(' '));
});

test('no script errors happened on the page', T, async () => {
  assert.deepEqual(pageErrors, []);
});
