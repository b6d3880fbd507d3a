/**
 * The page's one escaping discipline. Every value interpolated into `html` is escaped for HTML text
 * and for quoted attributes alike, unless it is already `SafeHtml` (built by `html` itself, or an
 * SVG that `inertSvg` checked). Escaping is the default, so forgetting it is not possible.
 */

/** Markup that is safe to insert as it is. */
export class SafeHtml {
  private constructor(readonly markup: string) {}

  /**
   * Only for markup this folder made or checked: `html`'s output, the page's constant style sheet,
   * and chart SVGs that passed `inertSvg`. Never for a string from the data.
   */
  static fromCheckedMarkup(markup: string): SafeHtml {
    return new SafeHtml(markup);
  }

  toString(): string {
    return this.markup;
  }
}

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  // Not dangerous to HTML, but they end a line in JavaScript string literals: escaped so that no
  // context of this page, even one a later change adds, can be broken out of.
  '\u2028': '&#x2028;',
  '\u2029': '&#x2029;',
};
const SPECIAL = /[&<>"'\u2028\u2029]/g;

/** `value` as HTML text or a quoted attribute value: & < > " ' U+2028 U+2029 become references. */
export function escapeHtml(value: string): string {
  return value.replace(SPECIAL, (char) => ENTITIES[char]!);
}

export type HtmlValue = SafeHtml | string | number | readonly HtmlValue[];

function render(value: HtmlValue): string {
  if (value instanceof SafeHtml) return value.markup;
  if (typeof value === 'string') return escapeHtml(value);
  if (typeof value === 'number') return escapeHtml(String(value));
  return value.map(render).join('');
}

/** A template of trusted markup whose interpolations are escaped (arrays are concatenated). */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return SafeHtml.fromCheckedMarkup(out);
}
