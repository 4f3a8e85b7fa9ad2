// Shared pieces of the browser tests: a courier-server on a free port in a temp
// dir, Debian's Chromium through playwright-core, and page actions by the page's
// stable ids / data-testid attributes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const SERVER = process.env.COURIER_SERVER;
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const WAIT_MS = 60000;  // generous: a slow shared machine, never a tight timeout
export const PASSWORD = 'correct horse battery';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
  '--no-first-run', '--disable-background-networking', '--disable-component-update',
  '--disable-sync'];

// A courier-server process: start(listen) once or again on the same data dir.
export class Server {
  constructor(binary = SERVER) {
    assert.ok(binary, 'set COURIER_SERVER to the courier-server binary');
    assert.ok(existsSync(binary), `no courier-server at ${binary}`);
    this.binary = binary;
    this.tmp = mkdtempSync(path.join(tmpdir(), 'courier-browser-'));
    this.dataDir = path.join(this.tmp, 'data');
    mkdirSync(this.dataDir);
    this.proc = null;
    this.log = '';
    this.host = '';
    this.port = 0;
  }

  get url() { return `http://${this.host}:${this.port}/`; }

  // Starts on `listen` (default: a free port) and resolves once it prints
  // "listening on HOST:PORT".
  start(listen = '127.0.0.1:0') {
    return new Promise((resolve, reject) => {
      const proc = spawn(this.binary, ['--listen', listen, '--admin-listen', '127.0.0.1:0', '--data-dir', this.dataDir],
        { stdio: ['ignore', 'pipe', 'pipe'] });
      this.proc = proc;
      let out = '';
      const timer = setTimeout(() => {
        reject(new Error(`courier-server printed no "listening on" line in ${WAIT_MS} ms:\n${this.log}`));
      }, WAIT_MS);
      proc.stdout.on('data', (chunk) => {
        out += chunk;
        this.log += chunk;
        const m = /listening on (\S+):(\d+)/.exec(out);
        if (m && !this.listening) {
          this.listening = true;
          clearTimeout(timer);
          this.host = m[1];
          this.port = Number(m[2]);
          resolve(this);
        }
      });
      proc.stderr.on('data', (chunk) => { this.log += chunk; });
      proc.on('error', (e) => { clearTimeout(timer); reject(e); });
      proc.on('exit', (code, signal) => {
        clearTimeout(timer);
        if (!this.listening) {
          reject(new Error(`courier-server exited (${code ?? signal}) before listening:\n${this.log}`));
        }
      });
      this.listening = false;
    });
  }

  // SIGTERM, then waits; resolves to the exit code (SIGKILL after 30 s).
  stop() {
    const proc = this.proc;
    this.proc = null;
    return new Promise((resolve) => {
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) {
        resolve(proc ? proc.exitCode : 0);
        return;
      }
      const kill = setTimeout(() => proc.kill('SIGKILL'), 30000);
      proc.once('exit', (code) => { clearTimeout(kill); resolve(code); });
      proc.kill('SIGTERM');
    });
  }

  cleanup() { rmSync(this.tmp, { recursive: true, force: true }); }
}

/**
 * The end of a test file: closes the browser profiles, stops the server
 * (SIGTERM) and removes its temp dir. Returns the server's exit code (null
 * when no server ran), printing its log when the code is not 0.
 */
export async function shutDown(contexts, server) {
  for (const c of contexts) if (c) await c.close().catch(() => {});
  if (!server) return null;
  const code = await server.stop();
  if (code !== 0) console.error(`courier-server exit code ${code}; its log:\n${server.log}`);
  server.cleanup();
  return code;
}

// One browser profile (a fresh user data dir): its tabs share localStorage.
export async function launchProfile(dir) {
  return chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: WAIT_MS,
  });
}

export async function openPage(context, url) {
  const page = await context.newPage();
  await page.setViewportSize({ width: 860, height: 560 });
  page.on('pageerror', (e) => console.error('page error:', e.message));
  page.on('console', (m) => { if (m.type() === 'error') console.error('console:', m.text()); });
  await page.goto(url);
  return page;
}

export async function waitConnected(page) {
  await page.waitForSelector('#conn-status[data-state="online"]', { timeout: WAIT_MS });
}

async function authenticate(page, user, button) {
  await page.waitForSelector('#login-screen', { state: 'visible', timeout: WAIT_MS });
  await page.fill('#auth-user', user);
  await page.fill('#auth-pass', PASSWORD);
  await page.click(button);
  await page.waitForSelector('#app-screen', { state: 'visible', timeout: WAIT_MS });
  assert.equal(await page.textContent('#me'), user);
  await waitConnected(page);
}

export const register = (page, user) => authenticate(page, user, '#register-btn');
export const login = (page, user) => authenticate(page, user, '#login-btn');

export async function addFriend(page, user) {
  await page.fill('#friend-input', user);
  await page.click('#friend-add-btn');
}

export function friendItem(user) {
  return `#friends li[data-testid="friend"][data-user="${user}"]`;
}

// Waits until the open chat has `count` outgoing messages, all with `status`.
export async function waitTicks(page, status, count) {
  await page.waitForFunction(([want, n]) => {
    const out = [...document.querySelectorAll('#messages li[data-dir="out"]')];
    return out.length === n && out.every((li) => li.dataset.status === want);
  }, [status, count], { timeout: WAIT_MS });
}

// [status, tick text, computed colour] of each outgoing message of the open chat.
export async function ticks(page) {
  return page.$$eval('#messages li[data-dir="out"] .ticks',
    (ts) => ts.map((t) => [t.dataset.status, t.textContent, getComputedStyle(t).color]));
}

export async function sendText(page, text) {
  await page.fill('#composer-input', text);
  await page.click('#send-btn');
}

// alice requests bob; bob accepts from his request list.
export async function befriend(a, aName, b, bName) {
  await addFriend(a, bName);
  await a.waitForSelector(`#requests li[data-testid="outgoing"][data-user="${bName}"]`, { timeout: WAIT_MS });
  await b.click(`#requests li[data-testid="request"][data-user="${aName}"] [data-testid="accept-btn"]`,
    { timeout: WAIT_MS });
  await b.waitForSelector(friendItem(aName), { timeout: WAIT_MS });
  await a.waitForSelector(friendItem(bName), { timeout: WAIT_MS });
}

// Writes `file`: the 860x560 screenshots `panes` ([caption, png buffer]) two a
// row with their captions, as one picture made in a new page of `context`.
export async function contactSheet(context, panes, file) {
  const png = (b) => `data:image/png;base64,${b.toString('base64')}`;
  const sheet = await context.newPage();
  await sheet.setViewportSize({ width: 1760, height: 605 * Math.ceil(panes.length / 2) });
  await sheet.setContent(`<!doctype html><body style="margin:0;background:#cfd6dc;font:15px sans-serif">
    <div style="display:grid;grid-template-columns:860px 860px;gap:14px 20px;padding:10px">
    ${panes.map(([caption, shot]) => `<figure style="margin:0">
      <figcaption style="margin:0 0 4px">${caption}</figcaption>
      <img src="${png(shot)}" width="860" height="560" style="display:block"></figure>`).join('')}
    </div></body>`);
  await sheet.screenshot({ path: file });
  await sheet.close();
}
