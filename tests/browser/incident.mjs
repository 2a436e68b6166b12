// Browser journey through an incident, in Debian's headless Chromium via
// playwright-core, against a running siaga server. Run by the Rust test
// `browser::declare_and_resolve_an_incident_in_chromium`, which sets:
//   SIAGA_URL, SIAGA_EMAIL, SIAGA_PASSWORD  the server and a responder login
//   SIAGA_GENERIC_KEY                        a generic integration key (payments)
//   SIAGA_ALERT_KEY                          the dedup key of an open payments alert
//   SIAGA_SCREENSHOTS                        where to put failure screenshots
// Exits 0 when the journey passes; 1 with the failing step otherwise.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`incident journey: ${name} is required`);
    process.exit(2);
  }
  return value;
};
const BASE = env('SIAGA_URL').replace(/\/+$/, '');
const SHOTS = path.resolve(env('SIAGA_SCREENSHOTS'));
mkdirSync(SHOTS, { recursive: true });
const TIMEOUT_MS = 15_000;

let current = 'start';
let page;
const pageErrors = [];

async function step(name, fn) {
  current = name;
  console.log(`[incident] step: ${name}`);
  await fn();
}

async function sendAlert(action) {
  const response = await fetch(`${BASE}/api/v1/integrations/generic`, {
    method: 'POST',
    headers: { authorization: `Bearer ${env('SIAGA_GENERIC_KEY')}`, 'content-type': 'application/json' },
    body: JSON.stringify({ action, dedup_key: env('SIAGA_ALERT_KEY'), summary: 'Card payments time out', severity: 'critical' }),
  });
  assert.equal(response.status, 200, `the generic endpoint answered ${response.status} to ${action}`);
}

async function journey(context) {
  page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e)));

  await step('log in', async () => {
    await page.goto(`${BASE}/login`);
    await page.fill('input[name=email]', env('SIAGA_EMAIL'));
    await page.fill('input[name=password]', env('SIAGA_PASSWORD'));
    await Promise.all([page.waitForURL(/\/services$/), page.locator('button[type=submit]').first().click()]);
  });

  await step('declare a SEV1 from the incidents page', async () => {
    await page.goto(`${BASE}/incidents`);
    await Promise.all([page.waitForURL(/\/incidents\/new$/), page.click('#declare')]);
    await page.fill('#title', 'Card payments fail at checkout');
    await page.check('input[name=severity][value=SEV1]');
    await page.selectOption('#services', ['payments']);
    await page.fill('#customer_impact', 'Customers cannot pay by card');
    await page.fill('#workaround', 'pay by bank transfer');
    await Promise.all([page.waitForURL(/\/incidents\/\d+$/), page.click('#declare-submit')]);
  });

  const room = page.url();
  await step('roles, checklists and talk scripts show', async () => {
    const heading = await page.locator('h1').innerText();
    assert.match(heading, /SEV1\s+INC-\d+ Card payments fail at checkout/, `heading: ${heading}`);
    assert.equal(await page.locator('#roles tr').count(), 3, 'three roles');
    assert.match(await page.locator('#roles tr[data-role=incident_owner] td').innerText(), /\S/, 'an incident owner');
    const checklists = await page.locator('#checklists').innerText();
    assert.match(checklists, /Confirm the severity/, checklists);
    assert.match(checklists, /Brief the support team/, checklists);
    assert.match(await page.locator('#talk-scripts').innerText(), /bank transfer/);
    assert.match(await page.locator('#next-update').innerText(), /Next customer-facing update due/);
  });

  const second = await context.newPage();
  second.on('pageerror', (e) => pageErrors.push(String(e)));
  await step('a second tab opens the room', async () => {
    await second.goto(room);
    await second.evaluate(() => {
      window.__sameDocument = true;
    });
  });

  await step('an update posted in the first tab appears in the second without reload', async () => {
    await page.fill('#update-body', 'Card payments time out at the gateway; failing over.');
    await page.check('input[name=kind][value=public]');
    await Promise.all([page.waitForURL(room), page.click('#post-update')]);
    await second
      .locator('#timeline li', { hasText: 'failing over' })
      .waitFor({ state: 'visible', timeout: TIMEOUT_MS });
    assert.equal(await second.evaluate(() => window.__sameDocument), true, 'the second tab did not reload');
  });

  await step('ticking a checklist item', async () => {
    await Promise.all([page.waitForURL(room), page.locator('#checklists li button').first().click()]);
    assert.match(await page.locator('#checklists').innerText(), /✓/);
  });

  await step('handing the comms lead over from its own row', async () => {
    const row = page.locator('#handover tr[data-role=comms_lead]');
    await row.locator('select[name=person]').selectOption('hendra');
    await Promise.all([page.waitForURL(room), row.locator('button').click()]);
    assert.match(await page.locator('#roles tr[data-role=comms_lead] td').innerText(), /hendra/);
  });

  await step('resolve is refused while the payments alert is open', async () => {
    await page.click('#resolve');
    await page.waitForLoadState();
    const body = await page.locator('main').innerText();
    assert.match(body, /Not resolved/, body);
    assert.match(body, /payments has 1 open alert/, body);
  });

  await step('the alert resolves; after the settle time, resolve succeeds', async () => {
    await sendAlert('resolve');
    await page.goto(room);
    const deadline = Date.now() + TIMEOUT_MS;
    // Settling takes a few seconds; the room says when recovery is seen.
    while (!/have recovered/.test(await page.locator('#recovery').innerText())) {
      assert.ok(Date.now() < deadline, `recovery never seen: ${await page.locator('#recovery').innerText()}`);
      await page.waitForTimeout(500);
      await page.goto(room);
    }
    await Promise.all([page.waitForURL(room), page.click('#resolve')]);
    assert.match(await page.locator('#incident-status').innerText(), /resolved/);
    await second
      .locator('#timeline li', { hasText: 'services recovered' })
      .waitFor({ state: 'visible', timeout: TIMEOUT_MS });
  });

  await step('logging out ends the second tab\'s live timeline, and it says so', async () => {
    await Promise.all([page.waitForURL(/\/login/), page.locator('form[action="/logout"] button').first().click()]);
    const stale = second.locator('#timeline-stale');
    // First it tries again; refused, it stops and says why.
    await second.waitForFunction(
      () => /session ended/.test(document.getElementById('timeline-stale')?.textContent || ''),
      null,
      { timeout: TIMEOUT_MS },
    );
    assert.equal(await stale.locator('a').getAttribute('href'), `/login?next=${encodeURIComponent(new URL(room).pathname)}`);
  });

  assert.deepEqual(pageErrors, [], `no JavaScript errors: ${JSON.stringify(pageErrors)}`);
}

async function main() {
  const watchdog = setTimeout(() => {
    console.error(`incident journey FAILED: timed out in step "${current}"`);
    process.exit(1);
  }, 120_000);
  watchdog.unref();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(TIMEOUT_MS);
    await journey(context);
    console.log('[incident] journey passed');
  } catch (err) {
    if (page) await page.screenshot({ path: path.join(SHOTS, 'incident-failure.png'), fullPage: true }).catch(() => {});
    console.error(`incident journey FAILED in step "${current}"\n  ${err && err.message ? err.message : err}\n  page url: ${page ? page.url() : '-'}`);
    process.exitCode = 1;
  } finally {
    await browser.close().catch(() => {});
  }
}

main();
