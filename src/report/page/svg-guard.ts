import { DistillError } from '../../errors.js';
import { SafeHtml } from './html.js';

/**
 * What Vega's SVG renderer writes for the page's charts (bars, lines, points, axes, legends,
 * titles), and nothing that can run, load or link: no script, foreignObject, image, use, a or
 * style element, no on* handler, no href. No id either: the charts share one document, and Vega
 * numbers its clip-path and gradient ids per process, so two charts' ids could collide.
 */
const ELEMENTS = new Set(['svg', 'g', 'path', 'rect', 'line', 'text', 'tspan', 'title']);
const ATTRIBUTES = new Set([
  'xmlns',
  'xmlns:xlink',
  'version',
  'class',
  'width',
  'height',
  'viewBox',
  'role',
  'aria-label',
  'aria-roledescription',
  'aria-hidden',
  'transform',
  'd',
  'x',
  'y',
  'x1',
  'x2',
  'y1',
  'y2',
  'dx',
  'dy',
  'fill',
  'fill-opacity',
  'stroke',
  'stroke-width',
  'stroke-opacity',
  'stroke-miterlimit',
  'stroke-dasharray',
  'stroke-linecap',
  'stroke-linejoin',
  'opacity',
  'pointer-events',
  'display',
  'text-anchor',
  'font-family',
  'font-size',
  'font-weight',
  'font-style',
]);

const TOKEN = /<[^>]*>|[^<]+/g;
const TAG = /^<(\/?)([a-zA-Z][a-zA-Z0-9]*)((?:\s+[a-zA-Z][-a-zA-Z0-9:]*="[^"<]*")*)\s*(\/?)>$/;
const ATTRIBUTE = /([a-zA-Z][-a-zA-Z0-9:]*)="[^"<]*"/g;
/** Line and paragraph separators stay literal in Vega's output; the page writes them as references everywhere. */
const SEPARATORS = /[\u2028\u2029]/g;

function refuse(detail: string): never {
  throw new DistillError('DS_INTERNAL', `a chart's SVG is not inert (${detail}); the page is not written`);
}

/**
 * Checks that `svg` is one <svg> element made only of allow-listed elements and attributes, its
 * text free of markup, and hands it back as SafeHtml with U+2028/U+2029 written as references.
 * A renderer change that started emitting anything else fails the page instead of shipping it.
 */
export function inertSvg(svg: string): SafeHtml {
  const open: string[] = [];
  let consumed = 0;
  let rootClosed = false;
  for (const [token] of svg.matchAll(TOKEN)) {
    consumed += token.length;
    if (!token.startsWith('<')) {
      if (open.length === 0) refuse('text outside the <svg> element');
      continue;
    }
    const tag = TAG.exec(token);
    if (tag === null) refuse(`unexpected markup ${JSON.stringify(token.slice(0, 80))}`);
    const [, closing, name, attributes, selfClosing] = tag;
    if (!ELEMENTS.has(name!)) refuse(`element <${name}>`);
    const seen = new Set<string>();
    for (const [, attribute] of attributes!.matchAll(ATTRIBUTE)) {
      if (!ATTRIBUTES.has(attribute!)) refuse(`attribute ${attribute}`);
      if (seen.has(attribute!)) refuse(`attribute ${attribute} twice on <${name}>`);
      seen.add(attribute!);
    }
    if (closing !== '') {
      if (open.pop() !== name) refuse(`</${name}> closes another element`);
      if (open.length === 0) rootClosed = true;
      continue;
    }
    if (open.length === 0 && (name !== 'svg' || rootClosed || selfClosing !== '')) refuse('not a single <svg> element');
    if (selfClosing === '') open.push(name!);
  }
  // matchAll steps over what no token matches (a lone "<"): every character must be accounted for.
  if (consumed !== svg.length || open.length !== 0 || !rootClosed) refuse('unbalanced or stray markup');
  return SafeHtml.fromCheckedMarkup(svg.replace(SEPARATORS, (char) => `&#x${char.charCodeAt(0).toString(16)};`));
}
