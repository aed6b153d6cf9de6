// Browser test of the admin portal: playwright-core drives the Debian
// chromium against a real `skybridge serve` (started by portal_test.go,
// which passes its address and admin account in the environment). It
// walks the portal as an admin would and saves a screenshot of every page.
//
// Environment: SKYBRIDGE_URL, ADMIN_EMAIL, ADMIN_PASSWORD, SCREENSHOTS (a
// directory), CHROMIUM (default /usr/bin/chromium), DEVICE_ID (a device
// the harness answers commands for over MQTT; optional), USER_DATA_DIR.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const base = must('SKYBRIDGE_URL');
const email = must('ADMIN_EMAIL');
const password = must('ADMIN_PASSWORD');
const shots = must('SCREENSHOTS');
const deviceId = process.env.DEVICE_ID || 'thermo-1';

function must(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

let step = '';
function check(cond, what) {
  if (!cond) throw new Error(`${step}: ${what}`);
}

const userData = process.env.USER_DATA_DIR || mkdtempSync(join(tmpdir(), 'skybridge-portal-'));
const context = await chromium.launchPersistentContext(userData, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1280, height: 800 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
context.setDefaultTimeout(15000);
await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
const page = context.pages()[0] || (await context.newPage());
const consoleErrors = [];
page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
page.on('pageerror', (e) => consoleErrors.push(String(e)));

// shot saves the page as a laptop shows it: from the top, unless a part
// worth seeing (a run's steps) is named. Keys and secrets show masked
// (the portal's default); a screenshot refuses to show one revealed.
const shot = async (name, focus) => {
  await page.waitForLoadState('networkidle').catch(() => undefined);
  if (focus) await focus.scrollIntoViewIfNeeded();
  else await page.evaluate(() => window.scrollTo(0, 0));
  const revealed = await page.evaluate(() =>
    Array.from(document.querySelectorAll('[data-secret]')).filter((e) => !/^[a-z]{0,5}_?••••••••$/.test(e.textContent || '')).length,
  );
  check(revealed === 0, `${revealed} key(s) shown unmasked in screenshot ${name}`);
  await page.screenshot({ path: join(shots, `${name}.png`) });
  console.log(`screenshot ${name}.png`);
};
const nav = async (title) => {
  await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: title }).click();
  await page.getByRole('heading', { level: 1, name: title }).waitFor();
};
// copied clicks a Copy button and answers what it put on the clipboard.
const copied = async (button) => {
  await page.evaluate(() => navigator.clipboard.writeText(''));
  await button.click();
  await page.waitForFunction(async () => (await navigator.clipboard.readText()) !== '');
  return page.evaluate(() => navigator.clipboard.readText());
};
const alertText = async (scope = page) => (await scope.getByRole('alert').allTextContents()).join(' ').trim();
const expectNoAlert = async (scope = page) => {
  const t = await alertText(scope);
  check(t === '', `unexpected problem shown: ${t}`);
};

let failed = false;
try {
  step = 'sign in';
  await page.goto(`${base}/admin/`);
  await page.getByLabel('Email').waitFor();
  await shot('login');
  // A wrong password shows the problem's title and detail.
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill('not-the-password');
  await page.getByLabel('Password').press('Enter');
  await page.locator('[role=alert] .problem').waitFor();
  check((await alertText()).includes('Bad Credentials'), `wrong password shows ${await alertText()}`);
  await shot('login-error');
  await page.getByLabel('Password').fill(password);
  await page.getByLabel('Password').press('Enter');
  await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();

  step = 'create an app and copy its key';
  await nav('Apps & keys');
  await page.getByLabel('App name').fill('shop');
  await page.getByRole('button', { name: 'Create app' }).click();
  await page.getByText('New keys (shown once)').waitFor();
  // Keys show masked; Copy copies the key, Show reveals it.
  const keyCell = page.locator('.keys-once tbody tr').first().locator('td').nth(1).locator('code');
  const masked = await keyCell.textContent();
  check(/^[a-z]+_••••••••$/.test(masked), `the new app key shows as ${masked}, not masked`);
  const appKey = await copied(page.getByRole('button', { name: 'Copy the app key of dev', exact: true }));
  check(appKey && appKey.startsWith(masked.replace(/•+$/, '')) && appKey !== masked, `clipboard has ${appKey}, the page shows ${masked}`);
  await page.getByRole('button', { name: 'Show the app key of dev', exact: true }).click();
  check((await keyCell.textContent()) === appKey, 'Show does not reveal the app key');
  await page.getByRole('button', { name: 'Hide the app key of dev', exact: true }).click();
  check((await keyCell.textContent()) === masked, 'Hide does not mask the app key again');
  const serverKey = await copied(page.getByRole('button', { name: 'Copy the server key of dev', exact: true }));
  check(/^[a-z]+_/.test(serverKey), `the server key copied is ${serverKey}`);
  await expectNoAlert();
  // An app user for the users page, signed up as a mobile app would.
  const signup = await fetch(`${base}/v1/auth/signup`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Skybridge-Key': appKey, 'X-App-Version': '2.3.0' },
    body: JSON.stringify({ email: 'ada@example.com', password: 'a-long-user-passphrase' }),
  });
  check(signup.status === 201 || signup.status === 200, `signup: ${signup.status} ${await signup.text()}`);
  // Rotating the server key shows the new one once; the portal does not
  // keep it (it never needs one) and asks for none.
  await page.getByRole('button', { name: 'Rotate' }).click();
  await page.getByText(/^Rotated the server key of dev/).waitFor();
  await expectNoAlert();
  const rotated = await copied(page.getByRole('button', { name: 'Copy the server key of dev', exact: true }));
  check(rotated !== serverKey, 'the rotated server key is the old one');
  const stored = await page.evaluate(() => JSON.stringify({ ...sessionStorage }) + JSON.stringify({ ...localStorage }));
  check(!stored.includes(serverKey) && !stored.includes(rotated), 'a server key is kept in the browser storage');
  await shot('apps');

  step = 'create a collection rule and an object';
  await nav('Collections');
  await page.getByLabel('Collection name').fill('todos');
  await page.getByRole('button', { name: 'Create collection' }).click();
  await page.getByRole('heading', { name: 'Settings of todos' }).waitFor();
  await page.getByLabel('read rule').fill('public');
  await page.getByLabel('create rule').fill('authenticated');
  await page.getByLabel('Conflict strategy').selectOption('last-write-wins');
  await page.getByLabel('Indexes').fill('[{"fields": ["n"], "unique": false}]');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await page.getByText('Saved the settings of todos.').waitFor();
  await page.getByLabel('Object (JSON)').fill('{"title": "Buy milk", "n": 1}');
  await page.getByRole('button', { name: 'Create object' }).click();
  await page.getByText(/^Created /).waitFor();
  await page.locator('table').getByText('Buy milk').waitFor();
  // A bad filter shows the API's problem.
  await page.getByLabel('Filter (JSON)').fill('{"n": {"$where": 1}}');
  await page.getByRole('button', { name: 'Query' }).click();
  await page.locator('[role=alert] .problem').waitFor();
  await page.getByLabel('Filter (JSON)').fill('{"n": {"$gte": 1}}');
  await page.getByRole('button', { name: 'Query' }).click();
  await page.locator('table').getByText('Buy milk').waitFor();
  await shot('collections');

  step = 'deploy a flow bundle and run it';
  await nav('Variables & secrets');
  await page.getByLabel('Variables (JSON object)').fill('{"greeting": "Hello"}');
  await page.getByRole('button', { name: 'Save variables' }).click();
  await page.getByText(/Saved the variables/).waitFor();
  await page.getByLabel('Secret name').fill('crmToken');
  await page.getByLabel('Secret value').fill('s3cret-value');
  await page.getByRole('button', { name: 'Set secret' }).click();
  await page.getByRole('cell', { name: 'crmToken', exact: true }).waitFor();
  check(!(await page.content()).includes('s3cret-value'), 'the secret value is on the page');
  await shot('config');

  await nav('Flows & deployments');
  const flow = (greeting) => `apiVersion: skybridge/v1
kind: Flow
name: hello
auth: public
input:
  name: {type: string, required: true}
steps:
  - id: greet
    transform:
      message: "${greeting}, \${input.name}"
  - id: shout
    transform:
      loud: "\${upper(steps.greet.message)}"
`;
  await page.getByLabel('Or paste a YAML document').fill(flow('Hello'));
  await page.getByRole('button', { name: 'Deploy' }).click();
  await page.getByText('Deployed version 1.').waitFor();
  await page.getByLabel('Or paste a YAML document').fill(flow('Hi'));
  await page.getByRole('button', { name: 'Deploy' }).click();
  await page.getByText('Deployed version 2.').waitFor();
  await page.getByRole('button', { name: 'Show diff' }).click();
  // The diff of the files (GET .../deployments/{version}), line by line.
  await page.locator('.diff .del', { hasText: 'message: "Hello, ${input.name}"' }).waitFor();
  await page.locator('.diff .add', { hasText: 'message: "Hi, ${input.name}"' }).waitFor();
  await page.getByLabel('Flow name').fill('hello');
  await page.getByLabel('Input (JSON)').fill('{"name": "Ada"}');
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  const steps = page.getByRole('table', { name: 'Steps' });
  await steps.waitFor();
  check((await steps.locator('tbody tr').count()) === 2, 'the run shows two steps');
  check((await steps.textContent()).includes(' ms'), 'the steps have no timing');
  await page.getByText('HI, ADA').first().waitFor();
  await expectNoAlert(page.locator('main form').first());
  await shot('flows', steps);
  await page.getByRole('button', { name: 'Promote' }).first().click();
  await page.getByText('Promoted v2 to stage as its version 1.').waitFor();
  await page.getByRole('button', { name: 'Roll back to the previous version' }).click();
  await page.getByText('Rolled back: version 3 is live.').waitFor();

  step = 'send a command to a device';
  await nav('Devices');
  await page.getByLabel('Device id').fill(deviceId);
  await page.getByLabel('Device name').fill('Hall thermostat');
  await page.getByLabel('Device type').fill('thermostat');
  await page.getByRole('button', { name: 'Register' }).click();
  await page.getByText(`MQTT secret of ${deviceId}`).waitFor();
  // The test harness connects the device with the secret the page shows
  // (masked; copied with its button).
  const secret = await copied(page.getByRole('button', { name: `Copy the MQTT secret of ${deviceId}`, exact: true }));
  console.log(`device-secret ${deviceId} ${secret}`);
  await page.getByLabel('Desired (JSON)').fill('{"target": 21.5}');
  await page.getByRole('button', { name: 'Save desired state' }).click();
  await page.getByText(/^Shadow version \d+\.$/).waitFor();
  await page.getByLabel('Command name').fill('reboot');
  await page.getByLabel('Payload (JSON)').fill('{"delay": 1}');
  await page.getByRole('button', { name: 'Send command' }).click();
  const commands = page.getByRole('table', { name: 'Commands' });
  await commands.getByRole('cell', { name: 'reboot', exact: true }).waitFor();
  const status = await commands.locator('.cmd-status').first().textContent();
  check(['queued', 'delivered', 'succeeded'].includes(status), `command status ${status}`);
  if (process.env.DEVICE_ID) {
    // The harness's device answers: the page shows the status change.
    await commands.locator('.cmd-status', { hasText: 'succeeded' }).first().waitFor({ timeout: 20000 });
    // Online, with the state it reported against the one desired.
    await page.reload();
    await page.locator('.badge', { hasText: 'online' }).first().waitFor();
    await page.getByText('"firmware": "1.4.2"').waitFor();
    // The telemetry it published (skybridge/devices/<id>/telemetry) is
    // charted; the writer batches, so the walk asks again until it shows.
    const tele = page.locator('.telemetry');
    await tele.waitFor();
    const points = async () => Number(await tele.getAttribute('data-points'));
    const until = Date.now() + 20000;
    while ((await points()) < 5 && Date.now() < until) {
      await tele.getByRole('button', { name: 'Show', exact: true }).click();
      await page.waitForLoadState('networkidle').catch(() => undefined);
    }
    check((await points()) >= 5, `the telemetry chart has ${await points()} points, want the 5 the device sent`);
    const line = await tele.locator('figure.chart polyline').first().getAttribute('points');
    check(line.trim().split(' ').length >= 5, `the chart's line has points ${line}`);
    await tele.getByRole('img', { name: /Telemetry of .*temp: last 21\.5\b/ }).waitFor();
    console.log(`devices: the telemetry chart has ${await points()} points`);
    await shot('telemetry', tele);
  }
  await shot('devices');

  step = 'users';
  await nav('Users');
  await page.getByLabel('Roles of ada@example.com').waitFor();
  await page.getByLabel('Roles of ada@example.com').fill('editor, beta');
  await page.getByRole('button', { name: 'Save roles' }).click();
  await page.getByText('Saved ada@example.com.').waitFor();
  await page.getByRole('button', { name: 'Disable' }).click();
  await page.getByRole('button', { name: 'Enable' }).waitFor();
  await shot('users');

  step = 'push';
  await nav('Push');
  await page.getByLabel('Title').fill('Sale today');
  await page.getByLabel('Body').fill('Everything 20 % off');
  await page.getByLabel('Topics (comma separated)').fill('news');
  await page.getByRole('button', { name: 'Send' }).click();
  await page.locator('table code').first().waitFor();
  await page.waitForFunction(() => !document.querySelector('main table tbody td:nth-child(2)')?.textContent?.startsWith('…'));
  await shot('push');

  step = 'app traffic';
  // The app itself, as a phone would call it (app key, X-App-Version):
  // reads the public objects and runs the flow, for the dashboard.
  const app = { 'X-Skybridge-Key': appKey, 'X-App-Version': '2.3.0', 'Content-Type': 'application/json' };
  for (let i = 0; i < 3; i++) {
    const list = await fetch(`${base}/v1/collections/todos/objects`, { headers: app });
    check(list.status === 200, `GET /v1/collections/todos/objects: ${list.status} ${await list.text()}`);
    const ran = await fetch(`${base}/v1/flows/hello`, { method: 'POST', headers: app, body: JSON.stringify({ name: 'Grace' }) });
    check(ran.status === 200, `POST /v1/flows/hello: ${ran.status} ${await ran.text()}`);
  }

  step = 'see the request in the audit trail';
  // The portal's own /v1 calls are the admin's, through the admin API.
  await nav('Audit trail');
  const commandCell = page.getByRole('cell', { name: new RegExp(`/v1/devices/${deviceId}/commands$`) }).first();
  await commandCell.waitFor();
  await page.getByLabel('Actor (kind[:id])').fill('admin');
  await page.getByRole('button', { name: 'Filter' }).click();
  await commandCell.waitFor();
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export NDJSON' }).click()]);
  const exported = await download.path().then((p) => import('node:fs').then((fs) => fs.readFileSync(p, 'utf8')));
  const records = exported.trim().split('\n').map((l) => JSON.parse(l));
  check(records.every((r) => r.actor?.kind === 'admin'), `the export has other actors: ${exported.slice(0, 200)}`);
  check(records.some((r) => r.resource?.endsWith(`/v1/devices/${deviceId}/commands`) && r.method === 'POST'), 'the export lacks the command request');
  await shot('audit');

  step = 'see the dashboard';
  await nav('Dashboard');
  await page.locator('.tile').first().waitFor();
  check((await page.locator('.tile').count()) === 7, 'the dashboard has 7 tiles');
  const tile = (name) => page.locator('.tile', { hasText: name }).locator('.tile-value');
  // The app's /v1 traffic (signup, objects, flow runs) is counted; the
  // portal's admin calls are not. The page polls every 5 s.
  await tile('Requests').filter({ hasText: /^[1-9]/ }).waitFor({ timeout: 20000 });
  const routes = page.locator('main table').last();
  await routes.locator('tr', { hasText: 'POST /v1/flows/{name}' }).filter({ hasText: '2.3.0' }).first().waitFor({ timeout: 20000 });
  await routes.locator('tr', { hasText: 'GET /v1/collections/{col}/objects' }).first().waitFor({ timeout: 20000 });
  await routes.locator('tr', { hasText: 'POST /v1/auth/signup' }).first().waitFor({ timeout: 20000 });
  check((await page.getByRole('cell', { name: /\/v1\/devices/ }).count()) === 0, 'the portal\'s device calls count as app traffic');
  if (process.env.DEVICE_ID) {
    await tile('Connected devices').filter({ hasText: /^[1-9]/ }).waitFor({ timeout: 20000 });
  }
  // The push went to a topic no installation has subscribed: none sent.
  check((await tile('Pushes sent').textContent()) === '0', `pushes sent: ${await tile('Pushes sent').textContent()}`);
  console.log(`dashboard: ${await tile('Requests').textContent()} requests, routes listed, ${await tile('Connected devices').textContent()} connected device(s)`);
  await shot('dashboard');

  step = 'keyboard';
  await page.goto(`${base}/admin/audit`);
  await page.getByRole('heading', { level: 1, name: 'Audit trail' }).waitFor();
  await page.keyboard.press('Tab');
  check((await page.evaluate(() => document.activeElement?.textContent)) === 'Skip to content', 'the first Tab does not reach the skip link');

  step = 'sign out';
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('Password').waitFor();
  const real = consoleErrors.filter((e) => !e.includes('404') && !e.includes('401') && !e.includes('400'));
  check(real.length === 0, `console errors: ${real.join(' | ')}`);
  console.log('portal e2e: all steps passed');
} catch (e) {
  failed = true;
  console.error(`portal e2e failed at "${step}": ${e.stack || e}`);
  await page.screenshot({ path: join(tmpdir(), 'skybridge-portal-failure.png') }).catch(() => undefined);
  console.error(`failure screenshot: ${join(tmpdir(), 'skybridge-portal-failure.png')}`);
} finally {
  await context.close();
  if (!process.env.USER_DATA_DIR) rmSync(userData, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
