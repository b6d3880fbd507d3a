/**
 * The run report in a real browser: Debian's Chromium, headless, opening each page from file://.
 * Three real runs of the fixture archive through run-all in-process (a first run with no prior, a passed run against it whose
 * id and data carry hostile strings, a failed run): charts drawn with the expected number of marks,
 * no console error, no request but the page itself, the hostile strings shown as text, the tables
 * there with JavaScript off. A screenshot of each page lands in the test's temp folder.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { chromium, type BrowserContext } from 'playwright-core';
import { loadReportData } from '../src/report/page/load.js';
import type { ReportData } from '../src/report/page/types.js';
import { writeRunReport } from '../src/report/page/write.js';
import { fixtureCopy, removeDir, tempDir } from './helpers.js';
import { addHostileSource, addLongOutcomes, HOSTILE, HOSTILE_KB_FILE, HOSTILE_RUN_ID, runAll } from './report-runs.js';

/**
 * The few DOM members the in-page checks use. The project compiles without the DOM library (it is
 * Node code), so they are declared here; `page.evaluate` runs the function in the page, where
 * `document` is the real one.
 */
interface PageElement {
  textContent: string | null;
  innerText: string;
  getAttribute(name: string): string | null;
  getBoundingClientRect(): { width: number; height: number };
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): Iterable<PageElement> & { length: number };
}
declare const document: PageElement & { scripts: { length: number }; images: { length: number }; body: PageElement };

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const INSTALL_TIMEOUT_MS = 20 * 60 * 1000;

const isRoot = process.getuid?.() === 0;
const skip = !existsSync(CHROMIUM) && !isRoot ? `${CHROMIUM} is missing and this process is not root, so it cannot apt-get install chromium` : false;
if (skip !== false) process.stderr.write(`\n!!! SKIPPING the report browser test: ${skip}. Install Debian's chromium package (or run as root) to run it.\n\n`);

/** Debian's chromium, installed by apt when missing (as root; `.ci/run` does the same before the suite). */
function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  process.stderr.write(`# ${CHROMIUM} is missing: apt-get update && apt-get install -y chromium\n`);
  const result = spawnSync('sh', ['-c', 'apt-get update && apt-get install -y chromium'], { stdio: ['ignore', 'ignore', 'inherit'], timeout: INSTALL_TIMEOUT_MS, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  assert.equal(result.status, 0, `apt-get install chromium failed (${result.error?.message ?? `exit ${result.status}`})`);
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is still missing after apt-get install chromium`);
}

/** A browser with a new empty profile of its own, nothing remembered between pages. */
async function launch(javaScriptEnabled: boolean): Promise<{ context: BrowserContext; profile: string }> {
  const profile = await mkdtemp(path.join(os.tmpdir(), 'distill-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, javaScriptEnabled, viewport: { width: 1200, height: 900 } });
  return { context, profile };
}

interface MarkCounts {
  funnel: number;
  reasons: number;
  categories: number;
  /** Bars per histogram, in the page's (metric name) order. */
  histograms: number[];
  historyPoints: number;
}

/** What each chart must hold, counted from the run's own data: the page is checked against the receipts, not against itself. */
function expectedMarks(data: ReportData): MarkCounts {
  let funnel = 0;
  let reasons = 0;
  let categories = 0;
  for (const receipt of data.receipts) {
    const { in: rowsIn, out, quarantined, unpaired } = receipt.record_counts;
    const exported = unpaired === undefined ? out : rowsIn - quarantined - unpaired;
    funnel += [exported, quarantined, unpaired ?? 0].filter((n) => n > 0).length;
    reasons += Object.keys(receipt.record_counts.by_reason).length;
    categories += Object.values(receipt.record_counts.by_category).filter((n) => n > 0).length;
  }
  const sampled = (receipts: ReportData['receipts'], metric: string): number => receipts.find((r) => r.samples[metric] !== undefined)?.samples[metric]?.length ?? 0;
  const metrics = [...new Set([...data.drift.distributions.map((d) => d.metric), ...data.receipts.flatMap((r) => Object.keys(r.samples))])].sort();
  const histograms = metrics
    .filter((metric) => sampled(data.receipts, metric) > 0)
    .map((metric) => 10 * (data.prior !== undefined && sampled(data.prior.receipts, metric) > 0 ? 2 : 1));
  const historyPoints = data.baselines.entries.length * 6;
  return { funnel, reasons, categories, histograms, historyPoints };
}

// The two tests only read the pages the runs wrote, each in a browser of its own: they run concurrently.
describe('report page in headless Chromium', { skip, concurrency: true }, () => {
  const pages: Array<{ name: string; runId: string; file: string; expected: MarkCounts }> = [];
  let root = '';
  let shots = '';

  before(
    async () => {
      ensureChromium();
      root = await fixtureCopy();
      shots = await tempDir('distill-report-shots-');
      await addHostileSource(root);
      const runs: Array<{ name: string; runId: string; failValidation?: string; passed: boolean }> = [
        { name: 'first-run', runId: 'first run (no prior)', passed: true },
        { name: 'passed-run', runId: HOSTILE_RUN_ID, passed: true },
        { name: 'failed-run', runId: 'failed-run', failValidation: 'export-sft', passed: false },
      ];
      for (const run of runs) {
        const result = await runAll(root, run.runId, run.failValidation);
        assert.equal(result.summary.overall_passed, run.passed, JSON.stringify(result.summary.stages));
        const written = await writeRunReport({ root, runId: run.runId });
        pages.push({ name: run.name, runId: run.runId, file: written.file, expected: expectedMarks(await loadReportData({ root, runId: run.runId })) });
        if (run.name === 'first-run') await addLongOutcomes(root, 6); // the next run's text lengths drift from this one's
      }
    },
    { timeout: INSTALL_TIMEOUT_MS + 5 * 60 * 1000 },
  );

  after(async () => {
    await removeDir(root);
    process.stdout.write(`# report screenshots kept in ${shots}\n`);
  });

  test('each page draws its charts with the expected marks, logs no error, requests nothing, and shows hostile strings as text', { timeout: 5 * 60 * 1000 }, async (t) => {
    const { context, profile } = await launch(true);
    try {
      for (const { name, runId, file, expected } of pages) {
        const url = pathToFileURL(file).href;
        const requests: string[] = [];
        const problems: string[] = [];
        const page = await context.newPage();
        page.on('request', (request) => requests.push(request.url()));
        page.on('console', (message) => {
          if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()}: ${message.text()}`);
        });
        page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
        page.on('dialog', (dialog) => {
          problems.push(`dialog: ${dialog.message()}`);
          void dialog.dismiss();
        });
        await page.goto(url, { waitUntil: 'load' });

        const seen = await page.evaluate(() => {
          const marks = (selector: string): number[] => [...document.querySelectorAll(`svg.chart.${selector}`)].map((svg) => svg.querySelectorAll(':scope g.role-mark > path').length);
          const charts = [...document.querySelectorAll('svg.chart')].map((svg) => {
            const box = svg.getBoundingClientRect();
            return { width: box.width, height: box.height, title: svg.querySelector(':scope > title')?.textContent ?? '', label: svg.getAttribute('aria-label') ?? '' };
          });
          return {
            funnel: marks('funnel'),
            reasons: marks('reasons'),
            categories: marks('categories'),
            histograms: marks('histogram'),
            history: [...document.querySelectorAll('svg.chart.history g.mark-symbol.role-mark > path')].length,
            charts,
            scripts: document.scripts.length,
            images: document.images.length,
            iframes: document.querySelectorAll('iframe, object, embed').length,
            text: document.body.innerText,
            content: document.body.textContent ?? '',
            h1: document.querySelector('h1')?.textContent ?? '',
          };
        });
        assert.deepEqual(seen.funnel, [expected.funnel], `${name}: funnel bars`);
        assert.deepEqual(seen.reasons, expected.reasons === 0 ? [] : [expected.reasons], `${name}: quarantine reason bars`);
        assert.deepEqual(seen.categories, [expected.categories], `${name}: category bars`);
        assert.deepEqual(seen.histograms, expected.histograms, `${name}: histogram bars`);
        assert.equal(seen.history, expected.historyPoints, `${name}: baseline history points`);
        for (const chart of seen.charts) {
          assert.ok(chart.width > 100 && chart.height > 50, `${name}: a chart drawn ${chart.width}×${chart.height}`);
          assert.ok(chart.title.length > 0 && chart.label.startsWith(chart.title), `${name}: a chart without its title and label`);
        }
        assert.deepEqual(problems, [], `${name}: console errors, page errors or dialogs`);
        assert.deepEqual(requests, [url], `${name}: requests other than the page itself`);
        assert.deepEqual([seen.scripts, seen.images, seen.iframes], [0, 0, 0], `${name}: script, image or frame elements on the page`);
        assert.ok(seen.h1.includes(runId), `${name}: the run id as text in the heading`);
        for (const hostile of [HOSTILE.script, HOSTILE.img, HOSTILE.svg, HOSTILE.quotes, `data/_kb/${HOSTILE_KB_FILE}:0`]) {
          assert.ok(seen.text.includes(JSON.stringify(hostile).slice(1, -1)) || seen.text.includes(hostile), `${name}: ${hostile} is not shown as text`);
        }
        assert.ok(seen.content.includes('line\u2028separator\u2029end'), `${name}: U+2028/U+2029 not shown as text`);

        const shot = path.join(shots, `${name}.png`);
        await page.screenshot({ path: shot, fullPage: true });
        t.diagnostic(`${name}: screenshot ${shot}`);
        process.stdout.write(`# report screenshot (${name}): ${shot}\n`);
        await page.close();
      }
    } finally {
      await context.close();
      await removeDir(profile);
    }
  });

  test('with JavaScript off every page still shows its tables and charts', { timeout: 5 * 60 * 1000 }, async () => {
    const { context, profile } = await launch(false);
    try {
      for (const { name, file } of pages) {
        const page = await context.newPage();
        const requests: string[] = [];
        page.on('request', (request) => requests.push(request.url()));
        await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
        const tables = page.locator('table');
        assert.ok((await tables.count()) >= 8, `${name}: tables`);
        assert.ok(await tables.first().isVisible(), `${name}: the first table is not visible`);
        assert.ok(await page.locator('#funnel table').isVisible());
        assert.ok(await page.locator('#drift table').isVisible());
        assert.ok((await page.locator('svg.chart').count()) >= 5, `${name}: charts`);
        assert.equal(requests.length, 1, `${name}: requests other than the page itself`);
        await page.close();
      }
    } finally {
      await context.close();
      await removeDir(profile);
    }
  });
});
