// Browser journey test for siaga's server-rendered service catalogue.
//
// Drives Debian's headless Chromium through playwright-core against a running
// siaga server. Run by the Rust integration test, which starts the server and sets:
//   SIAGA_URL          base URL, e.g. http://127.0.0.1:43123
//   SIAGA_EMAIL        admin login
//   SIAGA_PASSWORD     admin password
//   SIAGA_SCREENSHOTS  directory for full-page PNGs (created if missing)
//   CHROMIUM           optional, Chromium binary (default /usr/bin/chromium)
// Exits 0 when the whole journey passes, 1 with a message naming the step, what
// was expected, what was found and the page URL otherwise.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const ACTION_TIMEOUT_MS = 10_000;
const OVERALL_TIMEOUT_MS = 120_000;
const DESKTOP = { width: 1280, height: 900 };
const MOBILE = { width: 390, height: 844 };
const NAV_LINKS = ['Alerts', 'Services', 'Teams', 'People', 'Audit log'];
// Optional: the key of a generic integration, to watch a new alert arrive live.
const GENERIC_KEY = process.env.SIAGA_GENERIC_KEY || '';
const SERVICES = ['checkout', 'payments', 'storefront', 'payment-partner'];

function requireEnv(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`siaga browser journey: environment variable ${name} is required but not set`);
    process.exit(2);
  }
  return value;
}

const BASE = requireEnv('SIAGA_URL').replace(/\/+$/, '');
const EMAIL = requireEnv('SIAGA_EMAIL');
const PASSWORD = requireEnv('SIAGA_PASSWORD');
const SHOTS = path.resolve(requireEnv('SIAGA_SCREENSHOTS'));
mkdirSync(SHOTS, { recursive: true });

let currentStep = 'start';
let page; // the page of the journey, for failure reports
const pageErrors = [];
const dialogs = [];

// ---------------------------------------------------------------- helpers

function log(msg) {
  console.log(`[browser] ${msg}`);
}

async function step(name, fn) {
  currentStep = name;
  log(`step: ${name}`);
  await fn();
}

function pathOf(p) {
  return new URL(p.url()).pathname;
}

/** Fails unless the page is at `expected` (a pathname). */
function expectPath(p, expected, context) {
  const found = pathOf(p);
  assert.equal(
    found,
    expected,
    `${context}: expected the browser to be at path ${expected}, found ${found} (url ${p.url()})`,
  );
}

async function goto(p, pathname, { expectStatusOk = true } = {}) {
  const response = await p.goto(BASE + pathname, { waitUntil: 'load' });
  assert.ok(response, `GET ${pathname}: expected an HTTP response, found none`);
  if (expectStatusOk) {
    assert.ok(
      response.status() < 400,
      `GET ${pathname}: expected a 2xx/3xx status, found ${response.status()} (url ${p.url()})`,
    );
  }
  return response;
}

/** Runs `action` (a click or submit) and waits for the resulting page load. */
async function navigateBy(p, description, action) {
  const [response] = await Promise.all([
    p.waitForNavigation({ waitUntil: 'load' }),
    action(),
  ]);
  if (response) {
    assert.ok(
      response.status() < 500,
      `${description}: expected the server to answer without error, found status ${response.status()} (url ${p.url()})`,
    );
  }
  return response;
}

async function count(locator) {
  return locator.count();
}

async function expectAtLeast(locator, min, what) {
  const n = await count(locator);
  assert.ok(n >= min, `${what}: expected at least ${min}, found ${n} (url ${page.url()})`);
  return n;
}

async function texts(locator) {
  return (await locator.allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim());
}

function hasWord(list, word) {
  const re = new RegExp(`(^|[^\\w-])${word.replace(/[-]/g, '\\-')}([^\\w-]|$)`);
  return list.some((t) => re.test(t));
}

async function screenshot(p, name) {
  const file = path.join(SHOTS, name);
  await p.screenshot({ path: file, fullPage: true });
  log(`  screenshot ${file}`);
}

/** The chrome every logged-in page shares: nav links and a logout form. */
async function checkChrome(p, where) {
  const nav = p.locator('nav');
  assert.ok((await count(nav)) >= 1, `${where}: expected a <nav> element, found none (url ${p.url()})`);
  for (const name of NAV_LINKS) {
    const n = await count(nav.getByRole('link', { name, exact: true }));
    const found = await texts(p.locator('nav a'));
    assert.ok(
      n >= 1,
      `${where}: expected <nav> to contain a link with text "${name}", found links ${JSON.stringify(found)} (url ${p.url()})`,
    );
  }
  const logoutButtons = p.locator('form[action="/logout"] button');
  assert.ok(
    (await count(logoutButtons)) >= 1,
    `${where}: expected a logout form form[action="/logout"] with a button, found ${await count(p.locator('form[action="/logout"]'))} such form(s) and no button (url ${p.url()})`,
  );
}

/** Fails if the document is wider than the viewport, naming the widest culprits. */
async function checkNoHorizontalScroll(p, where) {
  const m = await p.evaluate(() => {
    const vw = window.innerWidth;
    const describe = (el) => {
      let s = el.tagName.toLowerCase();
      if (el.id) s += `#${el.id}`;
      if (typeof el.className === 'string' && el.className.trim()) {
        s += '.' + el.className.trim().split(/\s+/).join('.');
      }
      return s;
    };
    const wide = [...document.body.querySelectorAll('*')]
      .map((el) => ({ el, right: el.getBoundingClientRect().right }))
      .filter((x) => x.right > vw + 1)
      .sort((a, b) => b.right - a.right)
      .slice(0, 5)
      .map((x) => `${describe(x.el)} (right edge ${Math.round(x.right)}px)`);
    return { scrollWidth: document.documentElement.scrollWidth, innerWidth: vw, wide };
  });
  assert.ok(
    m.scrollWidth <= m.innerWidth + 1,
    `${where}: expected no horizontal scrolling at ${MOBILE.width}x${MOBILE.height} ` +
      `(document.documentElement.scrollWidth <= window.innerWidth + 1), found scrollWidth ${m.scrollWidth} ` +
      `and innerWidth ${m.innerWidth}; widest elements: ${m.wide.join(', ') || 'none found'} (url ${p.url()})`,
  );
}

// ---------------------------------------------------------------- journey

async function journey(context) {
  page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(`${page.url()}: ${err.message}`));
  // Whatever the pages' Content-Security-Policy refuses is a fault too.
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content Security Policy/i.test(msg.text())) {
      pageErrors.push(`${page.url()}: ${msg.text()}`);
    }
  });
  page.on('dialog', async (d) => {
    dialogs.push(`${page.url()}: ${d.type()} "${d.message()}"`);
    await d.dismiss().catch(() => {});
  });

  await step('anonymous GET /services redirects to /login', async () => {
    await goto(page, '/services');
    expectPath(page, '/login', 'GET /services while logged out');
  });

  await step('login form is present', async () => {
    for (const sel of ['input[name=email]', 'input[name=password]', 'button[type=submit]']) {
      const n = await count(page.locator(`form ${sel}`));
      assert.ok(n >= 1, `/login: expected a form with ${sel}, found ${n} (url ${page.url()})`);
    }
    await screenshot(page, 'login.png');
  });

  await step('wrong password shows .flash-error and stays on /login', async () => {
    await page.fill('input[name=email]', EMAIL);
    await page.fill('input[name=password]', `${PASSWORD}-definitely-wrong`);
    await navigateBy(page, 'submitting a wrong password', () =>
      page.locator('button[type=submit]').first().click(),
    );
    expectPath(page, '/login', 'after a wrong password');
    const flash = page.locator('.flash-error');
    assert.ok(
      (await count(flash)) >= 1 && (await flash.first().isVisible()),
      `after a wrong password: expected a visible .flash-error element, found ${await count(flash)} (url ${page.url()})`,
    );
  });

  await step('correct credentials redirect to /services', async () => {
    await page.fill('input[name=email]', EMAIL);
    await page.fill('input[name=password]', PASSWORD);
    await navigateBy(page, 'submitting correct credentials', () =>
      page.locator('button[type=submit]').first().click(),
    );
    expectPath(page, '/services', `after logging in as ${EMAIL}`);
    await checkChrome(page, '/services');
  });

  await step('/services lists services with links', async () => {
    for (const name of SERVICES) {
      const rows = page.locator(`table tr[data-service="${name}"]`);
      const found = await page.locator('tr[data-service]').evaluateAll((trs) => trs.map((t) => t.dataset.service));
      assert.equal(
        await count(rows),
        1,
        `/services: expected exactly one table row tr[data-service="${name}"], found rows for ${JSON.stringify(found)} (url ${page.url()})`,
      );
      const links = rows.locator(`a[href="/services/${name}"]`);
      assert.ok(
        (await count(links)) >= 1,
        `/services: expected row "${name}" to contain a link a[href="/services/${name}"], found hrefs ${JSON.stringify(await rows.locator('a').evaluateAll((as) => as.map((a) => a.getAttribute('href'))))} (url ${page.url()})`,
      );
    }
  });

  await step('/services has an inline SVG dependency graph', async () => {
    const svg = page.locator('svg#dependency-graph');
    assert.equal(await count(svg), 1, `/services: expected one inline svg#dependency-graph, found ${await count(svg)} (url ${page.url()})`);
    const box = await svg.boundingBox();
    assert.ok(box && box.width > 0 && box.height > 0, `/services: expected svg#dependency-graph to be rendered with a size, found ${JSON.stringify(box)} (url ${page.url()})`);
    const rowNames = await page.locator('tr[data-service]').evaluateAll((trs) => trs.map((t) => t.dataset.service));
    const nodeNames = await svg.locator('g.node[data-service]').evaluateAll((gs) => gs.map((g) => g.dataset.service));
    for (const name of rowNames) {
      const n = nodeNames.filter((x) => x === name).length;
      assert.equal(n, 1, `/services: expected exactly one g.node[data-service="${name}"] in svg#dependency-graph, found ${n}; nodes are ${JSON.stringify(nodeNames)} (url ${page.url()})`);
    }
    assert.equal(
      nodeNames.length,
      rowNames.length,
      `/services: expected one graph node per service row (${rowNames.length}), found ${nodeNames.length} nodes ${JSON.stringify(nodeNames)} (url ${page.url()})`,
    );
    // Edges: line/path elements that are not part of a node's drawing or of <defs> (arrowhead markers).
    const edges = await svg.evaluate(
      (s) => [...s.querySelectorAll('line, path')].filter((e) => !e.closest('g.node, defs, marker')).length,
    );
    assert.ok(edges >= 1, `/services: expected at least one edge (line or path outside g.node) in svg#dependency-graph, found ${edges} (url ${page.url()})`);
    await screenshot(page, 'services.png');
  });

  await step('click checkout in the table opens /services/checkout', async () => {
    await navigateBy(page, 'clicking the checkout link', () =>
      page.locator('tr[data-service="checkout"] a[href="/services/checkout"]').first().click(),
    );
    expectPath(page, '/services/checkout', 'after clicking checkout in the services table');
    await checkChrome(page, '/services/checkout');
  });

  await step('/services/checkout shows name, owner and dependencies', async () => {
    const h1 = await texts(page.locator('h1'));
    assert.ok(h1.some((t) => t.includes('Checkout')), `/services/checkout: expected an h1 containing "Checkout", found ${JSON.stringify(h1)} (url ${page.url()})`);
    const owner = page.locator('#owner a');
    assert.ok((await count(owner)) >= 1, `/services/checkout: expected a link in #owner, found ${await count(owner)} (url ${page.url()})`);
    const href = await owner.first().getAttribute('href');
    const ownerPath = href === null ? null : new URL(href, page.url()).pathname;
    assert.equal(ownerPath, '/teams/payments', `/services/checkout: expected #owner a to link to /teams/payments, found href ${JSON.stringify(href)} (url ${page.url()})`);
    const deps = await texts(page.locator('#depends-on li'));
    assert.ok(hasWord(deps, 'payments'), `/services/checkout: expected #depends-on li to include "payments", found ${JSON.stringify(deps)} (url ${page.url()})`);
  });

  await step('/services/checkout renders the runbook markdown safely', async () => {
    const runbook = page.locator('#runbook');
    assert.equal(await count(runbook), 1, `/services/checkout: expected one #runbook element, found ${await count(runbook)} (url ${page.url()})`);
    await expectAtLeast(page.locator('#runbook h2, #runbook h3'), 1, '/services/checkout: #runbook headings (h2 or h3) rendered from markdown');
    await expectAtLeast(page.locator('#runbook code, #runbook pre'), 1, '/services/checkout: #runbook code or pre elements rendered from markdown');
    const scripts = await count(page.locator('#runbook script'));
    assert.equal(scripts, 0, `/services/checkout: expected no <script> inside #runbook (sanitised markdown), found ${scripts} (url ${page.url()})`);
    const handlers = await runbook.evaluate((rb) =>
      [...rb.querySelectorAll('*')].flatMap((el) =>
        [...el.attributes]
          .filter((a) => /^on/i.test(a.name) || (/^(href|src|action|formaction)$/i.test(a.name) && /^\s*javascript:/i.test(a.value)))
          .map((a) => `<${el.tagName.toLowerCase()} ${a.name}="${a.value}">`),
      ),
    );
    assert.deepEqual(handlers, [], `/services/checkout: expected no event-handler (on*) attributes or javascript: URLs inside #runbook, found ${JSON.stringify(handlers)} (url ${page.url()})`);
    const onerror = await count(page.locator('#runbook [onerror]'));
    assert.equal(onerror, 0, `/services/checkout: expected no element with an onerror attribute in #runbook, found ${onerror} (url ${page.url()})`);
    const pwned = await page.evaluate(() => typeof window.__pwned);
    assert.equal(pwned, 'undefined', `/services/checkout: expected window.__pwned to be undefined (no injected script ran), found type ${pwned} (url ${page.url()})`);
    assert.deepEqual(dialogs, [], `/services/checkout: expected no JavaScript dialogs, found ${JSON.stringify(dialogs)}`);
    await screenshot(page, 'service-checkout.png');
  });

  await step('owner link opens /teams/payments', async () => {
    await navigateBy(page, 'clicking the owner link', () => page.locator('#owner a').first().click());
    expectPath(page, '/teams/payments', 'after clicking the owner link on /services/checkout');
    await checkChrome(page, '/teams/payments');
    for (const id of ['#lead', '#head']) {
      const el = page.locator(id);
      assert.equal(await count(el), 1, `/teams/payments: expected one ${id} element, found ${await count(el)} (url ${page.url()})`);
      const text = (await el.textContent()).trim();
      assert.ok(text.length > 0, `/teams/payments: expected ${id} to be non-empty, found ${JSON.stringify(text)} (url ${page.url()})`);
    }
    await expectAtLeast(page.locator('#members li'), 2, '/teams/payments: #members li entries');
    await screenshot(page, 'team-payments.png');
  });

  await step('/services/payments lists checkout as a dependent', async () => {
    await goto(page, '/services/payments');
    expectPath(page, '/services/payments', 'GET /services/payments');
    await checkChrome(page, '/services/payments');
    const dependents = await texts(page.locator('#dependents li'));
    assert.ok(hasWord(dependents, 'checkout'), `/services/payments: expected #dependents li to include "checkout", found ${JSON.stringify(dependents)} (url ${page.url()})`);
  });

  await step('People nav link opens /people with people rows', async () => {
    await navigateBy(page, 'clicking the People nav link', () =>
      page.locator('nav').getByRole('link', { name: 'People', exact: true }).first().click(),
    );
    expectPath(page, '/people', 'after clicking People in the nav');
    await checkChrome(page, '/people');
    await expectAtLeast(page.locator('table tr[data-person]'), 5, '/people: table rows tr[data-person]');
    const handles = await page.locator('tr[data-person]').evaluateAll((trs) => trs.map((t) => t.dataset.person));
    assert.ok(handles.every((h) => h && h.trim()), `/people: expected every tr[data-person] to carry a handle, found ${JSON.stringify(handles)} (url ${page.url()})`);
    await screenshot(page, 'people.png');
  });

  await step(`mobile ${MOBILE.width}x${MOBILE.height}: no horizontal scrolling`, async () => {
    await page.setViewportSize(MOBILE);
    await goto(page, '/services');
    expectPath(page, '/services', 'GET /services on mobile');
    await checkNoHorizontalScroll(page, '/services (mobile)');
    await screenshot(page, 'services-mobile.png');
    await goto(page, '/services/checkout');
    expectPath(page, '/services/checkout', 'GET /services/checkout on mobile');
    await checkNoHorizontalScroll(page, '/services/checkout (mobile)');
    await page.setViewportSize(DESKTOP);
  });

  await step('Audit log nav link opens /audit with events', async () => {
    await navigateBy(page, 'clicking the Audit log nav link', () =>
      page.locator('nav').getByRole('link', { name: 'Audit log', exact: true }).first().click(),
    );
    expectPath(page, '/audit', 'after clicking Audit log in the nav');
    await checkChrome(page, '/audit');
    assert.equal(await count(page.locator('table#events')), 1, `/audit: expected a table#events, found ${await count(page.locator('table#events'))} (url ${page.url()})`);
    await expectAtLeast(page.locator('table#events tbody tr'), 1, '/audit: table#events tbody tr rows');
    await screenshot(page, 'audit.png');
  });

  if (GENERIC_KEY) {
    await step('a new alert appears on /alerts without a reload, and can be acknowledged', async () => {
      await navigateBy(page, 'clicking the Alerts nav link', () =>
        page.locator('nav').getByRole('link', { name: 'Alerts', exact: true }).first().click(),
      );
      expectPath(page, '/alerts', 'after clicking Alerts in the nav');
      const summary = `Checkout cannot reach the payment partner ${Date.now()}`;
      const dedupKey = `browser-${Date.now()}`;
      // Mark the page: a reload would lose the mark.
      await page.evaluate(() => { window.__sameDocument = true; });
      const response = await fetch(`${BASE}/api/v1/integrations/generic`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${GENERIC_KEY}` },
        body: JSON.stringify({ action: 'trigger', dedup_key: dedupKey, summary, severity: 'critical' }),
      });
      assert.equal(response.status, 200, `posting an event: expected 200, got ${response.status}: ${await response.text()}`);
      const row = page.locator('table#alerts tbody tr', { hasText: summary });
      await row.first().waitFor({ state: 'visible', timeout: 12_000 }).catch(() => {
        throw new Error(`/alerts: the new alert "${summary}" did not appear within 12 s without a reload (url ${page.url()})`);
      });
      assert.equal(await page.evaluate(() => window.__sameDocument), true, '/alerts: the page reloaded instead of updating in place');
      await screenshot(page, 'alerts.png');
      await navigateBy(page, 'opening the alert', () => row.first().locator('a').first().click());
      assert.match(pathOf(page), /^\/alerts\/\d+$/, `expected an alert page, got ${page.url()}`);
      await expectAtLeast(page.locator('#timeline li'), 1, 'alert page: #timeline entries');
      await expectAtLeast(page.locator('#runbook h2, #runbook h3'), 1, 'alert page: the service runbook');
      // A repeat arrives while someone reads the first event as received:
      // the page counts it and lists it in place, and what was opened
      // stays open.
      await page.locator('#timeline details summary').first().click();
      await page.evaluate(() => { window.__sameDocument = true; });
      const repeat = await fetch(`${BASE}/api/v1/integrations/generic`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${GENERIC_KEY}` },
        body: JSON.stringify({ action: 'trigger', dedup_key: dedupKey, summary, severity: 'critical' }),
      });
      assert.equal(repeat.status, 200, `posting a repeat: expected 200, got ${repeat.status}`);
      await page.locator('#timeline li').nth(1).waitFor({ state: 'attached', timeout: 12_000 }).catch(() => {
        throw new Error(`alert page: the repeat did not appear in #timeline within 12 s without a reload (url ${page.url()})`);
      });
      assert.equal(await page.evaluate(() => window.__sameDocument), true, 'alert page: the page reloaded instead of updating in place');
      const facts = await page.locator('dl.facts').innerText();
      assert.match(facts, /\(2 events\)/, `alert page: expected "(2 events)" after the repeat, found ${facts}`);
      assert.equal(await page.locator('#timeline details').first().getAttribute('open'), '', 'alert page: the event opened was closed by the update');
      await navigateBy(page, 'pressing Acknowledge', () => page.getByRole('button', { name: 'Acknowledge' }).click());
      const lead = await page.locator('p.lead').first().innerText();
      assert.match(lead, /acknowledged/, `alert page after Acknowledge: expected "acknowledged", found "${lead}"`);
      await screenshot(page, 'alert.png');
    });

    await step('a live page says when it stops updating, and why', async () => {
      await goto(page, '/alerts');
      const stale = page.locator('#live-stale');
      // The server failing: the page says it is not updating, then
      // recovers on its own.
      await page.route('**/alerts', (route) => route.fulfill({ status: 503, body: 'down' }));
      await stale.waitFor({ state: 'visible', timeout: 12_000 }).catch(() => {
        throw new Error('/alerts: no notice within 12 s while the server answered 503');
      });
      assert.match(await stale.innerText(), /Not updating since .*: the server answered 503/);
      await page.unroute('**/alerts');
      await stale.waitFor({ state: 'detached', timeout: 12_000 }).catch(() => {
        throw new Error('/alerts: the notice stayed after the server answered again');
      });
      // The session ending: a poll lands on the log-in page.
      await page.route('**/alerts', (route) => route.fulfill({ status: 303, headers: { location: '/login' } }));
      await stale.waitFor({ state: 'visible', timeout: 12_000 }).catch(() => {
        throw new Error('/alerts: no notice within 12 s after the session ended');
      });
      assert.match(await stale.innerText(), /Your session ended/);
      assert.equal(await stale.locator('a').getAttribute('href'), '/login?next=%2Falerts');
      await page.unroute('**/alerts');
    });
  }

  await step('logout returns to /login and ends the session', async () => {
    await navigateBy(page, 'submitting the logout form', () =>
      page.locator('form[action="/logout"] button').first().click(),
    );
    expectPath(page, '/login', 'after submitting the logout form');
    await goto(page, '/services');
    expectPath(page, '/login', 'GET /services after logging out');
  });

  assert.deepEqual(pageErrors, [], `expected no uncaught JavaScript errors on any page, found ${JSON.stringify(pageErrors)}`);
}

// ---------------------------------------------------------------- main

async function main() {
  const watchdog = setTimeout(() => {
    console.error(`siaga browser journey FAILED: timed out after ${OVERALL_TIMEOUT_MS / 1000}s in step "${currentStep}"${page ? ` (url ${page.url()})` : ''}`);
    process.exit(1);
  }, OVERALL_TIMEOUT_MS);
  watchdog.unref();

  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  log(`chromium ${executablePath}, server ${BASE}, screenshots in ${SHOTS}`);
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    timeout: 30_000,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  try {
    const context = await browser.newContext({ viewport: DESKTOP });
    context.setDefaultTimeout(ACTION_TIMEOUT_MS);
    context.setDefaultNavigationTimeout(ACTION_TIMEOUT_MS);
    await journey(context);
    log('journey passed');
  } catch (err) {
    const url = page ? page.url() : '(no page)';
    let shot = '';
    if (page) {
      try {
        const file = path.join(SHOTS, 'failure.png');
        await page.screenshot({ path: file, fullPage: true, timeout: 5_000 });
        shot = `\n  screenshot: ${file}`;
      } catch {
        /* the failure itself is what matters */
      }
    }
    const message = (err && err.message ? err.message : String(err))
      .replace(/\x1b\[[0-9;]*m/g, '')
      .split('\n')
      .filter((line) => line.trim())
      .slice(0, 12)
      .join('\n    ');
    console.error(
      `siaga browser journey FAILED in step "${currentStep}"\n  ${message}\n  page url: ${url}${shot}` +
        (pageErrors.length ? `\n  page errors: ${JSON.stringify(pageErrors)}` : ''),
    );
    process.exitCode = 1;
  } finally {
    await browser.close().catch(() => {});
  }
}

main().catch((err) => {
  console.error(`siaga browser journey FAILED before the journey could run: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
