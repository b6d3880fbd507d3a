/**
 * The Vega-Lite specs of the page's charts, as pure functions of the rows they plot. Strings from
 * the run reach Vega only as data values and as the chart title (literal text); axis and field
 * titles are constants, because Vega-Lite compiles those into expressions.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { Category } from '../../records.js';
import type { RunStage } from '../../receipts.js';

/** A chart's data and encoding; renderChart adds the title and the shared config. */
export type ChartSpec = TopLevelSpec;

/** Plot width in pixels; the SVG grows by its axis labels and legend. */
const WIDTH = 560;
const BAR_STEP = 24;

export const OUTCOMES = ['exported', 'quarantined', 'unpaired'] as const;
export type Outcome = (typeof OUTCOMES)[number];
const OUTCOME_COLORS = ['#2f7d32', '#c62828', '#f9a825'];

export const CATEGORIES: readonly Category[] = ['accepted', 'partially_accepted', 'needs_human_review', 'rejected'];
const CATEGORY_COLORS = ['#2f7d32', '#7cb342', '#f9a825', '#c62828'];

const STAGE_COLORS = ['#455a64', '#6d4c41', '#1565c0', '#6a1b9a', '#00838f'];

export interface FunnelSegment {
  stage: RunStage;
  outcome: Outcome;
  rows: number;
}

/** Stacked horizontal bars, one row per stage, one segment per non-zero outcome. */
export function funnelSpec(stages: readonly RunStage[], segments: readonly FunnelSegment[]): ChartSpec {
  return {
    width: WIDTH,
    height: { step: BAR_STEP },
    data: { values: segments.map((s) => ({ ...s, order: OUTCOMES.indexOf(s.outcome) })) },
    mark: { type: 'bar' },
    encoding: {
      y: { field: 'stage', type: 'nominal', sort: [...stages], title: null },
      x: { field: 'rows', type: 'quantitative', stack: 'zero', title: 'rows in' },
      color: { field: 'outcome', type: 'nominal', scale: { domain: [...OUTCOMES], range: OUTCOME_COLORS } },
      order: { field: 'order', type: 'quantitative' },
    },
  };
}

export interface ReasonBar {
  /** `<stage> · <reason>`: both from closed sets. */
  label: string;
  stage: RunStage;
  rows: number;
}

/** One bar per (stage, reason) with quarantined rows, in stage then reason order; each stage keeps its colour. */
export function reasonsSpec(stages: readonly RunStage[], bars: readonly ReasonBar[]): ChartSpec {
  const present = stages.filter((stage) => bars.some((bar) => bar.stage === stage));
  return {
    width: WIDTH,
    height: { step: BAR_STEP },
    data: { values: bars.map((b) => ({ ...b })) },
    mark: { type: 'bar' },
    encoding: {
      y: { field: 'label', type: 'nominal', sort: null, title: null, axis: { labelLimit: 420 } },
      x: { field: 'rows', type: 'quantitative', title: 'quarantined rows' },
      color: { field: 'stage', type: 'nominal', scale: { domain: present, range: present.map((stage) => STAGE_COLORS[stages.indexOf(stage)]!) } },
    },
  };
}

export interface CategorySegment {
  stage: RunStage;
  category: Category;
  rows: number;
}

/** Stacked horizontal bars of the categories each stage counted, one segment per non-zero category. */
export function categorySpec(stages: readonly RunStage[], segments: readonly CategorySegment[]): ChartSpec {
  return {
    width: WIDTH,
    height: { step: BAR_STEP },
    data: { values: segments.map((s) => ({ ...s, order: CATEGORIES.indexOf(s.category) })) },
    mark: { type: 'bar' },
    encoding: {
      y: { field: 'stage', type: 'nominal', sort: [...stages], title: null },
      x: { field: 'rows', type: 'quantitative', stack: 'zero', title: 'rows' },
      color: { field: 'category', type: 'nominal', scale: { domain: [...CATEGORIES], range: CATEGORY_COLORS } },
      order: { field: 'order', type: 'quantitative' },
    },
  };
}

export const THIS_RUN = 'this run';
export const PRIOR_RUN = 'prior run';

export interface HistogramBar {
  side: typeof THIS_RUN | typeof PRIOR_RUN;
  lower: number;
  upper: number;
  /** Share of that side's sample in the bucket, 0…1. */
  share: number;
}

/**
 * Overlaid histograms on the value axis: each bucket a bar from its lower to its upper bound, per
 * side. The axis titles are constants on purpose: Vega-Lite writes field titles into the bars'
 * aria-label expressions, and a string from the data there (a metric name with U+2028) would not
 * parse. The metric's name goes in the chart title, which stays literal text.
 */
export function histogramSpec(bars: readonly HistogramBar[]): ChartSpec {
  const sides = [PRIOR_RUN, THIS_RUN].filter((side) => bars.some((bar) => bar.side === side));
  return {
    width: WIDTH,
    height: 180,
    data: { values: bars.map((b) => ({ ...b })) },
    mark: { type: 'bar', opacity: 0.6 },
    encoding: {
      x: { field: 'lower', type: 'quantitative', title: 'length in characters', scale: { zero: false } },
      x2: { field: 'upper' },
      y: { field: 'share', type: 'quantitative', stack: null, title: 'share of the sample', axis: { format: '.0%' } },
      // A bar spans its bucket on x, so its foot must be given too.
      y2: { datum: 0 },
      color: { field: 'side', type: 'nominal', scale: { domain: sides, range: sides.map((side) => (side === THIS_RUN ? '#1565c0' : '#9e9e9e')) } },
    },
  };
}

export interface HistoryPoint {
  /** 1-based position in the shown history (oldest first). */
  run: number;
  metric: string;
  value: number;
}

/**
 * Counts per run as lines with a point per run. The x axis is the run's position in the file, not
 * its recorded_at: pinned runs share one recorded_at, and a time axis would stack them on one spot.
 */
export function historySpec(metrics: readonly string[], points: readonly HistoryPoint[]): ChartSpec {
  return {
    width: WIDTH,
    height: 220,
    data: { values: points.map((p) => ({ ...p })) },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'run', type: 'quantitative', title: 'run (oldest → newest)', axis: { format: 'd', tickMinStep: 1 }, scale: { zero: false, nice: false } },
      y: { field: 'value', type: 'quantitative', title: 'rows' },
      color: { field: 'metric', type: 'nominal', scale: { domain: [...metrics] } },
    },
  };
}
