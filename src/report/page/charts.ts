/**
 * The page's charts: Vega-Lite specs compiled to Vega and rendered to SVG strings in Node, with no
 * canvas, no DOM and no script. Each chart is checked to be inert SVG (`inertSvg`) before it joins
 * the page.
 */
import type * as Vega from 'vega';
import type { TopLevelSpec } from 'vega-lite';
import { DistillError } from '../../errors.js';
import { escapeHtml, html, SafeHtml } from './html.js';
import { inertSvg } from './svg-guard.js';

type VegaLogger = NonNullable<Vega.ViewOptions['logger']>;

let loaded: Promise<{ vega: typeof Vega; compile: typeof import('vega-lite').compile }> | undefined;

/** Vega and Vega-Lite, loaded on first use: they cost ~1 s at start-up, which every other command would pay. */
function loadVega(): Promise<{ vega: typeof Vega; compile: typeof import('vega-lite').compile }> {
  loaded ??= Promise.all([import('vega'), import('vega-lite')]).then(([vega, { compile }]) => {
    // Vega measures text with node-canvas when that package happens to be installed, and estimates
    // widths from character counts otherwise. Estimating always keeps the SVG bytes the same on
    // every machine, which the pinned-run promise needs.
    (vega as unknown as { textMetrics: { canvas(use: boolean): void } }).textMetrics.canvas(false);
    return { vega, compile };
  });
  return loaded;
}

/** Specs are built here, never from the data, so any warning is a bug in a spec: fail loudly. */
function strictLogger(vega: typeof Vega): VegaLogger {
  const fail = (...args: unknown[]): never => {
    throw new DistillError('DS_INTERNAL', `chart rendering: ${args.map(String).join(' ')}`);
  };
  const logger: VegaLogger = {
    level(level?: number) {
      return level === undefined ? vega.Warn : logger;
    },
    error: fail,
    warn: fail,
    info: () => logger,
    debug: () => logger,
  };
  return logger;
}

/** Data is always inline; a spec that asks for a URL is refused rather than fetched. */
const NO_LOADING: Vega.Loader = {
  load: (uri) => Promise.reject(new DistillError('DS_INTERNAL', `chart rendering tried to load ${uri}`)),
  sanitize: (uri) => Promise.reject(new DistillError('DS_INTERNAL', `chart rendering tried to load ${uri}`)),
  http: (uri) => Promise.reject(new DistillError('DS_INTERNAL', `chart rendering tried to fetch ${uri}`)),
  file: (file) => Promise.reject(new DistillError('DS_INTERNAL', `chart rendering tried to read ${file}`)),
};

/**
 * Shared look: system fonts, no border around the plot. `aria: false` drops Vega's per-mark
 * aria-labels: the root <svg> is role="img" with its own label (which hides its children from
 * assistive technology anyway) and the table beside each chart has the numbers; a label per point
 * was 60% of the page with a 200-run history.
 */
const CONFIG = {
  aria: false,
  font: 'sans-serif',
  background: 'white',
  view: { stroke: null },
  title: { anchor: 'start', fontSize: 13, offset: 10 },
  axis: { labelFontSize: 11, titleFontSize: 11, titleFontWeight: 'normal' },
  legend: { orient: 'bottom', labelFontSize: 11, title: null },
} as const;

export interface ChartText {
  /** The chart's title, drawn above it and repeated as the SVG <title>. */
  title: string;
  /** One sentence saying what the chart shows, for the SVG's aria-label; the table beside it has the numbers. */
  description: string;
}

/** Vega-Lite → Vega → SVG string. `spec` carries data and encoding; `text` becomes its title. */
export async function renderChart(spec: TopLevelSpec, text: ChartText, className: string): Promise<SafeHtml> {
  const full = { ...spec, title: text.title, config: CONFIG } as TopLevelSpec;
  const { vega, compile } = await loadVega();
  const logger = strictLogger(vega);
  const compiled = compile(full, { logger }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', loader: NO_LOADING, logger });
  let svg: string;
  try {
    svg = await view.toSVG();
  } finally {
    view.finalize();
  }
  // Vega's root tag gets the chart's name, title and label; its own class="marks" is replaced, as
  // a second class attribute would be ignored.
  const root = /^<svg ([^>]*)>/.exec(svg);
  if (root === null) throw new DistillError('DS_INTERNAL', 'chart rendering gave no <svg> element');
  const attributes = root[1]!.replace(/\s*class="[^"]*"/, '');
  const opening = `<svg role="img" aria-label="${escapeHtml(`${text.title}. ${text.description}`)}" class="chart ${escapeHtml(className)}" ${attributes}><title>${escapeHtml(text.title)}</title>`;
  const chart = inertSvg(opening + svg.slice(root[0].length));
  return html`<figure class="chart-figure">${chart}<figcaption>${text.description}</figcaption></figure>`;
}
